"""Token-classification (NER) data: CoNLL-style files or datasets with token and tag columns, as IOB2 tag names.

Local ``.txt``, ``.conll`` and ``.iob`` files are read as CoNLL: one token per line with its columns separated by
tabs (when the line has a tab) or spaces, the tag in column ``tag_column_index`` (default: the last), a blank or
whitespace-only line between sentences (WNUT-17 separates some sentences with a lone TAB), and ``-DOCSTART-`` lines
skipped. Other local files (json/jsonl/parquet...) and Hub datasets need a column of token lists and a column of tag
lists (tag names, or integers with ``ClassLabel`` names, as in the Hub's ``conll2003``).

Every split comes out with two columns, ``tokens`` (list of strings) and ``ner_tags`` (list of ``ClassLabel`` ids)
in IOB2. A malformed line or row is a :class:`DataError` naming the file and line (or row).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import datasets
from datasets import ClassLabel, DatasetDict

from nlpkit.data.loading import (
    SPLITS,
    DataArguments,
    DataError,
    LabeledData,
    RawData,
    check_utf8,
    limit_samples,
    load_local_file,
    load_raw_data,
    local_files,
    require_columns,
    resolve_data_path,
    split_validation,
)

logger = logging.getLogger(__name__)

CONLL_SUFFIXES = (".txt", ".conll", ".iob")
DOCSTART = "-DOCSTART-"
TagScheme = Literal["auto", "iob1", "iob2"]
Locator = Callable[..., str]  # (sentence index, token index) -> "file, line N" or "source, row N, token M"


@dataclass
class TokenClassificationDataArguments(DataArguments):
    """Data arguments of the token-classification recipes."""

    tokens_column: str = field(default="tokens", metadata={"help": "Column with each sentence's tokens (not CoNLL)."})
    tags_column: str = field(default="ner_tags", metadata={"help": "Column with each sentence's tags (not CoNLL)."})
    tag_column_index: int = field(
        default=-1,
        metadata={"help": "CoNLL files: column of the tag (0-based; negative counts from the end)."},
    )
    tag_scheme: TagScheme = field(
        default="auto",
        metadata={
            "help": "Tags in the data: 'iob2' (every entity starts with B-; checked), 'iob1' (I- starts an entity, "
            "B- only between two of the same type; converted to IOB2) or 'auto' (converted to IOB2 when needed)."
        },
    )
    max_seq_length: int = field(default=256, metadata={"help": "Truncate tokenized sentences to this many tokens."})
    label_all_tokens: bool = field(
        default=False,
        metadata={
            "help": "Sub-word models: train on every sub-token of a word (B- becomes I- after the first), not the "
            "first only. Evaluation always scores one tag per word, read at its first sub-token."
        },
    )


class TokenClassificationData(LabeledData):
    """Validated splits with ``tokens`` and ``ner_tags`` (IOB2 ``ClassLabel`` ids), and the tag names."""

    @property
    def entity_types(self) -> list[str]:
        return sorted({name[2:] for name in self.label_names if name != "O"})


# ---------------------------------------------------------------------------------------------------------------------
# Tags


def check_tag(tag: str) -> str | None:
    """Why ``tag`` is not an IOB tag (``O``, ``B-TYPE`` or ``I-TYPE``), or None when it is one."""
    if tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2):
        return None
    return f"tag {tag!r} is not an IOB tag (O, B-TYPE or I-TYPE)"


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """IOB2 tags of an IOB1 sentence (IOB2 stays unchanged): an ``I-X`` that does not continue an X becomes ``B-X``."""
    converted = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        converted.append(tag)
        previous = tag
    return converted


def first_iob2_violation(tags: list[str]) -> int | None:
    """Index of the first ``I-X`` that follows neither ``B-X`` nor ``I-X``, or None for valid IOB2."""
    previous = "O"
    for index, tag in enumerate(tags):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return index
        previous = tag
    return None


# ---------------------------------------------------------------------------------------------------------------------
# CoNLL files


@dataclass
class ConllSentences:
    """Sentences of a CoNLL file and the line number of each sentence's first token (token i is on ``line + i``);
    ``tags`` is None for an untagged file (one token per line and nothing else: a test file to predict)."""

    tokens: list[list[str]]
    tags: list[list[str]] | None
    lines: list[int]


def read_conll(path: str | Path, tag_column_index: int = -1, *, allow_untagged: bool = False) -> ConllSentences:
    """Read a CoNLL-style file (see the module docstring); DataError names the file and line of a malformed line.

    ``allow_untagged``: a file whose token lines hold the token alone is read without tags (a test file to predict);
    one where some lines have tags and others not is a DataError naming the first line that differs."""
    path = resolve_data_path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    check_utf8(path)
    sentences = ConllSentences([], [], [])
    tokens: list[str] = []
    tags: list[str] = []
    columns = None  # every token line of a file has the same number of columns
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            stripped = line.strip()
            fields = stripped.split("\t") if "\t" in stripped else stripped.split()
            if not stripped or fields[0] == DOCSTART:
                if tokens:
                    sentences.tokens.append(tokens)
                    sentences.tags.append(tags)
                    sentences.lines.append(line_number - len(tokens))
                    tokens, tags = [], []
                continue
            where = f"{path}, line {line_number}"
            if len(fields) < 2 and not (allow_untagged and columns in (None, 1)):
                untagged = " (the file's first token line has a tag: tag every token, or none)" if columns else ""
                raise DataError(
                    f"{where}: expected a token and a tag separated by spaces or a tab, got {stripped!r}{untagged}"
                )
            if columns is None:
                columns = len(fields)
                if columns > 1 and not -columns <= tag_column_index < columns:
                    raise DataError(
                        f"{where}: tag_column_index is {tag_column_index} but the line has {columns} columns"
                    )
            elif len(fields) != columns:
                hint = " (tag every token, or none)" if allow_untagged and 1 in (columns, len(fields)) else ""
                raise DataError(f"{where}: {len(fields)} columns where the file's first token line has {columns}{hint}")
            tokens.append(fields[0])
            if columns == 1:
                continue
            tag = fields[tag_column_index]
            if (problem := check_tag(tag)) is not None:
                hint = (
                    " (a file to tag holds one token per line, or use a jsonl file with a 'text' field per sentence)"
                    if allow_untagged
                    else ""
                )
                raise DataError(f"{where}: {problem}{hint}")
            tags.append(tag)
    if tokens:
        sentences.tokens.append(tokens)
        sentences.tags.append(tags)
        sentences.lines.append(line_number + 1 - len(tokens))
    if not sentences.tokens:
        raise DataError(f"{path}: no sentences (expected one 'token ... tag' line per token)")
    if columns == 1:
        sentences.tags = None
    return sentences


# ---------------------------------------------------------------------------------------------------------------------
# Loading


def load_token_classification_data(
    args: TokenClassificationDataArguments,
    *,
    seed: int = 42,
    splits: tuple[str, ...] = SPLITS,
    label_names: list[str] | None = None,
) -> TokenClassificationData:
    """Load, validate, convert to IOB2 and label-encode the data; every problem is a DataError naming file and line.

    ``splits``: the splits to read (a run with do_train false reads no training data); ``label_names``: the tags of
    a trained model (default: read from the training data). A test file without tags (a CoNLL file of tokens alone,
    or rows without the tags column) is predicted, not scored (``unlabelled``)."""
    wanted, splits = splits, {}  # the splits asked for; the tokens and tags read for each
    texts: dict[str, list[str]] = {}  # a test file of raw sentences ('text' field): the sentences as written
    sources: dict[str, str] = {}
    locators: dict[str, Locator] = {}
    class_names: dict[str, list[str] | None] = {}  # ClassLabel names of the tags, where the data has them
    if args.dataset_name is None or (args.test_file and "test" in wanted):
        files = local_files(args, wanted) if args.dataset_name is None else [("test", args.test_file)]
        for split, path in files:
            sources[split] = str(path)
            if resolve_data_path(path).suffix.lower() in CONLL_SUFFIXES:
                conll = read_conll(path, args.tag_column_index, allow_untagged=split == "test")
                splits[split] = (conll.tokens, conll.tags)
                locators[split] = _conll_locator(resolve_data_path(path), conll.lines)
            else:
                raw = RawData(DatasetDict({split: load_local_file(path)}), {split: str(path)})
                locators[split] = _row_locator(raw, split)
                if split == "test" and args.tokens_column not in raw.splits[split].column_names:
                    texts[split] = _texts(raw, split, args.tokens_column)  # sentences to tag, as written
                    splits[split] = ([text.split() for text in texts[split]], None)
                    continue
                *splits[split], class_names[split] = _columns(raw, split, args)
    if args.dataset_name is not None:
        raw = load_raw_data(args, seed=seed, splits=tuple(split for split in wanted if split != "test"))
        sources.update(raw.sources)
        for split in raw.splits:
            *splits[split], class_names[split] = _columns(raw, split, args)
            locators[split] = _row_locator(raw, split)

    unlabelled = {split for split, (_, tags) in splits.items() if tags is None}
    for split, (tokens, tags) in splits.items():
        if tags is not None:
            splits[split] = (tokens, _to_iob2(tags, args.tag_scheme, locators[split], sources[split]))
    given = label_names is not None
    if label_names is None:
        label_names = _label_names(splits["train"][1], class_names.get("train"))
    label_ids = {name: index for index, name in enumerate(label_names)}
    features = datasets.Features(
        {"tokens": datasets.List(datasets.Value("string")), "ner_tags": datasets.List(ClassLabel(names=label_names))}
    )
    encoded = {}
    for split, (tokens, tags) in splits.items():
        if tags is None:
            columns = {"tokens": tokens, **({"text": texts[split]} if split in texts else {})}
            encoded[split] = datasets.Dataset.from_dict(columns)
            continue
        ids = []
        for sentence, sentence_tags in enumerate(tags):
            for position, tag in enumerate(sentence_tags):
                if tag not in label_ids:
                    where = "is not a tag of the model" if given else "does not occur in the training data"
                    raise DataError(
                        f"{locators[split](sentence, position)}: tag {tag!r} {where} (tags: {', '.join(label_names)})"
                    )
            ids.append([label_ids[tag] for tag in sentence_tags])
        encoded[split] = datasets.Dataset.from_dict({"tokens": tokens, "ner_tags": ids}, features=features)
    raw = RawData(DatasetDict(encoded), sources)
    if "train" in raw.splits:
        split_validation(raw, args, seed=seed)
    limit_samples(raw, args)
    logger.info(
        "NER data: %s; %d tags (%s)",
        ", ".join(f"{split} {len(dataset)} sentences" for split, dataset in raw.splits.items()),
        len(label_names),
        " ".join(label_names),
    )
    return TokenClassificationData(raw=raw, label_names=label_names, unlabelled=unlabelled)


def _conll_locator(path: Path, lines: list[int]) -> Locator:
    return lambda sentence, token=0: f"{path}, line {lines[sentence] + token}"


def _row_locator(raw: RawData, split: str) -> Locator:
    return lambda sentence, token=None: raw.locate(split, sentence) + ("" if token is None else f", token {token}")


def _columns(raw: RawData, split: str, args: TokenClassificationDataArguments) -> tuple[list, list | None, list | None]:
    """Token lists, tag-name lists (None for a test split without the tags column) and the tags' ClassLabel names
    (if any) of a dataset split."""
    require_columns(raw, [args.tokens_column, args.tags_column], optional_in_test=(args.tags_column,))
    dataset = raw.splits[split]
    if args.tags_column not in dataset.column_names:
        return _untagged_rows(raw, split, args.tokens_column), None, None
    tag_feature = getattr(dataset.features[args.tags_column], "feature", None)
    names = tag_feature.names if isinstance(tag_feature, ClassLabel) else None
    tokens_list, tags_list = [], []
    for row, (tokens, tags) in enumerate(zip(dataset[args.tokens_column], dataset[args.tags_column])):
        where = raw.locate(split, row)
        if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
            raise DataError(f"{where}: column '{args.tokens_column}' must hold a list of strings")
        if tags is None and split == "test":
            raise DataError(
                f"{where}: no tags in column '{args.tags_column}' (the test file tags some rows and not others: "
                "tag every row, or none to only predict)"
            )
        if not isinstance(tags, list) or len(tags) != len(tokens):
            count = len(tags) if isinstance(tags, list) else type(tags).__name__
            raise DataError(f"{where}: {len(tokens)} tokens but {count} tags in column '{args.tags_column}'")
        if not tokens:
            continue  # an empty sentence carries nothing to learn or score
        if names is not None:
            tags = [names[tag] for tag in tags]
        for position, tag in enumerate(tags):
            if not isinstance(tag, str):
                raise DataError(
                    f"{where}, token {position}: tag {tag!r} has no name (use tag names, or a ClassLabel feature)"
                )
            if (problem := check_tag(tag)) is not None:
                raise DataError(f"{where}, token {position}: {problem}")
        tokens_list.append(tokens)
        tags_list.append(tags)
    if not tokens_list:
        raise DataError(f"{raw.sources[split]}: the {split} split has no non-empty sentence")
    return tokens_list, tags_list, names


def _texts(raw: RawData, split: str, tokens_column: str) -> list[str]:
    """The sentences of a test file of raw text (a ``text`` field per row, no ``tokens_column``), to tag."""
    dataset = raw.splits[split]
    if "text" not in dataset.column_names:
        existing = ", ".join(dataset.column_names)
        raise DataError(f"{raw.sources[split]}: no column '{tokens_column}' nor 'text' (columns: {existing})")
    sentences = []
    for row, text in enumerate(dataset["text"]):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{raw.locate(split, row)}: no sentence in column 'text'")
        sentences.append(text)
    return sentences


def _untagged_rows(raw: RawData, split: str, column: str) -> list[list[str]]:
    """The non-empty token lists of a split without tags (a test file to predict)."""
    sentences = []
    for row, tokens in enumerate(raw.splits[split][column]):
        if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
            raise DataError(f"{raw.locate(split, row)}: column '{column}' must hold a list of strings")
        if tokens:
            sentences.append(tokens)
    if not sentences:
        raise DataError(f"{raw.sources[split]}: the {split} split has no non-empty sentence")
    return sentences


def _to_iob2(tags: list[list[str]], scheme: str, locate: Locator, source: str) -> list[list[str]]:
    if scheme == "iob2":
        for sentence, sentence_tags in enumerate(tags):
            if (position := first_iob2_violation(sentence_tags)) is not None:
                raise DataError(
                    f"{locate(sentence, position)}: {sentence_tags[position]!r} does not continue an entity of its "
                    "type, so this is not IOB2 (set tag_scheme: iob1 or auto to convert IOB1 data)"
                )
        return tags
    converted = [iob1_to_iob2(sentence_tags) for sentence_tags in tags]
    changed = sum(old != new for old_tags, new_tags in zip(tags, converted) for old, new in zip(old_tags, new_tags))
    if changed and scheme == "auto":
        logger.info("%s: %d I- tags start an entity (IOB1): converted to B- (IOB2)", source, changed)
    return converted


def _label_names(train_tags: list[list[str]], class_names: list[str] | None) -> list[str]:
    """``O`` and, for each entity type, ``B-`` and ``I-``; a ClassLabel's order is kept, missing tags appended."""
    types = sorted({tag[2:] for sentence in train_tags for tag in sentence if tag != "O"})
    if not types:
        raise DataError("the training data has no entity tags (only 'O')")
    wanted = ["O"] + [f"{prefix}-{kind}" for kind in types for prefix in ("B", "I")]
    names = [name for name in class_names or [] if check_tag(name) is None]
    return names + [name for name in wanted if name not in names]
