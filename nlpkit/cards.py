"""Model cards: the README.md of an output folder, with YAML metadata that the Hub understands."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

from nlpkit.io import atomic_write_text
from nlpkit.optimizers import optimizer_settings

# The model id in the card's usage examples: `pipeline("...", model="ID"` and `.from_pretrained("ID"`.
_USAGE_MODEL_ID = re.compile(r'(pipeline\("[^"]*", model=|\.from_pretrained\()"[^"]*"')
LOCAL_FOLDER_ID = "path/to/this/folder"  # what the usage examples load when the card names no repo

# Hyper-parameters worth showing on a card, in this order (all of them are in run_config.yaml).
_CARD_HYPERPARAMETERS = (
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "label_smoothing_factor",
    "seed",
)


@dataclass
class ModelCardInfo:
    """What a recipe knows about its model that a card should say."""

    pipeline_tag: str  # e.g. "text-classification"
    auto_class: str  # e.g. "AutoModelForSequenceClassification"
    task_name: str  # e.g. "Text Classification" (shown in the model-index)
    base_model: str | None = None  # a Hub id; local folders are not named in the metadata
    datasets: list[str] = field(default_factory=list)  # Hub dataset ids
    dataset_description: str = ""  # free text: what the model was trained on
    tags: list[str] = field(default_factory=list)
    license: str = "apache-2.0"
    language: list[str] = field(default_factory=lambda: ["en"])
    example_inputs: list[str] = field(default_factory=list)
    description: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # the model's own, beside the training arguments


def render_model_card(
    info: ModelCardInfo,
    *,
    model_name: str,
    results: dict[str, Any],
    hyperparameters: dict[str, Any],
    repo_id: str | None = None,
    remote_code: bool = False,
    pipeline_files: Sequence[str] = (),
) -> str:
    """The card's text: YAML metadata (library, pipeline tag, tags, datasets, base model, license, model-index).
    ``remote_code``: the model's code ships beside its weights, so the usage examples pass trust_remote_code=True.
    ``pipeline_files``: the files of the pipeline classes that ship beside the weights (see
    :func:`custom_pipeline_files`); ``pipeline()`` builds them only with trust_remote_code=True, so the pipeline
    example passes it."""
    eval_metrics = {key[len("eval_") :]: value for key, value in results.items() if key.startswith("eval_")}
    reported = {
        name: value
        for name, value in eval_metrics.items()
        if isinstance(value, int | float)
        and name not in {"runtime", "samples_per_second", "steps_per_second", "epoch", "samples"}
    }
    dataset_id = info.datasets[0] if info.datasets else "local"
    eval_results = [
        EvalResult(
            task_type=info.pipeline_tag,
            task_name=info.task_name,
            dataset_type=dataset_id,
            dataset_name=info.dataset_description or dataset_id,
            dataset_split="validation",
            metric_type=name,
            metric_name=name,
            metric_value=round(float(value), 4),
        )
        for name, value in reported.items()
    ]
    metadata = ModelCardData(
        language=info.language,
        license=info.license,
        library_name="transformers",
        pipeline_tag=info.pipeline_tag,
        tags=sorted({"nlpkit", info.pipeline_tag, *info.tags}),
        datasets=info.datasets or None,
        base_model=info.base_model,
        model_name=model_name,
        eval_results=eval_results or None,
    )
    load_name = repo_id or LOCAL_FOLDER_ID
    trust = ", trust_remote_code=True" if remote_code else ""
    trust_pipeline = ", trust_remote_code=True" if remote_code or pipeline_files else ""
    example = info.example_inputs[0] if info.example_inputs else "Hello world"
    lines = [
        "---",
        metadata.to_yaml(),
        "---",
        "",
        f"# {model_name}",
        "",
        info.description
        or f"A {info.task_name.lower()} model trained with [nlpkit](https://github.com/nlpkit/nlpkit).",
        "",
        f"- Base model: {info.base_model or 'trained from scratch'}",
        f"- Data: {info.dataset_description or ', '.join(info.datasets) or 'local files'}",
        "",
        "## Evaluation",
        "",
    ]
    if reported:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {name} | {float(value):.4f} |" for name, value in reported.items()]
    else:
        lines.append("No evaluation was run.")
    lines += ["", "## Training hyper-parameters", "", "| name | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in hyperparameters.items()]
    lines += [
        "",
        "## How to use",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f'pipe = pipeline("{info.pipeline_tag}", model="{load_name}"{trust_pipeline})',
        f"print(pipe({example!r}))",
        "```",
        "",
        "or, with the model class:",
        "",
        "```python",
        f"from transformers import AutoTokenizer, {info.auto_class}",
        "",
        f'tokenizer = AutoTokenizer.from_pretrained("{load_name}"{trust})',
        f'model = {info.auto_class}.from_pretrained("{load_name}"{trust})',
        "```",
        "",
    ]
    if remote_code:
        lines += [
            "The architecture's code ships in this repository (`configuration_*.py`, `modeling_*.py`), so "
            "`trust_remote_code=True` loads it without nlpkit installed; with nlpkit installed the model classes do "
            "not need it.",
            "",
        ]
    if pipeline_files:
        files = ", ".join(f"`{name}`" for name in pipeline_files)
        lines += [
            f"The pipeline's code ships in this repository ({files}): `pipeline()` builds it only with "
            "`trust_remote_code=True`, with or without nlpkit installed.",
            "",
        ]
    return "\n".join(lines)


def custom_pipeline_files(config: Mapping[str, Any]) -> list[str]:
    """The files of the pipeline classes that a saved ``config.json`` names in ``custom_pipelines``
    (``"module.Class"`` -> ``module.py``), sorted."""
    entries = (config.get("custom_pipelines") or {}).values()
    return sorted({entry["impl"].rsplit(".", 1)[0] + ".py" for entry in entries if entry.get("impl")})


def card_for_repo(text: str, repo_id: str) -> str:
    """The card ``text`` with its usage examples loading ``repo_id`` (a card rendered for a local folder, or for
    another repo, shows how to load the repo it is pushed to)."""
    return _USAGE_MODEL_ID.sub(lambda match: f'{match.group(1)}"{repo_id}"', text)


def write_model_card(output_dir: str | Path, text: str) -> Path:
    path = Path(output_dir) / "README.md"
    atomic_write_text(path, text)
    return path


def card_hyperparameters(training_args: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The hyper-parameters shown on the card: the main TrainingArguments plus the recipe's own."""
    values = {name: getattr(training_args, name) for name in _CARD_HYPERPARAMETERS}
    values["lr_scheduler_type"] = getattr(values["lr_scheduler_type"], "value", values["lr_scheduler_type"])
    values["world_size"] = training_args.world_size
    values.update(optimizer_settings(training_args))  # optim (transformers' or pytorch-optimizer's) and optim_args
    if values["max_steps"] is not None and values["max_steps"] <= 0:
        del values["max_steps"]
    values.update(extra or {})
    return values
