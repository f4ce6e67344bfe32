"""LoRA fine-tuning of pretrained models through `peft <https://huggingface.co/docs/peft>`_.

With ``use_peft``, the model a pretrained task module builds is wrapped by ``peft.get_peft_model`` (:func:`apply`):
its weights stay frozen, small low-rank adapters (``lora_r``, ``lora_alpha``, ``lora_dropout``) train in the
``lora_target_modules`` (peft's defaults for the architecture, e.g. BERT's ``query`` and ``value``; ``all-linear``
where peft has none), and a new task head (the classifier the checkpoint lacks) trains whole
(``lora_modules_to_save``); a language model's own head stays frozen. Recipes: ``bert_sentiment``, ``ner``, and
``text_generation`` / ``translation`` with ``model_name_or_path``. The Trainer saves and resumes
checkpoints of a ``PeftModel`` as of any model (its checkpoints hold the adapter and the head only).

The final save (:func:`prepare_final_save`, called by :func:`nlpkit.training.save_outputs`) is either

- merged weights (the default): the adapters folded into the base weights, a plain model folder that
  ``AutoModelFor...from_pretrained``, ``pipeline`` and ``nlpkit predict`` load like any other; or
- the adapter only (``save_adapter_only``): ``adapter_config.json`` (naming the base model in
  ``base_model_name_or_path``) and ``adapter_model.safetensors``, loaded with
  ``AutoPeftModelFor...from_pretrained(folder)`` or ``PeftModel.from_pretrained(base_model, folder)``.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpkit.config import ConfigError

if TYPE_CHECKING:
    from nlpkit.tasks import ModelSetup
    from nlpkit.training import Run

logger = logging.getLogger("nlpkit")

INSTALL_HINT = "pip install 'nlpkit[peft]'"
ALL_LINEAR = "all-linear"  # peft's shorthand: every linear layer but the output layer
# The head names peft itself trains whole for a task (PeftModelFor<Task>'s classifier_module_names).
PEFT_ADDS_HEADS = {"SEQ_CLS": ("classifier", "score"), "TOKEN_CLS": ("classifier", "score")}
AUTO_PEFT_CLASSES = {
    "SEQ_CLS": "AutoPeftModelForSequenceClassification",
    "TOKEN_CLS": "AutoPeftModelForTokenClassification",
    "CAUSAL_LM": "AutoPeftModelForCausalLM",
    "SEQ_2_SEQ_LM": "AutoPeftModelForSeq2SeqLM",
}


@dataclass
class PeftArguments:
    """LoRA settings of the recipes that fine-tune a pretrained model."""

    use_peft: bool = field(
        default=False,
        metadata={"help": "Fine-tune with LoRA adapters (peft): the pretrained weights stay frozen."},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank: the inner size of each adapter."})
    lora_alpha: int = field(
        default=32, metadata={"help": "LoRA scaling: the adapters' output is multiplied by lora_alpha / lora_r."}
    )
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the adapters' input."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "help": "Names (or name suffixes) of the layers that get adapters, or 'all-linear'. Default: peft's "
            "choice for the architecture (BERT: query value; GPT-2: c_attn), else all-linear."
        },
    )
    lora_modules_to_save: list[str] | None = field(
        default=None,
        metadata={
            "help": "Modules trained whole beside the adapters and saved with them. Default: the task head (the "
            "modules outside the pretrained encoder, e.g. classifier)."
        },
    )
    save_adapter_only: bool = field(
        default=False,
        metadata={
            "help": "Save the adapter (adapter_config.json + adapter_model.safetensors, a few MB, loaded on top of "
            "the base model with peft) instead of the merged weights (a plain model folder)."
        },
    )

    def __post_init__(self) -> None:
        if not self.use_peft:
            return
        if importlib.util.find_spec("peft") is None:
            raise ConfigError(f"use_peft: peft is not installed: {INSTALL_HINT}")
        if self.lora_r <= 0:
            raise ConfigError(f"lora_r: the LoRA rank must be a positive integer, got {self.lora_r}")
        if self.lora_alpha <= 0:
            raise ConfigError(f"lora_alpha: must be positive, got {self.lora_alpha}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        if self.lora_target_modules is not None and ALL_LINEAR in self.lora_target_modules:
            if len(self.lora_target_modules) > 1:
                raise ConfigError(f"lora_target_modules: '{ALL_LINEAR}' stands alone (it names every linear layer)")


def peft_arguments(run: Run) -> PeftArguments | None:
    """The run's LoRA settings; None when its recipe reads none."""
    return next((args for args in run.args if isinstance(args, PeftArguments)), None)


def check_from_scratch(run: Run) -> None:
    """ConfigError, before anything loads, when ``use_peft`` is set for a model trained from scratch (no pretrained
    weights to keep frozen)."""
    args = peft_arguments(run)
    if args is not None and args.use_peft:
        raise ConfigError(
            "use_peft: LoRA adapts a pretrained model; this run trains one from scratch (set model_name_or_path, or "
            "remove use_peft)"
        )


def head_modules(model: Any) -> list[str]:
    """The task head of a ``...For<Task>`` model: its top-level modules with weights outside the pretrained base
    model (``classifier`` for BERT; ``pre_classifier`` and ``classifier`` for DistilBERT)."""
    base = getattr(model, "base_model_prefix", "")
    return [
        name for name, module in model.named_children() if name != base and next(module.parameters(), None) is not None
    ]


def apply(run: Run, setup: ModelSetup, task_type: str, base_model_name_or_path: str) -> ModelSetup:
    """``setup`` with its model wrapped in LoRA adapters when the run sets ``use_peft`` (else unchanged).

    ``task_type``: peft's name of the task (a key of :data:`AUTO_PEFT_CLASSES`); ``base_model_name_or_path``: the
    pretrained model as the user named it (a Hub id, or a local folder, made absolute), written into
    ``adapter_config.json``. The model's layers that peft has no default for (Marian, say) get ``all-linear``."""
    args = peft_arguments(run)
    if args is None or not args.use_peft:
        return setup
    from peft import LoraConfig, get_peft_model
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    from transformers.pytorch_utils import Conv1D

    targets = args.lora_target_modules
    if targets is None and setup.model.config.model_type not in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        targets = [ALL_LINEAR]  # peft knows no default layers for this architecture (Marian, say)
    modules_to_save = args.lora_modules_to_save
    if modules_to_save is None:  # a new classification head trains whole; a language model's head is pretrained
        modules_to_save = head_modules(setup.model) if task_type in PEFT_ADDS_HEADS else []
    if task_type in PEFT_ADDS_HEADS:  # peft adds these names itself for the task: listed once
        modules_to_save = [name for name in modules_to_save if name not in PEFT_ADDS_HEADS[task_type]]
    heads = _within(*modules_to_save, *PEFT_ADDS_HEADS.get(task_type, ()))  # peft leaves out only an LM's output
    config = LoraConfig(
        task_type=task_type,
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=ALL_LINEAR if targets == [ALL_LINEAR] else targets,
        fan_in_fan_out=any(isinstance(module, Conv1D) for module in setup.model.modules()),  # GPT-2's layers
        modules_to_save=modules_to_save or None,
        exclude_modules=heads if targets == [ALL_LINEAR] else None,  # all-linear would pick the head's layers too
    )
    try:
        model = get_peft_model(setup.model, config)
    except (ValueError, TypeError) as error:  # target modules the model lacks, or inside a module trained whole
        raise ConfigError(f"lora_target_modules: {str(error).splitlines()[0]}") from None
    local = Path(base_model_name_or_path).expanduser()
    base = str(local.resolve()) if local.exists() else base_model_name_or_path
    model.peft_config["default"].base_model_name_or_path = base  # not the packaged copy's path: portable
    trainable, total = model.get_nb_trainable_parameters()
    saved = [name for name, _ in model.named_modules() if name.endswith(".modules_to_save.default")]
    logger.info(
        "LoRA (r=%d, alpha=%d) on %s; trained whole: %s; %d of %d parameters trainable (%.2f%%)",
        args.lora_r, args.lora_alpha, " ".join(sorted(model.peft_config["default"].target_modules)),
        " ".join(name.split(".")[-3] for name in saved) or "nothing", trainable, total, 100 * trainable / total,
    )  # fmt: skip
    setup.model = model
    setup.tags.extend(["lora", "peft"] if args.save_adapter_only else ["lora"])  # "peft": the folder needs peft
    setup.hyperparameters.update(
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_target_modules=" ".join(sorted(model.peft_config["default"].target_modules)),
    )
    if args.save_adapter_only:
        load = f"peft.{AUTO_PEFT_CLASSES[task_type]}.from_pretrained(folder)"
        labels = ""
        if task_type in PEFT_ADDS_HEADS:  # the base model's config has no labels: the new head's are given
            id2label = model.config.id2label
            load = load.replace("(folder)", f"(folder, num_labels={len(id2label)})")
            labels = f" (labels, in order: {', '.join(map(str, id2label.values()))})"
        setup.description = (
            f"A LoRA adapter (peft) for `{base}`, trained with [nlpkit](https://github.com/nlpkit/nlpkit): "
            f"`{load}` loads the base model with it{labels}."
        )
    return setup


def _within(*module_names: str) -> str | None:
    """peft's ``exclude_modules`` pattern for these modules and everything inside them."""
    if not module_names:
        return None
    return rf"({'|'.join(re.escape(name) for name in sorted(set(module_names)))})(\..*)?"


def prepare_final_save(trainer: Any, run: Run) -> None:
    """Before the final save of a LoRA run saving merged weights: fold the adapters into the base weights, so the
    Trainer saves (and the run's last predictions use) a plain transformers model. Nothing for other runs."""
    args = peft_arguments(run)
    if args is None or not args.use_peft or args.save_adapter_only:
        return
    from peft import PeftModel

    if isinstance(trainer.model, PeftModel):
        trainer.model = trainer.model.merge_and_unload()
        logger.info("Merged the LoRA adapters into the weights of %s", type(trainer.model).__name__)


def trainable_parameters(model: Any) -> int:
    """Parameters the optimizer updates (a LoRA model: its adapters and head)."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
