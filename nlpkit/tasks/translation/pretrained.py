"""Translation by a pretrained sequence-to-sequence model (Marian/opus-mt, T5, BART, mBART, M2M100, NLLB...) fine-tuned
with its own tokenizer, as transformers' ``run_translation.py`` does.

T5-style models read the task from the input: ``source_prefix`` ("translate English to German: ") goes before every
source sentence, in training, evaluation and the samples, and is saved as ``config.prefix`` so the translation
pipeline prepends it too. Multilingual tokenizers (mBART, M2M100, NLLB: those with ``src_lang``/``tgt_lang``) are set
to the pair's language codes, and the generation starts the target language as the model expects: its code forced
after the decoder start (M2M100, NLLB, mBART-50), or as the decoder start (mBART).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from nlpkit import lora
from nlpkit.config import ConfigError
from nlpkit.data.loading import RawData
from nlpkit.pipelines.translation_pipeline import language_code_id
from nlpkit.pretrained import PretrainedArguments, from_pretrained, resolve_model_path
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.translation import DEFAULTS as TASK_DEFAULTS
from nlpkit.tasks.translation import Arguments as TaskArguments
from nlpkit.training import Run

logger = logging.getLogger("nlpkit")


@dataclass
class Arguments(PretrainedArguments):
    """The pretrained model to fine-tune, and the language codes of a multilingual tokenizer."""

    source_lang_code: str | None = field(
        default=None,
        metadata={
            "help": "Multilingual tokenizers (mBART, M2M100, NLLB): the tokenizer's code of the source language "
            "(en_XX, en, eng_Latn). Default: source_lang."
        },
    )
    target_lang_code: str | None = field(
        default=None, metadata={"help": "Multilingual tokenizers: the target language's code. Default: target_lang."}
    )


# Keys that only fine-tuning reads (the recipe refuses them without model_name_or_path).
FINE_TUNING_KEYS = ("freeze_embeddings", "source_lang_code", "target_lang_code", "source_prefix")

# Seq2SeqTrainingArguments defaults for fine-tuning (run_translation.py's learning rate; batches of a GPU's size).
DEFAULTS: dict[str, Any] = {
    **TASK_DEFAULTS,
    "learning_rate": 5e-5,
    "num_train_epochs": 3,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 32,
}


def build(run: Run, data: RawData) -> ModelSetup:
    """The pretrained model and its tokenizer, set up for the data's language pair and ``source_prefix``."""
    if run.predict_only:  # do_train false: the trained model (model_name_or_path or output_dir's run)
        from nlpkit.tasks.translation import build_trained

        return build_trained(run)
    args, task_args = run.get(Arguments), run.get(TaskArguments)
    if not args.model_name_or_path:
        raise ConfigError("model_name_or_path: the pretrained model to fine-tune is not set")
    path = resolve_model_path(args.model_name_or_path)
    tokenizer = from_pretrained(AutoTokenizer, path)
    model = from_pretrained(AutoModelForSeq2SeqLM, path)
    if args.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    codes = set_language_codes(model, tokenizer, args, task_args)
    set_prefix(model, task_args.source_prefix, args.model_name_or_path)
    if model.config.decoder_start_token_id is None:
        raise ConfigError(f"model_name_or_path: {args.model_name_or_path} has no decoder_start_token_id in its config")
    model_type = model.config.model_type
    hyperparameters: dict[str, Any] = {"model": model_type}
    if task_args.source_prefix:
        hyperparameters["source_prefix"] = task_args.source_prefix
    if codes:
        hyperparameters["language_codes"] = "{} -> {}".format(*codes)
    setup = ModelSetup(
        model,
        tokenizer,
        tags=["translation", model_type, f"{task_args.source_lang}-{task_args.target_lang}"],
        base_model=args.model_name_or_path,
        hyperparameters=hyperparameters,
    )
    return lora.apply(run, setup, "SEQ_2_SEQ_LM", args.model_name_or_path)  # with use_peft: LoRA adapters


def set_prefix(model: Any, prefix: str | None, name: str) -> None:
    """Save what the sources were prefixed with as ``config.prefix`` (None: nothing), the prefix the pipeline adds."""
    previous = getattr(model.config, "prefix", None)
    if previous and previous != prefix:
        logger.warning("%s's config.prefix %r is replaced by source_prefix %r", name, previous, prefix)
    if not prefix and model.config.model_type == "t5":
        logger.warning("%s is a T5 model: set source_prefix to its task ('translate English to German: ')", name)
    model.config.prefix = prefix or None


def set_language_codes(model: Any, tokenizer: Any, args: Arguments, task_args: TaskArguments) -> tuple[str, str] | None:
    """Set a multilingual tokenizer's ``src_lang``/``tgt_lang`` and where generation puts the target language's
    code; returns the codes (None for a tokenizer without language codes)."""
    if not hasattr(tokenizer, "src_lang"):
        given = "source_lang_code" if args.source_lang_code else "target_lang_code" if args.target_lang_code else None
        if given:
            raise ConfigError(f"{given}: {args.model_name_or_path}'s tokenizer has no language codes (src_lang)")
        return None
    codes = (args.source_lang_code or task_args.source_lang, args.target_lang_code or task_args.target_lang)
    for key, code in zip(("source_lang_code", "target_lang_code"), codes):
        if language_code_id(tokenizer, code) is None:
            raise ConfigError(
                f"{key}: '{code}' is not a language code of {args.model_name_or_path}'s tokenizer "
                f"(it uses codes such as '{tokenizer.src_lang}'): set {key}"
            )
    tokenizer.src_lang, tokenizer.tgt_lang = codes
    target_id = language_code_id(tokenizer, codes[1])
    labels = tokenizer(text_target="a")["input_ids"]
    if labels[0] == target_id:  # M2M100, NLLB, mBART-50: targets start with their code, which generate() must force
        model.generation_config.forced_bos_token_id = target_id
    elif model.config.decoder_start_token_id is None:  # mBART: targets end with their code, the decoder starts from it
        model.config.decoder_start_token_id = model.generation_config.decoder_start_token_id = target_id
    logger.info("Language codes: %s -> %s", *codes)
    return codes
