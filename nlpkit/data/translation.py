"""Parallel corpora for translation: tab-separated pair files, line-aligned file pairs, or Hub datasets.

Every source ends up as a :class:`datasets.DatasetDict` with two string columns, ``source`` and ``target``:

- a **pair file** (``.tsv`` or ``.txt``, no header): ``text<TAB>text`` per line, like the tutorials' ``eng-fra.txt``.
  ``pair_languages`` says which language each column holds (default ``[source_lang, target_lang]``), so the same file
  serves both directions;
- a **line-aligned pair** of files: ``train_file: data/train`` reads ``data/train.<source_lang>`` and
  ``data/train.<target_lang>`` (Multi30k's layout), line *i* of one translating line *i* of the other;
- a **Hub dataset** with a ``translation`` column of ``{language: text}`` (wmt16) or one column per language
  (bentrevett/multi30k).

Problems are one-line :class:`DataError` messages naming the file and line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import DatasetDict

from nlpkit.data.loading import (
    SPLITS,
    DataArguments,
    DataError,
    RawData,
    check_utf8,
    limit_samples,
    load_raw_data,
    local_files,
    resolve_data_path,
    split_validation,
)

logger = logging.getLogger(__name__)

SOURCE, TARGET = "source", "target"


@dataclass
class TranslationDataArguments(DataArguments):
    """Where the parallel text comes from, which direction to translate, and which pairs to keep."""

    source_lang: str = field(default="en", metadata={"help": "Language code of the source side (en, de, fr...)."})
    target_lang: str = field(default="fr", metadata={"help": "Language code of the target side."})
    pair_languages: list[str] | None = field(
        default=None,
        metadata={
            "help": "Pair files: the language of each tab-separated column (default: [source_lang, target_lang])."
        },
    )
    max_words: int | None = field(
        default=None,
        metadata={"help": "Drop training pairs with more words than this on either side (the tutorials use 10)."},
    )
    max_source_length: int = field(default=128, metadata={"help": "Truncate source sentences to this many tokens."})
    max_target_length: int = field(default=128, metadata={"help": "Truncate target sentences to this many tokens."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source_lang == self.target_lang:
            raise ValueError(f"source_lang and target_lang are both '{self.source_lang}'")
        languages = self.languages_in_pair_file
        if len(languages) != 2 or {self.source_lang, self.target_lang} != set(languages):
            raise ValueError(
                f"pair_languages must name source_lang and target_lang once each, got {self.pair_languages}"
            )
        if self.max_words is not None and self.max_words < 1:
            raise ValueError(f"'max_words' must be at least 1, got {self.max_words}")

    @property
    def languages_in_pair_file(self) -> list[str]:
        return list(self.pair_languages or [self.source_lang, self.target_lang])


def read_pair_file(path: str | Path, languages: list[str], *, source_only: str | None = None) -> dict[str, list[str]]:
    """Read ``text<TAB>text`` lines into ``{language: texts}``; a line without exactly one TAB is an error.

    ``source_only``: the source language, when the file may hold source sentences alone (a test file to translate):
    a file whose first line has no TAB is read as ``{source_only: texts}``, and then every line must have none."""
    path = resolve_data_path(path)
    _require_file(path)
    columns: dict[str, list[str]] = {language: [] for language in languages}
    single = None  # whether the file holds one sentence a line (decided by its first line)
    with path.open(encoding="utf-8", newline="\n") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if single is None:
                single = source_only is not None and len(fields) == 1
                if single:
                    columns = {source_only: []}
            if single:
                if len(fields) != 1:
                    raise DataError(
                        f"{path}:{number}: a TAB in a file of source sentences alone (its first line has none): give "
                        "every line its reference translation, or none"
                    )
                columns[source_only].append(fields[0].strip())
                continue
            if len(fields) != 2:
                hint = " (give every line its reference translation, or none)" if source_only else ""
                raise DataError(
                    f"{path}:{number}: expected one TAB between the two sentences, found {len(fields) - 1}{hint}"
                )
            for language, text in zip(languages, fields):
                columns[language].append(text.strip())
    if not next(iter(columns.values())):
        raise DataError(f"{path}: the file is empty")
    return columns


def read_aligned_files(prefix: str | Path, languages: list[str]) -> dict[str, list[str]]:
    """Read ``<prefix>.<lang>`` for each language (one: a test file's sources alone); the files must have the same
    number of lines."""
    prefix = resolve_data_path(prefix)
    columns: dict[str, list[str]] = {}
    for language in languages:
        path = prefix.with_name(f"{prefix.name}.{language}")
        _require_file(path)
        columns[language] = [line.rstrip("\r\n").strip() for line in path.open(encoding="utf-8", newline="\n")]
    first, *others = (prefix.with_name(f"{prefix.name}.{language}") for language in languages)
    counts = [len(columns[language]) for language in languages]
    if others and counts[0] != counts[1]:
        raise DataError(
            f"line-aligned files differ in length: {first} has {counts[0]} lines, {others[0]} has {counts[1]}"
        )
    if counts[0] == 0:
        raise DataError(f"{first}: the file is empty")
    return columns


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    check_utf8(path)


def _is_aligned_prefix(path: str, languages: list[str]) -> bool:
    resolved = resolve_data_path(path)
    return not resolved.is_file() and all(
        resolved.with_name(f"{resolved.name}.{language}").is_file() for language in languages
    )


def _load_local(path: str, args: TranslationDataArguments, *, references_optional: bool = False) -> datasets.Dataset:
    """One split of local pairs; ``references_optional`` (a test file): source sentences alone are read too (a
    file without TABs, or the source file of a line-aligned pair whose target file is absent), without ``target``."""
    languages = [args.source_lang, args.target_lang]
    if _is_aligned_prefix(path, languages):
        columns = read_aligned_files(path, languages)
    elif references_optional and _is_aligned_prefix(path, [args.source_lang]):
        columns = read_aligned_files(path, [args.source_lang])
    else:
        resolved = resolve_data_path(path)
        if not resolved.is_file():
            candidates = ", ".join(str(resolved.with_name(f"{resolved.name}.{lang}")) for lang in languages)
            raise DataError(f"{resolved}: file not found (nor the line-aligned pair {candidates})")
        source_only = args.source_lang if references_optional else None
        columns = read_pair_file(path, args.languages_in_pair_file, source_only=source_only)
    if args.target_lang not in columns:
        return datasets.Dataset.from_dict({SOURCE: columns[args.source_lang]})
    return datasets.Dataset.from_dict({SOURCE: columns[args.source_lang], TARGET: columns[args.target_lang]})


def pairs_from_hub_split(dataset: datasets.Dataset, source: str, args: TranslationDataArguments) -> datasets.Dataset:
    """Turn a Hub split into source/target columns (a ``translation`` dict column, or one column per language)."""
    src, tgt = args.source_lang, args.target_lang
    if "translation" in dataset.column_names:
        pairs = dataset["translation"]
        missing = {src, tgt} - set(pairs[0]) if len(pairs) else set()
        if missing:
            raise DataError(f"{source}: no language {sorted(missing)} in 'translation' (has {sorted(pairs[0])})")
        return datasets.Dataset.from_dict({SOURCE: [p[src] for p in pairs], TARGET: [p[tgt] for p in pairs]})
    if {src, tgt} <= set(dataset.column_names):
        return datasets.Dataset.from_dict({SOURCE: dataset[src], TARGET: dataset[tgt]})
    raise DataError(
        f"{source}: needs a 'translation' column or columns '{src}' and '{tgt}' "
        f"(columns: {', '.join(dataset.column_names)})"
    )


def load_translation_data(
    args: TranslationDataArguments, *, seed: int = 42, splits: tuple[str, ...] = SPLITS
) -> RawData:
    """Load the splits as ``source``/``target`` columns, hold out validation if needed, filter and limit them.

    ``splits``: the splits to read (a run with do_train false reads no training pairs). A test file of source
    sentences alone comes without ``target``: it is translated, not scored."""
    loaded, sources = {}, {}
    if args.dataset_name:
        raw = load_raw_data(args, seed=seed, splits=tuple(split for split in splits if split != "test"))
        loaded = {split: pairs_from_hub_split(data, raw.sources[split], args) for split, data in raw.splits.items()}
        sources = dict(raw.sources)
    local = splits if not args.dataset_name else tuple(split for split in splits if split == "test")
    for split, path in local_files(args, local):
        loaded[split] = _load_local(path, args, references_optional=split == "test")
        sources[split] = str(path)
    raw = RawData(DatasetDict(loaded), sources)
    if "train" in raw.splits:
        split_validation(raw, args, seed=seed)
    if args.max_words is not None:
        kept = raw.splits["train"].filter(
            lambda row: len(row[SOURCE].split()) <= args.max_words and len(row[TARGET].split()) <= args.max_words
        )
        logger.info(
            "Kept %d of %d training pairs of at most %d words", len(kept), len(raw.splits["train"]), args.max_words
        )
        if len(kept) == 0:
            raise DataError(f"{raw.sources['train']}: no training pair has at most {args.max_words} words a side")
        raw.splits["train"] = kept
    limit_samples(raw, args)
    for split, dataset in raw.splits.items():
        empty = next(
            (i for i, row in enumerate(dataset) if not row[SOURCE] or (TARGET in row and not row[TARGET])), None
        )
        if empty is not None:
            raise DataError(f"{raw.sources[split]}: pair {empty + 1} has an empty side")
    return raw


__all__ = [
    "SOURCE",
    "TARGET",
    "TranslationDataArguments",
    "load_translation_data",
    "pairs_from_hub_split",
    "read_aligned_files",
    "read_pair_file",
]
