"""Pipelines that ship as code beside a saved model, for tasks transformers 5 no longer has a pipeline for.

:mod:`nlpkit.pipelines.translation_pipeline` imports only torch and transformers: :func:`add_translation_pipeline`
copies it into a saved seq2seq folder and names it in ``config.json``'s ``custom_pipelines``, so that
``pipeline("translation", model=folder, trust_remote_code=True)`` (or ``"text2text-generation"``) builds it without
nlpkit, whatever the model class. The translation task does it for every model it saves (not for checkpoints).
"""

from __future__ import annotations

import json
from pathlib import Path

from nlpkit.io import atomic_write_json, atomic_write_text
from nlpkit.pipelines.translation_pipeline import BeamSearchCache, TranslationPipeline, beam_search_cache

TRANSLATION_PIPELINE_FILE = Path(__file__).with_name("translation_pipeline.py")
TRANSLATION_TASKS = ("translation", "text2text-generation")


def add_translation_pipeline(folder: str | Path) -> None:
    """Copy ``translation_pipeline.py`` into a saved model ``folder`` and point ``custom_pipelines`` of its
    ``config.json`` at :class:`TranslationPipeline` for the translation tasks (other tasks' entries are kept)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():  # a LoRA adapter (nlpkit.lora): loaded on its base model's own code
        return
    atomic_write_text(folder / TRANSLATION_PIPELINE_FILE.name, TRANSLATION_PIPELINE_FILE.read_text(encoding="utf-8"))
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    entry = {
        "impl": f"{TRANSLATION_PIPELINE_FILE.stem}.{TranslationPipeline.__name__}",
        "pt": ["AutoModelForSeq2SeqLM"],
        "tf": [],
        "type": "text",
    }
    pipelines = dict(config.get("custom_pipelines") or {})
    pipelines.update({task: entry for task in TRANSLATION_TASKS})
    config["custom_pipelines"] = pipelines
    atomic_write_json(config_file, config)  # transformers' own layout: indent 2, sorted keys


__all__ = [
    "TRANSLATION_PIPELINE_FILE",
    "TRANSLATION_TASKS",
    "BeamSearchCache",
    "TranslationPipeline",
    "add_translation_pipeline",
    "beam_search_cache",
]
