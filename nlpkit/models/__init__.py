"""Model families shipped by nlpkit, and their registration with transformers' Auto classes.

Each subpackage ``<model_type>/`` holds ``configuration_<model_type>.py`` and ``modeling_<model_type>.py``. Those two
files import only torch, transformers and each other, so ``save_pretrained`` can copy them next to the weights as
remote code. The subpackage's ``__init__.py`` (never shipped) re-exports their public names.

:data:`MODEL_FAMILIES` lists every family by name only (strings), so reading it imports nothing heavy: the folder
(which is also the config's ``model_type``), the configuration class, and for each model class the Auto classes it
registers with, the first being the one written into ``auto_map`` when the model is saved. :func:`register_models`
imports the families and registers them; ``import nlpkit`` calls it (except in the ``nlpkit`` command, which calls it
when a subcommand runs). To add a family: add its folder and one entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, eq=False)
class ModelFamily:
    """One model family, by name: nothing is imported until :meth:`resolve`."""

    model_type: str  # the subpackage's folder name and the config's `model_type` (the AutoConfig key)
    config_class: str
    model_classes: Mapping[str, tuple[str, ...]]  # model class -> Auto classes; the first one goes into auto_map

    @property
    def module(self) -> str:
        return f"{__name__}.{self.model_type}"

    def resolve(self) -> ResolvedFamily:
        """Import the family and look up its classes (transformers' Auto classes included)."""
        import transformers

        package = importlib.import_module(self.module)
        return ResolvedFamily(
            family=self,
            config_class=getattr(package, self.config_class),
            model_classes={
                getattr(package, name): tuple(getattr(transformers, auto_name) for auto_name in auto_names)
                for name, auto_names in self.model_classes.items()
            },
        )


@dataclass(frozen=True, eq=False)
class ResolvedFamily:
    """The classes of a :class:`ModelFamily`."""

    family: ModelFamily
    config_class: type
    model_classes: dict[type, tuple[type, ...]]  # model class -> Auto classes, in the order of the table

    def register(self) -> None:
        """Register the config and the model classes with their Auto classes (each registration is idempotent)."""
        import transformers

        transformers.AutoConfig.register(self.family.model_type, self.config_class, exist_ok=True)
        if getattr(self.config_class, "_auto_class", None) is None:
            self.config_class.register_for_auto_class()
        for model_class, auto_classes in self.model_classes.items():
            for auto_class in auto_classes:
                auto_class.register(self.config_class, model_class, exist_ok=True)
            if getattr(model_class, "_auto_class", None) is None:
                model_class.register_for_auto_class(auto_classes[0].__name__)


MODEL_FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily(
        model_type="lstm_classifier",
        config_class="LSTMClassifierConfig",
        model_classes={
            "LSTMClassifierForSequenceClassification": ("AutoModelForSequenceClassification",),
            "LSTMClassifierModel": ("AutoModel",),
        },
    ),
    ModelFamily(
        model_type="bilstm_crf",
        config_class="BiLSTMCRFConfig",
        model_classes={"BiLSTMCRFForTokenClassification": ("AutoModelForTokenClassification",)},
    ),
    ModelFamily(
        model_type="gpt",
        config_class="GPTConfig",
        model_classes={"GPTForCausalLM": ("AutoModelForCausalLM",), "GPTModel": ("AutoModel",)},
    ),
    ModelFamily(
        model_type="lstm_lm",
        config_class="LSTMLMConfig",
        model_classes={"LSTMForCausalLM": ("AutoModelForCausalLM",)},
    ),
    ModelFamily(
        model_type="rnn_seq2seq",
        config_class="RNNSeq2SeqConfig",
        model_classes={
            "RNNSeq2SeqForConditionalGeneration": ("AutoModelForSeq2SeqLM",),
            "RNNSeq2SeqModel": ("AutoModel",),
        },
    ),
    ModelFamily(
        model_type="word2vec",
        config_class="Word2VecConfig",
        model_classes={"Word2VecModel": ("AutoModel",)},
    ),
    ModelFamily(
        model_type="glove",
        config_class="GloVeConfig",
        model_classes={"GloVeModel": ("AutoModel",)},
    ),
    ModelFamily(
        model_type="sentence_vae",
        config_class="SentenceVAEConfig",
        # AutoModel only: generate() runs it as an encoder-decoder (sentence or latent code in, sentence out), which
        # neither AutoModelForCausalLM (a prompt to continue) nor a translation pipeline describes.
        model_classes={"SentenceVAEModel": ("AutoModel",)},
    ),
    ModelFamily(
        model_type="multitask",
        config_class="MultiTaskConfig",
        # AutoModel first (auto_map); the head Auto classes let a one-head model (head_model's export for a BiLSTM
        # encoder or a CRF head) pass pipelines' model-class check.
        model_classes={
            "MultiTaskModel": (
                "AutoModel",
                "AutoModelForSequenceClassification",
                "AutoModelForTokenClassification",
                "AutoModelForQuestionAnswering",
            )
        },
    ),
)


def model_family(model_type: str) -> ModelFamily:
    """The registry entry of ``model_type``."""
    for family in MODEL_FAMILIES:
        if family.model_type == model_type:
            return family
    known = ", ".join(family.model_type for family in MODEL_FAMILIES)
    raise KeyError(f"no nlpkit model family {model_type!r} (known: {known})")


_registered = False


def register_models() -> None:
    """Register every family of :data:`MODEL_FAMILIES` with transformers' Auto classes (idempotent)."""
    global _registered
    if _registered:
        return
    for family in MODEL_FAMILIES:
        family.resolve().register()
    _registered = True


__all__ = ["MODEL_FAMILIES", "ModelFamily", "ResolvedFamily", "model_family", "register_models"]
