"""Word-vector data: a corpus of lines read into words, its vocabulary, the skip-gram/CBOW batch maker and GloVe's
co-occurrence counts.

The pipeline is the one of word2vec.c and GloVe's cooccur.c, written over `datasets` so that every stage is cached on
disk and memory-mapped (a corpus larger than memory works):

1. :func:`load_corpus`: text files (plain or ``.gz``), folders of them, globs, or a Hub dataset's text column ->
   a Dataset of ``words`` (one row per non-blank line; a line is a sentence: no window crosses it).
2. :meth:`Vocabulary.from_corpus`: the words seen at least ``min_count`` times, most frequent first.
3. :func:`encode_corpus`: word ids (out-of-vocabulary words dropped, as word2vec does, so windows close over them)
   packed into rows of about ``chunk_tokens`` tokens of whole sentences, with the sentences' lengths.
4. :class:`Word2VecCollator` (for the Trainer's DataLoader): frequent-word subsampling, dynamic windows and negative
   samples drawn per batch, vectorized in numpy; or :func:`cooccurrence_counts` for GloVe.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse
import torch
from tokenizers import Regex, pre_tokenizers
from tokenizers import models as tokenizer_models
from transformers import PreTrainedTokenizerFast

from nlpkit.data.loading import DataError, check_utf8, resolve_data_path
from nlpkit.io import atomic_write_text
from nlpkit.tokenization import new_tokenizer

logger = logging.getLogger(__name__)

# One token is, in this order: a number with inner separators ("3.5", "1,000", "10:30"); a word (letters, digits,
# underscore) with inner apostrophes or hyphens ("don't", "l’homme", "well-made"); or any other single non-space
# character (punctuation, symbols: "...", is three "." tokens). Why: word2vec and GloVe split on whitespace only, which
# keeps "film," and "film" apart; splitting punctuation off but keeping contractions and compounds whole is what most
# pre-tokenized embedding corpora do, and one regex stays fast in Python (about 3M tokens/s) and is reproducible in
# `tokenizers` (Oniguruma) for the saved tokenizer. Known differences between the two: a combining mark after a letter
# (Python's \w does not match it) and the Greek final sigma under lowercasing.
WORD_PATTERN = r"\d+(?:[.,:]\d+)+|\w+(?:['’\-]\w+)*|[^\w\s]"
_WORD_REGEX = re.compile(WORD_PATTERN)

UNK_TOKEN = "[UNK]"
PAD_TOKEN = "[PAD]"
VOCAB_FILE = "vocab.txt"
_CORPUS_MAP_BATCH = 10_000  # lines per tokenizing/encoding batch
_COOCCURRENCE_WRITE_ROWS = 4096  # matrix rows per written piece of the co-occurrence dataset


@dataclass
class WordVectorDataArguments:
    """Where the training text comes from and how it becomes a vocabulary and training rows."""

    train_file: list[str] | None = field(
        default=None,
        metadata={
            "help": "Text files (one sentence per line; .gz read as gzip), folders (every *.txt, *.txt.gz, *.gz "
            "inside, sorted) or globs; instead of dataset_name."
        },
    )
    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset name; instead of train_file."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset configuration name."})
    dataset_split: str = field(default="train", metadata={"help": "Hub split read as the corpus."})
    text_column: str = field(default="text", metadata={"help": "Column of the Hub dataset holding the text."})
    lowercase: bool = field(default=True, metadata={"help": "Lowercase the text before splitting it into words."})
    min_count: int = field(default=5, metadata={"help": "Keep words seen at least this many times."})
    max_vocab_size: int | None = field(
        default=None, metadata={"help": "Keep at most this many words (the most frequent)."}
    )
    max_train_lines: int | None = field(
        default=None, metadata={"help": "Read at most this many non-blank lines (the first ones)."}
    )
    chunk_tokens: int = field(
        default=1000,
        metadata={"help": "Tokens per training row (whole sentences; a longer sentence is cut into pieces)."},
    )

    def __post_init__(self) -> None:
        if isinstance(self.train_file, str):  # a single path written as a string in a config file
            self.train_file = [self.train_file]
        if (self.dataset_name is None) == (not self.train_file):
            raise ValueError("set exactly one of 'train_file' (local text files) or 'dataset_name' (a Hub dataset)")
        for key in ("min_count", "max_vocab_size", "max_train_lines", "chunk_tokens"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"'{key}' must be at least 1, got {value}")
        if self.train_file:
            corpus_files(self.train_file)  # every path exists / every glob matches (DataError naming it)


def tokenize_words(text: str, lowercase: bool) -> list[str]:
    """The words and punctuation tokens of ``text`` (see ``WORD_PATTERN``), lowercased first if asked."""
    return _WORD_REGEX.findall(text.lower() if lowercase else text)


def corpus_files(entries: list[str]) -> list[Path]:
    """The files named by ``entries`` (files, folders, globs), in order; a folder gives its *.txt / *.gz files sorted
    (empty ones skipped), a glob its matches sorted. Raises DataError naming an entry that matches nothing."""
    files: list[Path] = []
    for entry in entries:
        path = resolve_data_path(entry)
        if path.is_dir():
            found = sorted(
                file
                for file in path.rglob("*")
                if file.is_file() and (file.name.endswith(".txt") or file.name.endswith(".gz"))
            )
            if not found:
                raise DataError(f"{path}: no .txt, .txt.gz or .gz files in this folder")
            nonempty = [file for file in found if file.stat().st_size > 0]
            if len(nonempty) < len(found):
                logger.warning("%s: skipping %d empty file(s)", path, len(found) - len(nonempty))
            files.extend(nonempty)
        elif path.is_file():
            files.append(path)
        elif glob.has_magic(str(path)):
            matched = sorted(Path(name) for name in glob.glob(str(path), recursive=True) if Path(name).is_file())
            if not matched:
                raise DataError(f"{path}: no file matches this pattern")
            files.extend(matched)
        else:
            raise DataError(f"{path}: file not found")
    return files


def corpus_source(args: WordVectorDataArguments) -> str:
    """Where the corpus comes from, for error messages and the card ("a.txt, b.txt and 3 more", "hub:x[train]")."""
    if args.dataset_name:
        config = f"/{args.dataset_config_name}" if args.dataset_config_name else ""
        return f"hub:{args.dataset_name}{config}[{args.dataset_split}]"
    entries = [str(entry) for entry in args.train_file or []]
    shown = ", ".join(entries[:3])
    return shown + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")


def load_corpus(args: WordVectorDataArguments) -> datasets.Dataset:
    """The corpus as a Dataset with one column ``words`` (list of str), one row per non-blank line, tokenized with
    :func:`tokenize_words` in a cached batched map. Raises DataError for a file that is not UTF-8 (naming the line),
    an empty file, a missing text column, or a corpus without a single word."""
    source = corpus_source(args)
    if args.dataset_name:
        text = _load_hub_text(args)
    else:
        files = corpus_files(args.train_file)
        for file in files:
            _check_text_file(file)
        text = datasets.load_dataset("text", data_files={"train": [str(file) for file in files]}, split="train")
    corpus = text.map(
        _tokenize_batch,
        batched=True,
        batch_size=_CORPUS_MAP_BATCH,
        fn_kwargs={"lowercase": args.lowercase},
        remove_columns=text.column_names,
        features=datasets.Features({"words": datasets.List(datasets.Value("string"))}),
        desc="Splitting lines into words",
    )
    if len(corpus) == 0:
        raise DataError(f"{source}: no words in the corpus (every line is blank)")
    if args.max_train_lines is not None and len(corpus) > args.max_train_lines:
        corpus = corpus.select(range(args.max_train_lines))
    logger.info("Corpus %s: %d non-blank lines", source, len(corpus))
    return corpus


def _tokenize_batch(batch: dict[str, list], lowercase: bool) -> dict[str, list]:
    words = (tokenize_words(line, lowercase) if line else [] for line in batch["text"])
    return {"words": [line for line in words if line]}


def _load_hub_text(args: WordVectorDataArguments) -> datasets.Dataset:
    source = corpus_source(args)
    try:
        loaded = datasets.load_dataset(args.dataset_name, args.dataset_config_name)
    except Exception as error:
        message = str(error).splitlines()[0] if str(error) else "no message"
        raise DataError(
            f"{source}: could not load the dataset ({type(error).__name__}: {message}); offline? use local files "
            "(train_file) instead"
        ) from None
    if args.dataset_split not in loaded:
        raise DataError(f"{source}: no split '{args.dataset_split}' (splits: {', '.join(loaded)})")
    split = loaded[args.dataset_split]
    if args.text_column not in split.column_names:
        raise DataError(f"{source}: no column '{args.text_column}' (columns: {', '.join(split.column_names)})")
    split = split.select_columns([args.text_column])
    return split.rename_column(args.text_column, "text") if args.text_column != "text" else split


def _check_text_file(path: Path) -> None:
    """Raise DataError for an empty file or one that is not UTF-8 text (naming the line); ``.gz`` files are checked
    after decompression."""
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    check_utf8(path)


@dataclass
class Vocabulary:
    """The words kept for training, most frequent first (ties by word), and their corpus counts.

    Word ``i`` has id ``i``; the saved tokenizer adds ``[UNK]`` at id ``len(words)``, after them, so the ids of
    the words are the rows of the trained vectors whether or not a model keeps a row for unknown words.
    ``lowercase``: whether text is lowercased before lookup (None: decided from the words, True when none has an
    uppercase letter).
    """

    words: list[str]
    counts: np.ndarray
    lowercase: bool | None = None

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.int64)
        if len(self.counts) != len(self.words):
            raise ValueError(f"{len(self.words)} words but {len(self.counts)} counts")
        if self.lowercase is None:
            self.lowercase = all(word == word.lower() for word in self.words)

    def __len__(self) -> int:
        return len(self.words)

    @cached_property
    def index(self) -> dict[str, int]:
        """Word -> id."""
        return {word: position for position, word in enumerate(self.words)}

    @classmethod
    def from_corpus(
        cls,
        corpus: datasets.Dataset,
        min_count: int,
        max_size: int | None = None,
        source: str = "the corpus",
        lowercase: bool | None = None,
    ) -> Vocabulary:
        """Count the words of ``corpus`` (its ``words`` column; counted in Arrow, batch by batch, so a corpus larger
        than memory is fine) and keep those seen at least ``min_count`` times, at most ``max_size`` of them.

        Raises DataError naming ``source`` when ``min_count`` leaves no word."""
        pieces: list[pa.Table] = []
        for batch in corpus.with_format("arrow").iter(batch_size=200_000):
            counted = pc.value_counts(pc.list_flatten(batch.column("words")))
            pieces.append(pa.table({"word": counted.field("values"), "count": counted.field("counts")}))
            if len(pieces) >= 16:  # merge now and then: memory stays at a few times the vocabulary
                pieces = [_sum_counts(pieces)]
        table = _sum_counts(pieces) if pieces else pa.table({"word": pa.array([], pa.string()), "count": []})
        if table.num_rows == 0:
            raise DataError(f"{source}: no words in the corpus")
        table = table.sort_by([("count", "descending"), ("word", "ascending")])  # UTF-8 byte order = code points
        most_frequent = table.column("count")[0].as_py()
        table = table.filter(pc.greater_equal(table.column("count"), min_count))
        if table.num_rows == 0:
            raise DataError(
                f"min_count {min_count} leaves no word in the vocabulary of {source} "
                f"(the most frequent word occurs {most_frequent} times)"
            )
        if max_size is not None:
            table = table.slice(0, max_size)
        words = table.column("word").to_pylist()
        counts = table.column("count").to_numpy().astype(np.int64)
        logger.info("Vocabulary of %s: %d words seen at least %d times", source, len(words), min_count)
        return cls(words, counts, lowercase)

    def save(self, folder: str | Path) -> None:
        """Write ``vocab.txt`` ("word count" per line, most frequent first) into ``folder``, atomically. The
        tokenizer is saved apart: ``vocabulary.tokenizer().save_pretrained(folder)``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{word} {count}\n" for word, count in zip(self.words, self.counts.tolist(), strict=True))
        atomic_write_text(folder / VOCAB_FILE, text)

    @classmethod
    def load(cls, folder: str | Path, lowercase: bool | None = None) -> Vocabulary:
        """The vocabulary saved in ``folder`` by :meth:`save`; DataError naming the file and line if malformed."""
        path = Path(folder) / VOCAB_FILE
        if not path.is_file():
            raise DataError(f"{path}: file not found (a word-vector output folder has one)")
        words: list[str] = []
        counts: list[int] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            word, _, count = line.rpartition(" ")
            if not word or not count.isdigit():
                raise DataError(f"{path}, line {number}: expected 'word count', got {line[:60]!r}")
            words.append(word)
            counts.append(int(count))
        return cls(words, np.asarray(counts, dtype=np.int64), lowercase)

    def tokenizer(self) -> PreTrainedTokenizerFast:
        """A fast tokenizer over the vocabulary: a WordLevel model (word ``i`` -> id ``i``, anything else ``[UNK]``,
        id ``len(words)``) behind a pre-tokenizer that splits as :func:`tokenize_words` does (whitespace, then
        ``WORD_PATTERN``) and a lowercasing normalizer when the vocabulary is lowercase. Saved with
        ``save_pretrained`` it reloads with ``AutoTokenizer.from_pretrained``. ``[PAD]`` (id ``len(words) + 1``)
        pads CBOW contexts and the batches of the feature-extraction pipeline; vectors files hold the words only."""
        vocab = {word: position for position, word in enumerate(self.words)}
        vocab[UNK_TOKEN] = len(self.words)
        vocab[PAD_TOKEN] = len(self.words) + 1
        backend = new_tokenizer("word", unk_token=UNK_TOKEN, lowercase=bool(self.lowercase), nfkc=False)
        backend.model = tokenizer_models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN)
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=backend,
            unk_token=UNK_TOKEN,
            pad_token=PAD_TOKEN,
            model_input_names=["input_ids", "attention_mask"],
            clean_up_tokenization_spaces=False,
        )


def _sum_counts(pieces: list[pa.Table]) -> pa.Table:
    merged = pa.concat_tables(pieces).group_by("word").aggregate([("count", "sum")])
    return merged.rename_columns(["word", "count"])


def encode_corpus(corpus: datasets.Dataset, vocabulary: Vocabulary, chunk_tokens: int) -> datasets.Dataset:
    """Word ids of the corpus, packed into rows of whole sentences of at most ``chunk_tokens`` tokens (a sentence
    longer than that is cut into pieces of ``chunk_tokens``, as word2vec cuts at 1000 words).

    Columns: ``input_ids`` (int32; out-of-vocabulary words dropped, as word2vec and GloVe do, so a window closes
    over them) and ``sentence_lengths`` (int32, the row's sentences in order; their sum is the row's length).
    Sentences left without a word are dropped. Looked up in Arrow (no Python loop per word) in a cached map."""
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be at least 1, got {chunk_tokens}")
    encoded = corpus.with_format("arrow").map(
        _encode_batch,
        batched=True,
        batch_size=_CORPUS_MAP_BATCH,
        fn_kwargs={"words": pa.array(vocabulary.words, pa.string()), "chunk_tokens": chunk_tokens},
        remove_columns=corpus.column_names,
        features=datasets.Features(
            {
                "input_ids": datasets.List(datasets.Value("int32")),
                "sentence_lengths": datasets.List(datasets.Value("int32")),
            }
        ),
        desc="Encoding words as ids",
    )
    return encoded.with_format(None)


def _encode_batch(batch: pa.Table, words: pa.Array, chunk_tokens: int) -> pa.Table:
    lists = batch.column("words").combine_chunks()
    ids = pc.index_in(pc.list_flatten(lists), value_set=words)
    known = ids.is_valid()
    ids = ids.filter(known).to_numpy(zero_copy_only=False).astype(np.int32)
    sentence_of = pc.list_parent_indices(lists).filter(known).to_numpy(zero_copy_only=False)
    lengths = np.bincount(sentence_of, minlength=len(lists)) if len(sentence_of) else np.zeros(0, np.int64)
    lengths = lengths[lengths > 0]
    # Cut sentences longer than chunk_tokens into pieces of chunk_tokens (and a shorter last piece).
    pieces = -(-lengths // chunk_tokens)
    if (pieces > 1).any():
        lengths = _cut_lengths(lengths, pieces, chunk_tokens)
    # Greedy packing: a row takes sentences while they fit (a loop over sentences, not words).
    row_sentences: list[int] = []  # sentences per row
    tokens = count = 0
    for length in lengths.tolist():
        if count and tokens + length > chunk_tokens:
            row_sentences.append(count)
            tokens = count = 0
        tokens += length
        count += 1
    if count:
        row_sentences.append(count)
    sentence_offsets = np.concatenate([[0], np.cumsum(row_sentences)]).astype(np.int32)
    token_ends = np.concatenate([[0], np.cumsum(lengths)])
    token_offsets = token_ends[sentence_offsets].astype(np.int32)
    return pa.table(
        {
            "input_ids": pa.ListArray.from_arrays(pa.array(token_offsets), pa.array(ids, pa.int32())),
            "sentence_lengths": pa.ListArray.from_arrays(
                pa.array(sentence_offsets), pa.array(lengths.astype(np.int32), pa.int32())
            ),
        }
    )


def _cut_lengths(lengths: np.ndarray, pieces: np.ndarray, chunk_tokens: int) -> np.ndarray:
    """Each length replaced by its pieces of ``chunk_tokens`` (the last one shorter), in order."""
    cut = np.full(int(pieces.sum()), chunk_tokens, dtype=np.int64)
    last_piece = np.cumsum(pieces) - 1
    cut[last_piece] = lengths - (pieces - 1) * chunk_tokens
    return cut


def _flat_rows(batch: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The token ids and sentence lengths of a batch of encoded rows, concatenated."""
    ids = pc.list_flatten(batch.column("input_ids")).to_numpy(zero_copy_only=False)
    lengths = pc.list_flatten(batch.column("sentence_lengths")).to_numpy(zero_copy_only=False)
    return ids.astype(np.int64), lengths.astype(np.int64)


class Word2VecCollator:
    """Turns encoded rows (``input_ids``, ``sentence_lengths``) into word2vec training examples with negatives.

    Per call, as word2vec.c does per sentence: each word is kept with gensim's probability
    ``(sqrt(f / (sample * total)) + 1) * (sample * total) / f`` (f: its count, total: the vocabulary's total count;
    ``sample=0`` keeps all), discarded words leaving the window (so it reaches further); each kept centre word draws
    its window ``b`` uniformly in 1..window; pairs never cross a sentence; negatives come from the unigram^0.75
    distribution via a lookup table of 2^k slots (k from 20 to 24 by vocabulary size: each word's probability is
    rounded to a multiple of 2^-k, as word2vec.c's 1e8-slot table rounds it), drawn with uniform 32-bit integers:
    about 10x faster than ``np.searchsorted`` on a cumulative table and 20x faster than ``Generator.choice``.
    Negatives equal to the positive word are kept (word2vec.c skips them); a model may mask
    ``negative_ids == output_ids[:, None]``.

    Output, int64 tensors. skipgram: ``input_ids`` (N,) centres, ``output_ids`` (N,) contexts, ``negative_ids``
    (N, negative). cbow: ``input_ids`` (N, 2*window) the centre's context words packed to the left and padded with
    ``pad_token_id``, ``attention_mask`` (N, 2*window), ``output_ids`` (N,) centres, ``negative_ids``; a centre
    without any context word (a one-word sentence) gives no example. Skip-gram pairs come grouped by distance, not
    shuffled: a batch is one gradient step, so their order within it does not matter, and rows are shuffled by the
    sampler.

    With ``negative_block_size`` B > 0 the examples are shuffled and ``negative_ids`` is (ceil(N / B),
    ``shared_negatives``): the negatives each block of B consecutive examples (the last block: the rest) shares.

    Randomness: a numpy Generator seeded from ``seed``, a per-call counter and the DataLoader worker (its id and
    torch's per-worker seed), so workers differ and a seeded run repeats.
    """

    def __init__(
        self,
        counts: np.ndarray,
        architecture: str = "skipgram",
        window: int = 5,
        negative: int = 5,
        sample: float = 1e-3,
        pad_token_id: int = 0,
        seed: int = 0,
        negative_block_size: int = 0,
        shared_negatives: int = 32,
    ) -> None:
        counts = np.asarray(counts, dtype=np.float64)
        if architecture not in ("skipgram", "cbow"):
            raise ValueError(f"architecture must be 'skipgram' or 'cbow', got {architecture!r}")
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if negative < 1:
            raise ValueError(f"negative must be at least 1, got {negative}")
        if sample < 0:
            raise ValueError(f"sample must be 0 (off) or positive, got {sample}")
        if counts.ndim != 1 or len(counts) == 0 or (counts < 0).any() or counts.sum() <= 0:
            raise ValueError("counts must be a non-empty 1-D array of non-negative counts with a positive sum")
        self.architecture = architecture
        self.window = window
        self.negative = negative
        self.sample = sample
        self.pad_token_id = pad_token_id
        self.seed = seed
        self.negative_block_size = negative_block_size
        self.shared_negatives = shared_negatives
        self.keep_probability = keep_probabilities(counts, sample).astype(np.float32)
        self.negative_distribution = counts**0.75 / (counts**0.75).sum()
        self._table_bits = int(np.clip(math.ceil(math.log2(len(counts))) + 7, 20, 24))
        # Slot s (centre (s + 0.5) / size) holds the first word whose cumulative probability exceeds that centre.
        size = 1 << self._table_bits
        slot_ends = np.clip(np.ceil(np.cumsum(self.negative_distribution) * size - 0.5), 0, size).astype(np.int64)
        slot_ends[-1] = size
        slots_per_word = np.diff(slot_ends, prepend=0)
        self._negative_table = np.repeat(np.arange(len(counts), dtype=np.int32), slots_per_word)
        self._calls = 0

    def _generator(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        worker = (info.id + 1, info.seed % (1 << 63)) if info is not None else (0, 0)
        self._calls += 1
        return np.random.default_rng([self.seed, self._calls, *worker])

    def draw_negatives(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Word ids drawn from the unigram^0.75 distribution."""
        slots = rng.integers(0, 1 << 32, size=shape, dtype=np.uint32) >> np.uint32(32 - self._table_bits)
        return self._negative_table[slots].astype(np.int64)

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if rows and "sentence_lengths" not in rows[0]:
            raise ValueError(
                "rows lack 'sentence_lengths' (the Trainer drops columns the model does not take: set "
                "remove_unused_columns=False)"
            )
        ids = np.concatenate([np.asarray(row["input_ids"], dtype=np.int64).reshape(-1) for row in rows])
        lengths = np.concatenate([np.asarray(row["sentence_lengths"], dtype=np.int64).reshape(-1) for row in rows])
        if lengths.sum() != len(ids):
            raise ValueError(f"sentence_lengths add up to {lengths.sum()} but the rows hold {len(ids)} input_ids")
        rng = self._generator()
        sentence = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        if self.sample > 0:
            kept = rng.random(len(ids), dtype=np.float32) < self.keep_probability[ids]
            ids, sentence = ids[kept], sentence[kept]
        reach = rng.integers(1, self.window + 1, size=len(ids), dtype=np.int8)  # the dynamic window of each centre
        if self.architecture == "skipgram":
            centres, contexts = skipgram_pairs(ids, sentence, reach, self.window)
            examples = {"input_ids": centres, "output_ids": contexts}
        else:
            contexts, mask, centres = cbow_examples(ids, sentence, reach, self.window, self.pad_token_id)
            examples = {"input_ids": contexts, "attention_mask": mask, "output_ids": centres}
        count = len(examples["output_ids"])
        if self.negative_block_size:  # blocks of shuffled examples share their negatives (see Word2VecConfig)
            order = rng.permutation(count)  # a block mixes centre words and distances
            examples = {key: value[order] for key, value in examples.items()}
            negatives = self.draw_negatives(rng, (-(-count // self.negative_block_size), self.shared_negatives))
        else:
            negatives = self.draw_negatives(rng, (count, self.negative))
        return {
            **{key: torch.from_numpy(value) for key, value in examples.items()},
            "negative_ids": torch.from_numpy(negatives),
        }


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Subsampling keep probability of each word, as gensim computes it: ``(sqrt(f/t) + 1) * t/f`` with
    ``t = sample * total``, capped at 1 (1 everywhere when ``sample`` is 0)."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    with np.errstate(divide="ignore"):
        probability = (np.sqrt(counts / threshold) + 1) * threshold / counts
    return np.minimum(probability, 1.0)


def skipgram_pairs(
    ids: np.ndarray, sentence: np.ndarray, reach: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """(centre, context) pairs: position j is a context of centre i when 0 < |i - j| <= reach[i] and both lie in the
    same sentence; one vectorized pass per distance."""
    centres: list[np.ndarray] = []
    contexts: list[np.ndarray] = []
    for distance in range(1, min(window, max(len(ids) - 1, 0)) + 1):
        same = sentence[distance:] == sentence[:-distance]  # positions i and i + distance
        left, right = ids[:-distance], ids[distance:]
        forward = same & (reach[:-distance] >= distance)  # centre i, context i + distance
        backward = same & (reach[distance:] >= distance)  # centre i + distance, context i
        centres += [left[forward], right[backward]]
        contexts += [right[forward], left[backward]]
    if not centres:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(centres).astype(np.int64), np.concatenate(contexts).astype(np.int64)


def cbow_examples(
    ids: np.ndarray, sentence: np.ndarray, reach: np.ndarray, window: int, pad_token_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(contexts (N, 2*window) packed left and padded, mask, centres (N,)) for every centre with a context word."""
    positions = np.arange(len(ids))
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    neighbours = positions[:, None] + offsets[None, :]
    inside = (neighbours >= 0) & (neighbours < len(ids))
    neighbours = np.clip(neighbours, 0, max(len(ids) - 1, 0))
    valid = inside & (np.abs(offsets)[None, :] <= reach[:, None])
    if len(ids):
        valid &= sentence[neighbours] == sentence[:, None]
    has_context = valid.any(axis=1)
    valid, neighbours = valid[has_context], neighbours[has_context]
    # Pack left: row r's first valid.sum() slots take its context words in position order (row-major fill).
    mask = np.arange(2 * window)[None, :] < valid.sum(axis=1)[:, None]
    contexts = np.full(mask.shape, pad_token_id, dtype=np.int64)
    contexts[mask] = ids[neighbours[valid]]
    return contexts, mask.astype(np.int64), ids[has_context].astype(np.int64)


def cooccurrence_counts(
    encoded: datasets.Dataset,
    vocab_size: int,
    window: int = 10,
    distance_weighting: bool = True,
    symmetric: bool = True,
    shard_tokens: int = 5_000_000,
) -> datasets.Dataset:
    """GloVe's co-occurrence counts X_ij of an encoded corpus, as cooccur.c counts them: within a sentence, word j
    at distance d <= window after word i adds 1/d (1 without ``distance_weighting``) to X_ij, and to X_ji as well
    when ``symmetric`` (cooccur.c's default; without it only the left context is counted: row i, the earlier word).

    Columns ``input_ids`` (int32, the row word i), ``output_ids`` (int32, the column word j), ``cooccurrence``
    (float32 X_ij), sorted by i then j. The corpus is read in shards of about ``shard_tokens`` tokens (vectorized
    numpy per distance) summed into one scipy.sparse matrix: memory holds the whole matrix of the vocabulary (12
    bytes per non-zero, plus the shard's pairs, about 12 * shard_tokens bytes per distance). The result is written
    to an Arrow file beside ``encoded``'s cache files (reused on a second call) and memory-mapped; when ``encoded``
    lives in memory only, so does the result."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    cache_file = _cooccurrence_cache_file(encoded, vocab_size, window, distance_weighting, symmetric)
    if cache_file is not None and cache_file.is_file():
        logger.info("Co-occurrence counts reused from %s", cache_file)
        return datasets.Dataset.from_file(str(cache_file))
    matrix = scipy.sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for ids, lengths in _shards(encoded, shard_tokens):
        if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
            raise ValueError(f"input_ids outside 0..{vocab_size - 1} (vocab_size {vocab_size})")
        sentence = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        for distance in range(1, window + 1):
            if distance >= len(ids):
                break
            same = sentence[distance:] == sentence[:-distance]
            rows, columns = ids[:-distance][same], ids[distance:][same]
            weight = 1.0 / distance if distance_weighting else 1.0
            matrix = matrix + scipy.sparse.csr_matrix(
                (np.full(len(rows), weight), (rows, columns)), shape=(vocab_size, vocab_size)
            )
    if symmetric:
        matrix = matrix + matrix.T.tocsr()
    matrix.sum_duplicates()
    matrix.sort_indices()
    logger.info("Co-occurrence matrix: %d non-zero entries over %d words", matrix.nnz, vocab_size)
    features = datasets.Features(
        {
            "input_ids": datasets.Value("int32"),
            "output_ids": datasets.Value("int32"),
            "cooccurrence": datasets.Value("float32"),
        }
    )
    if cache_file is None:
        table = pa.concat_tables(_matrix_pieces(matrix)) if matrix.nnz else _empty_cooccurrence_table()
        return datasets.Dataset(table).cast(features)
    temporary = cache_file.with_name(f"{cache_file.name}.tmp-{os.getpid()}")
    with datasets.arrow_writer.ArrowWriter(features=features, path=str(temporary)) as writer:
        for piece in _matrix_pieces(matrix):
            writer.write_table(piece)
        writer.finalize()
    os.replace(temporary, cache_file)
    return datasets.Dataset.from_file(str(cache_file))


def _shards(encoded: datasets.Dataset, shard_tokens: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, sentence lengths) of consecutive groups of rows holding about ``shard_tokens`` tokens."""
    buffered: list[tuple[np.ndarray, np.ndarray]] = []
    tokens = 0
    for batch in encoded.with_format("arrow").iter(batch_size=256):
        ids, lengths = _flat_rows(batch)
        buffered.append((ids, lengths))
        tokens += len(ids)
        if tokens >= shard_tokens:
            yield np.concatenate([ids for ids, _ in buffered]), np.concatenate([lengths for _, lengths in buffered])
            buffered, tokens = [], 0
    if buffered:
        yield np.concatenate([ids for ids, _ in buffered]), np.concatenate([lengths for _, lengths in buffered])


def _matrix_pieces(matrix: scipy.sparse.csr_matrix) -> Iterator[pa.Table]:
    for start in range(0, matrix.shape[0], _COOCCURRENCE_WRITE_ROWS):
        block = matrix[start : start + _COOCCURRENCE_WRITE_ROWS].tocoo()
        if block.nnz == 0:
            continue
        yield pa.table(
            {
                "input_ids": pa.array((block.row + start).astype(np.int32)),
                "output_ids": pa.array(block.col.astype(np.int32)),
                "cooccurrence": pa.array(block.data.astype(np.float32)),
            }
        )


def _empty_cooccurrence_table() -> pa.Table:
    return pa.table(
        {
            "input_ids": pa.array([], pa.int32()),
            "output_ids": pa.array([], pa.int32()),
            "cooccurrence": pa.array([], pa.float32()),
        }
    )


def _cooccurrence_cache_file(
    encoded: datasets.Dataset, vocab_size: int, window: int, distance_weighting: bool, symmetric: bool
) -> Path | None:
    if not encoded.cache_files:
        return None
    key = datasets.fingerprint.Hasher.hash(
        [encoded._fingerprint, vocab_size, window, distance_weighting, symmetric, "cooccurrence-v1"]
    )
    return Path(encoded.cache_files[0]["filename"]).parent / f"cooccurrence-{key}.arrow"


__all__ = [
    "UNK_TOKEN",
    "WORD_PATTERN",
    "Vocabulary",
    "Word2VecCollator",
    "WordVectorDataArguments",
    "cbow_examples",
    "cooccurrence_counts",
    "corpus_files",
    "corpus_source",
    "encode_corpus",
    "keep_probabilities",
    "load_corpus",
    "skipgram_pairs",
    "tokenize_words",
]
