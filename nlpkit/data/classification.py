"""Sequence-classification data: text (and optional text pair) columns, a label column, label names from the data."""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import ClassLabel, DatasetDict
from transformers import PreTrainedTokenizerBase

from nlpkit.data.loading import (
    DataArguments,
    DataError,
    RawData,
    limit_samples,
    load_raw_data,
    require_columns,
    split_validation,
)


@dataclass
class ClassificationDataArguments(DataArguments):
    """Data arguments of the text-classification recipes."""

    text_column: str = field(default="text", metadata={"help": "Column with the text to classify."})
    text_pair_column: str | None = field(default=None, metadata={"help": "Optional second text column (pairs)."})
    label_column: str = field(default="label", metadata={"help": "Column with the label (string or integer)."})
    class_names: list[str] | None = field(
        default=None,
        metadata={"help": "Label names; integer labels index into it. Default: ClassLabel names or sorted values."},
    )
    max_seq_length: int = field(default=128, metadata={"help": "Truncate tokenized texts to this many tokens."})


@dataclass
class ClassificationData:
    """Tokenizer-independent, validated data: splits with integer labels 0..n-1 and their names."""

    raw: RawData
    label_names: list[str]

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.label_names)}


def load_classification_data(args: ClassificationDataArguments, *, seed: int = 42) -> ClassificationData:
    """Load, validate and label-encode the data; every problem is a DataError naming the file and row."""
    text_columns = [args.text_column] + ([args.text_pair_column] if args.text_pair_column else [])
    raw = load_raw_data(args, seed=seed, text_columns=text_columns)
    require_columns(raw, [*text_columns, args.label_column])
    for split in raw.splits:
        for column in text_columns:
            _check_texts(raw, split, column)
    label_names = _label_names(raw, args)
    integers_index_names = bool(args.class_names) and raw.splits["train"].features[args.label_column].dtype.startswith(
        "int"
    )
    _encode_labels(raw, args.label_column, label_names, integers_index_names=integers_index_names)
    split_validation(raw, args, seed=seed)
    limit_samples(raw, args)
    return ClassificationData(raw=raw, label_names=label_names)


def tokenize_classification(
    data: ClassificationData,
    tokenizer: PreTrainedTokenizerBase,
    args: ClassificationDataArguments,
) -> DatasetDict:
    """Batched tokenization without padding (the collator pads each batch); keeps ``labels``."""
    pair = args.text_pair_column

    def tokenize(batch: dict) -> dict:
        encoded = tokenizer(
            batch[args.text_column],
            batch[pair] if pair else None,
            truncation=True,
            max_length=args.max_seq_length,
        )
        encoded["labels"] = batch[args.label_column]
        return encoded

    tokenized = {}
    for split, dataset in data.raw.splits.items():
        tokenized[split] = dataset.map(
            tokenize,
            batched=True,
            num_proc=args.preprocessing_num_workers,
            remove_columns=dataset.column_names,
            desc=f"Tokenizing {split}",
        )
    return DatasetDict(tokenized)


def _check_texts(raw: RawData, split: str, column: str) -> None:
    for index, text in enumerate(raw.splits[split][column]):
        if text is None or (isinstance(text, str) and not text.strip()):
            raise DataError(f"{raw.locate(split, index)}: empty text in column '{column}'")
        if not isinstance(text, str):
            raise DataError(f"{raw.locate(split, index)}: column '{column}' holds {type(text).__name__}, not text")


def _label_names(raw: RawData, args: ClassificationDataArguments) -> list[str]:
    feature = raw.splits["train"].features[args.label_column]
    if isinstance(feature, ClassLabel):
        names = args.class_names or feature.names
        if len(names) != feature.num_classes:
            raise DataError(
                f"class_names has {len(names)} names but {raw.sources['train']} has {feature.num_classes} classes"
            )
        return list(names)
    if args.class_names:
        return list(args.class_names)
    values = set()
    for index, value in enumerate(raw.splits["train"][args.label_column]):
        if value is None or value == "":
            raise DataError(f"{raw.locate('train', index)}: empty label in column '{args.label_column}'")
        values.add(value)
    if len(values) < 2:
        raise DataError(
            f"{raw.sources['train']}: column '{args.label_column}' has a single label {values}; need two or more"
        )
    return [str(value) for value in sorted(values)]


def _encode_labels(raw: RawData, column: str, label_names: list[str], *, integers_index_names: bool) -> None:
    """Replace every label by its index in ``label_names``; a label outside the set is a DataError.

    Labels match a name by their text ("positive", or "1" for names derived from integer labels); with explicit
    ``label_names`` and integer labels, the integer is the index into the names (SST-2's 0/1 with [negative, positive]).
    """
    label_ids = {name: index for index, name in enumerate(label_names)}
    for split, dataset in raw.splits.items():
        values = dataset[column]
        encoded = []
        for index, value in enumerate(values):
            if isinstance(dataset.features[column], ClassLabel) or (
                integers_index_names and isinstance(value, int) and not isinstance(value, bool)
            ):
                label_id = value if 0 <= value < len(label_names) else None
            else:
                label_id = None if value is None or isinstance(value, bool) else label_ids.get(str(value))
            if label_id is None:
                raise DataError(f"{raw.locate(split, index)}: label {value!r} is outside the label set {label_names}")
            encoded.append(label_id)
        dataset = dataset.remove_columns(column).add_column(column, encoded)
        raw.splits[split] = dataset.cast_column(column, ClassLabel(names=label_names))
