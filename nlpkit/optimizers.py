"""``optim``: transformers' optimizer names or any of pytorch-optimizer's (``optim: lamb``, ``--optim novograd``).

transformers' ``TrainingArguments.optim`` only takes its own names (``OptimizerNames``: adamw_torch, adagrad, sgd, ...)
and its ``__post_init__`` raises on any other. nlpkit widens the key in two small hooks and resolves the rest here:

- :mod:`nlpkit.config` parses ``optim`` as a plain string (no argparse choices), so the file and the command line
  accept any name and this module gives the one error message (:func:`check_optim`, with a "did you mean").
- ``nlpkit.training.RunOptions.__post_init__`` checks the name and, for a pytorch-optimizer name, lets transformers
  validate the other arguments with a placeholder and then puts the user's name back: ``args.optim`` stays ``"lamb"``
  (so ``run_config.yaml``, the card and the logs say what runs, and a Trainer built without nlpkit's hook fails loudly
  with transformers' "unsupported optimizer" instead of silently training AdamW).
- ``nlpkit.training.train_and_save`` gives the Trainer ``optimizer_cls_and_kwargs=`` :func:`trainer_optimizer`
  (None for transformers' names, which the Trainer resolves as before). The Trainer's ``create_optimizer`` still
  builds its parameter groups (no weight decay on biases and LayerNorm weights) and calls ``cls(groups, **kwargs)``.

The keyword arguments are the Trainer's own: ``lr`` (learning_rate), ``weight_decay``, ``betas`` (adam_beta1,
adam_beta2) and ``eps`` (adam_epsilon) where the class takes them, then ``optim_args`` ("k=v,k=v", values read as
Python literals), which override them. transformers' names win where both libraries have one (sgd, adafactor, ...).
pytorch-optimizer is optional: ``pip install "nlpkit[optimizers]"``.
"""

from __future__ import annotations

import ast
import difflib
import inspect
from typing import Any

from nlpkit.errors import ConfigError

INSTALL = 'pip install "nlpkit[optimizers]"'
_EXAMPLES = ("lamb", "novograd", "lars", "adan", "lion", "sophiah")  # shown when the list is too long to print


def transformers_names() -> list[str]:
    """transformers' own optimizer names (``OptimizerNames``), in its order."""
    from transformers.training_args import OptimizerNames

    return [name.value for name in OptimizerNames]


def pytorch_optimizer_names() -> list[str] | None:
    """pytorch-optimizer's optimizer names that transformers has not (None when it is not installed)."""
    try:
        from pytorch_optimizer import get_supported_optimizers
    except ImportError:
        return None
    own = set(transformers_names())
    return sorted(name for name in get_supported_optimizers() if name not in own)


def is_pytorch_optimizer(name: Any) -> bool:
    """Whether ``optim`` names a pytorch-optimizer optimizer (and not one of transformers')."""
    name = getattr(name, "value", name)
    return name not in transformers_names() and name in (pytorch_optimizer_names() or ())


def check_optim(name: Any, optim_args: str | None = None) -> None:
    """A one-line ConfigError for an ``optim`` that neither library has (with the allowed names and a "did you
    mean"), a pytorch-optimizer name without pytorch-optimizer installed, or ``optim_args`` the class does not take."""
    name = getattr(name, "value", name)
    own = transformers_names()
    if name in own:
        return
    extra = pytorch_optimizer_names()
    if extra is not None and name in extra:
        optimizer_class(name, optim_args)  # checks optim_args
        return
    close = difflib.get_close_matches(str(name), own + (extra or list(_EXAMPLES)), n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    if extra is None:
        raise ConfigError(
            f"optim: unknown optimizer {name!r}{hint}: transformers has {', '.join(own)}; pytorch-optimizer's "
            f"optimizers ({', '.join(_EXAMPLES[:2])}, ...) need pytorch-optimizer: {INSTALL}"
        )
    examples = ", ".join(example for example in _EXAMPLES if example in extra)
    raise ConfigError(
        f"optim: unknown optimizer {name!r}{hint}: expected one of transformers' {', '.join(own)}, or any "
        f"pytorch-optimizer name such as {examples}, ... ({len(extra)} in all, see "
        "pytorch_optimizer.get_supported_optimizers())"
    )


def optimizer_class(name: str, optim_args: str | None = None) -> type:
    """pytorch-optimizer's class for ``name``; a ConfigError when ``optim_args`` names a key the class does not take."""
    from pytorch_optimizer import load_optimizer

    cls = load_optimizer(name)
    accepted = _named_parameters(cls)
    unknown = [key for key in parse_optim_args(optim_args) if key not in accepted]
    if unknown:
        raise ConfigError(
            f"optim_args: {cls.__name__} takes no {unknown[0]!r} (it takes {', '.join(sorted(accepted))})"
        )
    return cls


def parse_optim_args(optim_args: str | None) -> dict[str, Any]:
    """transformers' ``optim_args`` string ("k=v,k=v") as keyword arguments, each value a Python literal where it
    reads as one (``1e-2``, ``True``, ``none``/``true``/``false`` too), else the string."""
    kwargs: dict[str, Any] = {}
    for item in (optim_args or "").replace(" ", "").split(","):
        if not item:
            continue
        key, separator, text = item.partition("=")
        if not separator or not key:
            raise ConfigError(f"optim_args: expected 'key=value,key=value', got {optim_args!r}")
        kwargs[key] = _literal(text)
    return kwargs


def trainer_optimizer(args: Any) -> tuple[type, dict[str, Any]] | None:
    """The ``optimizer_cls_and_kwargs`` for a Trainer with these training arguments: pytorch-optimizer's class and
    its keyword arguments, or None for transformers' own names (the Trainer resolves those itself)."""
    if not is_pytorch_optimizer(args.optim):
        return None
    cls = optimizer_class(args.optim, args.optim_args)
    accepted = _named_parameters(cls)
    kwargs: dict[str, Any] = {"lr": args.learning_rate}
    if "weight_decay" in accepted:  # the default of the Trainer's groups; biases and norms get 0 in theirs
        kwargs["weight_decay"] = args.weight_decay
    betas = accepted.get("betas")
    if betas is not None and isinstance(betas.default, tuple) and len(betas.default) == 2:
        kwargs["betas"] = (args.adam_beta1, args.adam_beta2)
    if "eps" in accepted:
        kwargs["eps"] = args.adam_epsilon
    kwargs.update(parse_optim_args(args.optim_args))
    return cls, kwargs


def optimizer_settings(args: Any) -> dict[str, Any]:
    """What the card shows about the optimizer: its name as the user gave it, and ``optim_args`` when set."""
    settings: dict[str, Any] = {"optim": getattr(args.optim, "value", args.optim)}
    if args.optim_args:
        settings["optim_args"] = args.optim_args
    return settings


def _named_parameters(cls: type) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(cls).parameters
    return {
        name: parameter
        for name, parameter in parameters.items()
        if name != "params" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    }


def _literal(text: str) -> Any:
    words = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in words:
        return words[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
