"""A pretrained causal language model (GPT-2, Llama, Qwen...) fine-tuned on text with its own tokenizer, as
transformers' ``run_clm.py`` does: the text is encoded whole and cut into blocks of ``block_size`` tokens."""

from __future__ import annotations

import logging
from typing import Any

from transformers import AutoModelForCausalLM, AutoTokenizer

from nlpkit import lora
from nlpkit.config import ConfigError
from nlpkit.data.language_modeling import LanguageModelingDataArguments, LanguageModelingText
from nlpkit.pretrained import PretrainedArguments, from_pretrained, resolve_model_path
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.language_modeling import DEFAULTS as TASK_DEFAULTS
from nlpkit.training import Run

logger = logging.getLogger("nlpkit")

Arguments = PretrainedArguments

# Keys that only fine-tuning reads (the recipe refuses them without model_name_or_path).
FINE_TUNING_KEYS = ("freeze_embeddings",)

# TrainingArguments defaults for fine-tuning: run_clm.py's (transformers' optimizer and schedule, learning rate 5e-5,
# batches of 8, 3 epochs) instead of the from-scratch nanoGPT-like ones.
DEFAULTS: dict[str, Any] = {
    **TASK_DEFAULTS,
    "learning_rate": 5e-5,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0,
    "weight_decay": 0.0,
    "adam_beta2": 0.999,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "num_train_epochs": 3,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
}


def build(run: Run, text: LanguageModelingText) -> ModelSetup:
    """The pretrained model and its tokenizer; ``block_size`` must fit the model's context."""
    if run.predict_only:  # do_train false: the trained model (model_name_or_path or output_dir's run)
        from nlpkit.tasks.language_modeling import build_trained

        return build_trained(run)
    args, block_size = run.get(Arguments), run.get(LanguageModelingDataArguments).block_size
    if not args.model_name_or_path:
        raise ConfigError("model_name_or_path: the pretrained model to fine-tune is not set")
    path = resolve_model_path(args.model_name_or_path)
    tokenizer = from_pretrained(AutoTokenizer, path)
    model = from_pretrained(AutoModelForCausalLM, path)
    context = getattr(model.config, "max_position_embeddings", None)  # GPT-2's n_positions
    if context is not None and block_size > context:
        raise ConfigError(
            f"block_size: {block_size} tokens is more than {args.model_name_or_path} sees at once ({context})"
        )
    if tokenizer.pad_token is None:  # GPT-2 has none; generate() and batched pipelines need one
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = model.generation_config.pad_token_id = tokenizer.pad_token_id
    if args.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    model_type = model.config.model_type
    setup = ModelSetup(
        model,
        tokenizer,
        tags=["text-generation", model_type],
        base_model=args.model_name_or_path,
        hyperparameters={"model": model_type, "vocab_size": len(tokenizer)},
    )
    return lora.apply(run, setup, "CAUSAL_LM", args.model_name_or_path)  # with use_peft: LoRA adapters
