"""Language-modelling data: one long training text and one validation text, cut into blocks of token ids.

Text comes from a `.txt` file (read whole, newlines kept: a character-level model learns line breaks too), a folder
of `.txt` files (joined in name order), any other file :func:`~nlpkit.data.loading.load_local_file` reads, or a Hub
dataset (rows of ``text_column`` joined with newlines). Without validation data, the last
``validation_split_percentage`` of the training text is held out (the end, not random rows: neighbouring blocks of
one text would otherwise leak into both splits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase

from nlpkit.data.loading import (
    SPLITS,
    DataArguments,
    DataError,
    check_utf8,
    load_local_file,
    load_raw_data,
    local_files,
    require_columns,
    resolve_data_path,
)

logger = logging.getLogger(__name__)

_ENCODE_CHUNK_LINES = 2048  # lines per tokenizer call: bounded memory, batched in Rust


@dataclass
class LanguageModelingDataArguments(DataArguments):
    """Where the text comes from and how it is cut into training blocks."""

    text_column: str = field(default="text", metadata={"help": "Column holding the text (Hub datasets, csv/json)."})
    block_size: int = field(default=256, metadata={"help": "Tokens per training block (the model's context)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block_size < 2:
            raise ValueError(f"'block_size' must be at least 2, got {self.block_size}")


@dataclass
class LanguageModelingText:
    """The raw training, validation and test texts, and where each came from (for error messages and the card). A
    run with do_train false reads no training text (``train`` is None), and validation only with do_eval."""

    train: str | None
    validation: str | None
    sources: dict[str, str]
    test: str | None = None  # test_file: scored (perplexity), and each line a prompt for predictions

    @property
    def prompts(self) -> list[str]:
        """The prompts of ``predictions.jsonl``: each non-empty line of the test text, as written."""
        return [line for line in (self.test or "").splitlines() if line.strip()]


def read_text(path: str | Path, text_column: str = "text") -> str:
    """The whole text of a `.txt` file, of a folder of `.txt` files, or the ``text_column`` rows of another file."""
    resolved = resolve_data_path(path)
    if resolved.is_dir():
        files = sorted(resolved.rglob("*.txt"))
        if not files:
            raise DataError(f"{resolved}: no .txt files in this folder")
        return "\n".join(read_text(file) for file in files)
    if not resolved.is_file():
        raise DataError(f"{resolved}: file not found")
    if resolved.suffix.lower() == ".txt":
        check_utf8(resolved)
        text = resolved.read_text(encoding="utf-8")
    else:
        dataset = load_local_file(resolved, text_columns=[text_column])
        if text_column not in dataset.column_names:
            raise DataError(f"{resolved}: no column '{text_column}' (columns: {', '.join(dataset.column_names)})")
        text = "\n".join(dataset[text_column])
    if not text.strip():
        raise DataError(f"{resolved}: the file is empty")
    return text


def load_text(args: LanguageModelingDataArguments, *, splits: tuple[str, ...] = SPLITS) -> LanguageModelingText:
    """The training, validation and test texts named by ``args`` (validation carved from the end of train if absent);
    ``splits``: the texts to read (a run with do_train false reads no training text)."""
    sources: dict[str, str] = {}
    texts: dict[str, str] = {}
    if args.dataset_name:
        raw = load_raw_data(args, splits=tuple(split for split in splits if split != "test"))
        require_columns(raw, [args.text_column])
        texts = {split: "\n".join(dataset[args.text_column]) for split, dataset in raw.splits.items()}
        sources = dict(raw.sources)
    local = splits if not args.dataset_name else tuple(split for split in splits if split == "test")
    for split, path in local_files(args, local):
        texts[split] = read_text(path, args.text_column)
        sources[split] = str(path)
    if args.max_train_samples is not None and "train" in texts:  # rows are blocks: count characters generously
        texts["train"] = texts["train"][: args.max_train_samples * args.block_size * 8]
    for split, text in texts.items():
        if not text.strip():
            raise DataError(f"{sources[split]}: the {split} text is empty")
    if "train" not in texts:
        return LanguageModelingText(None, texts.get("validation"), sources, test=texts.get("test"))
    if "validation" not in texts:
        train = texts["train"]
        cut = len(train) - max(1, round(len(train) * args.validation_split_percentage / 100))
        # Cut at a line break near the end so validation starts on a line of its own.
        line_start = train.rfind("\n", 0, cut) + 1
        cut = line_start if line_start > len(train) // 2 else cut
        texts["train"], texts["validation"] = train[:cut], train[cut:]
        sources["validation"] = f"{sources['train']} (last {args.validation_split_percentage:g}%)"
        logger.info("No validation data given: held out the last %d of %d characters", len(train) - cut, len(train))
    return LanguageModelingText(
        train=texts["train"], validation=texts["validation"], sources=sources, test=texts.get("test")
    )


def encode_text(text: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids of the whole ``text`` (encoded in chunks of lines; the concatenation decodes back to ``text``)."""
    lines = text.splitlines(keepends=True)
    ids: list[int] = []
    for start in range(0, len(lines), _ENCODE_CHUNK_LINES):
        chunk = "".join(lines[start : start + _ENCODE_CHUNK_LINES])
        ids.extend(tokenizer(chunk, add_special_tokens=False)["input_ids"])
    return ids


def group_into_blocks(ids: list[int], block_size: int) -> datasets.Dataset:
    """Consecutive non-overlapping blocks of ``block_size`` tokens (the tail that does not fill one is dropped);
    the labels are the inputs (the model shifts them)."""
    blocks = [ids[start : start + block_size] for start in range(0, len(ids) - block_size + 1, block_size)]
    return datasets.Dataset.from_dict({"input_ids": blocks, "labels": blocks})


@dataclass
class LanguageModelingBlocks:
    """Blocks of token ids ready for the Trainer, plus the token/character counts that convert loss to bits/char
    (``validation`` and ``test`` are None when the text was not read)."""

    train: datasets.Dataset | None
    validation: datasets.Dataset | None
    validation_tokens_per_character: float
    test: datasets.Dataset | None = None
    test_tokens_per_character: float = 1.0


def build_blocks(
    text: LanguageModelingText, tokenizer: PreTrainedTokenizerBase, args: LanguageModelingDataArguments
) -> LanguageModelingBlocks:
    """Encode the texts and cut them into blocks; raise DataError when a training or validation text is shorter
    than one block. A test text that short (a file of prompts) is scored as one shorter block."""
    splits: dict[str, datasets.Dataset | None] = {"train": None, "validation": None, "test": None}
    ratios = {"validation": 1.0, "test": 1.0}
    for split, raw in (("train", text.train), ("validation", text.validation), ("test", text.test)):
        if raw is None:
            continue
        ids = encode_text(raw, tokenizer)
        if split == "test" and 2 <= len(ids) < args.block_size:
            blocks = group_into_blocks(ids, len(ids))
        elif len(ids) < args.block_size:
            raise DataError(
                f"{text.sources[split]}: the {split} text has {len(ids)} tokens, fewer than one block "
                f"(block_size {args.block_size}): give more text or a smaller block_size"
            )
        else:
            blocks = group_into_blocks(ids, args.block_size)
        limit = args.max_train_samples if split == "train" else args.max_eval_samples
        if limit is not None and len(blocks) > limit:
            blocks = blocks.select(range(limit))
        splits[split] = blocks
        if split in ratios:
            ratios[split] = len(ids) / len(raw)
    counts = ", ".join(f"{len(blocks)} {split}" for split, blocks in splits.items() if blocks is not None)
    logger.info("Blocks of %d tokens: %s", args.block_size, counts)
    return LanguageModelingBlocks(
        splits["train"], splits["validation"], ratios["validation"], splits["test"], ratios["test"]
    )
