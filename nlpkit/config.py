"""Recipe configuration: dataclass defaults < recipe defaults < YAML file < command line, with strict keys.

Every recipe describes its arguments as dataclasses (its own, a data dataclass and ``TrainingArguments``) and calls
:func:`parse_args`. The YAML file named by ``--config`` (the recipe's quickstart file when none is given) may set
any field of those dataclasses; ``--key value`` on the command line overrides it. An unknown key, a value of the
wrong type or a missing required value raises :class:`ConfigError` naming the key and the file, before any model or
data is loaded; so does a value out of range (a negative learning rate, a batch size of 0, an ``output_dir`` that is a
file: see :mod:`nlpkit.checks`). The parsing itself is transformers' ``HfArgumentParser``; this module feeds it the
file's values (type-checked through the same argparse actions that check the command line) as defaults. A negative
number after a ``--key`` is that key's value (``--learning_rate -1e-3``), not an option.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import json
import logging
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
import yaml
from transformers import HfArgumentParser

from nlpkit.checks import COMMAND_LINE, check_values
from nlpkit.errors import ConfigError  # re-exported: `from nlpkit.config import ConfigError` keeps working

logger = logging.getLogger("nlpkit")
T = TypeVar("T")

# Defaults nlpkit sets on TrainingArguments for every recipe (a recipe's own defaults and the YAML file override them).
RUN_DEFAULTS: dict[str, Any] = {
    "report_to": "none",
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 2,
    "logging_steps": 25,
    "logging_first_step": True,
    "ddp_find_unused_parameters": False,
    "seed": 42,
    "dataloader_pin_memory": torch.cuda.is_available(),  # pinning only helps copies to a GPU
    # Without a GPU, TrainingArguments only joins the process group (gloo DDP ranks on CPU) when use_cpu is set.
    "use_cpu": not (torch.cuda.is_available() or torch.backends.mps.is_available()),
}


class _Parser(HfArgumentParser):
    """HfArgumentParser that raises ConfigError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"command line: {message}")


@dataclasses.dataclass
class ParsedConfig:
    """The parsed dataclasses, in the order they were given, plus where the values came from."""

    args: tuple[Any, ...]
    config_file: Path | None
    explicit: dict[str, Any]  # keys set by recipe defaults, the file or the command line (after type conversion)
    # Where each key of `explicit` was set last: the config file's path, "command line", "recipe defaults" or
    # "nlpkit defaults" (a key that is absent kept its dataclass default).
    sources: dict[str, str] = dataclasses.field(default_factory=dict)

    def of(self, kind: type[T]) -> T:
        """The parsed dataclass of `kind` (or a subclass): recipes may add argument groups without moving it."""
        return next(arg for arg in self.args if isinstance(arg, kind))


def read_yaml_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file that must hold a mapping of keys to values."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level, got {type(data).__name__}")
    return data


def parse_args(
    dataclass_types: Sequence[type],
    argv: Iterable[str] | None = None,
    *,
    default_config: str | Path | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> ParsedConfig:
    """Parse ``argv`` (default ``sys.argv[1:]``) into instances of ``dataclass_types``.

    ``--config FILE`` names the YAML file; without it ``default_config`` is used. ``defaults`` are the recipe's own
    defaults, applied over nlpkit's :data:`RUN_DEFAULTS` for the keys that exist in the dataclasses.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    config_file, cli_args = _pop_config_flag(argv)
    if config_file is None and default_config is not None:
        config_file = Path(default_config)

    # Fields such as `report_to: str | list[str]` parse as one string on the command line but take a list in a file
    # (read from the annotations: HfArgumentParser rewrites `field.type` in place).
    list_fields = {
        name for dtype in dataclass_types for name, hint in typing.get_type_hints(dtype).items() if "list" in str(hint)
    }
    parser = _Parser(dataclass_types)
    # One action per key; the `--no_<key>` switch HfArgumentParser adds for booleans that default to True is skipped.
    actions = {
        action.dest: action
        for action in parser._actions
        if action.option_strings and action.dest != "help" and not isinstance(action, argparse._StoreConstAction)
    }
    required = {dest for dest, action in actions.items() if action.required}
    if "optim" in actions:  # transformers' names or pytorch-optimizer's: nlpkit.optimizers checks it (RunOptions)
        actions["optim"].type, actions["optim"].choices = str, None

    explicit: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for source, values in (("nlpkit defaults", RUN_DEFAULTS), ("recipe defaults", defaults or {})):
        for key, value in values.items():
            if key in actions:
                explicit[key] = _convert(actions[key], value, f"{source}: key '{key}'")
                sources[key] = source
    if config_file is not None:
        for key, value in _read_v4_names(read_yaml_config(config_file), actions, str(config_file)).items():
            if key not in actions:
                raise ConfigError(f"{config_file}: unknown key '{key}'{_suggest(key, actions)}")
            if isinstance(value, list) and key in list_fields:
                explicit[key] = [_convert_scalar(actions[key], item, f"{config_file}: key '{key}'") for item in value]
            else:
                explicit[key] = _convert(actions[key], value, f"{config_file}: key '{key}'")
            sources[key] = str(config_file)
    cli_args = keep_negative_numbers(_rename_v4_options(cli_args, actions), parser)

    parser.set_defaults(**explicit)
    for action in actions.values():
        action.required = False
    namespace, unknown = parser.parse_known_args(cli_args)
    if unknown:
        flag = next((item for item in unknown if item.startswith("-")), unknown[0])
        name = flag.lstrip("-").split("=")[0]
        raise ConfigError(f"command line: unknown argument '{flag}'{_suggest(name, actions)}")
    for item in cli_args:
        if item.startswith("--"):
            key = item[2:].split("=")[0]
            if key in actions:
                explicit[key] = getattr(namespace, key)
                sources[key] = COMMAND_LINE

    where = f"{config_file}" if config_file else "the command line"
    missing = sorted(dest for dest in required if getattr(namespace, dest, None) is None)
    if missing:
        raise ConfigError(
            f"{where}: missing required key '{missing[0]}' (set it in the config file or pass --{missing[0]})"
        )
    check_values(vars(namespace), sources)  # before the dataclasses' own checks: nlpkit's message, the right source

    instances = []
    for dtype in dataclass_types:
        names = {field.name for field in dataclasses.fields(dtype) if field.init}
        values = {name: value for name, value in vars(namespace).items() if name in names}
        try:
            instances.append(dtype(**values))
        except (ValueError, TypeError) as error:
            raise ConfigError(f"{_source_of(str(error), names, sources, where)}: {error}") from None
    return ParsedConfig(args=tuple(instances), config_file=config_file, explicit=explicit, sources=sources)


def keep_negative_numbers(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """``--key -1e-3`` as ``--key=-1e-3``: argparse takes a word that starts with '-' for an option unless it looks
    like a plain negative number (``-1``, ``-0.5``), so ``-1e-3``, ``-5.`` or ``-inf`` would leave ``--key`` without
    its value. Any word that parses as a number after an option of one value is kept as that option's value."""
    options = parser._option_string_actions
    rewritten: list[str] = []
    index = 0
    while index < len(argv):
        item = argv[index]
        action = options.get(item) if item.startswith("--") else None
        if action is not None and action.nargs in (None, "?") and index + 1 < len(argv) and _is_number(argv[index + 1]):
            rewritten.append(f"{item}={argv[index + 1]}")
            index += 2
            continue
        rewritten.append(item)
        index += 1
    return rewritten


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _source_of(message: str, names: Iterable[str], sources: Mapping[str, str], fallback: str) -> str:
    """Where the value a dataclass refused came from: the source of the first key the message names that was set in
    the config file or on the command line (``fallback`` when it names none)."""
    for match in re.finditer(r"\w+", message):
        source = sources.get(match.group())
        if match.group() in names and source is not None and source not in ("recipe defaults", "nlpkit defaults"):
            return source
    return fallback


def _pop_config_flag(argv: list[str]) -> tuple[Path | None, list[str]]:
    rest: list[str] = []
    config_file = None
    index = 0
    while index < len(argv):
        item = argv[index]
        if item == "--config":
            if index + 1 >= len(argv):
                raise ConfigError("command line: --config needs a file path")
            config_file = Path(argv[index + 1])
            index += 2
            continue
        if item.startswith("--config="):
            config_file = Path(item.split("=", 1)[1])
        else:
            rest.append(item)
        index += 1
    return config_file, rest


def _suggest(key: str, actions: Mapping[str, Any]) -> str:
    """What to write instead of an unknown key: what replaced a removed transformers v4 name, or the closest key."""
    if key in V4_REMOVED:
        return f" ({V4_REMOVED[key]})"
    close = difflib.get_close_matches(key, list(actions), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


# ---------------------------------------------------------------------------------------------------------------------
# transformers v4 names of TrainingArguments that v5 removed
#
# A v4 name with an exact v5 equivalent is read as that key, with a one-line warning saying what to write instead; a
# v4 name without one is an unknown key whose message says what replaced it. Either way a v4 config never runs with a
# setting silently dropped. A recipe's own field of the same name (or a v5 key the recipe lacks) wins over the table.

_UNSET = object()  # a v4 value that asks for v5's default (`group_by_length: false`): nothing to set


def _when_true(v5_value: Any) -> Callable[[Any], Any]:
    """A v4 switch whose true value is one value of a v5 key (false: the v5 default)."""
    return lambda value: v5_value if _as_bool(value) else _UNSET


def _same(value: Any) -> Any:
    return value


# v4 name -> (v5 key, v4 value -> v5 value)
V4_RENAMED: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "evaluation_strategy": ("eval_strategy", _same),
    "per_gpu_train_batch_size": ("per_device_train_batch_size", _same),
    "per_gpu_eval_batch_size": ("per_device_eval_batch_size", _same),
    "push_to_hub_model_id": ("hub_model_id", _same),
    "warmup_ratio": ("warmup_steps", _same),  # v5: a warmup_steps below 1 is a ratio of the training steps
    "torchdynamo": ("torch_compile_backend", _same),
    "xpu_backend": ("ddp_backend", _same),
    "torch_dtype": ("dtype", _same),
    "no_cuda": ("use_cpu", lambda value: _as_bool(value)),
    "group_by_length": ("train_sampling_strategy", _when_true("group_by_length")),
    "adafactor": ("optim", _when_true("adafactor")),
    "include_inputs_for_metrics": ("include_for_metrics", _when_true(["inputs"])),
}

_GONE = "removed in transformers v5"
# v4 name -> what to do instead (no v5 key says the same)
V4_REMOVED: dict[str, str] = {
    "logging_dir": f"{_GONE}: tensorboard writes to output_dir/runs/; set TENSORBOARD_LOGGING_DIR to move it",
    "push_to_hub_organization": f"{_GONE}: set hub_model_id: ORGANIZATION/NAME",
    "push_to_hub_token": f"{_GONE}: set the HF_TOKEN environment variable or run `hf auth login`",
    "use_auth_token": f"{_GONE}: set the HF_TOKEN environment variable or run `hf auth login`",
    "use_mps_device": f"{_GONE}: the MPS device is used when there is one (use_cpu: true avoids it)",
    "fp16_backend": f"{_GONE}: mixed precision goes through accelerate (remove it)",
    "half_precision_backend": f"{_GONE}: mixed precision goes through accelerate (remove it)",
    "fp16_opt_level": f"{_GONE}: apex is no longer supported (remove it)",
    "dispatch_batches": f"{_GONE}: set accelerator_config: {{dispatch_batches: ...}}",
    "split_batches": f"{_GONE}: set accelerator_config: {{split_batches: ...}}",
    "save_safetensors": f"{_GONE}: weights are always saved as safetensors (remove it)",
    "sharded_ddp": f"{_GONE}: use fsdp and fsdp_config",
    "fsdp_min_num_params": f"{_GONE}: set min_num_params in fsdp_config",
    "fsdp_transformer_layer_cls_to_wrap": f"{_GONE}: set transformer_layer_cls_to_wrap in fsdp_config",
    "include_tokens_per_second": f"{_GONE} (remove it; include_num_input_tokens_seen counts the tokens)",
    **{
        name: f"{_GONE} (remove it)"
        for name in "jit_mode_eval use_ipex tpu_num_cores tpu_metrics_debug ray_scope use_legacy_prediction_loop "
        "mp_parameters past_index".split()
    },
}


def _v4_rename(key: str, value: Any, actions: Mapping[str, Any], where: str) -> tuple[str, Any] | None:
    """``(v5 key, v5 value)`` for a v4 name this recipe reads under its v5 key (warned about), or None: not one."""
    if key in actions or key not in V4_RENAMED or V4_RENAMED[key][0] not in actions:
        return None
    new_key, translate = V4_RENAMED[key]
    try:
        new_value = translate(value)
    except ValueError:
        raise ConfigError(f"{where}: key '{key}': expected true or false, got {value!r}") from None
    shown = "its default" if new_value is _UNSET else f"'{new_key}: {_yaml_value(new_value)}'"
    logger.warning("%s: '%s' is the transformers v4 name: read as %s (write that instead)", where, key, shown)
    return new_key, new_value


def _read_v4_names(values: Mapping[str, Any], actions: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A config file's keys with the v4 names read as their v5 keys; both names of one setting is an error."""
    renamed: dict[str, Any] = {}
    for key, value in values.items():
        rename = _v4_rename(key, value, actions, where)
        if rename is None:
            renamed[key] = value
            continue
        new_key, new_value = rename
        if new_key in values:
            raise ConfigError(f"{where}: key '{key}' is the transformers v4 name of '{new_key}': set only '{new_key}'")
        if new_value is not _UNSET:
            renamed[new_key] = new_value
    return renamed


def _rename_v4_options(argv: Sequence[str], actions: Mapping[str, Any]) -> list[str]:
    """``--group_by_length [true]`` as ``--train_sampling_strategy group_by_length`` (see :data:`V4_RENAMED`)."""
    rewritten: list[str] = []
    index = 0
    while index < len(argv):
        item = argv[index]
        key, has_equals, value = item[2:].partition("=") if item.startswith("--") else ("", False, "")
        if key in actions or key not in V4_RENAMED:
            rewritten.append(item)
            index += 1
            continue
        if not has_equals:
            # A value follows unless the next word is an option (a bare switch: `--no_cuda`).
            follows = index + 1 < len(argv) and not argv[index + 1].startswith("--")
            value = argv[index + 1] if follows else "true"
            index += 1 if follows else 0
        index += 1
        rename = _v4_rename(key, value, actions, COMMAND_LINE)
        if rename is None:  # the v5 key is not one of this recipe's: an unknown argument, as before
            rewritten.append(item)
            continue
        new_key, new_value = rename
        if new_value is not _UNSET:
            values = new_value if isinstance(new_value, list) else [new_value]
            rewritten.extend([f"--{new_key}", *(str(part) for part in values)])
    return rewritten


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "y", "1", "on"):
        return True
    if text in ("false", "no", "n", "0", "off"):
        return False
    raise ValueError(value)


def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _convert(action: argparse.Action, value: Any, where: str) -> Any:
    """Check and convert one file value with the argparse action that parses the same key on the command line."""
    if value is None:
        return None
    if action.nargs in ("+", "*"):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r} (write [{_yaml_value(value)}])")
        return [_convert_scalar(action, item, where) for item in value]
    if isinstance(value, list):
        raise ConfigError(f"{where}: expected a single value, got a list {value!r}")
    if isinstance(value, dict):
        if action.type in (None, str):
            return json.dumps(value)  # dict-valued TrainingArguments fields accept a JSON string
        raise ConfigError(f"{where}: expected a single value, got a mapping {value!r}")
    return _convert_scalar(action, value, where)


def _convert_scalar(action: argparse.Action, value: Any, where: str) -> Any:
    kind = action.type
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if kind is float and isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if kind is str and not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    try:
        converted = kind(value) if kind is not None else value
    except (ValueError, TypeError, argparse.ArgumentTypeError):
        expected = {int: "an integer", float: "a number"}.get(kind, "a valid value")
        if action.choices:
            expected = "one of " + ", ".join(str(getattr(choice, "value", choice)) for choice in action.choices)
        raise ConfigError(f"{where}: expected {expected}, got {value!r}") from None
    if action.choices and converted not in action.choices:
        options = ", ".join(str(getattr(choice, "value", choice)) for choice in action.choices)
        raise ConfigError(f"{where}: expected one of {options}, got {value!r}")
    return converted


# ---------------------------------------------------------------------------------------------------------------------
# Model settings declared once, in the model's config class


class ModelSettings:
    """Base of the argument dataclasses made by :func:`model_arguments`: a recipe's model settings, read from one or
    more config classes, and the config built from them."""

    # Filled in by model_arguments on each generated class.
    _configs: typing.ClassVar[dict[str, type]] = {}
    _defaults: typing.ClassVar[dict[str, dict[str, Any]]] = {}
    _owners: typing.ClassVar[dict[str, tuple[str, ...]]] = {}

    @property
    def model_type(self) -> str:
        """The chosen model (the ``model`` key where there is a choice, else the only one)."""
        return getattr(self, "model", None) or next(iter(self._configs))

    @property
    def config_class(self) -> type:
        return self._configs[self.model_type]

    def settings(self) -> dict[str, Any]:
        """The chosen config's keyword arguments: its defaults in the recipe, then every value given (None: unset)."""
        given = {
            name: getattr(self, name)
            for name, owners in self._owners.items()
            if self.model_type in owners and getattr(self, name) is not None
        }
        return {**self._defaults.get(self.model_type, {}), **given}

    def make_config(self, **from_data: Any) -> Any:
        """The chosen config from the settings plus what the data decides (vocabulary size, special ids, labels);
        a bad combination of settings is a ConfigError naming the model."""
        try:
            return self.config_class(**self.settings(), **from_data)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"{self.model_type} settings: {error}") from None

    def unused(self, explicit: Mapping[str, Any]) -> list[str]:
        """The keys set in the config file or on the command line that the chosen model does not read."""
        return sorted(key for key in explicit if key in self._owners and self.model_type not in self._owners[key])


def model_arguments(
    name: str,
    configs: Mapping[str, type],
    *,
    base: type | None = None,
    exclude: Iterable[str] = (),
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
    choice_help: str = "The architecture.",
) -> type:
    """A dataclass of the settings of the config classes in ``configs`` (model key -> config class), for a recipe's
    parser: the config's own fields (not PreTrainedConfig's) minus ``exclude`` (what the data decides), each with the
    config's type and the help text of its docstring's ``Args:`` entry. Every field defaults to None, which means
    the config's default, or the recipe's one in ``defaults[model]`` (so two models may share a key with different
    defaults). With more than one config a ``model`` field chooses among them. The values reach the model through
    :meth:`ModelSettings.make_config`, so each setting is declared once, in the config class. ``base``: a dataclass
    of further (non-config) arguments the generated class inherits, such as the tokenizer's."""
    from transformers import PreTrainedConfig

    defaults = {model: dict(values) for model, values in (defaults or {}).items()}
    base_fields = {item.name for item in dataclasses.fields(PreTrainedConfig)}
    skipped = set(exclude) | base_fields
    owners: dict[str, list[str]] = {}
    kinds: dict[str, Any] = {}
    helps: dict[str, str] = {}
    shown_defaults: dict[str, list[str]] = {}
    for model, config_class in configs.items():
        docs = _docstring_args(config_class)
        for item in dataclasses.fields(config_class):
            if item.name in skipped or item.name.startswith("_") or not item.init:
                continue
            owners.setdefault(item.name, []).append(model)
            kinds.setdefault(item.name, _field_type(config_class, item))
            helps.setdefault(item.name, docs.get(item.name, ""))
            default = defaults.get(model, {}).get(item.name, _field_default(item))
            shown_defaults.setdefault(item.name, []).append(
                f"{model} {default!r}" if len(configs) > 1 else repr(default)
            )
    for model, values in defaults.items():
        unknown = set(values) - {key for key, models in owners.items() if model in models}
        if unknown:
            raise TypeError(f"{name}: defaults for {model} name keys its config does not have: {sorted(unknown)}")

    fields: list[tuple[str, Any, Any]] = []
    if len(configs) > 1:
        first = next(iter(configs))
        choices = typing.Literal[tuple(configs)]  # type: ignore[valid-type]
        fields.append(("model", choices, dataclasses.field(default=first, metadata={"help": choice_help})))
    for key, models in owners.items():
        kind = _optional(kinds[key])
        if kind is None:
            continue
        used_by = "" if len(models) == len(configs) else f" ({', '.join(models)} only)"
        help_text = f"{helps[key]}{used_by} Config default: {', '.join(shown_defaults[key])}."
        fields.append((key, kind, dataclasses.field(default=None, metadata={"help": help_text})))
    namespace = {"_configs": dict(configs), "_defaults": defaults, "_owners": {k: tuple(v) for k, v in owners.items()}}
    bases = (base, ModelSettings) if base is not None else (ModelSettings,)
    return dataclasses.make_dataclass(name, fields, bases=bases, namespace=namespace)


def _field_default(item: dataclasses.Field) -> Any:
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return None


def _field_type(config_class: type, item: dataclasses.Field) -> Any:
    """The field's annotation as a type (a string one, under ``from __future__ import annotations``, is evaluated in
    the module that declared it; the base config's own annotations name torch, so get_type_hints cannot be used)."""
    if not isinstance(item.type, str):
        return item.type
    owner = next(klass for klass in config_class.__mro__ if item.name in vars(klass).get("__annotations__", {}))
    return eval(item.type, vars(sys.modules[owner.__module__]))  # noqa: S307  (the config's own annotation)


def _optional(kind: Any) -> Any:
    """``kind | None`` in a form HfArgumentParser parses (one type, or None for unset); None when no such form
    exists (a list, a mapping, or a union such as ``int | list[int]``: such fields are left to the config file of the
    model, not the command line)."""
    args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if set(args) <= {int, float}:
            return float | None if float in args else int | None  # e.g. `layerdrop: float | int`
        if len(args) != 1:
            return None
        kind = args[0]
    if typing.get_origin(kind) in (list, dict, tuple) or kind in (list, dict, tuple):
        return None
    return kind | None


_ARG_ENTRY = re.compile(r"^ {4}(\w+)(?: \([^)]*\))?:\s*(.*)$")


def _docstring_args(config_class: type) -> dict[str, str]:
    """Field name -> help text, read from the ``Args:`` section of the class docstring (transformers' style)."""
    helps: dict[str, str] = {}
    current = None
    in_args = False
    for line in (inspect.getdoc(config_class) or "").splitlines():
        if line.strip() == "Args:":
            in_args = True
            continue
        if not in_args:
            continue
        if line and not line.startswith(" "):
            break  # the next section
        match = _ARG_ENTRY.match(line)
        if match:
            current = match.group(1)
            helps[current] = match.group(2).strip()
        elif current and line.startswith(" " * 8) and line.strip():
            helps[current] = f"{helps[current]} {line.strip()}".strip()
    return helps
