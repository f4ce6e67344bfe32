"""Tasks: everything the recipes of one task share, in one shape.

Every task package ``nlpkit/tasks/<task>/`` offers the same names:

- ``Arguments``: the task's data arguments plus its own options (the samples shown at the end of a run, ...);
- ``DEFAULTS``: the ``TrainingArguments`` defaults of the task's recipes (a recipe and its YAML file override them);
- ``CARD``: what the model card says of every model of the task (pipeline tag, Auto class, task name);
- ``load_data(run)``: the validated data (DataError naming file and row on bad input);
- ``train(run, data, setup)``: tokenize, collate, train, evaluate with the task's metrics, save the output folder,
  show samples; returns the results (``all_results.json``). With ``do_predict`` it also writes ``predictions.jsonl``
  (the test rows, their references where labelled, and the predictions of :mod:`nlpkit.predict`).

With ``do_train false`` (:attr:`~nlpkit.training.Run.predict_only`) every model module's ``build`` returns the
trained model instead (:func:`load_trained`: ``model_name_or_path`` or the finished run in ``output_dir``), and
``load_data`` reads only the validation (``do_eval``) and test data, labelled with the model's own labels.

Beside it, one module per way of getting a model (``pretrained.py`` fine-tunes a Hub or local checkpoint;
``<family>.py`` or ``from_scratch.py`` trains nlpkit's architectures from scratch) offers ``Arguments`` (the model's
settings, read from its config class: see :func:`nlpkit.config.model_arguments`) and ``build(run, data)``, which
returns a :class:`ModelSetup`. Model folders under ``nlpkit/models/`` stay self-contained remote code: set-up that
needs the data or the tokenizer lives here, not there.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from nlpkit.cards import ModelCardInfo
from nlpkit.config import ConfigError
from nlpkit.data.loading import PACKAGED_PREFIX, SPLITS, DataArguments
from nlpkit.pretrained import (
    card_base_model,
    check_model_keys,
    data_settings,
    fine_tuning_command,
    from_pretrained,
    model_task,
    resolve_model_path,
)
from nlpkit.training import Run, start_run


@dataclass
class ModelSetup:
    """What a model module builds for its task: the model and its tokenizer, what the card says of them, and what
    differs from the task's defaults (``None``: the task's collator / encoding)."""

    model: Any  # a transformers PreTrainedModel
    tokenizer: Any  # a transformers tokenizer
    tags: list[str] = field(default_factory=list)
    description: str = ""
    base_model: str | None = None  # the pretrained model's Hub id or local folder, as given (None: from scratch)
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # the model's own, on the card
    collator: Callable | None = None
    encode: Callable | None = None  # (data, tokenizer, task arguments) -> DatasetDict of model inputs


@dataclass(frozen=True)
class CardDefaults:
    """What every card of one task says."""

    pipeline_tag: str
    auto_class: str
    task_name: str


def model_card(defaults: CardDefaults, run: Run, setup: ModelSetup, example_inputs: list[str]) -> ModelCardInfo:
    """The card of a run: the task's defaults, the data's names and what the model module says of its model."""
    data_args = run.get(DataArguments)
    return ModelCardInfo(
        pipeline_tag=defaults.pipeline_tag,
        auto_class=defaults.auto_class,
        task_name=defaults.task_name,
        **card_base_model(setup.base_model),
        datasets=[data_args.dataset_name] if data_args.dataset_name else [],
        dataset_description=data_args.dataset_description,
        tags=list(setup.tags),
        example_inputs=list(example_inputs),
        description=setup.description,
        hyperparameters=dict(setup.hyperparameters),
        language=card_languages(data_args),
        local_dataset=local_dataset_name(data_args),
    )


def card_languages(data_args: Any) -> list[str]:
    """The languages of a run's text for its card: a translation's ``[source_lang, target_lang]``, else the data's
    ``language`` option (default ``["en"]``)."""
    source, target = getattr(data_args, "source_lang", None), getattr(data_args, "target_lang", None)
    if source and target:
        return [source, target]
    return list(getattr(data_args, "language", None) or ["en"])


def local_dataset_name(data_args: Any) -> str:
    """The name of a run's local data, for the card's model-index: the folder of its first data file
    (``$NLPKIT_SHARED_DATA/conll2003/train.txt``: ``conll2003``; nlpkit's own ``nlpkit:ner/train.txt``:
    ``nlpkit-ner``), or the file's name if it lies in no folder; empty for Hub data."""
    for key in ("train_file", "validation_file", "test_file"):
        value = getattr(data_args, key, None)
        value = value[0] if isinstance(value, list | tuple) and value else value
        if not value or not isinstance(value, str):
            continue
        if value.startswith(PACKAGED_PREFIX):
            return "nlpkit-" + (Path(value.removeprefix(PACKAGED_PREFIX)).parent.name or "samples")
        path = Path(os.path.expandvars(value))
        return path.parent.name if path.parent.name not in ("", ".") else path.stem
    return ""


def start_scratch_or_pretrained_run(
    arguments: Sequence[type],
    argv: Sequence[str] | None,
    *,
    from_scratch: ModuleType,
    pretrained: ModuleType,
    task_arguments: type,
    quickstart: Path,
    defaults: Mapping[str, Any],
    fine_tuning_defaults: Mapping[str, Any],
) -> tuple[Run, ModuleType]:
    """:func:`~nlpkit.training.start_run` for a recipe that trains a model from scratch or fine-tunes
    ``model_name_or_path``; returns the run and the model module (``from_scratch`` or ``pretrained``) to build with.

    ``--model_name_or_path`` without ``--config`` reads only the quickstart's data (``task_arguments``' keys), with
    ``fine_tuning_defaults``: not its from-scratch model and learning rate. A from-scratch setting beside
    ``model_name_or_path``, or a fine-tuning one (``pretrained.FINE_TUNING_KEYS``) without it, is a ConfigError."""
    argv = sys.argv[1:] if argv is None else list(argv)
    config: Path | None = quickstart
    if fine_tuning_command(argv):
        config, defaults = None, {**fine_tuning_defaults, **data_settings(quickstart, task_arguments)}
    run = start_run(arguments, argv, default_config=config, defaults=defaults)
    fine_tuning = run.get(pretrained.Arguments).model_name_or_path is not None
    check_model_keys(
        run.explicit, fine_tuning=fine_tuning, from_scratch=from_scratch.Arguments,
        fine_tuning_keys=pretrained.FINE_TUNING_KEYS,
    )  # fmt: skip
    return run, pretrained if fine_tuning else from_scratch


def on_main_process_first(run: Run, description: str, work: Callable[[], Any]) -> Any:
    """``work()`` on the main process first, then on the others (which find its datasets cache)."""
    with run.training_args.main_process_first(desc=description):
        return work()


def load_labelled_data(run: Run, arguments: type, load: Callable[..., Any], task: str) -> Any:
    """``load(args, seed=..., splits=..., label_names=...)`` with the run's ``arguments`` object, on the main
    process first; with do_train false only the splits it scores or predicts, labelled with the model's own labels
    (its ``id2label``: the ids its head was trained with)."""
    args = run.get(arguments)
    label_names = None
    if run.predict_only:
        label_names = list(prediction_config(run, task).id2label.values())
    return on_main_process_first(
        run,
        "loading data",
        lambda: load(args, seed=run.training_args.seed, splits=splits_to_load(run), label_names=label_names),
    )


def sample_texts_field(texts: list[str], what: str) -> Any:
    """The ``sample_texts`` argument of a task: ``texts`` by default, ``what`` is done to them at the end of a run."""
    return field(default_factory=lambda: list(texts), metadata={"help": f"Sentences {what} at the end of the run."})


# ---- do_train false: the trained model, and the data it is scored and predicts on ----


def splits_to_load(run: Run) -> tuple[str, ...]:
    """Every split when the run trains; with do_train false only validation (``do_eval``) and test (``do_predict``
    or a test file to score)."""
    if not run.predict_only:
        return SPLITS
    return (*(("validation",) if run.evaluates else ()), "test")


def prediction_config(run: Run, task: str) -> Any:
    """do_train false: the config of the model to predict with; a one-line ConfigError when it has no head of
    ``task`` (a base checkpoint such as all-MiniLM-L6-v2, whose new head would predict at random, or a model of
    another task)."""
    config = _saved_config(resolve_model_path(run.prediction_model))
    found = model_task(config.to_dict())
    if found != task:
        architecture = (config.architectures or [config.model_type])[0]
        what = f"is a {found} model" if found else "has no task head"
        if run.folder is not None:
            run.folder.release()  # the output folder was only locked (and made, if missing): let it go now
        raise ConfigError(
            f"do_train false: {run.prediction_model} {what} ({architecture}), so it cannot predict {task}: give a "
            "fine-tuned one (--model_name_or_path FOLDER: the output_dir of a finished run of this recipe, say)"
        )
    return config


def _saved_config(path: str) -> Any:
    """A model's config (read by ``load_data`` for its labels, then by ``build``: a small file, or the Hub's cache)."""
    from transformers import AutoConfig

    return from_pretrained(AutoConfig, path)


def load_trained(run: Run, auto_class: Any, task: str, **tokenizer_kwargs: Any) -> tuple[Any, Any]:
    """do_train false: the model to predict with (``auto_class``) and its tokenizer, from
    :attr:`~nlpkit.training.Run.prediction_model`; each load failure one line."""
    from transformers import AutoTokenizer

    config = prediction_config(run, task)
    path = resolve_model_path(run.prediction_model)  # a Hub id's packaged copy, as fine-tuning finds it
    tokenizer = from_pretrained(AutoTokenizer, path, **tokenizer_kwargs)
    model = from_pretrained(auto_class, path, config=config)
    return model.eval(), tokenizer


def trained_setup(model: Any, tokenizer: Any, run: Run, **extra: Any) -> ModelSetup:
    """The :class:`ModelSetup` of a trained model (do_train false): nothing for a card, nothing to train."""
    return ModelSetup(model, tokenizer, description=f"{run.prediction_model}, not trained further", **extra)


def prediction_batch_size(run: Run) -> int:
    return run.training_args.per_device_eval_batch_size
