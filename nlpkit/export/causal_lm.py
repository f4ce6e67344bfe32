"""`nlpkit export` for causal language models, and the runtime that generates from the exported folder.

- ONNX (the default): one *step* graph that takes the new token ids and the state after the earlier tokens and
  returns the next-token logits and the new state, so a numpy loop decodes without recomputing the prefix.
  Transformer decoders (nlpkit's GPT, GPT-2 and other transformers models whose cache is a ``DynamicCache``):
  ``(input_ids, attention_mask, past_keys, past_values) -> (logits, present_keys, present_values)``, the keys and
  values of every layer stacked as (layers, batch, heads, past, head_dim) with a dynamic past length; a batch of
  prompts is left-padded under an attention mask, as ``generate()`` does. nlpkit's LSTM LM: ``(input_ids, past_h,
  past_c) -> (logits, present_h, present_c)``, (h, c) being (layers, batch, hidden); each prompt is read alone
  (prompts of equal length together), which is what the model's padding-skipping forward computes for a padded batch.
- CTranslate2 (``--format ctranslate2``, transformers models only): ``ctranslate2.Generator``, whose C++ decoding loop
  with its own cache is the faster runtime for GPT-2-like models (and has beam search).

Generation follows ``nlpkit generate``: the defaults come from the folder's ``generation_config.json`` (transformers'
defaults where it is silent), prompts are tokenized without special tokens, a GPT with a learned position table
generates no further than its context, and ``generated_text`` is the prompt's and the new tokens' ids decoded
together with special tokens skipped. Greedy decoding gives PyTorch's tokens; sampling draws from the same
temperature / top-k / top-p distribution with numpy's (or CTranslate2's) random generator, so seeded samples are
reproducible but not PyTorch's.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit.errors import ConfigError
from nlpkit.export import ctranslate2_threads, require

FORMATS = ("onnx", "ctranslate2")
MODEL_FILE = "model.onnx"
NLPKIT_MODEL_TYPES = ("gpt", "lstm_lm")  # nlpkit's own language models, which CTranslate2 cannot read
GENERATION_OPTIONS = ("max_new_tokens", "num_beams", "do_sample", "temperature", "top_k", "top_p", "seed")
# transformers' GenerationConfig defaults, used where a folder's generation_config.json is silent (as generate() does).
GENERATION_DEFAULTS = {"do_sample": False, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "num_beams": 1}
DEFAULT_MAX_NEW_TOKENS = 20  # what `nlpkit generate` falls back to


# ---------------------------------------------------------------------------------------------------- export


def default_format(config: Mapping[str, Any]) -> str:
    """ONNX for nlpkit's own models (CTranslate2 cannot read them), CTranslate2 for transformers' decoders: its C++
    decoding loop is faster than ONNX Runtime stepped from numpy."""
    return "onnx" if config.get("model_type") in NLPKIT_MODEL_TYPES else "ctranslate2"


def export(model_dir: Path, staging: Path, *, format: str, quantize: bool) -> dict[str, Any]:
    """Write the runtime's files for the causal LM in ``model_dir`` into ``staging``; return the manifest extras."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    model_type = config["model_type"]
    if format == "ctranslate2" and model_type in NLPKIT_MODEL_TYPES:
        raise ConfigError(f"{model_dir}: nlpkit's {model_type} exports with --format onnx (CTranslate2 cannot read it)")
    if format == "ctranslate2":
        return export_ctranslate2(model_dir, staging, quantize=quantize)
    return export_onnx_step(model_dir, staging, quantize=quantize)


def export_onnx_step(model_dir: Path, staging: Path, *, quantize: bool) -> dict[str, Any]:
    """The model as an ONNX step graph (see the module docstring), optionally int8."""
    import torch
    from transformers import AutoModelForCausalLM

    from nlpkit.export.onnx import quantize_int8

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    path = staging / MODEL_FILE
    if model.config.model_type == "lstm_lm":
        details = export_lstm_step(model, path)
    elif model.config.model_type in NLPKIT_MODEL_TYPES:
        details = export_key_value_step(model, path)
    else:
        try:
            details = export_key_value_step(model, path)
        except Exception as error:  # torch.export's errors are many pages long: one line, and the way round it
            first_line = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
            raise ConfigError(
                f"{model_dir}: ONNX export of {model.config.model_type} failed ({first_line[:200]}); "
                "try --format ctranslate2"
            ) from error
    if quantize:
        quantize_int8(path)
    return {
        "model_file": MODEL_FILE,
        "context_limit": context_limit(model.config),
        "eos_token_id": model.config.eos_token_id,
        "pad_token_id": model.config.pad_token_id,
        **details,
    }


def context_limit(config: Any) -> int | None:
    """The most tokens (prompt + generation) the model sees, or None; derived from ``longest_generation`` itself,
    so the exported runtime caps generations exactly where ``nlpkit generate`` does."""
    from nlpkit.tasks.language_modeling import longest_generation

    unlimited = sys.maxsize
    capped = longest_generation(config, 0, unlimited)
    return capped if capped < unlimited else None


def export_key_value_step(model: Any, path: Path) -> dict[str, Any]:
    """Export a transformer decoder (nlpkit's GPT, GPT-2...) as ``(input_ids, attention_mask, past_keys,
    past_values) -> (logits, present_keys, present_values)``; batch, sequence and past lengths are dynamic.

    Inside the graph the stacked keys and values fill a transformers ``DynamicCache``, the cache ``generate()`` hands
    these models, and the positions are counted over the attention mask as ``generate()`` counts them for left
    padding.
    """
    import inspect

    import torch
    from transformers.cache_utils import DynamicCache

    from nlpkit.export.onnx import export_onnx

    takes_positions = "position_ids" in inspect.signature(model.forward).parameters

    class KeyValueStep(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, past_keys, past_values):  # noqa: ANN001, ANN202
            cache = DynamicCache(config=self.model.config)
            for layer in range(past_keys.shape[0]):
                cache.update(past_keys[layer], past_values[layer], layer)
            positions = {}
            if takes_positions:
                positions["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)[:, -input_ids.shape[1] :]
            output = self.model(
                input_ids=input_ids, attention_mask=attention_mask, **positions, past_key_values=cache, use_cache=True
            )
            cache = output.cache if getattr(output, "cache", None) is not None else output.past_key_values
            return (
                output.logits,
                torch.stack([layer.keys for layer in cache.layers]),
                torch.stack([layer.values for layer in cache.layers]),
            )

    step = KeyValueStep(model)
    layers = model.config.num_hidden_layers
    # The key/value shape (there may be fewer key/value heads than query heads): from the cache of one token.
    with torch.no_grad():
        output = model(input_ids=torch.zeros(1, 1, dtype=torch.long), use_cache=True)
    cache = output.cache if getattr(output, "cache", None) is not None else output.past_key_values
    _, heads, _, head_dim = cache.layers[0].keys.shape
    # Sizes above 1 and all different, so that torch.export keeps every axis symbolic.
    batch, new, past = 2, 3, 4
    example = {
        "input_ids": torch.randint(0, model.config.vocab_size, (batch, new)),
        "attention_mask": torch.ones(batch, past + new, dtype=torch.long),
        "past_keys": torch.zeros(layers, batch, heads, past, head_dim),
        "past_values": torch.zeros(layers, batch, heads, past, head_dim),
    }
    inputs = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "total"},
        "past_keys": {1: "batch", 3: "past"},
        "past_values": {1: "batch", 3: "past"},
    }
    outputs = {
        "logits": {0: "batch", 1: "sequence"},
        "present_keys": {1: "batch", 3: "total"},
        "present_values": {1: "batch", 3: "total"},
    }
    export_onnx(step, example, path, output_names=list(outputs), dynamic_axes=inputs)
    name_dynamic_axes(path, {**inputs, **outputs})
    return {
        "decoder": "key_value",
        "num_layers": layers,
        "num_heads": heads,
        "head_dim": head_dim,
        "usage": KEY_VALUE_USAGE.format(layers=layers, heads=heads, head_dim=head_dim),
    }


def export_lstm_step(model: Any, path: Path) -> dict[str, Any]:
    """Export nlpkit's LSTM LM as ``(input_ids, past_h, past_c) -> (logits, present_h, present_c)``; batch and
    sequence lengths are dynamic. No attention mask: the runtime reads each prompt without padding."""
    import torch

    from nlpkit.export.onnx import export_onnx

    class LSTMStep(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, input_ids, past_h, past_c):  # noqa: ANN001, ANN202
            output = self.model(input_ids=input_ids, cache=(past_h, past_c), use_cache=True)
            present_h, present_c = output.cache if hasattr(output, "cache") else output.past_key_values
            return output.logits, present_h, present_c

    config = model.config
    layers, hidden = config.num_hidden_layers, config.hidden_size
    batch, new = 2, 3
    example = {
        "input_ids": torch.randint(0, config.vocab_size, (batch, new)),
        "past_h": torch.zeros(layers, batch, hidden),
        "past_c": torch.zeros(layers, batch, hidden),
    }
    inputs = {"input_ids": {0: "batch", 1: "sequence"}, "past_h": {1: "batch"}, "past_c": {1: "batch"}}
    outputs = {"logits": {0: "batch", 1: "sequence"}, "present_h": {1: "batch"}, "present_c": {1: "batch"}}
    # torch.onnx swaps in a while-loop LSTM decomposition for dynamic shapes but leaves the operator's dispatch cache
    # holding it afterwards, so a second LSTM export in one process specialises the sequence length (torch 2.13).
    dispatch_cache = getattr(torch.ops.aten.lstm.input, "_dispatch_cache", None)
    if dispatch_cache is not None:
        dispatch_cache.clear()
    with warnings.catch_warnings():
        # torch.export notes that nn.LSTM re-assigns its flat weight list while traced; harmless, and not the user's.
        warnings.filterwarnings("ignore", message="The tensor attributes .*_flat_weights")
        export_onnx(LSTMStep(model), example, path, output_names=list(outputs), dynamic_axes=inputs)
    name_dynamic_axes(path, {**inputs, **outputs})
    return {
        "decoder": "lstm_lm",
        "num_layers": layers,
        "hidden_size": hidden,
        "usage": LSTM_USAGE.format(layers=layers, hidden=hidden),
    }


def name_dynamic_axes(path: Path, axes: Mapping[str, Mapping[int, str]]) -> None:
    """Give the graph's dynamic input and output axes readable names (``batch``, ``past``...) in place of the
    exporter's symbols, so the card's names are the ones a user sees in ``session.get_inputs()``.

    The intermediate shapes the exporter records are dropped (ONNX Runtime infers them again): for the LSTM they
    hold the example's sequence length, and ONNX Runtime would warn about it on every call.
    """
    import onnx

    model = onnx.load(str(path))
    for value in [*model.graph.input, *model.graph.output]:
        for axis, name in axes.get(value.name, {}).items():
            value.type.tensor_type.shape.dim[axis].dim_param = name
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def export_ctranslate2(model_dir: Path, staging: Path, *, quantize: bool) -> dict[str, Any]:
    """A transformers decoder model converted by CTranslate2's TransformersConverter (int8 weights if asked).

    CTranslate2 writes its own ``config.json`` (special tokens, layer norm epsilon) over the copied transformers one,
    as CTranslate2 folders on the Hub have it; what the runtime needs from the transformers config goes into the
    manifest.
    """
    require("ctranslate2")
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(model_dir)
    converted = staging / ".ctranslate2"  # the converter replaces its output folder, so not staging itself
    try:
        TransformersConverter(str(model_dir)).convert(str(converted), quantization="int8" if quantize else None)
    except (ValueError, NotImplementedError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"{model_dir}: CTranslate2 cannot convert this model ({message})") from None
    for file in converted.iterdir():
        shutil.move(str(file), staging / file.name)
    converted.rmdir()
    return {
        "decoder": "ctranslate2",
        "context_limit": context_limit(model_config),
        "eos_token_id": model_config.eos_token_id,
        "pad_token_id": model_config.pad_token_id,
        "usage": CTRANSLATE2_USAGE,
    }


KEY_VALUE_USAGE = """\
import numpy as np
import onnxruntime
from tokenizers import Tokenizer

tokenizer = Tokenizer.from_file("tokenizer.json")
session = onnxruntime.InferenceSession("model.onnx")
ids = np.array([tokenizer.encode("to be", add_special_tokens=False).ids], dtype=np.int64)
mask = np.ones_like(ids)
keys = values = np.zeros(({layers}, 1, {heads}, 0, {head_dim}), dtype=np.float32)  # (layers, batch, heads, past, dim)
for _ in range(20):  # greedy: feed only the new token, with the keys and values of the earlier ones
    logits, keys, values = session.run(
        None, {{"input_ids": ids, "attention_mask": mask, "past_keys": keys, "past_values": values}}
    )
    ids = logits[:, -1:].argmax(-1)
    mask = np.concatenate([mask, np.ones_like(ids)], axis=1)
    print(tokenizer.decode(ids[0].tolist()), end="")
"""

LSTM_USAGE = """\
import numpy as np
import onnxruntime
from tokenizers import Tokenizer

tokenizer = Tokenizer.from_file("tokenizer.json")
session = onnxruntime.InferenceSession("model.onnx")
ids = np.array([tokenizer.encode("to be", add_special_tokens=False).ids], dtype=np.int64)
h = c = np.zeros(({layers}, 1, {hidden}), dtype=np.float32)  # the LSTM state (layers, batch, hidden)
for _ in range(20):  # greedy: feed only the new token, with the state after the earlier ones
    logits, h, c = session.run(None, {{"input_ids": ids, "past_h": h, "past_c": c}})
    ids = logits[:, -1:].argmax(-1)
    print(tokenizer.decode(ids[0].tolist()), end="")
"""

CTRANSLATE2_USAGE = """\
import ctranslate2
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(".")
generator = ctranslate2.Generator(".", device="cpu")
prompt = tokenizer.convert_ids_to_tokens(tokenizer("Once upon a time", add_special_tokens=False)["input_ids"])
result = generator.generate_batch([prompt], max_length=50, sampling_topk=1, include_prompt_in_result=False)[0]
print(tokenizer.decode(tokenizer.convert_tokens_to_ids(prompt) + result.sequences_ids[0]))
"""


# ---------------------------------------------------------------------------------------------------- runtime


@dataclass(frozen=True)
class GenerationSettings:
    """How to continue a prompt: the folder's generation_config.json, overridden by the caller's options."""

    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_k: int
    top_p: float
    num_beams: int
    seed: int | None
    eos_token_ids: tuple[int, ...]


def generation_settings(folder: Path, manifest: Mapping[str, Any], options: Mapping[str, Any]) -> GenerationSettings:
    """The settings for one call, read as ``nlpkit generate`` reads them; ConfigError for an option it has not."""
    unknown = sorted(set(options) - set(GENERATION_OPTIONS))
    if unknown:
        raise ConfigError(f"{folder}: no generation option {unknown[0]!r} (options: {', '.join(GENERATION_OPTIONS)})")
    saved_file = folder / "generation_config.json"
    saved = json.loads(saved_file.read_text(encoding="utf-8")) if saved_file.is_file() else {}
    given = {key: value for key, value in options.items() if value is not None}
    value = {**GENERATION_DEFAULTS, **{k: v for k, v in saved.items() if v is not None}, **given}
    eos = saved.get("eos_token_id", manifest.get("eos_token_id"))
    eos_ids = tuple(eos if isinstance(eos, list) else [] if eos is None else [eos])
    if value["do_sample"] and float(value["temperature"]) <= 0:
        raise ConfigError(f"{folder}: temperature {value['temperature']}: sampling needs a temperature above 0")
    return GenerationSettings(
        max_new_tokens=int(value.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS),
        do_sample=bool(value["do_sample"]),
        temperature=float(value["temperature"]),
        top_k=int(value["top_k"] or 0),
        top_p=float(value["top_p"]),
        num_beams=int(value["num_beams"]),
        seed=value.get("seed"),
        eos_token_ids=eos_ids,
    )


def choose_next_tokens(logits: np.ndarray, settings: GenerationSettings, rng: np.random.Generator) -> np.ndarray:
    """The next token of each row of ``logits`` (batch, vocab): the argmax (first one on ties, as torch's), or a
    draw after temperature, top-k and top-p in transformers' order."""
    if not settings.do_sample:
        return logits.argmax(axis=-1)
    scores = logits.astype(np.float64) / settings.temperature
    if 0 < settings.top_k < scores.shape[-1]:
        kth_best = np.partition(scores, -settings.top_k, axis=-1)[:, -settings.top_k, None]
        scores = np.where(scores < kth_best, -np.inf, scores)
    if settings.top_p < 1.0:
        # transformers' TopPLogitsWarper: drop the least likely tokens whose total is at most 1 - top_p
        order = np.argsort(scores, axis=-1, kind="stable")
        sorted_scores = np.take_along_axis(scores, order, axis=-1)
        cumulative = np.cumsum(softmax(sorted_scores), axis=-1)
        drop_sorted = cumulative <= 1.0 - settings.top_p
        drop_sorted[:, -1] = False  # keep at least the best token
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=-1)
        scores = np.where(drop, -np.inf, scores)
    cumulative = np.cumsum(softmax(scores), axis=-1)
    draws = rng.random((scores.shape[0], 1)) * cumulative[:, -1:]
    return np.minimum((cumulative < draws).sum(axis=-1), scores.shape[-1] - 1)


def softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


class KeyValueStepSession:
    """The transformer step graph: a left-padded batch read at once, then one token per row per step on the cache."""

    def __init__(self, session: Any, manifest: Mapping[str, Any], pad_token_id: int):
        self.session = session
        self.state_shape = (manifest["num_layers"], manifest["num_heads"], manifest["head_dim"])
        self.pad_token_id = pad_token_id

    def start(self, prompts: Sequence[Sequence[int]]) -> tuple[np.ndarray, Any]:
        longest = max(len(prompt) for prompt in prompts)
        ids = np.full((len(prompts), longest), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(prompts), longest), dtype=np.int64)
        for row, prompt in enumerate(prompts):
            ids[row, longest - len(prompt) :] = prompt
            mask[row, longest - len(prompt) :] = 1
        layers, heads, head_dim = self.state_shape
        empty = np.zeros((layers, len(prompts), heads, 0, head_dim), dtype=np.float32)
        return self._run(ids, mask, empty, empty)

    def advance(self, tokens: np.ndarray, state: Any, running: np.ndarray) -> tuple[np.ndarray, Any]:
        mask, keys, values = state
        # A finished row's new token is masked out: its position then stays put, within the position table.
        mask = np.concatenate([mask, running[:, None].astype(np.int64)], axis=1)
        return self._run(tokens[:, None].astype(np.int64), mask, keys, values)

    def _run(self, ids: np.ndarray, mask: np.ndarray, keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, Any]:
        feed = {"input_ids": ids, "attention_mask": mask, "past_keys": keys, "past_values": values}
        logits, keys, values = self.session.run(None, feed)
        return logits[:, -1], (mask, keys, values)


class LSTMStepSession:
    """The LSTM step graph: each prompt read without padding (prompts of one length together), then one token per
    row per step on the batch's (h, c)."""

    def __init__(self, session: Any, manifest: Mapping[str, Any]):
        self.session = session
        self.state_shape = (manifest["num_layers"], manifest["hidden_size"])

    def start(self, prompts: Sequence[Sequence[int]]) -> tuple[np.ndarray, Any]:
        layers, hidden = self.state_shape
        last_logits: np.ndarray | None = None
        h = np.zeros((layers, len(prompts), hidden), dtype=np.float32)
        c = np.zeros_like(h)
        for length in sorted({len(prompt) for prompt in prompts}):
            rows = [row for row, prompt in enumerate(prompts) if len(prompt) == length]
            ids = np.array([prompts[row] for row in rows], dtype=np.int64)
            zeros = np.zeros((layers, len(rows), hidden), dtype=np.float32)
            logits, h[:, rows], c[:, rows] = self.session.run(
                None, {"input_ids": ids, "past_h": zeros, "past_c": zeros}
            )
            if last_logits is None:
                last_logits = np.zeros((len(prompts), logits.shape[-1]), dtype=np.float32)
            last_logits[rows] = logits[:, -1]
        return last_logits, (h, c)

    def advance(self, tokens: np.ndarray, state: Any, running: np.ndarray) -> tuple[np.ndarray, Any]:
        h, c = state
        logits, h, c = self.session.run(None, {"input_ids": tokens[:, None].astype(np.int64), "past_h": h, "past_c": c})
        return logits[:, -1], (h, c)


class CausalLMGenerator:
    """An exported causal LM as a text-generation predictor: ``model(prompts)`` -> ``[{"generated_text": ...}]``."""

    task = "text-generation"

    def __init__(self, folder: Path, manifest: Mapping[str, Any], *, threads: int | None = None):
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        self.manifest = dict(manifest)
        # Not the source model's code (config.json may name it in auto_map): the tokenizer files say what to load.
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, trust_remote_code=False)
        self.context_limit: int | None = manifest.get("context_limit")
        self.runtime = self._open(threads)

    def _open(self, threads: int | None) -> Any:
        from nlpkit.export.onnx import inference_session

        session = inference_session(self.folder / self.manifest["model_file"], threads=threads)
        if self.manifest["decoder"] == "key_value":
            # Any id serves for left padding (the mask hides it); GPT-2 has no padding token.
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            return KeyValueStepSession(session, self.manifest, pad)
        return LSTMStepSession(session, self.manifest)

    def __call__(
        self, texts: list[str], *, batch_size: int = 32, text_pairs: list[str] | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        """One ``{"generated_text": prompt + continuation}`` per prompt, decoded in batches of ``batch_size``."""
        if text_pairs is not None:
            raise ConfigError(f"{self.folder}: a language model continues one text, not text pairs")
        prompts = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
        continuations = self.generate_ids(prompts, batch_size=batch_size, **options)
        return [
            {"generated_text": self.tokenizer.decode(prompt + continuation, skip_special_tokens=True)}
            for prompt, continuation in zip(prompts, continuations, strict=True)
        ]

    def generate_ids(
        self, prompts: Sequence[Sequence[int]], *, batch_size: int = 32, **options: Any
    ) -> list[list[int]]:
        """The new token ids after each prompt's ids (ending with the end-of-sequence token when one is produced)."""
        settings = generation_settings(self.folder, self.manifest, options)
        budgets = [self._budget(index, len(prompt), settings) for index, prompt in enumerate(prompts)]
        return self._generate(prompts, budgets, settings, batch_size)

    def _budget(self, index: int, prompt_length: int, settings: GenerationSettings) -> int:
        """How many tokens prompt ``index`` may get: max_new_tokens, capped by the context as `nlpkit generate` does."""
        if prompt_length == 0:
            raise ConfigError(f"{self.folder}: prompt {index} is empty (give the model at least one token)")
        if self.context_limit is None:
            return settings.max_new_tokens
        budget = max(0, min(settings.max_new_tokens, self.context_limit - prompt_length))
        if budget == 0:
            raise ConfigError(f"{self.folder}: prompt {index} fills the model's context ({self.context_limit} tokens)")
        return budget

    def _generate(
        self,
        prompts: Sequence[Sequence[int]],
        budgets: list[int],
        settings: GenerationSettings,
        batch_size: int,
    ) -> list[list[int]]:
        if settings.num_beams != 1:
            raise ConfigError(
                f"{self.folder}: num_beams {settings.num_beams}: the ONNX export decodes greedily or samples"
            )
        rng = np.random.default_rng(settings.seed)
        generated: list[list[int]] = []
        for start in range(0, len(prompts), batch_size):
            generated += self._generate_batch(
                prompts[start : start + batch_size], budgets[start : start + batch_size], settings, rng
            )
        return generated

    def _generate_batch(
        self,
        prompts: Sequence[Sequence[int]],
        budgets: list[int],
        settings: GenerationSettings,
        rng: np.random.Generator,
    ) -> list[list[int]]:
        logits, state = self.runtime.start(prompts)
        generated: list[list[int]] = [[] for _ in prompts]
        finished = np.zeros(len(prompts), dtype=bool)
        eos = np.array(settings.eos_token_ids, dtype=np.int64)
        while True:
            tokens = choose_next_tokens(logits, settings, rng)
            for row in np.flatnonzero(~finished):
                generated[row].append(int(tokens[row]))
            finished |= np.isin(tokens, eos) | (np.array([len(row_tokens) for row_tokens in generated]) >= budgets)
            if finished.all():
                return generated
            logits, state = self.runtime.advance(tokens, state, ~finished)  # finished rows run on, their tokens unused


class CTranslate2CausalLMGenerator(CausalLMGenerator):
    """A CTranslate2 export: ``ctranslate2.Generator`` decodes each batch (with its own cache, beam search too)."""

    def _open(self, threads: int | None) -> Any:
        require("ctranslate2")
        import ctranslate2

        return ctranslate2.Generator(str(self.folder), device="cpu", intra_threads=ctranslate2_threads(threads))

    def _generate(
        self,
        prompts: Sequence[Sequence[int]],
        budgets: list[int],
        settings: GenerationSettings,
        batch_size: int,
    ) -> list[list[int]]:
        import ctranslate2

        if settings.seed is not None:
            ctranslate2.set_random_seed(settings.seed)
        sampling = {"sampling_topk": 1}
        if settings.do_sample:
            top_k = settings.top_k if 0 < settings.top_k else 0  # 0: CTranslate2 samples from the whole vocabulary
            sampling = {
                "sampling_topk": top_k,
                "sampling_topp": settings.top_p,
                "sampling_temperature": settings.temperature,
            }
        end_tokens = self.tokenizer.convert_ids_to_tokens(list(settings.eos_token_ids)) or None
        generated: list[list[int]] = []
        for start in range(0, len(prompts), batch_size):
            rows = range(start, min(start + batch_size, len(prompts)))
            # CTranslate2 reads the batch's shortest prompt length at once and forces the rest of each longer prompt
            # token by token; those forced tokens open the row's result and count towards max_length.
            shortest = min(len(prompts[row]) for row in rows)
            results = self.runtime.generate_batch(
                [self.tokenizer.convert_ids_to_tokens(list(prompts[row])) for row in rows],
                beam_size=settings.num_beams,
                max_length=max(len(prompts[row]) - shortest + budgets[row] for row in rows),
                end_token=end_tokens,
                return_end_token=True,  # generate() keeps the end token too (decoding then skips it if special)
                include_prompt_in_result=False,
                **sampling,
            )
            for row, result in zip(rows, results, strict=True):
                forced = len(prompts[row]) - shortest
                generated.append(list(result.sequences_ids[0][forced : forced + budgets[row]]))
        return generated


def load(folder: Path, manifest: Mapping[str, Any]) -> CausalLMGenerator:
    """The exported folder as a text-generation predictor (ONNX Runtime or CTranslate2, as the manifest says)."""
    if manifest.get("decoder") == "ctranslate2":
        return CTranslate2CausalLMGenerator(Path(folder), manifest)
    return CausalLMGenerator(Path(folder), manifest)
