"""`nlpkit export` for token classifiers: any transformers ``*ForTokenClassification`` (BERT family) and nlpkit's
BiLSTM-CRF, to one ONNX graph ``model.onnx`` with dynamic batch and sequence axes.

- A transformers tagger's graph gives its ``logits`` (batch, sequence, labels).
- The BiLSTM-CRF's graph gives the CRF's inputs: the ``emissions`` and the ``transitions``, ``start_transitions`` and
  ``end_transitions`` scores (forbidden moves already set to the model's IMPOSSIBLE). Its Viterbi decoding loops
  over the sentence in Python, which no exporter turns into a graph, so :func:`crf_logits` runs it here in numpy,
  step for step as :meth:`LinearChainCRF.viterbi` and :func:`viterbi_logits` do in PyTorch (the same float32 sums
  and maxima, the same first-index ties): the same logits from the same emissions.

The runtime is the predictor ``nlpkit predict`` uses for the PyTorch model: transformers' token-classification
pipeline (nlpkit's BiLSTM-CRF pipeline for that model, which passes each word's characters) with an ONNX Runtime
session standing in for the model, so words, offsets and entity grouping are the pipeline's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit.export.classification import MODEL_FILE, example_inputs, export_logits, usage
from nlpkit.export.onnx import export_onnx, inference_session, quantize_int8

FORMATS = ("onnx",)
CRF_OUTPUTS = ("emissions", "transitions", "start_transitions", "end_transitions")


def export(model_dir: Path, staging: Path, *, format: str, quantize: bool) -> dict[str, Any]:
    """Write ``model.onnx`` into ``staging``; the manifest's details and usage."""
    from transformers import AutoModelForTokenClassification

    if json.loads((model_dir / "config.json").read_text())["model_type"] == "bilstm_crf":
        return _export_bilstm_crf(model_dir, staging, quantize=quantize)
    return export_logits(AutoModelForTokenClassification, model_dir, staging, quantize=quantize)


def _export_bilstm_crf(model_dir: Path, staging: Path, *, quantize: bool) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from nlpkit.pretrained import from_pretrained

    model = from_pretrained(AutoModelForTokenClassification, str(model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    inputs = example_inputs(model, tokenizer)
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs}
    if model.char_encoder is not None:  # the pipeline cuts each word's characters from the text
        inputs["char_ids"] = model.word_char_ids[inputs["input_ids"]]
        axes["char_ids"] = {0: "batch", 1: "sequence"}

    class EmissionsAndScores(torch.nn.Module):
        """The CRF's inputs: what the model computes before its Viterbi loop."""

        def __init__(self) -> None:
            super().__init__()
            self.tagger = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, char_ids: torch.Tensor | None = None
        ) -> tuple[torch.Tensor, ...]:
            emissions = self.tagger.emissions(input_ids, attention_mask.bool(), char_ids).float()
            return (emissions, *self.tagger.crf.scores())

    export_onnx(EmissionsAndScores(), inputs, staging / MODEL_FILE, output_names=CRF_OUTPUTS, dynamic_axes=axes)
    if quantize:
        quantize_int8(staging / MODEL_FILE)
    run = (
        "emissions, *crf_scores = session.run(None, feeds)\n"
        "# then Viterbi: nlpkit.export.token_classification.crf_logits(emissions, batch['attention_mask'], *crf_scores)"
    )
    if "char_ids" in inputs:
        run = (
            "# each token's characters, (batch, sequence, max_word_length), padded with 0: per sentence\n"
            "# nlpkit.models.bilstm_crf.words_to_char_ids(words, config.char_alphabet, config.max_word_length)\n"
            "feeds['char_ids'] = char_ids\n" + run
        )
    snippet = usage([name for name in inputs if name != "char_ids"], run)
    return {"onnx": MODEL_FILE, "inputs": list(inputs), "outputs": list(CRF_OUTPUTS), "crf": True, "usage": snippet}


def crf_logits(
    emissions: np.ndarray,
    mask: np.ndarray,
    transitions: np.ndarray,
    start_transitions: np.ndarray,
    end_transitions: np.ndarray,
) -> np.ndarray:
    """The BiLSTM-CRF's logits from its emissions `(batch, seq_len, tags)` and right-padded `mask`: the
    max-marginals with the Viterbi path's tag lifted to the strict maximum, 0 at padding (see the model's module
    docstring). Mirrors `LinearChainCRF.viterbi` and `viterbi_logits` operation for operation."""
    emissions = emissions.astype(np.float32)
    mask = mask.astype(bool)
    batch_size, seq_len, num_tags = emissions.shape
    rows = np.arange(batch_size)
    keep_tag = np.broadcast_to(np.arange(num_tags), (batch_size, num_tags))

    score = start_transitions + emissions[:, 0]  # best prefix ending in each tag
    prefix_scores, backpointers = [score], []
    for t in range(1, seq_len):
        candidates = score[:, :, None] + transitions  # (batch, from, to)
        previous_tag = candidates.argmax(axis=1)
        best_previous = np.take_along_axis(candidates, previous_tag[:, None, :], axis=1)[:, 0]
        if mask[:, t].all():  # the same values as the masked update below, without its copies
            score = best_previous + emissions[:, t]
        else:
            step = mask[:, t, None]
            score = np.where(step, best_previous + emissions[:, t], score)
            previous_tag = np.where(step, previous_tag, keep_tag)
        backpointers.append(previous_tag)
        prefix_scores.append(score)

    tag = (score + end_transitions).argmax(axis=1)
    path = [tag]
    for previous_tag in reversed(backpointers):
        tag = previous_tag[rows, tag]
        path.append(tag)
    path = np.stack(path[::-1], axis=1)

    suffix = np.broadcast_to(end_transitions, (batch_size, num_tags))  # best continuation after each tag
    suffix_scores = [suffix]
    for t in range(seq_len - 1, 0, -1):
        best_next = (transitions + (emissions[:, t] + suffix)[:, None, :]).max(axis=2)
        suffix = best_next if mask[:, t].all() else np.where(mask[:, t, None], best_next, suffix)
        suffix_scores.append(suffix)
    max_marginals = np.stack(prefix_scores, axis=1) + np.stack(suffix_scores[::-1], axis=1)

    on_path = np.arange(num_tags) == path[..., None]
    best_elsewhere = np.where(on_path, -np.inf, max_marginals).max(axis=-1, keepdims=True).astype(np.float32)
    lifted = np.maximum(max_marginals, np.nextafter(best_elsewhere, np.float32(np.inf)))
    logits = np.where(on_path, lifted, max_marginals)
    return np.where(mask[..., None], logits, np.float32(0.0)).astype(np.float32)


def load(folder: Path, manifest: Mapping[str, Any], *, threads: int | None = None) -> Any:
    """The exported tagger as :mod:`nlpkit.predict`'s pipeline predictor (the same options, blank texts and
    entity records as for the PyTorch model), its pipeline running the ONNX session."""
    from transformers import AutoConfig, AutoTokenizer, TokenClassificationPipeline

    from nlpkit.models import register_models
    from nlpkit.predict import PipelinePredictor

    register_models()  # the BiLSTM-CRF's config class
    config = AutoConfig.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    pipeline_class = TokenClassificationPipeline
    if config.model_type == "bilstm_crf":
        from nlpkit.models.bilstm_crf.modeling_bilstm_crf import BiLSTMCRFTokenClassificationPipeline

        pipeline_class = BiLSTMCRFTokenClassificationPipeline
    session = inference_session(Path(folder) / manifest["onnx"], threads=threads)
    # The pipeline checks the model's class name against the token-classification models: it takes the source's.
    model_class = type(config.architectures[0], (OnnxTokenClassificationModel,), {})
    model = model_class(session, config, crf=bool(manifest.get("crf")))
    pipe = pipeline_class(model=model, tokenizer=tokenizer, device="cpu", task="token-classification")
    return PipelinePredictor(pipe)


class OnnxTokenClassificationModel:
    """Stands in for the PyTorch model inside transformers' pipeline: ``model(**inputs)["logits"]`` from the
    session (and the numpy Viterbi step for a CRF), on the CPU."""

    def __init__(self, session: Any, config: Any, *, crf: bool):
        import torch

        self.session = session
        self.config = config
        self.crf = crf
        self.input_names = [node.name for node in session.get_inputs()]
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    def __call__(self, **inputs: Any) -> dict[str, Any]:
        import torch

        feeds = {name: inputs[name].numpy().astype(np.int64) for name in self.input_names}
        outputs = self.session.run(None, feeds)
        logits = crf_logits(outputs[0], feeds["attention_mask"], *outputs[1:]) if self.crf else outputs[0]
        return {"logits": torch.from_numpy(logits)}

    def to(self, *args: Any, **kwargs: Any) -> OnnxTokenClassificationModel:
        return self  # the session runs on the CPU

    def can_generate(self) -> bool:
        return False
