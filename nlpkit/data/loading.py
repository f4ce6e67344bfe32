"""Load raw datasets from the Hub or local files, shared by every recipe.

A run names either a Hub dataset (``dataset_name`` with an optional ``dataset_config_name``) or local files
(``train_file``, ``validation_file``, ``test_file``: csv, tsv, json/jsonl, parquet or txt). Problems are reported as a
one-line :class:`DataError` naming the file and, where there is one, the row.
"""

from __future__ import annotations

import codecs
import gzip
import logging
import os
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import DatasetDict

from nlpkit.errors import DataError  # re-exported: `from nlpkit.data.loading import DataError` keeps working

logger = logging.getLogger(__name__)

# Extension -> (datasets builder, extra builder arguments).
_FORMATS: dict[str, tuple[str, dict]] = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t", "quoting": 3}),  # QUOTE_NONE: GLUE-style TSVs contain bare quotes
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
    ".txt": ("text", {}),
}
_FIRST_DATA_LINE = {".csv": 2, ".tsv": 2, ".jsonl": 1, ".txt": 1}  # file line of row 0


@dataclass
class DataArguments:
    """Where the data comes from and how much of it to use (every recipe's data arguments extend this)."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub dataset name (e.g. stanfordnlp/sst2); instead of local files."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset configuration name."})
    train_split: str = field(default="train", metadata={"help": "Hub split used for training."})
    validation_split: str | None = field(
        default="validation", metadata={"help": "Hub split used for evaluation (carved from train if absent)."}
    )
    train_file: str | None = field(
        default=None, metadata={"help": "Local training file (csv/tsv/json/jsonl/parquet/txt)."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Local validation file."})
    test_file: str | None = field(default=None, metadata={"help": "Local test file, evaluated at the end if given."})
    validation_split_percentage: float = field(
        default=10.0, metadata={"help": "Percent of train held out (seeded) when no validation data is given."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use at most this many training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use at most this many evaluation rows."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})
    dataset_description: str = field(default="", metadata={"help": "What the data is, for the model card."})
    language: list[str] = field(
        default_factory=lambda: ["en"],
        metadata={
            "help": "Language code(s) of the text (ISO 639-1: en, fr...), for the model card (translation: "
            "source_lang and target_lang)."
        },
    )

    def __post_init__(self) -> None:
        # Training needs dataset_name or train_file (start_run checks it); a run with do_train false may read a
        # validation or test file alone.
        if self.dataset_name is None and not (self.train_file or self.validation_file or self.test_file):
            raise ValueError("no data: set 'dataset_name' (a Hub dataset) or 'train_file' (a local file)")
        if self.dataset_name is not None and self.train_file is not None:
            raise ValueError("set either 'dataset_name' or 'train_file', not both")
        if not 0 < self.validation_split_percentage < 100:
            raise ValueError(
                f"'validation_split_percentage' must be between 0 and 100, got {self.validation_split_percentage}"
            )
        for key in ("max_train_samples", "max_eval_samples"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(f"'{key}' must be at least 1, got {getattr(self, key)}")
        if not self.language or not all(re.fullmatch(r"[a-z]{2,3}([-_][A-Za-z0-9]+)*", code) for code in self.language):
            raise ValueError(f"'language' must be language codes such as en or fr, got {self.language}")


@dataclass
class RawData:
    """Raw splits plus where each came from, so later checks can point at a file and row."""

    splits: DatasetDict
    sources: dict[str, str]  # split -> file path or "hub:<name>[split]"

    def locate(self, split: str, index: int) -> str:
        """Human-readable position of row ``index`` of ``split`` ("data/train.tsv, line 18")."""
        source = self.sources[split]
        suffix = Path(source).suffix.lower()
        if source.startswith("hub:") or suffix not in _FIRST_DATA_LINE:
            return f"{source}, row {index}"
        return f"{source}, line {index + _FIRST_DATA_LINE[suffix]}"


SPLITS = ("train", "validation", "test")


@dataclass
class LabeledData:
    """Validated raw splits whose labels are integer ids 0..n-1, and the names of those ids. A test split may come
    without labels (``unlabelled``): it is predicted, not scored."""

    raw: RawData
    label_names: list[str]
    unlabelled: set[str] = field(default_factory=set)  # splits without labels (the test split, when so given)

    def labelled_splits(self) -> RawData:
        """The splits that have labels (what is encoded for training and scoring)."""
        kept = {split: data for split, data in self.raw.splits.items() if split not in self.unlabelled}
        return RawData(DatasetDict(kept), {split: self.raw.sources[split] for split in kept})

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.label_names)}


def encode_splits(
    splits: Mapping[str, datasets.Dataset],
    encode: Callable[..., dict],
    *,
    num_proc: int | None = None,
    desc: str = "Tokenizing",
    split_kwargs: Callable[[str], dict] | None = None,
) -> DatasetDict:
    """Map ``encode`` over every split in batches, keeping only the columns it returns (the model's inputs).

    ``split_kwargs(split)`` gives extra keyword arguments for ``encode`` per split (say, training-only options).
    """
    return DatasetDict(
        {
            split: dataset.map(
                encode,
                batched=True,
                fn_kwargs=split_kwargs(split) if split_kwargs else None,
                num_proc=num_proc,
                remove_columns=dataset.column_names,
                desc=f"{desc} {split}",
            )
            for split, dataset in splits.items()
        }
    )


def check_utf8(path: Path) -> None:
    """Raise DataError naming the line of the first byte sequence that is not UTF-8 (a ``.gz`` file's after
    decompression; one that is not gzip is a DataError too)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    try:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    line += chunk[: error.start].count(b"\n")
                    raise DataError(f"{path}: not UTF-8 text (line {line}: {error.reason})") from None
                line += chunk.count(b"\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: not a readable gzip file ({error})") from None
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (truncated character at the end: {error.reason})") from None


RESOURCES_DIR = Path(__file__).resolve().parents[1] / "resources"
PACKAGED_PREFIX = "nlpkit:"


def resolve_data_path(path: str | Path) -> Path:
    """A local path (``$VARS`` and ``~`` expanded), or ``nlpkit:<file>`` for the sample data in ``nlpkit/resources``."""
    text = str(path)
    if text.startswith(PACKAGED_PREFIX):
        return RESOURCES_DIR / text[len(PACKAGED_PREFIX) :]
    expanded = os.path.expandvars(text)
    if "$" in expanded:
        variable = re.search(r"\$\{?(\w+)", expanded).group(1)
        raise DataError(
            f"{text}: the environment variable ${variable} is not set: export it (e.g. {variable}=/path/to/datasets)"
            " or give the path itself"
        )
    return Path(expanded).expanduser()


def load_local_file(path: str | Path, *, text_columns: list[str] | None = None) -> datasets.Dataset:
    """Load one local file with the datasets builder that matches its extension."""
    path = resolve_data_path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise DataError(f"{path}: unsupported file type '{suffix}' (use one of {', '.join(_FORMATS)})")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    builder, kwargs = _FORMATS[suffix]
    if builder != "parquet":
        check_utf8(path)
    if builder == "csv" and text_columns:
        # Keep text columns as strings even when a value looks like a number or a missing value ("10", "NaN").
        kwargs = {**kwargs, "converters": dict.fromkeys(text_columns, str), "na_filter": False}
    try:
        return datasets.load_dataset(builder, data_files={"data": str(path)}, split="data", **kwargs)
    except Exception as error:  # datasets wraps parser errors in many types; keep the message, name the file
        cause = error.__cause__ or error
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise DataError(f"{path}: could not be read as {suffix[1:]}: {message}") from None


def local_files(args: DataArguments, splits: tuple[str, ...] = SPLITS) -> list[tuple[str, str]]:
    """``(split, path)`` of the local files named for ``splits`` (train, validation, test), in that order."""
    named = {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}
    return [(split, named[split]) for split in SPLITS if split in splits and named[split] is not None]


def load_raw_data(
    args: DataArguments,
    *,
    seed: int = 42,
    text_columns: list[str] | None = None,
    splits: tuple[str, ...] = SPLITS,
) -> RawData:
    """Load the train/validation (and test) splits among ``splits`` (a run with do_train false reads no training
    data); a Hub dataset gives train and validation, a local ``test_file`` the test split."""
    loaded: dict[str, datasets.Dataset] = {}
    sources: dict[str, str] = {}
    if args.dataset_name:
        if {"train", "validation"} & set(splits):  # a run that only predicts reads nothing from the Hub
            loaded, sources = _load_hub(args, splits)
        if "test" in splits and args.test_file is not None:
            loaded["test"] = load_local_file(args.test_file, text_columns=text_columns)
            sources["test"] = str(args.test_file)
    else:
        for split, path in local_files(args, splits):
            loaded[split] = load_local_file(path, text_columns=text_columns)
            sources[split] = str(path)
    for split, dataset in loaded.items():
        if len(dataset) == 0:
            raise DataError(f"{sources[split]}: the {split} split is empty")
    return RawData(DatasetDict(loaded), sources)


def split_validation(raw: RawData, args: DataArguments, *, seed: int) -> None:
    """Hold out ``validation_split_percentage`` of train as validation when there is no validation split."""
    if "validation" in raw.splits:
        return
    train = raw.splits["train"]
    held_out = max(1, round(len(train) * args.validation_split_percentage / 100))
    if held_out >= len(train):
        raise DataError(f"{raw.sources['train']}: only {len(train)} rows, too few to hold out a validation split")
    parts = train.train_test_split(test_size=held_out, seed=seed)
    raw.splits["train"], raw.splits["validation"] = parts["train"], parts["test"]
    raw.sources["validation"] = f"{raw.sources['train']} (held-out {args.validation_split_percentage:g}%)"
    logger.info("No validation data given: held out %d of %d training rows (seed %d)", held_out, len(train), seed)


def limit_samples(raw: RawData, args: DataArguments) -> None:
    """Apply ``max_train_samples`` / ``max_eval_samples`` (first rows, so runs are reproducible)."""
    for split, limit in (
        ("train", args.max_train_samples),
        ("validation", args.max_eval_samples),
        ("test", args.max_eval_samples),
    ):
        if limit is not None and split in raw.splits and len(raw.splits[split]) > limit:
            raw.splits[split] = raw.splits[split].select(range(limit))


def require_columns(raw: RawData, columns: list[str], *, optional_in_test: tuple[str, ...] = ()) -> None:
    """Raise DataError naming the split's source and listing the columns that exist when one is missing (the
    ``optional_in_test`` ones, labels, may be absent from the test split: it is then predicted, not scored)."""
    for split, dataset in raw.splits.items():
        for column in columns:
            if split == "test" and column in optional_in_test:
                continue
            if column not in dataset.column_names:
                existing = ", ".join(dataset.column_names)
                raise DataError(f"{raw.sources[split]}: no column '{column}' (columns: {existing})")


def _load_hub(
    args: DataArguments, splits: tuple[str, ...] = SPLITS
) -> tuple[dict[str, datasets.Dataset], dict[str, str]]:
    try:
        loaded = datasets.load_dataset(args.dataset_name, args.dataset_config_name)
    except Exception as error:
        raise DataError(
            f"hub:{args.dataset_name}: could not load the dataset ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no message'}); offline? use local files "
            "(train_file/validation_file) instead"
        ) from None
    wanted = {"train": args.train_split} if "train" in splits else {}
    if args.validation_split and "validation" in splits:
        wanted["validation"] = args.validation_split
    splits, sources = {}, {}
    for split, name in wanted.items():
        if name in loaded:
            splits[split] = loaded[name]
            sources[split] = f"hub:{args.dataset_name}[{name}]"
        elif split == "train":
            raise DataError(f"hub:{args.dataset_name}: no split '{name}' (splits: {', '.join(loaded)})")
    return splits, sources
