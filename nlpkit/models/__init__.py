"""Model families shipped by nlpkit.

Each subpackage ``<name>/`` holds ``configuration_<name>.py`` and ``modeling_<name>.py``. Those two files import
only torch, transformers and each other, so ``save_pretrained`` can copy them next to the weights as remote code.
The subpackage's ``__init__.py`` (never shipped) lists which Auto classes each model class belongs to::

    AUTO_CLASSES = {"AutoModelForSequenceClassification": MyModelForSequenceClassification, ...}

The first Auto class listed for a model class is the one written into ``auto_map`` when it is saved.
"""

from __future__ import annotations

import importlib
import pkgutil

_registered = False


def register_models() -> None:
    """Register every model family with transformers' Auto classes (idempotent)."""
    global _registered
    if _registered:
        return
    import transformers

    for module_info in pkgutil.iter_modules(__path__):
        if not module_info.ispkg:
            continue
        family = importlib.import_module(f"{__name__}.{module_info.name}")
        auto_classes = getattr(family, "AUTO_CLASSES", None)
        if not auto_classes:
            continue
        config_class = next(iter(auto_classes.values())).config_class
        transformers.AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        config_class.register_for_auto_class()
        for auto_name, model_class in auto_classes.items():
            getattr(transformers, auto_name).register(config_class, model_class, exist_ok=True)
            if getattr(model_class, "_auto_class", None) is None:
                model_class.register_for_auto_class(auto_name)
    _registered = True
