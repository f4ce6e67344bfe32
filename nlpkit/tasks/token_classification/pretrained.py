"""NER by a pretrained BERT-family encoder with a new token-classification head.

Words are split into sub-tokens; a word's tag goes on its first sub-token and the others are ignored (``-100``), or,
with ``label_all_tokens``, labelled too (``B-X`` becoming ``I-X``) in training. Predictions are read back at each
word's first sub-token.
"""

from __future__ import annotations

import logging
from typing import Any

from datasets import DatasetDict
from transformers import (
    AutoConfig,
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
    PreTrainedTokenizerBase,
)

from nlpkit import lora
from nlpkit.config import ConfigError
from nlpkit.data.loading import encode_splits
from nlpkit.data.token_classification import TokenClassificationData, TokenClassificationDataArguments
from nlpkit.pretrained import (
    PretrainedArguments,
    from_pretrained,
    load_pretrained_with_labels,
    resolve_model_path,
)
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.token_classification import drop_length_columns
from nlpkit.training import Run

logger = logging.getLogger("nlpkit")

Arguments = PretrainedArguments

# Byte-level BPE tokenizers need a space before each pre-split word to encode it as they encode running text.
PREFIX_SPACE_MODEL_TYPES = {"roberta", "deberta", "gpt2", "bloom", "longformer"}


def build(run: Run, data: TokenClassificationData) -> ModelSetup:
    if run.predict_only:  # do_train false: the fine-tuned model_name_or_path (or output_dir's run)
        from nlpkit.tasks.token_classification import build_trained

        return build_trained(run)
    args = run.get(Arguments)
    model_type = from_pretrained(AutoConfig, resolve_model_path(args.model_name_or_path)).model_type
    prefix_space = {"add_prefix_space": True} if model_type in PREFIX_SPACE_MODEL_TYPES else {}
    model, tokenizer = load_pretrained_with_labels(
        AutoModelForTokenClassification, args, data.label_names, **prefix_space
    )
    if not tokenizer.is_fast:
        raise ConfigError(f"{args.model_name_or_path}: a fast tokenizer is needed to align word labels")
    setup = ModelSetup(
        model,
        tokenizer,
        tags=["ner", "bert"],
        base_model=args.model_name_or_path,
        collator=DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=run.training_args.pad_to_multiple_of),
        encode=tokenize_subwords,
    )
    return lora.apply(run, setup, "TOKEN_CLS", args.model_name_or_path)  # with use_peft: LoRA adapters


def begin_to_inside(label_names: list[str]) -> list[int]:
    """For each tag id, the id a later sub-token of the same word gets: ``I-X`` for ``B-X``, itself otherwise."""
    label_ids = {name: index for index, name in enumerate(label_names)}
    return [
        label_ids.get("I-" + name[2:], index) if name.startswith("B-") else index
        for index, name in enumerate(label_names)
    ]


def align_labels(
    word_ids: list[int | None], word_tags: list[int], label_all_tokens: bool = False, inside: list[int] | None = None
) -> list[int]:
    """One label per sub-token: the word's tag on its first sub-token; -100 on special tokens, and on a word's other
    sub-tokens unless ``label_all_tokens`` (then they get ``inside[tag]``: ``I-X`` for a ``B-X`` word)."""
    labels = []
    previous = None
    for word_id in word_ids:
        if word_id is None:
            labels.append(-100)
        elif word_id != previous:
            labels.append(word_tags[word_id])
        else:
            labels.append(inside[word_tags[word_id]] if label_all_tokens else -100)
        previous = word_id
    return labels


def tokenize_subwords(
    data: TokenClassificationData, tokenizer: PreTrainedTokenizerBase, args: TokenClassificationDataArguments
) -> DatasetDict:
    """Sub-word inputs and aligned labels of every split (``label_all_tokens`` applies to training only)."""
    inside = begin_to_inside(data.label_names)
    invisible = _words_without_tokens(data, tokenizer)
    if invisible:
        logger.info("%d distinct words have no sub-token (e.g. %r): they are fed as %s", len(invisible),
                    sorted(invisible)[:3], tokenizer.unk_token)  # fmt: skip

    def tokenize(batch: dict, label_all_tokens: bool) -> dict:
        words = [[tokenizer.unk_token if word in invisible else word for word in row] for row in batch["tokens"]]
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=args.max_seq_length)
        encoded["labels"] = [
            align_labels(encoded.word_ids(row), tags, label_all_tokens, inside)
            for row, tags in enumerate(batch["ner_tags"])
        ]
        encoded["num_words"] = [len(row) for row in words]
        encoded["num_kept"] = [len({i for i in encoded.word_ids(row) if i is not None}) for row in range(len(words))]
        return encoded

    tokenized = encode_splits(
        data.raw.splits,
        tokenize,
        num_proc=args.preprocessing_num_workers,
        split_kwargs=lambda split: {"label_all_tokens": args.label_all_tokens and split == "train"},
    )
    return DatasetDict(
        {split: drop_length_columns(split, rows, args.max_seq_length) for split, rows in tokenized.items()}
    )


def _words_without_tokens(data: TokenClassificationData, tokenizer: Any) -> set[str]:
    """Words the tokenizer turns into nothing (control or format characters): they would lose their tag."""
    words = sorted({word for dataset in data.raw.splits.values() for row in dataset["tokens"] for word in row})
    ids = tokenizer(words, add_special_tokens=False)["input_ids"]
    return {word for word, word_ids in zip(words, ids) if not word_ids}
