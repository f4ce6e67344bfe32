"""The scaffold every recipe walks: prepare the output folder, train (resuming if asked), evaluate, save everything.

A recipe builds its model, tokenizer, datasets, collator and metrics, then calls :func:`train_and_save`. The output
folder ends up with the weights (safetensors), tokenizer, config, ``all_results.json``, ``run_config.yaml``, a model
card ``README.md``, ``loss_curves.png`` and the Trainer's ``checkpoint-*`` folders. Final files are written beside
their destination and renamed into place, so an interrupted run never leaves a half-written file.

Runs are crash-proof (see :mod:`nlpkit.checkpoints`): only complete checkpoints are resumed from, a resumed run ends
with the weights of an uninterrupted one, SIGTERM/SIGINT save a checkpoint and exit with 128 + the signal number, and
``all_results.json`` covers the whole run.

With ``push_to_hub``, :func:`start_run` checks the token and the Hub before anything loads, and the finished folder
is pushed once everything is saved (see :mod:`nlpkit.hub`); the Trainer itself never pushes.

Predictions: with ``do_predict`` and a ``test_file`` (labelled or not), the output folder also holds
``predictions.jsonl`` (each test row's fields, its reference where the file has one, and the prediction of the shared
predictor API, :mod:`nlpkit.predict`: what ``nlpkit predict --output`` writes), inside the same atomic final save;
labelled test data also gives ``test_*`` results. ``do_train false`` (set explicitly: transformers' own default is
false, which nlpkit's recipes never read) trains nothing: it predicts (``do_predict``) and/or evaluates on the
validation data (``do_eval``) with ``model_name_or_path`` when the recipe reads one and it is set, else with the
finished run in ``output_dir``; it adds ``predictions.jsonl`` and the ``test_*`` / ``eval_*`` results to the output
folder without touching anything else there (see :func:`nlpkit.output_folder.prepare_prediction_dir`).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import datasets
import torch
import transformers
import yaml
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import HubStrategy

from nlpkit import optimizers
from nlpkit.cards import (
    ModelCardInfo,
    TrainingProgress,
    card_hyperparameters,
    card_labels,
    custom_pipeline_files,
    framework_versions,
    render_model_card,
    write_model_card,
)
from nlpkit.checkpoints import (
    RunTotals,
    choose_checkpoint,
    end_with_launcher,
    exit_if_stopped,
    resumable,
    saved_attributes,
)
from nlpkit.config import ConfigError, ModelSettings, parse_args
from nlpkit.hub import HubTarget, check_hub_access, push_output_dir
from nlpkit.io import atomic_write_json, atomic_write_text
from nlpkit.lora import prepare_final_save, trainable_parameters
from nlpkit.output_folder import (
    PREDICTIONS_FILE,
    OutputFolder,
    prepare_output_dir,
    prepare_prediction_dir,
    recipe_name,
    wants_resume,
)
from nlpkit.plots import plot_loss_curves
from nlpkit.tracking import prepare_trackers

logger = logging.getLogger("nlpkit")


@dataclass
class RunOptions:
    """nlpkit's run options, added to transformers' training arguments."""

    max_train_minutes: float | None = field(
        default=None,
        metadata={
            "help": "Train for at most this many minutes, then evaluate and save as usual. The learning-rate schedule "
            "is fitted to the steps that fit in the budget (re-estimated as training goes)."
        },
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={
            "help": "Stop training once this many evaluations in a row have not improved metric_for_best_model "
            "(transformers' EarlyStoppingCallback); the best checkpoint is loaded at the end. Needs evaluation "
            "during training (eval_strategy steps or epoch) and validation data."
        },
    )
    early_stopping_threshold: float = field(
        default=0.0,
        metadata={"help": "With early_stopping_patience: how much metric_for_best_model must improve to count."},
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Replace what output_dir holds when it is a finished run or another run (another recipe, other "
            "settings): its files (weights, model code, checkpoints, card...) are removed first. Without it such a "
            "folder is refused. The same unfinished run is continued when resume_from_checkpoint is set."
        },
    )
    max_train_clock: str = field(
        default="wall",
        metadata={
            "help": "Clock for max_train_minutes: 'wall', or 'cpu' (this process's CPU time divided by its torch "
            "threads: the same budget on a machine shared with other jobs).",
            "choices": ["wall", "cpu"],
        },
    )
    pad_to_multiple_of: int | None = field(
        default=None,
        metadata={
            "help": "Pad every batch to a multiple of this many tokens (8 or 64 on GPUs: tensor cores run faster on "
            "such shapes; fewer distinct shapes for torch.compile). Every task's padding collator reads it."
        },
    )

    def __post_init__(self) -> None:
        """``optim`` may also name a pytorch-optimizer optimizer (see :mod:`nlpkit.optimizers`): transformers checks
        the other arguments with a placeholder, then ``optim`` holds the user's name again."""
        keep_best_where_evaluated(self)
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be at least 1, got {self.pad_to_multiple_of}")
        _check_wsd_schedule(self.lr_scheduler_type, self.lr_scheduler_kwargs)
        optim = getattr(self.optim, "value", self.optim)
        optimizers.check_optim(optim, self.optim_args)
        if not optimizers.is_pytorch_optimizer(optim):
            super().__post_init__()
            return
        self.optim = "adamw_torch"
        super().__post_init__()
        self.optim = optim


def _check_wsd_schedule(scheduler_type: Any, scheduler_kwargs: Any) -> None:
    """``warmup_stable_decay`` needs its decay's length: refused now rather than when training starts."""
    if getattr(scheduler_type, "value", scheduler_type) != "warmup_stable_decay":
        return
    try:
        kwargs = json.loads(scheduler_kwargs) if isinstance(scheduler_kwargs, str) else dict(scheduler_kwargs or {})
    except (ValueError, TypeError):
        return  # transformers reports a malformed lr_scheduler_kwargs itself
    if "num_decay_steps" not in kwargs:
        raise ValueError(
            "lr_scheduler_type warmup_stable_decay needs num_decay_steps in lr_scheduler_kwargs "
            '(e.g. lr_scheduler_kwargs: {"num_decay_steps": 100})'
        )


@dataclass
class TrainingArguments(RunOptions, transformers.TrainingArguments):
    """transformers' TrainingArguments plus nlpkit's run options."""


@dataclass
class Seq2SeqTrainingArguments(RunOptions, transformers.Seq2SeqTrainingArguments):
    """transformers' Seq2SeqTrainingArguments (``predict_with_generate``, generation beams and length) plus nlpkit's
    run options."""


# ---- Best checkpoint and early stopping ----


def keep_best_where_evaluated(args: Any) -> None:
    """``load_best_model_at_end`` (on in every task's defaults) where the run evaluates and saves as it trains; off
    where it does not (``eval_strategy`` or ``save_strategy`` 'no': no score to choose by, or no checkpoint to load).
    Where evaluations and checkpoints follow different schedules, a one-line error (transformers' is several lines):
    the best evaluation must have its checkpoint. Runs before transformers' own checks."""
    if not args.load_best_model_at_end:
        return
    evaluation, saving = (getattr(value, "value", value) for value in (args.eval_strategy, args.save_strategy))
    if "no" in (evaluation, saving):
        args.load_best_model_at_end = False
        return
    if saving == "best":  # transformers saves at each new best evaluation
        return
    fix = "or set --load_best_model_at_end false"
    if evaluation != saving:
        raise ValueError(
            f"load_best_model_at_end: save_strategy {saving!r} must match eval_strategy {evaluation!r} so that the "
            f"best evaluation has a checkpoint to load: set save_strategy {evaluation!r}, {fix}"
        )
    eval_steps = args.eval_steps or args.logging_steps  # transformers' fallback for an unset eval_steps
    if evaluation == "steps" and eval_steps >= 1 and args.save_steps >= 1 and args.save_steps % eval_steps:
        unset = "" if args.eval_steps else " (eval_steps unset: logging_steps)"
        raise ValueError(
            f"load_best_model_at_end: save_steps {args.save_steps:g} must be a multiple of eval_steps "
            f"{eval_steps:g}{unset} so that the best evaluation has a checkpoint to load: set save_steps and "
            f"eval_steps alike, {fix}"
        )


def check_early_stopping(args: Sequence[Any], explicit: Mapping[str, Any], training_args: Any) -> None:
    """``early_stopping_patience`` needs evaluations during training, on validation data, by a metric: a one-line
    ConfigError before anything loads when the run has none (``do_train false`` trains nothing: not checked)."""
    if getattr(training_args, "early_stopping_patience", None) is None or explicit.get("do_train") is False:
        return
    if getattr(training_args.eval_strategy, "value", training_args.eval_strategy) == "no":
        raise ConfigError(
            "early_stopping_patience: the run does not evaluate while it trains (eval_strategy 'no'): set "
            "--eval_strategy epoch or steps, or remove early_stopping_patience"
        )
    if not training_args.metric_for_best_model:
        raise ConfigError("early_stopping_patience: no metric_for_best_model to watch (set --metric_for_best_model)")
    if any(getattr(arg, "validation_split_percentage", None) == 0 for arg in args):
        raise ConfigError(
            "early_stopping_patience: no validation data (validation_split_percentage 0): hold some out, or "
            "remove early_stopping_patience"
        )


class EarlyStopping(EarlyStoppingCallback):
    """transformers' EarlyStoppingCallback whose count of evaluations without improvement goes on after a resume,
    as an uninterrupted run's would (the Trainer restores callback states only under
    ``restore_callback_states_from_checkpoint``, which replaces every callback)."""

    def on_train_begin(self, args, state, control, **kwargs):
        saved = saved_attributes(state, self) if state.global_step > 0 else None  # > 0 when resuming
        if saved and "early_stopping_patience_counter" in saved:
            self.early_stopping_patience_counter = saved["early_stopping_patience_counter"]
        return super().on_train_begin(args, state, control, **kwargs)


def best_checkpoint_results(trainer: Trainer) -> dict[str, Any]:
    """``best_checkpoint_step`` and ``best_metric`` (of ``metric_for_best_model``) when the run ended with its best
    checkpoint's weights (``load_best_model_at_end``), else nothing."""
    state = trainer.state
    if not (trainer.args.load_best_model_at_end and state.best_model_checkpoint and state.best_global_step):
        return {}
    return {"best_checkpoint_step": state.best_global_step, "best_metric": state.best_metric}


def early_stopping_callbacks(training_args: Any, eval_dataset: Any) -> list[TrainerCallback]:
    """The early-stopping callback the run options ask for (none without ``early_stopping_patience``); a ConfigError
    when the run turned out to have no validation data (``eval_strategy`` was turned off for it)."""
    patience = getattr(training_args, "early_stopping_patience", None)
    if patience is None:
        return []
    if eval_dataset is None or getattr(training_args.eval_strategy, "value", training_args.eval_strategy) == "no":
        raise ConfigError("early_stopping_patience: the run has no validation data to evaluate while it trains")
    return [EarlyStopping(patience, training_args.early_stopping_threshold)]


class TimeBudgetCallback(TrainerCallback, ExportableState):
    """Ends training when the time budget is spent, and fits the learning-rate schedule to the budget.

    After every tenth of the budget it estimates how many optimizer steps fit in the whole budget (at most the steps
    first planned) and moves the plan there (``state.max_steps``); a schedule built from ``num_training_steps``
    (linear, cosine, ... with warmup: transformers' ``LambdaLR`` partials) is rebuilt for the new total, its warmup
    scaled when ``warmup_steps`` was a ratio; ``warmup_stable_decay`` keeps its decay's share of the plan, ending at
    the plan's last step. So the learning rate still decays to its end value when time runs out.

    The budget is the run's: checkpoints keep the time spent and the fitted plan (an ExportableState), and a resumed
    run continues with what is left of the budget and the same plan and schedule.
    """

    def __init__(self, minutes: float, clock: str = "wall", replans: int = 10) -> None:
        self.budget = minutes * 60
        self.clock = clock
        self.replans = replans
        self.replan_every = self.budget / replans
        self.spent = 0.0  # budget used before this process started (restored from a checkpoint)
        self.fitted = 0  # the plan last fitted to the budget (0: none yet)
        self.started: float | None = None  # now() when this process's share began, less `spent`
        self.next_replan = 0.0
        self.first_step = self.planned = 0

    def now(self) -> float:
        if self.clock == "cpu":
            return time.process_time() / max(1, torch.get_num_threads())
        return time.monotonic()

    def elapsed(self) -> float:
        """Budget used so far by the whole run."""
        return self.spent if self.started is None else self.now() - self.started

    def state(self) -> dict[str, Any]:
        return {
            "args": {"minutes": self.budget / 60, "clock": self.clock, "replans": self.replans},
            "attributes": {"spent": self.elapsed(), "fitted": self.fitted},
        }

    def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        saved = saved_attributes(state, self) if state.global_step > 0 else None  # > 0 when resuming
        if saved and "spent" in saved:
            self.spent, self.fitted = saved["spent"], saved["fitted"]
        self.started = self.now() - self.spent
        self.next_replan = (math.floor(self.spent / self.replan_every) + 1) * self.replan_every
        self.first_step = state.global_step
        self.planned = state.max_steps
        if self.fitted and self.fitted != state.max_steps:  # the Trainer rebuilt the schedule for the first plan
            _rescale_schedule(lr_scheduler, state.max_steps, self.fitted, warmup_is_ratio=0 < args.warmup_steps < 1)
            state.max_steps = self.fitted

    def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
        elapsed = self.elapsed()
        if elapsed >= self.budget:
            if not control.should_training_stop:
                logger.info("Time budget of %.1f minutes reached at step %d", self.budget / 60, state.global_step)
            control.should_training_stop = True
            return
        if elapsed >= self.next_replan:
            self.next_replan += self.replan_every
            steps_done, seconds = state.global_step - self.first_step, elapsed - self.spent
            # The steps left fit the budget left at this process's pace; never more than first planned (the plan
            # may grow back when steps got faster: a busy machine calmed).
            fit = min(self.planned, state.global_step + int(steps_done * (self.budget - elapsed) / seconds))
            if fit != state.max_steps:
                _rescale_schedule(lr_scheduler, state.max_steps, fit, warmup_is_ratio=0 < args.warmup_steps < 1)
                logger.info("Time budget: planning %d steps instead of %d", fit, state.max_steps)
                state.max_steps = fit
            self.fitted = fit
        if state.global_step >= state.max_steps:
            control.should_training_stop = True


def _rescale_schedule(scheduler: Any, planned: int, fit: int, *, warmup_is_ratio: bool) -> None:
    """Point a transformers LambdaLR schedule at ``fit`` total steps instead of ``planned`` (others are left alone).

    Warmup-stable-decay (``warmup_stable_decay``) counts its phases instead of the total: its decay, a part of the
    plan, is scaled with it and the stable phase takes what is left, so the decay still ends at the last step."""
    lambdas = getattr(scheduler, "lr_lambdas", None) or []
    for index, function in enumerate(lambdas):
        keywords = getattr(function, "keywords", None)
        if not keywords or not ({"num_training_steps", "num_stable_steps"} & keywords.keys()):
            continue
        updated = {**keywords}
        if warmup_is_ratio and "num_warmup_steps" in keywords:
            updated["num_warmup_steps"] = round(keywords["num_warmup_steps"] * fit / planned)
        if "num_training_steps" in keywords:
            updated["num_training_steps"] = fit
        else:
            decay = min(fit - updated["num_warmup_steps"], round(keywords["num_decay_steps"] * fit / planned))
            updated["num_decay_steps"] = max(0, decay)
            updated["num_stable_steps"] = max(0, fit - updated["num_warmup_steps"] - updated["num_decay_steps"])
        lambdas[index] = functools.partial(function.func, *function.args, **updated)


T = TypeVar("T")


@dataclass
class Run:
    """One training run, as :func:`start_run` set it up before any long work: the parsed argument objects, the
    training arguments among them, where the values came from, the checkpoint to resume from, and where to push the
    finished run (``push_to_hub``; set on the main process only). Tasks and :func:`train_and_save` take it whole."""

    args: tuple[Any, ...]
    training_args: transformers.TrainingArguments
    config_file: Path | None
    explicit: dict[str, Any]  # keys set by recipe defaults, the config file or the command line
    resume_checkpoint: str | None
    hub: HubTarget | None = None
    folder: OutputFolder | None = None  # the output folder, locked on the main process (see nlpkit.output_folder)
    prediction_model: str | None = None  # do_train false: the model folder (or Hub id) to predict with

    @property
    def output_dir(self) -> Path:
        return Path(self.training_args.output_dir)

    @property
    def predict_only(self) -> bool:
        """``do_train false``: no training; the run predicts and/or evaluates with :attr:`prediction_model`."""
        return self.prediction_model is not None

    @property
    def writes_predictions(self) -> bool:
        """Whether the run writes ``predictions.jsonl`` (``do_predict``; :func:`start_run` checked the test file)."""
        return bool(self.training_args.do_predict)

    @property
    def evaluates(self) -> bool:
        """Whether the validation data is scored: always after training; with ``do_train false`` when ``do_eval``
        is set explicitly (transformers turns it on from ``eval_strategy``, a training setting)."""
        return not self.predict_only or self.explicit.get("do_eval") is True

    def get(self, kind: type[T]) -> T:
        """The parsed argument object of class ``kind`` (or of a subclass)."""
        for value in self.args:
            if isinstance(value, kind):
                return value
        raise KeyError(f"this run parsed no {kind.__name__}")


def start_run(
    dataclass_types: Sequence[type],
    argv: Iterable[str] | None = None,
    *,
    default_config: str | Path | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Run:
    """Parse the recipe's arguments (see :func:`nlpkit.config.parse_args`), set up logging and the seed, and check
    the output folder, the checkpoint to resume and the Hub access, before any data or model loads."""
    parsed = parse_args(dataclass_types, argv, default_config=default_config, defaults=defaults)
    training_args = parsed.of(transformers.TrainingArguments)
    _setup_logging(training_args)
    if parsed.config_file is not None:
        logger.info("Config: %s", parsed.config_file)
    if getattr(training_args, "hub_token", None):
        raise ConfigError(
            "'hub_token' must not be set in a config or on the command line (it would be saved with the run): "
            "set the HF_TOKEN environment variable or run `hf auth login`"
        )
    check_run_goals(parsed.args, parsed.explicit, training_args)
    prepare_trackers(training_args, parsed.explicit)  # report_to: installed, named after the output folder
    check_early_stopping(parsed.args, parsed.explicit, training_args)
    if parsed.explicit.get("do_train") is False:
        return _start_prediction_run(parsed, training_args)
    for settings in parsed.args:
        if isinstance(settings, ModelSettings):
            settings.make_config()  # a bad combination of model settings fails now, not after the data has loaded
            check_gradient_checkpointing(settings.config_class.model_type, training_args, parsed.explicit)
            if settings.unused(parsed.explicit):
                unused = ", ".join(settings.unused(parsed.explicit))
                logger.warning("%s does not read %s: ignored", settings.model_type, unused)
    end_with_launcher()  # under accelerate launch / torchrun: SIGTERM (save, stop) when the launcher dies
    output_dir = Path(training_args.output_dir)
    with training_args.main_process_first(local=False, desc="checking the output folder"):
        folder = prepare_output_dir(
            output_dir,
            recipe=recipe_name(default_config),
            settings=parsed.explicit,
            overwrite=training_args.overwrite_output_dir,
            resume=wants_resume(training_args.resume_from_checkpoint),
            is_main_process=training_args.process_index == 0,
            push_repo=training_args.hub_model_id if training_args.push_to_hub else None,
        )
    resume = resume_checkpoint(training_args)
    hub = _prepare_push(training_args, output_dir)
    transformers.set_seed(training_args.seed)
    return Run(
        args=parsed.args,
        training_args=training_args,
        config_file=parsed.config_file,
        explicit=parsed.explicit,
        resume_checkpoint=resume,
        hub=hub,
        folder=folder,
    )


def check_gradient_checkpointing(
    model_type: str, training_args: Any, explicit: Mapping[str, Any] | None = None
) -> None:
    """A one-line ConfigError, before anything loads, when gradient checkpointing is asked of an nlpkit model whose
    class does not support it: its ``supports_gradient_checkpointing`` (the registry's first class, the one a recipe
    trains) decides, with the reason the class gives. Models of transformers' own decide for themselves. The error
    names the key given (``explicit``): transformers 5 reads ``activation_checkpointing``, with
    ``gradient_checkpointing`` its deprecated alias (each mirrors the other once the arguments are parsed)."""
    from nlpkit.models import model_family

    if not (getattr(training_args, "activation_checkpointing", None) or training_args.gradient_checkpointing):
        return
    try:
        family = model_family(model_type)
    except KeyError:
        return
    model_class = next(iter(family.resolve().model_classes))
    if not model_class.supports_gradient_checkpointing:
        key = "activation_checkpointing" if "activation_checkpointing" in (explicit or {}) else "gradient_checkpointing"
        reason = getattr(model_class, "_gradient_checkpointing_refusal", "supports_gradient_checkpointing is False")
        raise ConfigError(f"{key}: {model_type} does not support it ({reason})")


def check_run_goals(args: Sequence[Any], explicit: Mapping[str, Any], training_args: Any) -> None:
    """One-line ConfigErrors, before anything loads, for what a run is asked to do: ``do_predict`` needs a
    ``test_file``; ``do_train false`` needs ``do_predict`` or ``do_eval`` (something to do without training);
    training needs training data."""
    data_args = next((arg for arg in args if hasattr(arg, "test_file")), None)
    if training_args.do_predict and data_args is not None and not data_args.test_file:
        raise ConfigError("do_predict: no test_file to predict (set --test_file FILE: csv/tsv/jsonl/txt...)")
    if explicit.get("do_train") is False:
        if not training_args.do_predict and explicit.get("do_eval") is not True:
            raise ConfigError(
                "do_train false: nothing to do without training; set --do_predict true (predictions for test_file) "
                "or --do_eval true (scores on the validation data)"
            )
        if explicit.get("do_eval") is True and data_args is not None and not _has_validation(data_args):
            raise ConfigError("do_eval with do_train false: no validation data (set validation_file or dataset_name)")
        if training_args.push_to_hub:
            raise ConfigError("push_to_hub: a run with do_train false trains no model to push (remove push_to_hub)")
    elif data_args is not None and not (getattr(data_args, "dataset_name", None) or data_args.train_file):
        raise ConfigError("no training data: set 'dataset_name' (a Hub dataset) or 'train_file' (a local file)")


def _has_validation(data_args: Any) -> bool:
    return bool(getattr(data_args, "validation_file", None) or getattr(data_args, "dataset_name", None))


def prediction_model_for(args: Sequence[Any], output_dir: Path) -> str:
    """``do_train false``: the model to predict with: ``model_name_or_path`` when the recipe reads one and it is set
    (a trained folder, or a fine-tuned checkpoint), else the finished run in ``output_dir``; a one-line ConfigError
    when there is none."""
    from nlpkit.pretrained import check_model_folder

    readers = [arg for arg in args if hasattr(arg, "model_name_or_path")]
    named = next((arg.model_name_or_path for arg in readers if arg.model_name_or_path), None)
    if named:  # as given (messages name it so); a local folder is checked (PretrainedArguments), a Hub id when loaded
        return named
    alternative = " or pass --model_name_or_path FOLDER" if readers else ""
    if not (output_dir / "config.json").is_file():
        raise ConfigError(
            f"do_train false: no model to predict with: output_dir {output_dir} holds no trained model (train it "
            f"first{alternative})"
        )
    try:
        check_model_folder(output_dir)
    except ConfigError as error:
        raise ConfigError(f"do_train false: output_dir: {error}") from None
    return str(output_dir)


def _start_prediction_run(parsed: Any, training_args: transformers.TrainingArguments) -> Run:
    """:func:`start_run` for ``do_train false``: the model to predict with, and the output folder made ready for
    the predictions (locked; nothing of a finished run in it is removed)."""
    output_dir = Path(training_args.output_dir)
    model = prediction_model_for(parsed.args, output_dir)
    logger.info("do_train false: predicting with %s", model)
    with training_args.main_process_first(local=False, desc="checking the output folder"):
        folder = prepare_prediction_dir(output_dir, model=model, is_main_process=training_args.process_index == 0)
    transformers.set_seed(training_args.seed)
    return Run(
        args=parsed.args,
        training_args=training_args,
        config_file=parsed.config_file,
        explicit=parsed.explicit,
        resume_checkpoint=None,
        folder=folder,
        prediction_model=model,
    )


def resume_checkpoint(training_args: transformers.TrainingArguments) -> str | None:
    """The checkpoint to resume from, as ``resume_from_checkpoint`` asks: ``auto`` takes the newest complete
    checkpoint of ``output_dir`` (incomplete ones are moved aside, see :mod:`nlpkit.checkpoints`), a path must be a
    complete checkpoint, and without it ``output_dir`` must hold no complete checkpoint (ConfigError otherwise)."""
    resume = training_args.resume_from_checkpoint
    if isinstance(resume, str) and resume.strip().lower() in ("", "none", "null", "no", "false"):
        resume = None  # lets `--resume_from_checkpoint none` turn off a config file's `auto`
    return choose_checkpoint(Path(training_args.output_dir), resume, tidy=training_args.should_save)


def _prepare_push(training_args: transformers.TrainingArguments, output_dir: Path) -> HubTarget | None:
    """With ``push_to_hub``: check the Hub access now (main process), and keep the Trainer from pushing by itself."""
    if not training_args.push_to_hub:
        return None
    if getattr(training_args.hub_strategy, "value", training_args.hub_strategy) in (
        HubStrategy.CHECKPOINT.value,
        HubStrategy.ALL_CHECKPOINTS.value,
    ):
        raise ConfigError(
            "hub_strategy: nlpkit pushes the finished run once, without checkpoints; resume from the checkpoints "
            "in output_dir instead (remove hub_strategy)"
        )
    if training_args.hub_revision:
        raise ConfigError("hub_revision: nlpkit pushes to the main branch (remove hub_revision)")
    # Seeing push_to_hub, the Trainer (5.23) creates the repo when built, then pushes output_dir in the background at
    # every checkpoint ("Training in progress, step N") and from save_model() ("Model save"), with its own card, its
    # pickled training_args.bin and nlpkit's .saving staging folder. nlpkit pushes the finished folder itself
    # (save_outputs), so the Trainer is told not to.
    training_args.push_to_hub = False
    if training_args.process_index != 0:
        return None
    target = check_hub_access(
        training_args.hub_model_id or output_dir.absolute().name, private=training_args.hub_private_repo
    )
    logger.info("The finished run will be pushed to %s", target.url)
    return target


def train_and_save(
    run: Run,
    *,
    model: transformers.PreTrainedModel,
    processing_class: Any,
    train_dataset: datasets.Dataset | Mapping[str, datasets.Dataset],
    eval_dataset: datasets.Dataset | Mapping[str, datasets.Dataset] | None,
    data_collator: Callable | None,
    compute_metrics: Callable | None,
    card: ModelCardInfo,
    test_dataset: datasets.Dataset | None = None,
    trainer_class: type[Trainer] = Trainer,
    callbacks: Sequence[TrainerCallback] = (),
    loss_uses_num_items_in_batch: bool = False,
    add_to_folder: Callable[[Path], None] | None = None,
    predictions: Callable[[transformers.PreTrainedModel], Iterable[dict[str, Any]]] | None = None,
) -> tuple[Trainer, dict[str, Any]]:
    """Train, evaluate and write the whole output folder; returns the trainer and the results (``all_results.json``).

    ``test_dataset``: labelled test data, scored into ``test_*`` results. ``predictions(model)``: the records of
    ``predictions.jsonl`` (test rows with their predictions, see :mod:`nlpkit.predict`), made on the main process
    with the final model and written inside the final save. With ``do_train false`` (:attr:`Run.predict_only`) the
    model is not trained: the validation data is scored if :attr:`Run.evaluates`, then the test data, and the
    predictions and results are added to the output folder (:func:`save_predictions`).

    ``add_to_folder``: see :func:`save_outputs` (files that ship with the final model, such as a pipeline's code).

    ``loss_uses_num_items_in_batch``: whether the model's loss divides by the ``num_items_in_batch`` the Trainer passes
    (transformers' LM losses do). When it does not (classification heads), the Trainer must not pass it: under DDP it
    would multiply a per-rank mean loss by the world size.
    """
    training_args = run.training_args
    if training_args.push_to_hub:  # start_run turns it off: nlpkit pushes the finished run, the Trainer never does
        raise ValueError("push_to_hub is still on: call start_run first (it checks the Hub access)")
    if run.predict_only:
        return _predict_and_save(
            run, model=model, processing_class=processing_class, eval_dataset=eval_dataset, test_dataset=test_dataset,
            data_collator=data_collator, compute_metrics=compute_metrics, trainer_class=trainer_class,
            loss_uses_num_items_in_batch=loss_uses_num_items_in_batch, predictions=predictions,
        )  # fmt: skip
    callbacks = [*callbacks, RunTotals()]
    if getattr(training_args, "max_train_minutes", None):
        callbacks.append(TimeBudgetCallback(training_args.max_train_minutes, training_args.max_train_clock))
    callbacks.extend(early_stopping_callbacks(training_args, eval_dataset))
    trainer = resumable(trainer_class)(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processing_class,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    # Set on the Trainer rather than passed: Seq2SeqTrainer's __init__ does not take the keyword. None (transformers'
    # own optim names): the Trainer resolves the name as usual.
    trainer.optimizer_cls_and_kwargs = optimizers.trainer_optimizer(training_args)
    if not loss_uses_num_items_in_batch:
        trainer.model_accepts_loss_kwargs = False
    logger.info(
        "Training %s (%.1fM parameters) on %d rows, evaluating on %d",
        type(model).__name__,
        model.num_parameters() / 1e6,
        rows_of(train_dataset),
        rows_of(eval_dataset),
    )
    folder = run.folder or OutputFolder(path=run.output_dir, is_main_process=training_args.process_index == 0)
    with folder.disk_full_errors():  # a full disk while writing a checkpoint: one line naming the file
        train_output = trainer.train(resume_from_checkpoint=run.resume_checkpoint)
    exit_if_stopped(trainer)  # SIGTERM/SIGINT: checkpoint saved, one line, exit status 128 + signal
    if training_args.world_size > 1:
        print(
            f"[rank {training_args.process_index}/{training_args.world_size}] trained "
            f"{trainer.state.global_step} steps on {len(trainer.get_train_dataloader())} batches per epoch",
            flush=True,
        )
    results = {**train_output.metrics, **whole_run_results(trainer)}
    results["train_samples"] = rows_of(train_dataset)
    results["trainable_parameters"] = trainable_parameters(model)
    if eval_dataset is not None:
        eval_metrics = trainer.evaluate()
        eval_metrics["eval_samples"] = rows_of(eval_dataset)
        results.update(eval_metrics)
    if test_dataset is not None:
        results.update(trainer.evaluate(test_dataset, metric_key_prefix="test"))
        results["test_samples"] = len(test_dataset)
    elif predictions is None:
        _warn_if_test_file_unused(run)
    trainer.log_metrics("all", results)
    with folder.disk_full_errors():
        save_outputs(trainer, run, card, results, folder=folder, add_to_folder=add_to_folder, predictions=predictions)
    return trainer, results


def rows_of(dataset: Any) -> int:
    """The rows of a dataset, or of a dict of them (one per task: see :class:`nlpkit.multitask.MultiTaskTrainer`)."""
    if dataset is None:
        return 0
    return sum(len(part) for part in dataset.values()) if isinstance(dataset, Mapping) else len(dataset)


def _warn_if_test_file_unused(run: Run) -> None:
    data_args = next((arg for arg in run.args if hasattr(arg, "test_file")), None)
    if data_args is not None and data_args.test_file:
        logger.warning(
            "test_file %s has no labels, so nothing was scored: pass --do_predict true to write its predictions",
            data_args.test_file,
        )


def _predict_and_save(
    run: Run,
    *,
    model: transformers.PreTrainedModel,
    processing_class: Any,
    eval_dataset: datasets.Dataset | None,
    test_dataset: datasets.Dataset | None,
    data_collator: Callable | None,
    compute_metrics: Callable | None,
    trainer_class: type[Trainer],
    loss_uses_num_items_in_batch: bool,
    predictions: Callable[[transformers.PreTrainedModel], Iterable[dict[str, Any]]] | None,
) -> tuple[Trainer, dict[str, Any]]:
    """``do_train false``: score the validation data (if :attr:`Run.evaluates`) and the labelled test data with the
    given model, then add the predictions and results to the output folder. Every rank evaluates (the Trainer
    shares the batches out); the main process predicts and writes."""
    if eval_dataset is None:  # a training setting such as eval_strategy: epoch needs validation data the run lacks
        from transformers.trainer_utils import IntervalStrategy

        run.training_args.eval_strategy = IntervalStrategy.NO
    trainer = trainer_class(
        model=model,
        args=run.training_args,
        eval_dataset=eval_dataset,
        processing_class=processing_class,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
    )  # no callbacks: they belong to training (a language model's samples would be written after evaluating)
    if not loss_uses_num_items_in_batch:
        trainer.model_accepts_loss_kwargs = False
    results: dict[str, Any] = {}
    if run.evaluates and eval_dataset is not None:
        results.update(trainer.evaluate())
        results["eval_samples"] = rows_of(eval_dataset)
    if test_dataset is not None:
        results.update(trainer.evaluate(test_dataset, metric_key_prefix="test"))
        results["test_samples"] = len(test_dataset)
    results.pop("epoch", None)  # evaluate() adds the trainer's epoch (0 here); the folder's run has its own
    if results:
        trainer.log_metrics("all", results)
    folder = run.folder or OutputFolder(path=run.output_dir, is_main_process=trainer.is_world_process_zero())
    if trainer.is_world_process_zero():
        with folder.disk_full_errors():
            save_predictions(run.output_dir, results, predictions(trainer.model) if predictions else None)
        folder.release()
    return trainer, results


def save_predictions(
    output_dir: Path, results: Mapping[str, Any], records: Iterable[dict[str, Any]] | None
) -> int | None:
    """``do_train false``: write ``predictions.jsonl`` (if ``records``) and merge ``results`` into the folder's
    ``all_results.json``, each file written beside its destination and renamed into place; nothing else in the
    folder changes. The results of an earlier prediction are replaced whole (``test_*`` always: another test file may
    have been predicted; ``eval_*`` when scored again), so no stale score stays beside the new ones. Returns the
    number of predictions written (None without records)."""
    from nlpkit.predict import write_predictions

    output_dir.mkdir(parents=True, exist_ok=True)
    written = None
    if records is not None:
        written = write_predictions(output_dir / PREDICTIONS_FILE, records)
        logger.info("Wrote %d predictions to %s", written, output_dir / PREDICTIONS_FILE)
    path = output_dir / "all_results.json"
    try:
        previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        previous = {}
    replaced = ("test_", *(("eval_",) if any(key.startswith("eval_") for key in results) else ()))
    merged = {key: value for key, value in previous.items() if not key.startswith(replaced)}
    merged.update(results)
    if merged or path.is_file():
        atomic_write_json(path, merged)
    return written


def whole_run_results(trainer: Trainer) -> dict[str, Any]:
    """The training figures of the whole run, resumed parts included (from the trainer's :class:`RunTotals`):
    ``train_loss`` (mean over every step), ``train_runtime`` (seconds spent on the steps the model went through:
    not the work a crash lost after its last checkpoint, nor the time between runs), the throughputs from it, and
    ``train_cpu_seconds`` (CPU time over the torch threads, counted the same way)."""
    args, steps = trainer.args, trainer.state.global_step
    batch_size = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
    totals = trainer.run_totals
    runtime = totals.total_seconds()
    if not totals.exact:
        logger.warning("train_loss of the steps before the resume is estimated from the logged losses")
    return {
        **best_checkpoint_results(trainer),
        "train_loss": totals.mean_loss(steps),
        "train_runtime": round(runtime, 4),
        "train_samples_per_second": round(steps * batch_size / runtime, 3) if runtime else 0.0,
        "train_steps_per_second": round(steps / runtime, 3) if runtime else 0.0,
        "train_cpu_seconds": round(totals.total_cpu_seconds(), 2),
        "train_steps": steps,
        "train_global_batch_size": batch_size,
    }


def save_outputs(
    trainer: Trainer,
    run: Run,
    card: ModelCardInfo,
    results: dict[str, Any],
    *,
    folder: OutputFolder | None = None,
    add_to_folder: Callable[[Path], None] | None = None,
    predictions: Callable[[transformers.PreTrainedModel], Iterable[dict[str, Any]]] | None = None,
) -> None:
    """Write weights, tokenizer, config, results, run config, card and curves into a staging folder, swap it in for
    the output folder in one step (the run record, marked finished, last; see :mod:`nlpkit.output_folder`); then,
    given a Hub target (``run.hub``), push the folder there (main process).

    ``predictions(model)``: the records of ``predictions.jsonl``, made with the final model on the main process and
    written into the staging folder, so they appear with the model they come from.

    ``add_to_folder(staging)`` runs on the main process once the model, tokenizer and config are in the staging
    folder, before the card is written: it adds what ships with the final model (never with checkpoints), such as a
    pipeline's code and its ``custom_pipelines`` entry in ``config.json``, which the card's usage example follows."""
    output_dir = Path(trainer.args.output_dir)
    folder = folder or run.folder or OutputFolder(path=output_dir, is_main_process=trainer.is_world_process_zero())
    staging = folder.begin_final_save()
    prepare_final_save(trainer, run)  # a LoRA run saving merged weights: the adapters folded in first
    trainer.save_model(str(staging))  # every rank takes part (FSDP/DeepSpeed gather weights); rank 0 writes
    if not trainer.is_world_process_zero():
        return
    (staging / "training_args.bin").unlink(missing_ok=True)  # run_config.yaml says the same, readably
    if add_to_folder is not None:
        add_to_folder(staging)
    if predictions is not None:
        from nlpkit.predict import write_predictions

        written = write_predictions(staging / PREDICTIONS_FILE, predictions(trainer.model))
        logger.info("Wrote %d predictions to %s", written, output_dir / PREDICTIONS_FILE)
    atomic_write_json(staging / "all_results.json", results)
    atomic_write_json(staging / "trainer_state_log.json", trainer.state.log_history)
    atomic_write_text(staging / "run_config.yaml", yaml.safe_dump(_plain(run.explicit), sort_keys=True))
    plotted = plot_loss_curves(
        trainer.state.log_history,
        staging / "loss_curves.png",
        title=output_dir.name,
        metric_for_best_model=trainer.args.metric_for_best_model,
    )
    hyperparameters = card_hyperparameters(trainer.args, card.hyperparameters)
    model_name = trainer.args.hub_model_id or output_dir.name
    hub = run.hub
    repo_id = hub.repo_id if hub is not None else None
    config = json.loads((staging / "config.json").read_text()) if (staging / "config.json").is_file() else {}  # adapter
    text = render_model_card(
        card,
        model_name=model_name,
        results=results,
        hyperparameters=hyperparameters,
        repo_id=repo_id,
        remote_code="auto_map" in config,  # nlpkit's own architectures
        pipeline_files=custom_pipeline_files(config),
        log_history=trainer.state.log_history,
        labels=card_labels(config),
        progress=None if run.predict_only else TrainingProgress.of(trainer.state),
        # a LoRA run (nlpkit.lora tags it): an adapter folder, or weights merged by peft
        versions=framework_versions(
            peft=bool({"lora", "peft"} & set(card.tags)) or (staging / "adapter_config.json").exists()
        ),
        loss_curves_image="loss_curves.png" if plotted else None,
        best_checkpoint=_loaded_best_checkpoint(trainer),
    )
    write_model_card(staging, text)
    folder.commit_final_save(train_steps=trainer.state.global_step)  # the folder now holds the finished run
    logger.info("Saved the model, tokenizer, results, card and curves in %s", output_dir)
    if hub is not None:
        message = f"{type(trainer.model).__name__} trained with nlpkit for {trainer.state.global_step} steps"
        push_output_dir(output_dir, hub.repo_id, private=hub.private, endpoint=hub.endpoint, commit_message=message)
    folder.release()


def _loaded_best_checkpoint(trainer: Trainer) -> tuple[str, int] | None:
    """``(metric_for_best_model, step)`` of the best checkpoint the Trainer loaded at the end, if it did."""
    checkpoint = trainer.state.best_model_checkpoint
    if not (trainer.args.load_best_model_at_end and checkpoint and trainer.args.metric_for_best_model):
        return None
    step = Path(checkpoint).name.removeprefix("checkpoint-")
    return (trainer.args.metric_for_best_model, int(step)) if step.isdigit() else None


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """YAML-safe copy of the explicitly set keys (enums by value; secrets never reach here, see start_run)."""
    plain = {}
    for key, value in values.items():
        value = getattr(value, "value", value)
        plain[key] = value if isinstance(value, str | int | float | bool | list | type(None)) else str(value)
    return plain


def _setup_logging(training_args: transformers.TrainingArguments) -> None:
    level = logging.INFO if training_args.should_log else logging.WARNING
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
        level=level,
        force=True,
    )
    transformers.utils.logging.set_verbosity(logging.WARNING)  # the Trainer's progress bar and logs still show
    for client in ("httpx", "httpx2"):  # huggingface_hub's HTTP clients log every request at INFO
        logging.getLogger(client).setLevel(logging.WARNING)
    datasets.utils.logging.set_verbosity(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
