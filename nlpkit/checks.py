"""Up-front checks of a run's values: every numeric and path option is checked before anything loads.

:func:`nlpkit.config.parse_args` calls :func:`check_values` with the merged values of every key (defaults < recipe
defaults < config file < command line) and where each came from, before it builds the argument dataclasses, so a
value out of range stops the run with one :class:`ConfigError` naming the key and its file (or the command line):

    recipes/configs/lstm_sentiment/mine.yaml: key 'learning_rate': must be greater than 0, got -0.001
    command line: argument --per_device_train_batch_size: must be at least 1, got 0

Without these, such values pass the parser and crash late (a negative learning rate in the optimizer, a batch size
of 0 in the data loader, an ``output_dir`` that is a file in ``Trainer.__init__``) or "succeed" (``num_train_epochs:
-2`` saved an untrained model). The checks run before the dataclasses' own ``__post_init__`` (transformers' among
them), so the message is nlpkit's and names where the value came from. What one dataclass can check by itself and
needs no source (``block_size >= 2``, ``max_words >= 1``, a word-vectors file that exists) stays in its
``__post_init__``; the parser names the file for those too. This module imports neither torch nor transformers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nlpkit.errors import ConfigError

# Where a key's value came from: a config file's path, or one of these.
COMMAND_LINE = "command line"
SOURCES_NOT_FILES = (COMMAND_LINE, "recipe defaults", "nlpkit defaults")

# A rule: (the key's value, all values) -> what the value must be (the message), or None when it is fine.
Rule = Callable[[Any, Mapping[str, Any]], "str | None"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)  # an enum (IntervalStrategy.STEPS) by its value ("steps")


def greater_than_zero(value: Any, values: Mapping[str, Any]) -> str | None:
    return None if value is None or (_is_number(value) and value > 0) else "must be greater than 0"


def finite_and_greater_than_zero(value: Any, values: Mapping[str, Any]) -> str | None:
    ok = _is_number(value) and math.isfinite(value) and value > 0
    return None if ok else "must be a finite number greater than 0"


def at_least(low: int) -> Rule:
    def rule(value: Any, values: Mapping[str, Any]) -> str | None:
        return None if value is None or (_is_number(value) and value >= low) else f"must be at least {low}"

    return rule


def fraction(value: Any, values: Mapping[str, Any]) -> str | None:
    return None if value is None or (_is_number(value) and 0 <= value < 1) else "must be at least 0 and below 1"


def seed(value: Any, values: Mapping[str, Any]) -> str | None:
    ok = value is None or (_is_number(value) and 0 <= value < 2**32)
    return None if ok else "must be at least 0 and below 2**32 (numpy's seeds)"


def max_steps(value: Any, values: Mapping[str, Any]) -> str | None:
    return None if value == -1 or (_is_number(value) and value > 0) else "must be -1 (no limit) or greater than 0"


def num_train_epochs(value: Any, values: Mapping[str, Any]) -> str | None:
    steps = values.get("max_steps")
    if _is_number(steps) and steps > 0:
        return None  # max_steps decides how long training runs
    return greater_than_zero(value, values) and "must be greater than 0 (or set max_steps)"


def steps_of(strategy_key: str) -> Rule:
    """``logging_steps`` / ``eval_steps`` / ``save_steps``: greater than 0 where their strategy is 'steps' (a value
    below 1 is a ratio of the training steps). An unset ``eval_steps`` takes ``logging_steps``."""

    def rule(value: Any, values: Mapping[str, Any]) -> str | None:
        if _plain(values.get(strategy_key)) != "steps" or value is None:
            return None
        return greater_than_zero(value, values) and f"must be greater than 0 when {strategy_key} is 'steps'"

    return rule


def each_greater_than_zero(value: Any, values: Mapping[str, Any]) -> str | None:
    if value is None or all(_is_number(item) and item > 0 for item in value):
        return None
    return "must all be greater than 0"


# Key -> rule, checked in this order (the first problem is reported). A key the run does not have is skipped.
RULES: dict[str, Rule] = {
    # transformers' TrainingArguments
    "learning_rate": finite_and_greater_than_zero,
    "per_device_train_batch_size": at_least(1),
    "per_device_eval_batch_size": at_least(1),
    "gradient_accumulation_steps": at_least(1),
    "eval_accumulation_steps": at_least(1),
    "max_steps": max_steps,
    "num_train_epochs": num_train_epochs,
    "warmup_steps": at_least(0),  # below 1: a ratio of the training steps
    "weight_decay": at_least(0),
    "max_grad_norm": at_least(0),  # 0: no clipping
    "adam_beta1": fraction,
    "adam_beta2": fraction,
    "adam_epsilon": at_least(0),
    "label_smoothing_factor": fraction,
    "logging_steps": steps_of("logging_strategy"),
    "eval_steps": steps_of("eval_strategy"),
    "save_steps": steps_of("save_strategy"),
    "save_total_limit": at_least(1),
    "seed": seed,
    "data_seed": seed,
    "dataloader_num_workers": at_least(0),
    "generation_max_length": at_least(1),  # Seq2SeqTrainingArguments
    "generation_num_beams": at_least(1),
    # nlpkit's run options (nlpkit.training.RunOptions)
    "max_train_minutes": greater_than_zero,
    "early_stopping_patience": at_least(1),
    "early_stopping_threshold": at_least(0),
    # data arguments (nlpkit.data.*; what their __post_init__ does not check)
    "max_seq_length": at_least(1),
    "max_source_length": at_least(1),
    "max_target_length": at_least(1),
    "preprocessing_num_workers": at_least(1),
    # task arguments: the samples and the saved generation config of the language models, the sample translations
    "sample_temperatures": each_greater_than_zero,
    "sample_max_new_tokens": at_least(1),
    "generation_max_new_tokens": at_least(1),
    "generation_temperature": greater_than_zero,
    "generation_top_k": at_least(0),
    "num_sample_translations": at_least(0),
}


def describe(key: str, sources: Mapping[str, str]) -> str:
    """Where ``key`` was set, as the start of an error line: ``FILE: key 'k'``, ``command line: argument --k``."""
    source = sources.get(key)
    if source == COMMAND_LINE:
        return f"{COMMAND_LINE}: argument --{key}"
    if source is None:
        return f"key '{key}' (its default)"
    return f"{source}: key '{key}'"


def check_values(values: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError for the first value of ``values`` (key -> value, every key of the run) that is out of range,
    naming the key and where it came from (``sources``: key -> config file path, ``"command line"``, ``"recipe
    defaults"`` or ``"nlpkit defaults"``; a key without a source kept its dataclass default); then check
    ``output_dir`` (see :func:`check_output_dir`)."""
    sources = sources or {}
    for key, rule in RULES.items():
        if key not in values:
            continue
        problem = rule(values[key], values)
        if problem:
            raise ConfigError(f"{describe(key, sources)}: {problem}, got {_plain(values[key])!r}")
    if values.get("output_dir") is not None:
        problem = check_output_dir(values["output_dir"])
        if problem:
            raise ConfigError(f"{describe('output_dir', sources)}: {problem}")


def check_output_dir(output_dir: str | os.PathLike) -> str | None:
    """What keeps the run from writing into ``output_dir`` (a file there, a file or an unwritable folder where it
    would be created), or None."""
    path = Path(output_dir).expanduser()
    if path.exists() and not path.is_dir():
        return f"{path} is a file, not a folder (choose a folder; it is created if missing)"
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            return f"cannot write in {path} (no permission)"
        return None
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {path}: {parent} is a file"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create {path}: no permission to write in {parent}"
    return None


__all__ = ["RULES", "check_output_dir", "check_values", "describe"]
