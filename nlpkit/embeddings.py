"""Start an embedding matrix from pretrained word vectors: GloVe / word2vec text files, or nlpkit's own.

A ``word_vectors`` value (:class:`WordVectorArguments`, shared by the LSTM classifier, the BiLSTM-CRF and the RNN
encoder-decoder) names a word2vec/GloVe text file (``.gz`` too) or an nlpkit word-vector output folder, whose
``vectors.txt`` is read (:func:`resolve_word_vectors`). The recipe checks the path and the vectors' width when it
parses its arguments, before anything loads, and fills the embeddings once the model is built
(:func:`start_from_word_vectors`).

Which rows get a vector (:func:`load_word_vectors`): every word of the tokenizer's vocabulary
(:func:`vocabulary_words`: a word-level vocabulary's tokens, or a subword vocabulary's pieces that are whole words)
takes the file's row of the same word, else the file's row of its lowercased form ("Paris" takes "paris" when the
file has no "Paris": nlpkit's vectors are lowercased by default, the BiLSTM-CRF's vocabulary is cased). Special
tokens and the padding row never do; rows without a vector keep their random start.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TextIO

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from nlpkit.data.loading import resolve_data_path
from nlpkit.errors import ConfigError
from nlpkit.word_vectors import VECTORS_FILE  # what an nlpkit word-vector output folder holds

logger = logging.getLogger(__name__)

# The file an nlpkit word-vector output folder keeps its vectors in (word2vec text format, with a header).

# The card's word_vectors line of a run resumed from a checkpoint (its embeddings come from there, not the file).
RESUMED_WORD_VECTORS = "{name} (loaded by the run this one resumes)"

WORD_VECTORS_HELP = (
    "Word vectors to start the word embeddings from: a GloVe/word2vec text file (.txt or .gz) or an nlpkit "
    f"word-vector output folder (its {VECTORS_FILE}); their width must be embedding_size."
)


def word_vectors_field(help_text: str = WORD_VECTORS_HELP) -> Any:
    """The ``word_vectors`` argument of a recipe (unset by default: the embeddings start at random)."""
    return field(default=None, metadata={"help": help_text})


@dataclass
class WordVectorArguments:
    """Mixin of a model's arguments: ``word_vectors``, checked as the arguments are parsed (the path exists, the
    model takes vectors, their width is the model's ``embedding_size``), so a mistake stops the run before any data
    or model loads. Combined with :class:`nlpkit.config.ModelSettings` (``model_arguments(base=...)``), it reads
    the chosen model and its ``embedding_size`` from there."""

    word_vectors: str | None = word_vectors_field()

    # The models (the ``model`` key's values) that start from vectors; None: every model of the arguments.
    word_vector_models: ClassVar[tuple[str, ...] | None] = None

    def __post_init__(self) -> None:
        if self.word_vectors is None:
            return
        model_type = getattr(self, "model_type", None)
        if self.word_vector_models is not None and model_type not in self.word_vector_models:
            raise ValueError(
                f"word_vectors applies to model {' or '.join(self.word_vector_models)} only, not {model_type}"
            )
        path = resolve_word_vectors(self.word_vectors)
        embedding_size = self._embedding_size()
        if embedding_size is not None:
            check_word_vector_dimension(path, embedding_size)

    def _embedding_size(self) -> int | None:
        """The chosen model's ``embedding_size``: the value given, the recipe's default, else its config's."""
        settings = getattr(self, "settings", None)
        if settings is None:
            return None
        if settings().get("embedding_size") is not None:
            return settings()["embedding_size"]
        for item in dataclasses.fields(self.config_class):
            if item.name == "embedding_size" and isinstance(item.default, int):
                return item.default
        return None


def resolve_word_vectors(value: str | Path) -> Path:
    """The vector file a ``word_vectors`` value names: the file itself, or the ``vectors.txt`` of a folder (an
    nlpkit word-vector output folder). ``nlpkit:``, ``$VARS`` and ``~`` are expanded as for data files.

    Raises:
        ValueError: one line naming ``word_vectors`` and the path: nothing there, or a folder without vectors.txt.
    """
    path = resolve_data_path(value)
    if path.is_dir():
        if not (path / VECTORS_FILE).is_file():
            raise ValueError(
                f"word_vectors: {path} is a folder without {VECTORS_FILE} (give a word-vector output folder of "
                "nlpkit, or a GloVe/word2vec text file)"
            )
        return path / VECTORS_FILE
    if not path.is_file():
        raise ValueError(f"word_vectors: no file at {path}")
    return path


def word_vector_dimension(path: str | Path) -> int:
    """The width of the vectors of a text file, from its first line only: a word2vec header ("<count> <dimension>")
    gives it, otherwise the number of values of the first row (GloVe).

    Raises:
        ValueError: the file holds no vectors (empty, or blank lines only), naming ``word_vectors`` and the file.
    """
    path = Path(path)
    with _open_text(path) as handle:
        for line in handle:
            fields = line.rstrip().split(" ")
            if fields == [""]:
                continue
            if _is_header(fields):
                return int(fields[1])
            return len(fields) - 1
    raise ValueError(f"word_vectors: {path} holds no vectors")


def check_word_vector_dimension(path: str | Path, embedding_size: int) -> None:
    """A one-line error unless the vectors of ``path`` are ``embedding_size`` wide (read from the first line only).

    Raises:
        ValueError: naming ``word_vectors``, the file and line, its width and the model's ``embedding_size``.
    """
    path = Path(path)
    dimension = word_vector_dimension(path)
    if dimension == embedding_size:
        return
    with _open_text(path) as handle:
        header = _is_header(handle.readline().rstrip().split(" "))
    found = (
        f"the header gives dimension {dimension}"
        if header
        else f"expected a word and {embedding_size} values, found {dimension}"
    )
    raise ValueError(
        f"word_vectors: {path}:1: {found}: the vectors are {dimension} wide, the model's embedding_size is "
        f"{embedding_size} (set embedding_size {dimension}, or give vectors {embedding_size} wide)"
    )


def vocabulary_words(tokenizer: PreTrainedTokenizerBase) -> dict[str, list[int]]:
    """The words of a vocabulary and their rows (word -> ids), special tokens left out.

    A word-level vocabulary's tokens are words. In a subword vocabulary (BPE, ...) a piece is a whole word when the
    tokenizer encodes that word, on its own after a space, as that piece alone: "▁house" is "house", a continuation
    piece such as "ing" is none; a punctuation piece ("," after a lone "▁") counts too, since the pre-tokenizer
    always splits punctuation off. Two pieces may spell one word (byte-level "the" and "Ġthe"): both rows get it.
    """
    special = set(tokenizer.all_special_tokens)
    vocab = {token: row for token, row in tokenizer.get_vocab().items() if token not in special}
    words: dict[str, list[int]] = {}
    if _is_word_level(tokenizer):
        for token, row in vocab.items():
            words.setdefault(token, []).append(row)
        return words

    pieces = sorted(vocab, key=vocab.get)
    spelled = [tokenizer.convert_tokens_to_string([piece]).strip() for piece in pieces]
    encodings = tokenizer.backend_tokenizer.encode_batch([f" {word}" for word in spelled], add_special_tokens=False)
    for piece, word, encoding in zip(pieces, spelled, encodings):
        tokens = encoding.tokens
        if len(tokens) == 2 and _is_punctuation(word) and not tokenizer.convert_tokens_to_string([tokens[0]]).strip():
            tokens = tokens[1:]  # a lone word-boundary marker before punctuation
        if word and tokens == [piece]:
            words.setdefault(word, []).append(vocab[piece])
    return words


def load_word_vectors(
    path: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    embedding: nn.Embedding,
    lowercase: bool = False,
) -> int:
    """Copy the vectors of the tokenizer's words from a word-vector text file into `embedding`; return how many
    rows got one.

    The file has one word per line followed by its values, separated by spaces (GloVe), optionally after a word2vec
    header line "<count> <dimension>"; `.gz` files are read too, and a folder means its `vectors.txt`. A vocabulary
    word (:func:`vocabulary_words`) takes the file's row of the same word, else the row of its lowercased form.
    Rows for words outside the vocabulary are skipped, so are special tokens and the padding row, and rows of the
    embedding without a vector keep their values. When a word occurs twice (e.g. "The" and "the" with
    `lowercase=True`), its first row wins (files list frequent forms first).

    Args:
        path: the vector file (or a folder holding `vectors.txt`).
        tokenizer: gives the vocabulary (`get_vocab()`: token -> row of `embedding`).
        embedding: the layer to fill in place (e.g. `model.get_input_embeddings()`).
        lowercase: lowercase the file's words before looking them up (for a lowercasing tokenizer).

    Raises:
        ValueError: a row or the header does not have `embedding.embedding_dim` values (the message names the file
            and line), or the vocabulary has ids beyond the embedding's rows.
    """
    path = resolve_word_vectors(path)
    dim = embedding.embedding_dim
    vocab = tokenizer.get_vocab()
    if vocab and max(vocab.values()) >= embedding.num_embeddings:
        raise ValueError(
            f"the tokenizer has ids up to {max(vocab.values())} but the embedding has {embedding.num_embeddings} "
            "rows; resize the model's embeddings first"
        )
    skipped_ids = set(tokenizer.all_special_ids)
    if embedding.padding_idx is not None:
        skipped_ids.add(embedding.padding_idx)
    words = vocabulary_words(tokenizer)
    exact = {word: [row for row in rows if row not in skipped_ids] for word, rows in words.items()}
    by_lowercase: dict[str, list[int]] = {}  # "paris" -> the rows of "Paris", "PARIS"
    for word, rows in exact.items():
        if word.lower() != word:
            by_lowercase.setdefault(word.lower(), []).extend(rows)

    # row -> (0 for the word itself, 1 for its lowercased form; the vector): the word itself wins wherever it is.
    found: dict[int, tuple[int, list[float]]] = {}
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.rstrip().split(" ")
            if line_number == 1 and _is_header(fields):
                if int(fields[1]) != dim:
                    raise ValueError(f"{path}:1: the header gives dimension {fields[1]}, the embedding has {dim}")
                continue
            if fields == [""]:  # blank line
                continue
            if len(fields) != dim + 1:
                raise ValueError(
                    f"{path}:{line_number}: expected a word and {dim} values, found {len(fields) - 1} values"
                )
            word = fields[0].lower() if lowercase else fields[0]
            targets = [(0, row) for row in exact.get(word, ())] + [(1, row) for row in by_lowercase.get(word, ())]
            targets = [(rank, row) for rank, row in targets if row not in found or found[row][0] > rank]
            if not targets:
                continue
            try:
                vector = [float(value) for value in fields[1:]]
            except ValueError as error:
                raise ValueError(f"{path}:{line_number}: {error}") from None
            for rank, row in targets:
                found[row] = (rank, vector)

    if found:
        rows = list(found)
        with torch.no_grad():
            weight = embedding.weight
            weight[torch.tensor(rows, device=weight.device)] = torch.tensor(
                [found[row][1] for row in rows], dtype=weight.dtype, device=weight.device
            )
    logger.info("Loaded %d word vectors from %s (vocabulary of %d tokens)", len(found), path, len(vocab))
    return len(found)


def start_from_word_vectors(
    value: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    embedding: nn.Embedding,
    *,
    lowercase: bool = False,
) -> str:
    """Fill ``embedding`` from the ``word_vectors`` value (a file or an nlpkit word-vector folder) and return what
    the model card says of it: ``"NAME (FOUND of TOTAL words found)"``. TOTAL is the vocabulary's size for a
    word-level tokenizer; for a subword one it counts the pieces that are whole words, and the card adds the
    vocabulary's size. Call it on a new model, not on one resumed from a checkpoint (whose embeddings replace it).

    Raises:
        ConfigError: one line naming ``word_vectors`` (no file, vectors of another width, a malformed row).
    """
    try:
        found = load_word_vectors(value, tokenizer, embedding, lowercase=lowercase)
    except ValueError as error:
        message = str(error)
        raise ConfigError(message if message.startswith("word_vectors") else f"word_vectors: {message}") from None
    name = word_vectors_name(value)
    if _is_word_level(tokenizer):
        return f"{name} ({found} of {len(tokenizer)} words found)"
    whole_words = sum(len(rows) for rows in vocabulary_words(tokenizer).values())
    return f"{name} ({found} of {whole_words} words found, among {len(tokenizer)} subword pieces)"


def word_vectors_name(value: str | Path) -> str:
    """How a card names the vectors: the file's name, or the folder's (an nlpkit word-vector output folder)."""
    return Path(str(value).rstrip("/")).name


def _is_word_level(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether every token is a word (a word-level vocabulary, or a tokenizer without a fast backend to ask)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is None or type(backend.model).__name__ == "WordLevel"


def _is_header(fields: list[str]) -> bool:
    return len(fields) == 2 and all(field.isdigit() for field in fields)


def _is_punctuation(text: str) -> bool:
    """Whether every character is punctuation as the Punctuation pre-tokenizer sees it (ASCII symbols included)."""
    return bool(text) and all(
        (char.isascii() and not char.isalnum() and not char.isspace()) or unicodedata.category(char).startswith("P")
        for char in text
    )


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


__all__ = [
    "RESUMED_WORD_VECTORS",
    "VECTORS_FILE",
    "WordVectorArguments",
    "check_word_vector_dimension",
    "load_word_vectors",
    "resolve_word_vectors",
    "start_from_word_vectors",
    "vocabulary_words",
    "word_vector_dimension",
    "word_vectors_field",
    "word_vectors_name",
]
