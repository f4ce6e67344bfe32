"""`nlpkit export` for translation models: nlpkit's RNN seq2seq and transformers' encoder-decoders (M2M100, Marian,
BART, T5...).

Formats:

- ``ctranslate2`` (default for transformers models): ``ctranslate2.converters.TransformersConverter`` writes the
  model into ``ctranslate2/``; CTranslate2's C++ beam search is what makes translation fast on CPU. nlpkit's M2M100
  and Marian trained from scratch differ from the Hub checkpoints the converter assumes (their padding id is 0, and
  Marian's decoder starts from ``<s>``, not from padding), which is corrected in the converted spec here.
- ``onnx`` (the only one for the RNN seq2seq, which CTranslate2 has no architecture for): two graphs,
  ``encoder.onnx`` (the source -> encoder states, what every decoder step reads of them, and the first decoder step)
  and ``decoder_step.onnx`` (one token -> next-token log-probabilities, the decoder cache or RNN state in and out).
  Batch, source length and past length are dynamic axes. A numpy greedy and beam search here reproduces
  ``model.generate()`` (transformers 5's beam search, length penalty and early stopping included) on them.

Both runtimes read the source as the PyTorch translation pipeline does (``config.prefix`` before each text, the
tokenizer's ``src_lang``) and start the target the same way (``decoder_start_token_id``, then the generation config's
``forced_bos_token_id``: the target language's code of M2M100/NLLB), with the folder's generation config as defaults.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit.errors import ConfigError
from nlpkit.export import ctranslate2_threads, require

FORMATS = ("onnx", "ctranslate2")  # the default is default_format's
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder_step.onnx"
CTRANSLATE2_DIR = "ctranslate2"
RNN_MODEL_TYPE = "rnn_seq2seq"
# Generation settings the runtimes reproduce (read from the model's generation config at export).
GENERATION_KEYS = (
    "max_length", "min_length", "num_beams", "length_penalty", "early_stopping", "forced_bos_token_id",
    "forced_eos_token_id", "bad_words_ids", "suppress_tokens", "decoder_start_token_id", "eos_token_id",
    "pad_token_id", "do_sample", "temperature", "top_k", "top_p",
)  # fmt: skip
# Settings that change generate()'s output and that the ONNX runtime's search does not reproduce: refused at export.
UNSERVED_SETTINGS = {
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "num_beam_groups": 1,
    "diversity_penalty": 0.0,
    "begin_suppress_tokens": None,
    "sequence_bias": None,
    "renormalize_logits": False,
}


def default_format(config: dict[str, Any]) -> str:
    """The format that suits the model: CTranslate2 for transformers models (its C++ beam search is what makes
    translation fast on a CPU), ONNX for the RNN seq2seq (CTranslate2 has no architecture for it)."""
    return "onnx" if config.get("model_type") == RNN_MODEL_TYPE else "ctranslate2"


def export(model_dir: Path, staging: Path, *, format: str, quantize: bool) -> dict[str, Any]:
    """Write ``model_dir``'s translation model into ``staging`` as ``format``; the manifest extras and a usage
    snippet."""
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
    details: dict[str, Any] = {
        "prefix": getattr(model.config, "prefix", None) or "",
        "generation": generation_settings(model),
    }
    if model.config.model_type == RNN_MODEL_TYPE and format == "ctranslate2":
        raise ConfigError(f"{model_dir}: nlpkit's rnn_seq2seq exports with --format onnx (CTranslate2 has no RNN)")
    if format == "ctranslate2":
        details.update(convert_ctranslate2(model_dir, model, staging, quantize=quantize))
        usage = ctranslate2_usage(details["prefix"], details["generation"]["forced_bos_token_id"], model_dir)
    else:
        check_generation_is_served(model_dir, model)
        details.update(export_onnx_graphs(model, staging, quantize=quantize))
        usage = ONNX_USAGE
    return {**details, "usage": usage}


def ctranslate2_usage(prefix: str, forced_bos_token_id: int | None, model_dir: Path) -> str:
    """The card's snippet: CTranslate2 reads tokens, so the source is tokenized (behind the model's prefix) and the
    forced first target token, if any, is the target prefix."""
    target = ""
    if forced_bos_token_id is not None:
        from transformers import AutoTokenizer

        token = AutoTokenizer.from_pretrained(model_dir).convert_ids_to_tokens(forced_bos_token_id)
        target = f", target_prefix=[[{token!r}]]"
    return f"""
import ctranslate2
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(".")
translator = ctranslate2.Translator("ctranslate2")
source = tokenizer.convert_ids_to_tokens(tokenizer({prefix!r} + "A man is riding a bike.")["input_ids"])
result = translator.translate_batch([source]{target}, beam_size=5)
print(tokenizer.decode(tokenizer.convert_tokens_to_ids(result[0].hypotheses[0]), skip_special_tokens=True))
"""


ONNX_USAGE = """
import onnxruntime

encoder = onnxruntime.InferenceSession("encoder.onnx")       # source (+ decoder start) -> first step, caches
decoder = onnxruntime.InferenceSession("decoder_step.onnx")  # one token + caches -> log_probs, new caches
print([i.name for i in decoder.get_inputs()], [o.name for o in decoder.get_outputs()])
# nlpkit runs greedy and beam search on them: nlpkit.export.load_exported(".")(["A man is riding a bike."])
"""


def generation_settings(model: Any) -> dict[str, Any]:
    """The generation config's settings that decide the search, as ``model.generate()`` resolves them."""
    generation = model.generation_config
    settings = {key: getattr(generation, key, None) for key in GENERATION_KEYS}
    for key in ("decoder_start_token_id", "eos_token_id", "pad_token_id"):
        if settings[key] is None:
            settings[key] = getattr(model.config, key, None)
    if isinstance(settings["eos_token_id"], int):
        settings["eos_token_id"] = [settings["eos_token_id"]]
    return settings


def check_generation_is_served(model_dir: Path, model: Any) -> None:
    for key, neutral in UNSERVED_SETTINGS.items():
        value = getattr(model.generation_config, key, neutral)
        if value is not None and value != neutral:
            raise ConfigError(
                f"{model_dir}/generation_config.json: {key}={value!r} is not reproduced by the ONNX runtime's search "
                "(use --format ctranslate2, or reset it)"
            )


# ---------------------------------------------------------------------------------------------------------------------
# ONNX: the encoder graph (with the first decoder step) and the decoder-step graph.


@dataclass(frozen=True)
class GraphLayout:
    """What the decoder-step graph reads besides the new token: ``static`` inputs (the same at every step, taken from
    the encoder graph's outputs) and ``state`` (``past_<name>`` in, ``present_<name>`` out, reordered by beams)."""

    static: tuple[str, ...]
    state: tuple[str, ...]
    past_axis: int | None  # the state's growing axis (the transformer cache's past length); None for the RNN state

    def encoder_outputs(self) -> list[str]:
        return ["log_probs", *dict.fromkeys(["encoder_hidden_states", *self.static]), *self.present()]

    def present(self) -> list[str]:
        return [f"present_{name}" for name in self.state]

    def past(self) -> list[str]:
        return [f"past_{name}" for name in self.state]


def graph_layout(model: Any) -> GraphLayout:
    if model.config.model_type == RNN_MODEL_TYPE:
        state = ["hidden"]
        if model.config.rnn_type == "lstm":
            state.append("cell")
        if model.config.input_feeding:
            state.append("input_feed")
        return GraphLayout(static=("encoder_hidden_states",), state=tuple(state), past_axis=None)
    layers = range(model.config.decoder_layers if hasattr(model.config, "decoder_layers") else model.config.num_layers)
    pairs = [f"{i}_{kind}" for i in layers for kind in ("key", "value")]
    return GraphLayout(static=tuple(f"cross_{pair}" for pair in pairs), state=tuple(pairs), past_axis=2)


def with_keyword_inputs(module_class: type, names: Sequence[str]) -> type:
    """``module_class`` with a ``forward`` taking exactly ``names`` as keywords: torch.export binds the exported
    inputs by the signature, and the number of cache tensors depends on the model's layers."""

    def forward(self: Any, **inputs: Any) -> Any:
        return self.run(**inputs)

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names]
    forward.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return type(module_class.__name__, (module_class,), {"forward": forward})


def _graph_modules() -> tuple[type, type]:
    """The two graphs as torch modules (defined here so that importing this module does not import torch)."""
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache
    from transformers.modeling_outputs import BaseModelOutput

    from nlpkit.models.rnn_seq2seq.modeling_rnn_seq2seq import CACHE_FIELD, RNNDecoderState

    class EncoderGraph(torch.nn.Module):
        """Source -> encoder states, the decoder's first step from ``decoder_input_ids`` and every tensor the
        following steps read: running the first step here leaves the decoder-step graph no empty cache to handle."""

        def __init__(self, model: Any, layout: GraphLayout):
            super().__init__()
            self.model, self.layout = model, layout

        def run(self, input_ids: Any, attention_mask: Any, decoder_input_ids: Any) -> tuple:
            encoder_states = self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)[0]
            output = self.model(
                encoder_outputs=BaseModelOutput(last_hidden_state=encoder_states),
                attention_mask=attention_mask,
                decoder_input_ids=decoder_input_ids,
                use_cache=True,
                return_dict=True,
            )
            cache = getattr(output, CACHE_FIELD)
            tensors = {
                "log_probs": output.logits[:, -1].float().log_softmax(-1),
                "encoder_hidden_states": encoder_states,
            }
            tensors.update(cache_tensors(cache, self.layout, "present_"))
            return tuple(tensors[name] for name in self.layout.encoder_outputs())

    class DecoderStepGraph(torch.nn.Module):
        """One new token per row, with the static tensors and the state of the tokens before it -> the next token's
        log-probabilities and the state after it."""

        def __init__(self, model: Any, layout: GraphLayout):
            super().__init__()
            self.model, self.layout = model, layout

        def run(self, decoder_input_ids: Any, attention_mask: Any, **tensors: Any) -> tuple:
            if self.layout.past_axis is None:  # the RNN: its state, the encoder states it attends over
                encoder_states = tensors["encoder_hidden_states"]
                cache = RNNDecoderState(*(tensors.get(f"past_{name}") for name in ("hidden", "cell", "input_feed")))
            else:
                self_attention, cross_attention = DynamicCache(), DynamicCache()
                for layer in range(len(self.layout.state) // 2):
                    self_attention.update(tensors[f"past_{layer}_key"], tensors[f"past_{layer}_value"], layer)
                    cross_attention.update(tensors[f"cross_{layer}_key"], tensors[f"cross_{layer}_value"], layer)
                cache = EncoderDecoderCache(self_attention, cross_attention)  # cross-attention reads its cache only
                batch_size, source_length = attention_mask.shape
                width = tensors["cross_0_key"].shape[1] * tensors["cross_0_key"].shape[3]
                encoder_states = torch.zeros((), dtype=torch.float32).expand(batch_size, source_length, width)
            output = self.model(
                encoder_outputs=BaseModelOutput(last_hidden_state=encoder_states),
                attention_mask=attention_mask,
                decoder_input_ids=decoder_input_ids,
                use_cache=True,
                return_dict=True,
                **{CACHE_FIELD: cache},
            )
            present = cache_tensors(getattr(output, CACHE_FIELD), self.layout, "present_")
            return (output.logits[:, -1].float().log_softmax(-1), *(present[name] for name in self.layout.present()))

    return EncoderGraph, DecoderStepGraph


def cache_tensors(cache: Any, layout: GraphLayout, prefix: str) -> dict[str, Any]:
    """The decoder's cache (an ``RNNDecoderState`` or an ``EncoderDecoderCache``) as named tensors of the layout."""
    if layout.past_axis is None:
        return {f"{prefix}{name}": getattr(cache, name) for name in layout.state}
    tensors = {}
    for layer in range(len(layout.state) // 2):
        self_layer = cache.self_attention_cache.layers[layer]
        cross_layer = cache.cross_attention_cache.layers[layer]
        tensors[f"{prefix}{layer}_key"], tensors[f"{prefix}{layer}_value"] = self_layer.keys, self_layer.values
        tensors[f"cross_{layer}_key"], tensors[f"cross_{layer}_value"] = cross_layer.keys, cross_layer.values
    return tensors


def export_onnx_graphs(model: Any, staging: Path, *, quantize: bool) -> dict[str, Any]:
    """Export the encoder and decoder-step graphs of ``model`` into ``staging``; the layout for the manifest."""
    require("onnx", "onnxscript", "onnxruntime")
    import torch

    from nlpkit.export.onnx import export_onnx, quantize_int8

    if model.config.model_type == "t5":  # torch.export cannot yet decompose T5's attention reshape with dynamic axes
        raise ConfigError(f"{model.name_or_path}: T5 exports to ctranslate2 only (--format ctranslate2)")
    layout = graph_layout(model)
    encoder_class, step_class = _graph_modules()
    start = model.generation_config.decoder_start_token_id
    start = model.config.decoder_start_token_id if start is None else start
    # Two rows of different lengths (right-padded), so no axis is specialised to 1 or to equal lengths; short, as
    # torch.export traces the RNNs step by step before the exporter maps them to ONNX's GRU/LSTM.
    input_ids = torch.tensor([[5, 6, 7], [8, 9, 0]]) % model.config.vocab_size
    attention_mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    encoder_inputs = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "decoder_input_ids": torch.full((2, 1), start),
    }
    source = {0: "batch", 1: "source_length"}
    encoder = with_keyword_inputs(encoder_class, list(encoder_inputs))(model, layout)
    export_onnx(
        encoder,
        encoder_inputs,
        staging / ENCODER_FILE,
        output_names=layout.encoder_outputs(),
        dynamic_axes={"input_ids": source, "attention_mask": source, "decoder_input_ids": {0: "batch"}},
    )
    with torch.no_grad():
        first = dict(zip(layout.encoder_outputs(), encoder(**encoder_inputs)))
    step_inputs = {"decoder_input_ids": torch.tensor([[7], [8]]), "attention_mask": attention_mask}
    dynamic_axes: dict[str, dict[int, str]] = {"decoder_input_ids": {0: "batch"}, "attention_mask": source}
    for name in layout.static:
        step_inputs[name] = first[name]
        dynamic_axes[name] = source if name == "encoder_hidden_states" else {0: "batch", 2: "source_length"}
    for past, present in zip(layout.past(), layout.present()):
        state = first[present]
        if layout.past_axis is not None:  # a past of 2 tokens in the example: 1 would be specialised
            state = torch.cat([state, state], dim=layout.past_axis)
            dynamic_axes[past] = {0: "batch", layout.past_axis: "past_length"}
        else:
            dynamic_axes[past] = {0: "batch"}
        step_inputs[past] = state
    step = with_keyword_inputs(step_class, list(step_inputs))(model, layout)
    export_onnx(
        step,
        step_inputs,
        staging / DECODER_FILE,
        output_names=["log_probs", *layout.present()],
        dynamic_axes=dynamic_axes,
    )
    name_source_axis(staging / ENCODER_FILE)
    if quantize:
        quantize_int8(staging / ENCODER_FILE)
        quantize_int8(staging / DECODER_FILE)
    return {
        "encoder": ENCODER_FILE,
        "decoder_step": DECODER_FILE,
        "static_inputs": list(layout.static),
        "state": list(layout.state),
        "past_axis": layout.past_axis,
        "max_positions": max_positions(model),
    }


def name_source_axis(path: Path) -> None:
    """Mark the encoder states' length as the dynamic ``source_length`` in the graph's output shapes. torch.export
    records an RNN output's length as the example's (the graph computes any length), and ONNX Runtime warns on
    every run whose output does not have the recorded shape."""
    import onnx

    model = onnx.load(str(path))
    for output in model.graph.output:
        if output.name == "encoder_hidden_states":
            output.type.tensor_type.shape.dim[1].dim_param = "source_length"
    onnx.save(model, str(path))


def max_positions(model: Any) -> int | None:
    """The longest sequence the model's position table covers (sinusoidal tables stop there in a graph)."""
    return getattr(model.config, "max_position_embeddings", None)


# ---------------------------------------------------------------------------------------------------------------------
# CTranslate2


def convert_ctranslate2(model_dir: Path, model: Any, staging: Path, *, quantize: bool) -> dict[str, Any]:
    """Convert with CTranslate2's TransformersConverter into ``staging/ctranslate2``, with the corrections that
    nlpkit's from-scratch models need (see :func:`correct_spec`)."""
    require("ctranslate2")
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):
        def _load(self) -> Any:
            spec = super()._load()
            correct_spec(spec, model, self.tokenizer)
            return spec

        def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            self.tokenizer = super().load_tokenizer(tokenizer_class, model_name_or_path, **kwargs)
            return self.tokenizer

    with tempfile.TemporaryDirectory(dir=staging) as scratch:
        converted = Path(scratch) / CTRANSLATE2_DIR
        try:
            Converter(str(model_dir)).convert(str(converted), quantization="int8" if quantize else None)
        except ValueError as error:  # an architecture CTranslate2 has no loader for
            raise ConfigError(f"{model_dir}: CTranslate2 cannot convert it ({error}); use --format onnx") from None
        shutil.move(str(converted), staging / CTRANSLATE2_DIR)
    return {"ctranslate2": CTRANSLATE2_DIR, "compute_type": "int8" if quantize else "float32"}


def correct_spec(spec: Any, model: Any, tokenizer: Any) -> None:
    """Fix the converted spec where nlpkit's from-scratch models differ from the Hub checkpoints CTranslate2's
    loaders assume.

    - M2M100 positions: transformers numbers real tokens from ``padding_idx + 1``; the loader skips 2 rows of the
      table (fairseq's padding id 1). nlpkit's tokenizer pads with id 0, which would shift every position by one.
    - Marian's vocabulary and decoder start: opus-mt's padding token is its last one, which the loader drops, and
      its decoder starts from it (a zero embedding, which the loader hard-codes); nlpkit's from-scratch Marian pads
      with id 0 and starts from ``<s>``.
    """
    config = model.config
    if config.model_type == "m2m_100":
        for side, module in ((spec.encoder, model.get_encoder()), (spec.decoder, model.get_decoder())):
            table = module.embed_positions
            side.position_encodings.encodings = table.weights[table.padding_idx + 1 :].numpy()
    if config.model_type == "marian" and config.pad_token_id != config.vocab_size - 1:
        # The loader drops the last vocabulary row, where opus-mt keeps its padding token: give it back.
        rows = {"weight": model.get_input_embeddings().weight, "bias": model.final_logits_bias[0]}
        for vocabulary_spec in (spec.encoder.embeddings[0], spec.decoder.embeddings, spec.decoder.projection):
            vocabulary_spec.weight = rows["weight"].detach().numpy()
        if spec.decoder.projection.has_bias():
            spec.decoder.projection.bias = rows["bias"].detach().numpy()
        spec.decoder.projection.weight = model.get_output_embeddings().weight.detach().numpy()
    if config.model_type == "marian" and config.decoder_start_token_id != config.pad_token_id:
        spec.decoder.start_from_zero_embedding = False
        spec.config.decoder_start_token = tokenizer.convert_ids_to_tokens(config.decoder_start_token_id)


# ---------------------------------------------------------------------------------------------------------------------
# The runtime


@dataclass
class Generation:
    """One call's search settings: the folder's generation config overridden by the call's options."""

    max_length: int  # decoder tokens including the start token, as transformers counts them
    min_length: int = 0
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    decoder_start_token_id: int = 0
    eos_token_ids: tuple[int, ...] = ()
    pad_token_id: int = 0
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | None = None
    banned_token_ids: tuple[int, ...] = ()
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    seed: int | None = None
    min_new_tokens: int = 0

    @classmethod
    def from_settings(cls, settings: dict[str, Any], options: dict[str, Any]) -> Generation:
        options = dict(options)

        def setting(key: str, default: Any) -> Any:  # a key saved as null means transformers' default
            value = settings.get(key)
            return default if value is None else value

        eos = setting("eos_token_id", [])
        banned = [ids[0] for ids in setting("bad_words_ids", []) if len(ids) == 1]
        banned += list(setting("suppress_tokens", []))
        generation = cls(
            max_length=setting("max_length", 20),
            min_length=setting("min_length", 0),
            num_beams=setting("num_beams", 1),
            length_penalty=setting("length_penalty", 1.0),
            early_stopping=setting("early_stopping", False),
            decoder_start_token_id=settings["decoder_start_token_id"],
            eos_token_ids=tuple(eos if isinstance(eos, list) else [eos]),
            pad_token_id=setting("pad_token_id", 0),
            forced_bos_token_id=settings.get("forced_bos_token_id"),
            forced_eos_token_id=settings.get("forced_eos_token_id"),
            banned_token_ids=tuple(banned),
            do_sample=bool(settings.get("do_sample")),
            temperature=setting("temperature", 1.0),
            top_k=setting("top_k", 0),
            top_p=setting("top_p", 1.0),
        )
        if "max_new_tokens" in options:  # generate(): max_length = prompt (the start token) + max_new_tokens
            generation.max_length = 1 + int(options.pop("max_new_tokens"))
        if "min_new_tokens" in options:
            generation.min_new_tokens = int(options.pop("min_new_tokens"))
        for key in ("max_length", "min_length", "num_beams", "length_penalty", "early_stopping", "do_sample"):
            if key in options:
                setattr(generation, key, options.pop(key))
        for key in ("temperature", "top_k", "top_p", "seed", "forced_bos_token_id"):
            if key in options:
                setattr(generation, key, options.pop(key))
        if options:
            raise ConfigError(f"translation options {', '.join(sorted(options))}: not known to the exported runtime")
        if generation.do_sample and generation.num_beams > 1:
            raise ConfigError("do_sample with num_beams > 1: the exported runtime samples with num_beams 1 only")
        return generation


class Seq2SeqSession:
    """The two ONNX graphs of an export, seen as ``start`` (encoder + first step) and ``step``."""

    def __init__(self, folder: Path, manifest: dict[str, Any], *, threads: int | None = None):
        from nlpkit.export.onnx import inference_session

        self.encoder = inference_session(folder / manifest["encoder"], threads=threads)
        self.decoder = inference_session(folder / manifest["decoder_step"], threads=threads)
        self.static = list(manifest["static_inputs"])
        self.state = list(manifest["state"])
        self.encoder_outputs = [output.name for output in self.encoder.get_outputs()]

    def start(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, start_token: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """log-probabilities of the first token, the static inputs of the steps, the state after the start token."""
        decoder_input_ids = np.full((input_ids.shape[0], 1), start_token, dtype=np.int64)
        outputs = dict(
            zip(
                self.encoder_outputs,
                self.encoder.run(
                    None,
                    {"input_ids": input_ids, "attention_mask": attention_mask, "decoder_input_ids": decoder_input_ids},
                ),
            )
        )
        static = {"attention_mask": attention_mask, **{name: outputs[name] for name in self.static}}
        state = {name: outputs[f"present_{name}"] for name in self.state}
        return outputs["log_probs"], static, state

    def step(
        self, tokens: np.ndarray, static: dict[str, np.ndarray], state: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        inputs = {"decoder_input_ids": tokens.reshape(-1, 1).astype(np.int64), **static}
        inputs.update({f"past_{name}": value for name, value in state.items()})
        log_probs, *present = self.decoder.run(None, inputs)
        return log_probs, dict(zip(self.state, present))


def take_rows(arrays: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: array[rows] for name, array in arrays.items()}


def process_log_probs(log_probs: np.ndarray, current_length: int, generation: Generation) -> np.ndarray:
    """transformers' logits processors that the generation config turns on, in generate()'s order (each sets
    scores to -inf, or forces one token to 0 and every other to -inf)."""
    scores = log_probs
    blocked = list(generation.banned_token_ids)
    if current_length < generation.min_length or current_length - 1 < generation.min_new_tokens:
        blocked += generation.eos_token_ids
    if blocked:
        scores = scores.copy()
        scores[:, blocked] = -np.inf
    for forced, position in (
        (generation.forced_bos_token_id, 1),
        (generation.forced_eos_token_id, generation.max_length - 1),
    ):
        if forced is not None and current_length == position:
            scores = np.full_like(scores, -np.inf)
            scores[:, forced] = 0.0
    return scores


def sample(scores: np.ndarray, generation: Generation, rng: np.random.Generator) -> np.ndarray:
    """Temperature, top-k and top-p as transformers' warpers apply them (on log-probabilities, the same
    distribution as on logits), then one draw per row."""
    scores = scores / generation.temperature
    if generation.top_k:
        kth = np.sort(scores, axis=-1)[:, -min(generation.top_k, scores.shape[-1]), None]
        scores = np.where(scores < kth, -np.inf, scores)
    probabilities = np.exp(scores - scores.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    if generation.top_p < 1.0:
        order = np.argsort(probabilities, axis=-1)
        ascending = np.take_along_axis(probabilities, order, -1)
        remove = np.cumsum(ascending, -1) <= 1 - generation.top_p
        remove[:, -1] = False
        np.put_along_axis(probabilities, order, np.where(remove, 0.0, ascending), -1)
        probabilities /= probabilities.sum(-1, keepdims=True)
    return np.array([rng.choice(len(row), p=row) for row in probabilities])


def top_k(scores: np.ndarray, k: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """torch.topk over the last axis: the k highest scores of each row, best first (equal scores by index).

    A row holds ``beams`` blocks of ``block`` scores, and its first block alone has k scores at least as high as
    its own k-th highest: that bound leaves a handful of candidates to sort, where a partial sort of the whole row
    (beams x vocabulary, every step) would cost more than the decoder step itself."""
    bounds = -np.partition(-scores[:, :block], k - 1, axis=-1)[:, k - 1]
    indices, values = [], []
    for row, bound in zip(scores, bounds):
        if np.isfinite(bound):
            candidates = np.flatnonzero(row >= bound)
        else:  # a forced token leaves -inf almost everywhere: no bound
            candidates = np.argpartition(-row, k - 1)[:k]
        order = np.lexsort((candidates, -row[candidates]))[:k]
        indices.append(candidates[order])
        values.append(row[candidates[order]])
    return np.stack(indices), np.stack(values)


def greedy_search(
    session: Seq2SeqSession, input_ids: np.ndarray, attention_mask: np.ndarray, generation: Generation
) -> list[list[int]]:
    """generate()'s greedy search (and sampling): the generated ids of each row, EOS included when reached. Rows
    that finish leave the batch, so the rest decode on."""
    rng = np.random.default_rng(generation.seed)
    log_probs, static, state = session.start(input_ids, attention_mask, generation.decoder_start_token_id)
    outputs: list[list[int]] = [[] for _ in range(len(input_ids))]
    active = np.arange(len(input_ids))
    eos = np.array(generation.eos_token_ids, dtype=np.int64)
    current_length = 1
    while True:
        scores = process_log_probs(log_probs, current_length, generation)
        tokens = sample(scores, generation, rng) if generation.do_sample else scores.argmax(-1)
        for row, token in zip(active, tokens.tolist()):
            outputs[row].append(token)
        current_length += 1
        running = ~np.isin(tokens, eos)
        if current_length >= generation.max_length or not running.any():
            return outputs
        if not running.all():
            keep = np.flatnonzero(running)
            active, tokens = active[keep], tokens[keep]
            static, state = take_rows(static, keep), take_rows(state, keep)
        log_probs, state = session.step(tokens, static, state)


def beam_search(
    session: Seq2SeqSession, input_ids: np.ndarray, attention_mask: np.ndarray, generation: Generation
) -> list[list[int]]:
    """transformers 5's beam search (``GenerationMixin._beam_search``) in numpy, step for step: the top
    2 x num_beams continuations, finished hypotheses scored with ``length_penalty`` over the generated length, the
    same early-stopping heuristic. Sentences whose hypotheses can no longer change leave the batch. The best
    hypothesis of each row, as generated ids (EOS included when reached)."""
    beams, max_length = generation.num_beams, generation.max_length
    eos = np.array(generation.eos_token_ids, dtype=np.int64)
    keep_count = max(2, 1 + len(eos)) * beams
    top_beams = np.arange(keep_count) < beams
    log_probs, static, state = session.start(input_ids, attention_mask, generation.decoder_start_token_id)
    # Every sentence's rows repeated num_beams times (generate() expands the inputs the same way).
    expand = np.repeat(np.arange(len(input_ids)), beams)
    log_probs, static, state = log_probs[expand], take_rows(static, expand), take_rows(state, expand)
    count = len(input_ids)
    sentences = np.arange(count)  # which input each row of the arrays below belongs to
    running = np.full((count, beams, max_length), generation.pad_token_id, dtype=np.int64)
    running[:, :, 0] = generation.decoder_start_token_id
    finished = running.copy()
    running_scores = np.zeros((count, beams), dtype=np.float32)
    running_scores[:, 1:] = -1e9
    finished_scores = np.full((count, beams), -1e9, dtype=np.float32)
    is_finished = np.zeros((count, beams), dtype=bool)
    improvable = np.ones((count, 1), dtype=bool)
    lengths = np.zeros((count, beams), dtype=np.int64)  # tokens after the start in each finished hypothesis
    best: dict[int, list[int]] = {}
    current_length = 1
    while True:
        scores = process_log_probs(log_probs, current_length, generation).astype(np.float32, copy=False)
        vocab_size = scores.shape[-1]
        scores = (scores.reshape(count, beams, vocab_size) + running_scores[:, :, None]).reshape(count, -1)
        top, top_scores = top_k(scores, keep_count, vocab_size)
        from_beam, top_tokens = top // vocab_size, top % vocab_size
        candidates = np.take_along_axis(running, from_beam[:, :, None], 1)
        candidates[:, :, current_length] = top_tokens
        # a candidate stops at EOS, or at max_length (the MaxLengthCriteria of generate())
        stops = np.isin(top_tokens, eos) | (current_length + 1 >= max_length)

        # the best num_beams candidates that go on
        going_on = top_scores + stops.astype(np.float32) * np.float32(-1.0e9)
        next_beams = np.argsort(-going_on, axis=-1, kind="stable")[:, :beams]
        next_running = np.take_along_axis(candidates, next_beams[:, :, None], 1)
        running_scores = np.take_along_axis(going_on, next_beams, -1)
        beam_rows = np.take_along_axis(from_beam, next_beams, -1) + np.arange(count)[:, None] * beams

        # finished candidates among the top num_beams join the finished hypotheses if they score higher
        just_finished = stops & top_beams[None, :]
        generated_length = current_length  # with this token, after the start token (the decoder prompt)
        penalised = top_scores / np.float32(generated_length**generation.length_penalty)
        full = is_finished.all(-1, keepdims=True) & (generation.early_stopping is True)
        penalised = penalised + full.astype(np.float32) * np.float32(-1.0e9)
        penalised = penalised + (~improvable).astype(np.float32) * np.float32(-1.0e9)
        penalised = penalised + (~just_finished).astype(np.float32) * np.float32(-1.0e9)
        merged_scores = np.concatenate([finished_scores, penalised], 1)
        merged = np.argsort(-merged_scores, axis=-1, kind="stable")[:, :beams]
        finished = np.take_along_axis(np.concatenate([finished, candidates], 1), merged[:, :, None], 1)
        finished_scores = np.take_along_axis(merged_scores, merged, -1)
        is_finished = np.take_along_axis(np.concatenate([is_finished, just_finished], 1), merged, -1)
        new_lengths = np.full((count, keep_count), current_length, dtype=np.int64)
        lengths = np.take_along_axis(np.concatenate([lengths, new_lengths], 1), merged, -1)

        running, current_length = next_running, current_length + 1
        # the early-stopping heuristic of generate(), after the step
        if generation.early_stopping == "never" and generation.length_penalty > 0.0:
            best_length = max_length - 1
        else:
            best_length = current_length - 1
        best_running = running_scores[:, :1] / np.float32(best_length**generation.length_penalty)
        worst_finished = np.where(is_finished, finished_scores.min(-1, keepdims=True), np.float32(-1.0e9))
        improvable = improvable & (best_running > worst_finished).any(-1, keepdims=True)
        done = ~improvable[:, 0]
        if generation.early_stopping is True:
            done |= is_finished.all(-1)
        if stops.all() or current_length >= max_length:
            done[:] = True
        for row in np.flatnonzero(done):
            best[int(sentences[row])] = finished[row, 0, 1 : 1 + lengths[row, 0]].tolist()
        if done.all():
            return [best[row] for row in range(len(input_ids))]
        if done.any():  # finished sentences leave the batch
            keep = np.flatnonzero(~done)
            rows = (keep[:, None] * beams + np.arange(beams)).reshape(-1)
            beam_rows = beam_rows[keep]
            beam_rows = (np.searchsorted(rows, beam_rows.reshape(-1))).reshape(len(keep), beams)
            static = take_rows(static, rows)
            state = take_rows(state, rows)
            sentences, running, running_scores = sentences[keep], running[keep], running_scores[keep]
            finished, finished_scores = finished[keep], finished_scores[keep]
            is_finished, improvable, lengths = is_finished[keep], improvable[keep], lengths[keep]
            count = len(keep)
        state = take_rows(state, beam_rows.reshape(-1))
        log_probs, state = session.step(running[:, :, current_length - 1].reshape(-1), static, state)


class ExportedTranslator:
    """An exported translation folder: ``translator(texts)`` -> ``[{"translation_text": ...}]``, as
    ``nlpkit predict`` and the PyTorch translation pipeline give them."""

    task = "translation"

    def __init__(self, folder: Path, manifest: dict[str, Any], *, threads: int | None = None):
        from transformers import AutoTokenizer

        self.folder, self.manifest = folder, manifest
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.tokenizer.padding_side = "right"  # the runtime pads the batches itself; sources are read right-padded
        self.prefix = manifest.get("prefix") or ""
        self.settings = dict(manifest["generation"])
        self.format = manifest["format"]
        if self.format == "ctranslate2":
            require("ctranslate2")
            import ctranslate2

            self.translator = ctranslate2.Translator(
                str(folder / manifest["ctranslate2"]), device="cpu", intra_threads=ctranslate2_threads(threads)
            )
        else:
            self.session = Seq2SeqSession(folder, manifest, threads=threads)

    def __call__(
        self, texts: list[str], *, batch_size: int = 32, text_pairs: list[str] | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        """One ``{"translation_text"}`` per text. ``options``: generation settings (``num_beams``,
        ``max_new_tokens``, ``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``seed``...; None means the
        folder's), ``src_lang`` / ``tgt_lang`` language codes."""
        if text_pairs is not None:
            raise ConfigError(f"{self.folder}: a translation model reads single texts, not text pairs")
        options = {key: value for key, value in options.items() if value is not None}
        src_lang, tgt_lang = options.pop("src_lang", None), options.pop("tgt_lang", None)
        if src_lang is not None:
            self.tokenizer.src_lang = src_lang
        if tgt_lang is not None:
            from nlpkit.pipelines.translation_pipeline import language_code_id

            options["forced_bos_token_id"] = language_code_id(self.tokenizer, tgt_lang)
            if options["forced_bos_token_id"] is None:
                raise ConfigError(f"tgt_lang={tgt_lang!r}: not a language code of {self.folder}'s tokenizer")
        generation = Generation.from_settings(self.settings, options)
        encoded = self.tokenizer([self.prefix + text for text in texts], truncation=True)["input_ids"]
        # Batches of similar lengths pad less; the order is restored at the end.
        order = sorted(range(len(texts)), key=lambda index: len(encoded[index]))
        generated: dict[int, list[int]] = {}
        for begin in range(0, len(order), batch_size):
            chunk = order[begin : begin + batch_size]
            for index, ids in zip(chunk, self.generate([encoded[index] for index in chunk], generation)):
                generated[index] = ids
        return [
            {"translation_text": self.tokenizer.decode(generated[index], skip_special_tokens=True)}
            for index in range(len(texts))
        ]

    def generate(self, sources: list[list[int]], generation: Generation) -> list[list[int]]:
        """The generated ids (after the decoder start) of each tokenized source."""
        if self.format == "ctranslate2":
            return self.generate_ctranslate2(sources, generation)
        longest = max(len(ids) for ids in sources)
        positions = self.manifest.get("max_positions")
        if positions and max(longest, generation.max_length) > positions:  # the graphs' position tables end there
            raise ConfigError(
                f"{self.folder}: {max(longest, generation.max_length)} positions asked (source or max_length), "
                f"the exported model has {positions}"
            )
        input_ids = np.full((len(sources), longest), self.tokenizer.pad_token_id or 0, dtype=np.int64)
        attention_mask = np.zeros((len(sources), longest), dtype=np.int64)
        for row, ids in enumerate(sources):
            input_ids[row, : len(ids)], attention_mask[row, : len(ids)] = ids, 1
        search = beam_search if generation.num_beams > 1 else greedy_search
        return search(self.session, input_ids, attention_mask, generation)

    def generate_ctranslate2(self, sources: list[list[int]], generation: Generation) -> list[list[int]]:
        """CTranslate2's search: the same greedy search as generate(); its beam search scores hypotheses as
        transformers does (log-probability over length ** length_penalty) but stops differently."""
        tokenizer = self.tokenizer
        if generation.do_sample and generation.seed is not None:
            import ctranslate2

            ctranslate2.set_random_seed(generation.seed)
        prefix = None
        if generation.forced_bos_token_id is not None:
            prefix = [[tokenizer.convert_ids_to_tokens(generation.forced_bos_token_id)]] * len(sources)
        results = self.translator.translate_batch(
            [tokenizer.convert_ids_to_tokens(ids) for ids in sources],
            target_prefix=prefix,
            beam_size=generation.num_beams,
            length_penalty=generation.length_penalty,
            max_decoding_length=generation.max_length - 1,
            min_decoding_length=max(generation.min_length - 1, generation.min_new_tokens),
            max_input_length=0,
            return_end_token=True,
            suppress_sequences=[[tokenizer.convert_ids_to_tokens(i)] for i in generation.banned_token_ids] or None,
            sampling_topk=(generation.top_k or 0) if generation.do_sample else 1,
            sampling_topp=generation.top_p if generation.do_sample else 1.0,
            sampling_temperature=generation.temperature,
        )
        return [tokenizer.convert_tokens_to_ids(result.hypotheses[0]) for result in results]


def load(folder: Path, manifest: dict[str, Any]) -> ExportedTranslator:
    """The exported folder as a translator (ONNX Runtime or CTranslate2, as the manifest says)."""
    return ExportedTranslator(Path(folder), manifest)


__all__ = ["FORMATS", "ExportedTranslator", "default_format", "export", "load"]
