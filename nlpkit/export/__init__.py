"""`nlpkit export`: a saved model folder to a folder that an inference runtime serves without PyTorch.

Every model nlpkit trains has an exporter, found from the folder's ``config.json`` (its task and ``model_type``) in
:data:`EXPORTERS`. An exporter module offers

- ``FORMATS``: the formats it writes, the first being its default (``"onnx"``, ``"ctranslate2"``), unless the module
  has ``default_format(config) -> str`` (the best format for that model: CTranslate2 for transformers' decoders);
- ``export(model_dir, staging, *, format, quantize) -> dict``: write the runtime's files into ``staging`` and return
  what the runtime needs to serve them (stored in ``nlpkit_export.json``, the export's manifest) plus a ``usage``
  snippet for the card (the runtime's standard loader: ``onnxruntime.InferenceSession``, ``ctranslate2.Translator``);
- ``load(folder, manifest) -> ExportedModel``: the exported folder as a predictor with the records of
  :mod:`nlpkit.predict` (``label``/``score``, ``entities``, ``translation_text``, ``generated_text``).

The framework here checks the source folder, copies its tokenizer and config beside the runtime's files, writes the
manifest and a card, and swaps the finished folder into place in one step (an interrupted export leaves nothing
half-written at ``output_dir``). Optional dependencies: ``pip install "nlpkit[export]"``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nlpkit.errors import ConfigError

MANIFEST = "nlpkit_export.json"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "source.spm",
    "target.spm",
    "spiece.model",
    "sentencepiece.bpe.model",
    "generation_config.json",
)


# What each format needs installed (the `export` extra): to export, and to serve the result.
RUNTIME_MODULES = {"onnx": ("onnx", "onnxscript", "onnxruntime"), "ctranslate2": ("ctranslate2",)}


class ExportedModel(Protocol):
    """An exported folder loaded by its runtime: ``model(texts, batch_size=...)`` gives one record per text."""

    task: str

    def __call__(self, texts: list[str], *, batch_size: int = 32, **options: Any) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Exporter:
    """Which saved models one exporter module serves (by task, and model types; empty: any model of the task)."""

    task: str
    module: str  # under nlpkit.export
    model_types: tuple[str, ...] = ()
    matches: Callable[[Mapping[str, Any]], bool] | None = None  # a finer test than model_types, when needed

    def serves(self, task: str | None, config: Mapping[str, Any]) -> bool:
        if task != self.task:
            return False
        if self.matches is not None:
            return self.matches(config)
        return not self.model_types or config.get("model_type") in self.model_types

    def load_module(self) -> Any:
        return importlib.import_module(f"{__name__}.{self.module}")


# Most specific first: nlpkit's own architectures, then any transformers model of the task.
EXPORTERS: tuple[Exporter, ...] = (
    Exporter("text-classification", "classification"),
    Exporter("token-classification", "token_classification"),
    Exporter("text-generation", "causal_lm"),
    Exporter("translation", "seq2seq"),
)


def exporter_for(model_dir: Path, config: Mapping[str, Any]) -> Exporter:
    """The exporter of the model saved in ``model_dir``; ConfigError naming the folder when none serves it."""
    from nlpkit.pretrained import model_task

    task = model_task(config)
    for exporter in EXPORTERS:
        if exporter.serves(task, config):
            return exporter
    architecture = (config.get("architectures") or ["no architecture"])[0]
    raise ConfigError(f"{model_dir}: nlpkit export has no exporter for {architecture} ({task or 'no known head'})")


def require(*modules: str) -> None:
    """ConfigError naming the extra to install when an optional runtime module is missing."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"nlpkit export needs {module}: pip install 'nlpkit[export]'") from None


def ctranslate2_threads(threads: int | None) -> int:
    """CTranslate2's ``intra_threads``: ``threads``, else ``$OMP_NUM_THREADS``, else half the cores. Not all of them
    (its default is 4): on a 2-core machine beam-5 translation ran at 37 sentences/s at batch 1 on one thread and 7
    on two, and at batch 32 106 against 88 (the Python side tokenizing and detokenizing needs a core too)."""
    if threads:
        return threads
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return int(os.environ["OMP_NUM_THREADS"])
    return max(1, (os.cpu_count() or 2) // 2)


def export_model(
    model_dir: str | Path, output_dir: str | Path, *, format: str | None = None, quantize: bool = False
) -> Path:
    """Export the model folder ``model_dir`` to ``output_dir`` (replaced when it holds an earlier export)."""
    from nlpkit.io import fsync_tree
    from nlpkit.models import register_models
    from nlpkit.pretrained import check_model_folder

    register_models()
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    config = check_model_folder(model_dir)
    exporter = exporter_for(model_dir, config)
    module = exporter.load_module()
    default_format = getattr(module, "default_format", lambda config: module.FORMATS[0])
    format = format or default_format(config)
    if format not in module.FORMATS:
        raise ConfigError(f"--format {format}: {model_dir} exports to {', '.join(module.FORMATS)}")
    require(*RUNTIME_MODULES[format])  # before the model loads: a missing extra is one line at once
    if output_dir.exists() and not (output_dir / MANIFEST).is_file() and any(output_dir.iterdir()):
        raise ConfigError(f"{output_dir}: not empty and not an nlpkit export (choose another --output)")
    staging = output_dir.with_name(f".{output_dir.name}.exporting")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name in (*TOKENIZER_FILES, "config.json"):
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, staging / name)
        details = dict(module.export(model_dir, staging, format=format, quantize=quantize))
        usage = details.pop("usage", "")
        manifest = {
            "format": format,
            "task": exporter.task,
            "model_type": config["model_type"],
            "architecture": (config.get("architectures") or [None])[0],
            "quantized": "int8" if quantize else None,
            "source": str(model_dir),
            **details,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        (staging / "README.md").write_text(export_card(manifest, usage))
        fsync_tree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if output_dir.exists():
        shutil.rmtree(output_dir)
    staging.rename(output_dir)
    return output_dir


def is_exported(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def load_exported(folder: str | Path) -> ExportedModel:
    """The exported folder, served by its runtime (see :func:`export_model`)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{folder / MANIFEST}: not a readable export manifest ({error})") from None
    for exporter in EXPORTERS:
        if exporter.task == manifest.get("task"):
            return exporter.load_module().load(folder, manifest)
    raise ConfigError(f"{folder / MANIFEST}: unknown task {manifest.get('task')!r}")


def export_card(manifest: Mapping[str, Any], usage: str) -> str:
    """The exported folder's README: what it is, where it came from, how to load it with its runtime."""
    quantized = ", dynamically quantized to int8" if manifest.get("quantized") else ""
    lines = [
        "---",
        "library_name: " + ("ctranslate2" if manifest["format"] == "ctranslate2" else "onnx"),
        f"pipeline_tag: {manifest['task']}",
        "tags:",
        "- nlpkit",
        f"- {manifest['format']}",
        "---",
        "",
        f"# {manifest['architecture']} ({manifest['format']}{quantized})",
        "",
        f"Exported by `nlpkit export` from `{manifest['source']}` ({manifest['model_type']}), for "
        f"{manifest['task']} without PyTorch. The tokenizer files are the source model's.",
        "",
        "## Usage",
        "",
        "```bash",
        "nlpkit predict . --input texts.txt --output predictions.jsonl",
        "```",
    ]
    if usage:
        lines += ["", "With the runtime itself:", "", "```python", usage.strip(), "```"]
    return "\n".join(lines) + "\n"
