"""Multi-task learning: one encoder, named heads, one dataset per head.

A config names its tasks under ``tasks:``, each with its ``kind`` and the data keys its single-task recipe reads::

    tasks:
      sentiment: {kind: sequence_classification, train_file: ..., text_column: sentence, label_column: label}
      entities: {kind: token_classification, crf: false, train_file: conll2003/train.txt, validation_file: ...}

Each task's data is read and validated by that recipe's loader (a DataError names the file and row), encoded for
the one tokenizer of the run (sub-tokens of a pretrained encoder, or the words of a tokenizer trained for the run
for nlpkit's BiLSTM), and collated by its own collator. Training mixes the tasks per batch
(:class:`nlpkit.multitask.TaskSampler`) and combines their losses (:class:`nlpkit.multitask.MultiTaskTrainer`: sum,
fixed weights, uncertainty weighting or PCGrad); evaluation scores every head on its own validation data with its
task's metric (accuracy; entity F1) and reports their mean (``eval_mean_score``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from nlpkit.config import ConfigError
from nlpkit.data.classification import (
    ClassificationData,
    ClassificationDataArguments,
    PaddingCollator,
    load_classification_data,
    tokenize_classification,
)
from nlpkit.data.loading import DataArguments
from nlpkit.data.token_classification import (
    TokenClassificationData,
    TokenClassificationDataArguments,
    load_token_classification_data,
)
from nlpkit.pretrained import card_base_model
from nlpkit.tasks import CardDefaults, card_languages, local_dataset_name, on_main_process_first, sample_texts_field
from nlpkit.training import Run

KINDS: dict[str, type[DataArguments]] = {
    "sequence_classification": ClassificationDataArguments,
    "token_classification": TokenClassificationDataArguments,
}
MAIN_METRICS = {"sequence_classification": "accuracy", "token_classification": "f1"}

DEFAULT_SAMPLE_TEXTS = [
    "Angela Merkel loved the new film she saw in Paris.",
    "The service at the Hilton in New York was slow and rude.",
]


@dataclass
class TaskSpec:
    """One task of a multi-task run: its head's kind and the data arguments of that kind's recipe."""

    name: str
    kind: str
    data: DataArguments
    crf: bool = False  # token classification: a CRF over the head's scores

    @property
    def main_metric(self) -> str:
        return MAIN_METRICS[self.kind]


def parse_tasks(value: Any, where: str = "tasks") -> dict[str, TaskSpec]:
    """The ``tasks:`` mapping (a YAML mapping, or JSON on the command line) as TaskSpecs; every problem one line
    naming ``tasks.<name>`` and the key."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{where}: expected a mapping of task names to their settings ({error})") from None
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where}: expected a mapping of task names to their settings, got {value!r}")
    specs = {}
    for name, settings in value.items():
        here = f"{where}.{name}"
        if not isinstance(settings, Mapping):
            raise ConfigError(f"{here}: expected a mapping of settings, got {settings!r}")
        settings = dict(settings)
        kind = settings.pop("kind", None)
        if kind not in KINDS:
            raise ConfigError(f"{here}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
        crf = settings.pop("crf", False)
        if not isinstance(crf, bool) or (crf and kind != "token_classification"):
            raise ConfigError(f"{here}: 'crf' is true or false, for token_classification only")
        arguments = KINDS[kind]
        known = {item.name for item in dataclasses.fields(arguments) if item.init}
        for key in settings:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"{here}: unknown key '{key}' for a {kind} task{hint}")
        try:
            data = arguments(**settings)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{here}: {error}") from None
        specs[str(name)] = TaskSpec(str(name), kind, data, crf)
    return specs


@dataclass
class Arguments:
    """The tasks, how batches mix them, and how their losses combine."""

    tasks: str = field(
        default="",
        metadata={
            "help": "Mapping of task name to {kind: sequence_classification | token_classification, crf: bool (token "
            "only), and the data keys of that kind's recipe (train_file, validation_file, text_column, ...)}. JSON "
            "on the command line."
        },
    )
    task_sampling: Literal["proportional", "temperature", "round_robin"] = field(
        default="proportional",
        metadata={
            "help": "How batches mix the tasks: each example drawn with p ~ size (proportional) or size^(1/T) "
            "(temperature), or whole batches of one task in turn (round_robin)."
        },
    )
    sampling_temperature: float = field(default=2.0, metadata={"help": "T of task_sampling temperature."})
    loss_combination: Literal["sum", "weights", "uncertainty", "pcgrad"] = field(
        default="sum",
        metadata={
            "help": "sum of the task losses; fixed loss_weights; uncertainty weighting (learned log-variances, "
            "Kendall et al. 2018); or PCGrad (Yu et al. 2020: one backward per task, conflicting gradients "
            "projected)."
        },
    )
    loss_weights: str | None = field(
        default=None, metadata={"help": "loss_combination weights: mapping of task name to weight (JSON on the CLI)."}
    )
    sample_texts: list[str] = sample_texts_field(DEFAULT_SAMPLE_TEXTS, "run through every head")

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("'tasks' is not set: name at least one task with its kind and data")
        self.specs = parse_tasks(self.tasks)
        if self.sampling_temperature <= 0:
            raise ValueError(f"'sampling_temperature' must be positive, got {self.sampling_temperature}")
        weights = json.loads(self.loss_weights) if isinstance(self.loss_weights, str) else self.loss_weights
        if self.loss_combination == "weights":
            if not isinstance(weights, dict) or set(weights) != set(self.specs):
                raise ValueError(f"'loss_weights' must give a weight to each task: {', '.join(self.specs)}")
            self.weights = {name: float(weight) for name, weight in weights.items()}
        elif weights is not None:
            raise ValueError("'loss_weights' is for loss_combination weights")
        else:
            self.weights = None
        if self.loss_combination == "pcgrad" and self.task_sampling == "round_robin":
            raise ValueError(
                "'loss_combination' pcgrad needs several tasks in a batch: use task_sampling proportional or "
                "temperature"
            )


DEFAULTS: dict[str, Any] = {
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "metric_for_best_model": "mean_score",
    "load_best_model_at_end": True,  # end with the best evaluation's weights (training.keep_best_where_evaluated)
    "remove_unused_columns": False,  # the rows carry their task's name, which the model does not take
}

CARD = CardDefaults("text-classification", "AutoModel", "Multi-task Text Classification")


@dataclass
class TaskData:
    """One task's validated data (its loader's), as its single-task recipe reads it."""

    spec: TaskSpec
    data: ClassificationData | TokenClassificationData

    @property
    def label_names(self) -> list[str]:
        return self.data.label_names


def load_data(run: Run) -> dict[str, TaskData]:
    """Every task's data, read and validated by its kind's loader (DataError naming file and row)."""
    args = run.get(Arguments)
    loaders: dict[str, Callable[..., Any]] = {
        "sequence_classification": load_classification_data,
        "token_classification": load_token_classification_data,
    }

    def load() -> dict[str, TaskData]:
        return {
            name: TaskData(spec, loaders[spec.kind](spec.data, seed=run.training_args.seed))
            for name, spec in args.specs.items()
        }

    return on_main_process_first(run, "loading data", load)


def heads_of(tasks: Mapping[str, TaskData]) -> list[dict[str, Any]]:
    """The ``heads`` of the model's config: one per task, with its labels."""
    return [
        {"name": name, "kind": task.spec.kind, "labels": list(task.label_names), "crf": task.spec.crf}
        for name, task in tasks.items()
    ]


def with_task_column(rows: Any, name: str) -> Any:
    """The rows with their task's name under ``task``: what :class:`~nlpkit.multitask.MultiTaskCollator` groups
    by."""
    return rows.add_column("task", [name] * len(rows))


def encode_task(task: TaskData, tokenizer: Any) -> Any:
    """A task's splits as model inputs: tokenized texts and label ids, or sub-tokens with word-aligned tags."""
    from nlpkit.tasks.token_classification.pretrained import tokenize_subwords

    if task.spec.kind == "sequence_classification":
        return tokenize_classification(task.data, tokenizer, task.spec.data)
    return tokenize_subwords(task.data, tokenizer, task.spec.data)


def collator_for(
    task: TaskData, tokenizer: Any, pad_to_multiple_of: int | None = None
) -> Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]:
    from transformers import DataCollatorForTokenClassification

    if task.spec.kind == "sequence_classification":
        return PaddingCollator.for_tokenizer(tokenizer, pad_to_multiple_of)
    return DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=pad_to_multiple_of)


def metrics_for(task: TaskData) -> Callable[..., dict[str, float]]:
    from nlpkit.tasks.classification import accuracy_and_f1
    from nlpkit.tasks.token_classification import entity_metrics

    if task.spec.kind == "sequence_classification":
        return accuracy_and_f1()
    return entity_metrics(task.label_names)


def texts_of(tasks: Mapping[str, TaskData]) -> Iterator[str]:
    """Every training text of every task (sentences; a tagged sentence's words joined by spaces), for a tokenizer
    trained for the run."""
    for task in tasks.values():
        train = task.data.raw.splits["train"]
        if task.spec.kind == "sequence_classification":
            columns = [column for column in (task.spec.data.text_column, task.spec.data.text_pair_column) if column]
            for column in columns:
                yield from train[column][:]
        else:
            for words in train["tokens"][:]:
                yield " ".join(words)


def train(run: Run, tasks: dict[str, TaskData], setup: Any) -> dict[str, Any]:
    """Encode every task for the run's tokenizer, train the heads together (mixed batches, combined losses),
    evaluate each head on its validation data, save, and run ``sample_texts`` through every head."""
    from nlpkit.cards import ModelCardInfo
    from nlpkit.multitask import MultiTaskCollator, MultiTaskTrainer
    from nlpkit.training import train_and_save

    args = run.get(Arguments)
    encoded = on_main_process_first(
        run, "encoding", lambda: {name: encode_task(task, setup.tokenizer) for name, task in tasks.items()}
    )
    train_rows = {name: with_task_column(splits["train"], name) for name, splits in encoded.items()}
    eval_rows = {
        name: with_task_column(splits["validation"], name) for name, splits in encoded.items() if "validation" in splits
    }
    settings = {
        "loss_combination": args.loss_combination,
        "loss_weights": args.weights,
        "sampling": args.task_sampling,
        "temperature": args.sampling_temperature,
        "compute_metrics_per_task": {name: metrics_for(task) for name, task in tasks.items()},
        "main_metrics": {name: task.spec.main_metric for name, task in tasks.items()},
    }

    class Trainer(MultiTaskTrainer):
        def __init__(self, *positional: Any, **keywords: Any) -> None:
            super().__init__(*positional, **settings, **keywords)

    kinds = ", ".join(f"{name} ({task.spec.kind}{', CRF' if task.spec.crf else ''})" for name, task in tasks.items())
    card = ModelCardInfo(
        pipeline_tag=CARD.pipeline_tag,
        auto_class=CARD.auto_class,
        task_name=CARD.task_name,
        **card_base_model(setup.base_model),
        datasets=[task.spec.data.dataset_name for task in tasks.values() if task.spec.data.dataset_name],
        dataset_description="; ".join(f"{name}: {describe(task.spec.data)}" for name, task in tasks.items()),
        language=list(dict.fromkeys(code for task in tasks.values() for code in card_languages(task.spec.data))),
        local_dataset="-".join(filter(None, (local_dataset_name(task.spec.data) for task in tasks.values()))),
        tags=list(setup.tags),
        example_inputs=list(args.sample_texts),
        description=setup.description,
        hyperparameters={
            **setup.hyperparameters,
            "tasks": kinds,
            "task_sampling": args.task_sampling
            + (f" (T={args.sampling_temperature})" if args.task_sampling == "temperature" else ""),
            "loss_combination": args.loss_combination + (f" {args.weights}" if args.weights else ""),
        },
    )
    trainer, results = train_and_save(
        run,
        model=setup.model,
        processing_class=setup.tokenizer,
        train_dataset=train_rows,
        eval_dataset=eval_rows or None,
        data_collator=MultiTaskCollator(
            {
                name: collator_for(task, setup.tokenizer, run.training_args.pad_to_multiple_of)
                for name, task in tasks.items()
            }
        ),
        compute_metrics=None,
        card=card,
        trainer_class=Trainer,
    )
    if trainer.is_world_process_zero() and args.sample_texts:
        print_head_predictions(trainer.model, setup.tokenizer, tasks, list(args.sample_texts))
    return results


def describe(data: DataArguments) -> str:
    """A task's data for the card: its description, else where it comes from."""
    return data.dataset_description or data.dataset_name or data.train_file or "local files"


def print_head_predictions(model: Any, tokenizer: Any, tasks: Mapping[str, TaskData], texts: list[str]) -> None:
    """Each head's predictions for ``texts``, through that head's own pipeline."""
    import transformers

    from nlpkit.predict import classify, format_predictions, tag_entities, token_classification_pipeline

    for name, task in tasks.items():
        head = model.head_model(name).eval()
        if task.spec.kind == "sequence_classification":
            pipe = transformers.pipeline("text-classification", model=head, tokenizer=tokenizer)
            predictions = classify(pipe, texts)
        else:
            predictions = tag_entities(token_classification_pipeline(head, tokenizer), texts)
        print(f"\n{name}:\n" + format_predictions(predictions), flush=True)
