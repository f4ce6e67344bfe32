"""`nlpkit export` for text classifiers: any transformers ``*ForSequenceClassification`` (BERT family) and nlpkit's
LSTM classifier, to one ONNX graph ``model.onnx`` (token ids and masks in, ``logits`` out, batch and sequence axes
dynamic), served by ONNX Runtime with the source model's tokenizer.

The runtime here tokenizes a batch, runs the graph and turns the logits into the records of :mod:`nlpkit.predict`
(``label``, ``score``, ``probabilities``) the way ``pipeline("text-classification")`` does (softmax, or a sigmoid for
one label or multi-label models, nothing for regression), with no PyTorch in the loop: at batch 1 the pipeline's
own machinery would cost as much as a small model's forward pass.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit.errors import ConfigError
from nlpkit.export.onnx import export_onnx, feed_forward_output_shapes, inference_session, quantize_int8

FORMATS = ("onnx",)
MODEL_FILE = "model.onnx"
# A padded batch of mixed lengths, to trace with: torch.export treats sizes 0 and 1 as special and a batch as long
# as its sequences as one size, so the example has 3 texts, the longest of more tokens than that. Short all the
# same: tracing an LSTM runs its decomposition once per time step of the example.
EXAMPLE_TEXTS = ("a film", "the film is good", "dull")


def export(model_dir: Path, staging: Path, *, format: str, quantize: bool) -> dict[str, Any]:
    """Write ``model.onnx`` (logits of a padded batch) into ``staging``; the manifest's details and usage."""
    from transformers import AutoModelForSequenceClassification

    return export_logits(AutoModelForSequenceClassification, model_dir, staging, quantize=quantize)


def export_logits(auto_class: Any, model_dir: Path, staging: Path, *, quantize: bool) -> dict[str, Any]:
    """Export ``auto_class.from_pretrained(model_dir)``'s logits for the inputs its tokenizer gives (shared with
    the token classifiers, whose logits have a sequence axis too)."""
    from transformers import AutoTokenizer

    from nlpkit.pretrained import from_pretrained

    model = from_pretrained(auto_class, str(model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    inputs = example_inputs(model, tokenizer)
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs}
    export_onnx(model, inputs, staging / MODEL_FILE, output_names=["logits"], dynamic_axes=axes)
    if quantize:
        quantize_int8(staging / MODEL_FILE, float_weight_shapes=feed_forward_output_shapes(model.config))
    return {"onnx": MODEL_FILE, "inputs": list(inputs), "outputs": ["logits"], "usage": usage(list(inputs))}


def example_inputs(model: Any, tokenizer: Any, texts: Sequence[str] = EXAMPLE_TEXTS) -> dict[str, Any]:
    """The tokenizer's encoding of ``texts`` (padded), keeping the inputs the model's forward takes."""
    accepted = inspect.signature(model.forward).parameters
    encoded = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    return {name: tensor for name, tensor in encoded.items() if name in accepted}


def usage(input_names: list[str], run: str = '(logits,) = session.run(["logits"], feeds)') -> str:
    """The card's snippet: the graph with ONNX Runtime's own loader and the tokenizer beside it, ending in ``run``."""
    feeds = ", ".join(f'"{name}": batch["{name}"]' for name in input_names)
    return f"""
import onnxruntime
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(".")
session = onnxruntime.InferenceSession("{MODEL_FILE}", providers=["CPUExecutionProvider"])
batch = tokenizer(["a first text", "a second one"], padding=True, return_tensors="np")
feeds = {{{feeds}}}
{run}
"""


def load(folder: Path, manifest: Mapping[str, Any], *, threads: int | None = None) -> ExportedTextClassifier:
    """The exported classifier (``threads``: ONNX Runtime's, see :func:`nlpkit.export.onnx.inference_session`)."""
    return ExportedTextClassifier(folder, manifest, threads=threads)


class ExportedTextClassifier:
    """An exported text classifier: ``classifier(texts)`` gives ``{"label", "score", "probabilities"}`` per text."""

    task = "text-classification"

    def __init__(self, folder: Path, manifest: Mapping[str, Any], *, threads: int | None = None):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        config = json.loads((Path(folder) / "config.json").read_text())
        self.id2label = {int(index): label for index, label in config["id2label"].items()}
        self.scoring = scoring_function(config)
        self.session = inference_session(Path(folder) / manifest["onnx"], threads=threads)
        self.input_names = [node.name for node in self.session.get_inputs()]

    def logits(self, texts: list[str], text_pairs: list[str] | None = None) -> np.ndarray:
        """The graph's logits for one padded batch of ``texts`` (and their pairs)."""
        encoded = self.tokenizer(texts, text_pairs, padding=True, truncation=True, return_tensors="np")
        feeds = {name: encoded[name].astype(np.int64) for name in self.input_names}
        return self.session.run(["logits"], feeds)[0]

    def __call__(
        self, texts: list[str], *, batch_size: int = 32, text_pairs: list[str] | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        given = sorted(key for key, value in options.items() if value is not None)
        if given:  # as nlpkit.predict's pipeline predictor says it
            raise ConfigError(f"option '{given[0]}' does not apply to a {self.task} model (it takes no options)")
        predictions = []
        for start in range(0, len(texts), batch_size):
            pairs = text_pairs[start : start + batch_size] if text_pairs is not None else None
            scores = self.scoring(self.logits(texts[start : start + batch_size], pairs).astype(np.float32))
            for row in scores:
                best = int(row.argmax())
                predictions.append(
                    {
                        "label": self.id2label[best],
                        "score": float(row[best]),
                        "probabilities": {self.id2label[i]: float(score) for i, score in enumerate(row)},
                    }
                )
        return predictions


def scoring_function(config: Mapping[str, Any]) -> Any:
    """Logits to scores as ``pipeline("text-classification")`` chooses: none for regression, a sigmoid for
    multi-label models and single-logit heads, a softmax otherwise."""
    problem_type = config.get("problem_type")
    if problem_type == "regression":
        return lambda logits: logits
    if problem_type == "multi_label_classification" or len(config["id2label"]) == 1:
        return lambda logits: 1.0 / (1.0 + np.exp(-logits))
    return softmax


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
