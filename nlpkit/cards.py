"""Model cards: the README.md of an output folder, with YAML metadata that the Hub understands."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData
from transformers.modelcard import make_markdown_table

from nlpkit.io import atomic_write_text
from nlpkit.optimizers import optimizer_settings
from nlpkit.plots import evaluation_metric_names, evaluations, is_score, training_log

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
# The packages a card's "Framework versions" names (distribution name, as shown), as transformers' own cards do.
_FRAMEWORKS = (("transformers", "Transformers"), ("torch", "PyTorch"), ("datasets", "Datasets"),
               ("tokenizers", "Tokenizers"))  # fmt: skip
# transformers' placeholder names of a head's classes when none were given (config.id2label of any model)
_PLACEHOLDER_LABEL = re.compile(r"LABEL_\d+")


@dataclass
class ModelCardInfo:
    """What a recipe knows about its model that a card should say."""

    pipeline_tag: str  # e.g. "text-classification"
    auto_class: str  # e.g. "AutoModelForSequenceClassification"
    task_name: str  # e.g. "Text Classification" (shown in the model-index)
    base_model: str | None = None  # a Hub id; local folders are not named in the metadata
    base_model_folder: str = ""  # the name of the local folder fine-tuned from (the card's text only)
    datasets: list[str] = field(default_factory=list)  # Hub dataset ids
    dataset_description: str = ""  # free text: what the model was trained on
    tags: list[str] = field(default_factory=list)
    license: str = "apache-2.0"
    language: list[str] = field(default_factory=lambda: ["en"])
    example_inputs: list[str] = field(default_factory=list)
    description: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # the model's own, beside the training arguments
    local_dataset: str = ""  # local data: its name (the data file's folder), the model-index's dataset type


@dataclass(frozen=True)
class TrainingProgress:
    """How far training went: the ``epochs`` and ``steps`` done (the Trainer's ``state.epoch`` and
    ``global_step``). Compared with the configured ``num_train_epochs`` or ``max_steps``, not with the Trainer's
    ``state.max_steps``, which a time budget moves to the steps that fit it."""

    epochs: float
    steps: int

    @classmethod
    def of(cls, state: Any) -> TrainingProgress:
        """The progress recorded in a Trainer's ``state``."""
        return cls(epochs=float(state.epoch or 0.0), steps=int(state.global_step))


def framework_versions(peft: bool = False) -> dict[str, str]:
    """The versions of nlpkit and the libraries it trains with (``peft`` too if the run used it), as a card shows."""
    from nlpkit import __version__

    versions = {"nlpkit": __version__}
    packages = (*_FRAMEWORKS, ("peft", "PEFT")) if peft else _FRAMEWORKS
    for distribution, shown in packages:
        try:
            versions[shown] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def card_labels(config: Mapping[str, Any]) -> list[str]:
    """The class names of a saved ``config.json`` (its ``id2label``, by id); none when they are transformers'
    placeholders (``LABEL_0``...), which every config has."""
    id2label = config.get("id2label") or {}
    labels = [str(label) for _, label in sorted(id2label.items(), key=lambda item: int(item[0]))]
    return [] if all(_PLACEHOLDER_LABEL.fullmatch(label) for label in labels) else labels


def dataset_slug(text: str) -> str:
    """``text`` as a dataset type the Hub's model-index accepts: lowercase letters, digits, ``-``, ``_`` and ``.``."""
    return re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-._") or "local-data"


def _scores(results: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The numeric ``{prefix}_*`` results about the model (not the speed or size of the evaluation)."""
    return {
        key[len(prefix) + 1 :]: float(value)
        for key, value in results.items()
        if key.startswith(f"{prefix}_")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and is_score(key[len(prefix) + 1 :])
    }


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def evaluation_table(log_history: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of the evaluations during training, one row each: step, epoch, the mean training loss logged
    since the previous evaluation, the validation loss and the task metrics (as transformers' ``parse_log_history``
    reads a Trainer's log, with the loss of the whole interval rather than of its last logging step); empty
    without evaluations."""
    entries = training_log(log_history)
    evaluated = evaluations(entries)
    names = evaluation_metric_names(evaluated)
    by_step = {evaluation["step"]: evaluation for evaluation in evaluated}
    rows, interval_losses, shown = [], [], set()
    for entry in entries:
        if "loss" in entry:
            interval_losses.append(float(entry["loss"]))
        step = entry.get("step")
        if step not in by_step or step in shown or not any(key.startswith("eval_") for key in entry):
            continue
        shown.add(step)
        evaluation = by_step[step]
        training_loss = sum(interval_losses) / len(interval_losses) if interval_losses else "No log"
        row = {
            "Step": evaluation["step"],
            "Epoch": str(round(float(evaluation["epoch"]), 2)) if "epoch" in evaluation else "-",
            "Training Loss": training_loss,
            "Validation Loss": evaluation.get("eval_loss", "-"),
        }
        row.update({name: evaluation.get(f"eval_{name}", "-") for name in names})
        rows.append({key: _number(value) for key, value in row.items()})
        interval_losses = []
    return make_markdown_table(rows)


def _epochs(value: float) -> str:
    return f"{round(value, 2):g}"


def training_progress_line(progress: TrainingProgress, hyperparameters: Mapping[str, Any]) -> str:
    """What the run trained for, beside what it was configured to (``max_steps``, else ``num_train_epochs``): a
    time budget or early stopping can end it sooner."""
    epochs = _epochs(progress.epochs)
    max_steps, configured_epochs = hyperparameters.get("max_steps"), hyperparameters.get("num_train_epochs")
    if max_steps:
        configured, stopped_early = f"max_steps {max_steps}", progress.steps < max_steps
    elif configured_epochs is not None:
        # state.epoch counts batches: a finished run ends at the configured number, give or take rounding
        configured, stopped_early = f"num_train_epochs {configured_epochs}", progress.epochs < configured_epochs - 1e-3
    else:
        return f"- Epochs trained: {epochs} ({progress.steps} steps)"
    if stopped_early:
        return (
            f"- Epochs trained: {epochs} ({progress.steps} steps), stopped early (by a time budget or early "
            f"stopping) before the configured {configured}"
        )
    return f"- Epochs trained: {epochs} ({progress.steps} steps), as configured ({configured})"


def base_model_text(info: ModelCardInfo) -> str:
    """The card's "Base model" line: the Hub id, the local folder fine-tuned from, or that there was none."""
    if info.base_model:
        return info.base_model
    if info.base_model_folder:
        return f"fine-tuned from a local folder, `{info.base_model_folder}`"
    return "trained from scratch"


def render_model_card(
    info: ModelCardInfo,
    *,
    model_name: str,
    results: dict[str, Any],
    hyperparameters: dict[str, Any],
    repo_id: str | None = None,
    remote_code: bool = False,
    pipeline_files: Sequence[str] = (),
    log_history: Sequence[Mapping[str, Any]] = (),
    labels: Sequence[str] = (),
    progress: TrainingProgress | None = None,
    versions: Mapping[str, str] | None = None,
    loss_curves_image: str | None = None,
    best_checkpoint: tuple[str, int] | None = None,
) -> str:
    """The card's text: YAML metadata (library, pipeline tag, tags, datasets, base model, languages, license,
    model-index with the validation and test scores), the final scores, the results of every evaluation during
    training (from the Trainer's ``log_history``), the loss curves (``loss_curves_image``, a file beside the card),
    the data sizes (``results``' ``*_samples``), the ``labels``, how far training went (``progress``) against the
    configured ``hyperparameters``, the framework ``versions`` (default: :func:`framework_versions`) and usage.
    ``best_checkpoint``: ``(metric, step)`` of the checkpoint loaded at the end, whose scores the card shows.

    ``remote_code``: the model's code ships beside its weights, so the usage examples pass trust_remote_code=True.
    ``pipeline_files``: the files of the pipeline classes that ship beside the weights (see
    :func:`custom_pipeline_files`); ``pipeline()`` builds them only with trust_remote_code=True, so the pipeline
    example passes it."""
    reported, tested = _scores(results, "eval"), _scores(results, "test")
    if info.datasets:
        dataset_type, dataset_name = info.datasets[0], info.dataset_description or info.datasets[0]
    else:  # local files: the Hub wants a type and a name too; their folder's name says which data it is
        dataset_type = dataset_slug(info.local_dataset or info.dataset_description)
        dataset_name = info.dataset_description or info.local_dataset or dataset_type
    eval_results = [
        EvalResult(
            task_type=info.pipeline_tag,
            task_name=info.task_name,
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_split=split,
            metric_type=name,
            metric_name=name,
            metric_value=round(value, 4),
        )
        for split, scores in (("validation", reported), ("test", tested))
        for name, value in scores.items()
    ]
    metadata = ModelCardData(
        language=list(info.language) or None,
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
        f"- Base model: {base_model_text(info)}",
        f"- Data: {info.dataset_description or ', '.join(info.datasets) or 'local files'}",
        f"- Languages: {', '.join(info.language) or 'not given'}",
        "",
        "## Evaluation",
        "",
    ]
    if reported and tested:
        lines += ["| metric | validation | test |", "| --- | --- | --- |"]
        for name in dict.fromkeys([*reported, *tested]):
            shown = [f"{scores[name]:.4f}" if name in scores else "-" for scores in (reported, tested)]
            lines.append(f"| {name} | {' | '.join(shown)} |")
    elif reported or tested:
        lines += ["| metric | value |" if reported else "| metric | test |", "| --- | --- |"]
        lines += [f"| {name} | {value:.4f} |" for name, value in (reported or tested).items()]
    else:
        lines.append("No evaluation was run.")
    table = evaluation_table(log_history)
    if table:
        lines += ["", "### Results per evaluation", "", table.rstrip("\n")]
    if loss_curves_image:
        lines += ["", f"![loss curves]({loss_curves_image})"]
    lines += ["", "## Training", ""]
    if progress is not None:
        lines.append(training_progress_line(progress, hyperparameters))
    if best_checkpoint is not None:
        metric, step = best_checkpoint
        lines.append(f"- Saved model: the best checkpoint by {metric.removeprefix('eval_')} (step {step}), loaded at "
                     "the end; the scores above are its own")  # fmt: skip
    sizes = [
        f"{split} {int(results[f'{key}_samples'])} rows"
        for key, split in (("train", "train"), ("eval", "validation"), ("test", "test"))
        if isinstance(results.get(f"{key}_samples"), int | float)
    ]
    if sizes:
        lines.append(f"- Data sizes: {', '.join(sizes)}")
    if labels:
        lines.append(f"- Labels ({len(labels)}, by id): {', '.join(f'`{label}`' for label in labels)}")
    lines += ["", "### Training hyper-parameters", "", "| name | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in hyperparameters.items()]
    versions = framework_versions() if versions is None else versions
    lines += ["", "### Framework versions", ""]
    lines += [f"- {name} {version}" for name, version in versions.items()]
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
