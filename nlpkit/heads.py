"""The heads of a saved multi-task model (``recipes/multitask.py``), each on its own: a predictor for ``nlpkit
predict DIR --task NAME``, and a plain single-task model folder for ``nlpkit export-head``.

A head's folder is what :meth:`MultiTaskModel.head_model` gives: the stock transformers model of the encoder's
architecture (``BertForSequenceClassification``, ...) for a BERT-family encoder, otherwise a one-head multi-task
model (remote code, loaded by the head's Auto class); either way the tokenizer goes with it and ``nlpkit predict``
serves it without ``--task``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from nlpkit.config import ConfigError
from nlpkit.io import fsync_tree

MULTITASK_MODEL_TYPE = "multitask"


def is_multitask(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` (as a dict) is a multi-task model's with more than one head."""
    return config.get("model_type") == MULTITASK_MODEL_TYPE and len(config.get("heads") or []) > 1


def head_names(config: dict[str, Any]) -> list[str]:
    return [head["name"] for head in config.get("heads") or []]


def check_head(model_dir: Path, config: dict[str, Any], task: str | None) -> str:
    """``task`` when it names a head of the multi-task model in ``model_dir``; a one-line ConfigError otherwise."""
    names = head_names(config)
    if config.get("model_type") != MULTITASK_MODEL_TYPE:
        raise ConfigError(f"--task is for multi-task models; {model_dir} holds a {config.get('model_type')} model")
    if task is None:
        raise ConfigError(f"{model_dir} holds a multi-task model: pass --task NAME, one of {', '.join(names)}")
    if task not in names:
        raise ConfigError(f"--task {task}: {model_dir} has no such head (its heads: {', '.join(names)})")
    return task


def load_head(model_dir: str | Path, task: str | None) -> tuple[Any, Any]:
    """The head ``task`` of the multi-task model saved in ``model_dir``, as a single-task model, and the tokenizer;
    the folder and the head's name checked (one line) before anything loads."""
    from transformers import AutoModel, AutoTokenizer

    from nlpkit.models import register_models
    from nlpkit.pretrained import check_model_folder, from_pretrained

    model_dir = Path(model_dir)
    check_head(model_dir, check_model_folder(model_dir), task)
    register_models()
    model = from_pretrained(AutoModel, str(model_dir))
    tokenizer = from_pretrained(AutoTokenizer, str(model_dir))
    return model.head_model(task).eval(), tokenizer


def head_predictor(model_dir: str | Path, task: str | None, *, device: str | None = None) -> Any:
    """The predictor (``nlpkit predict``'s) of one head of a multi-task model folder."""
    from nlpkit.predict import predictor_for_model

    head, tokenizer = load_head(model_dir, task)
    return predictor_for_model(head, tokenizer, device=device)


def export_head(model_dir: str | Path, task: str | None, output_dir: str | Path) -> Path:
    """Write head ``task`` of the multi-task model in ``model_dir`` as a single-task model folder (weights, config,
    tokenizer) at ``output_dir``, which must be new or empty; written beside it first, then renamed into place."""
    output_dir = Path(output_dir)
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise ConfigError(f"{output_dir}: exists and is not an empty folder (choose another --output)")
    head, tokenizer = load_head(model_dir, task)
    staging = output_dir.with_name(f".{output_dir.name}.exporting")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        head.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        fsync_tree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if output_dir.exists():
        output_dir.rmdir()
    staging.rename(output_dir)
    return output_dir
