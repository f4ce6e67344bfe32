"""Initialise an embedding matrix from pretrained word vectors (GloVe / word2vec text format)."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import TextIO

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


def load_word_vectors(
    path: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    embedding: nn.Embedding,
    lowercase: bool = False,
) -> int:
    """Copy the vectors of the tokenizer's words from a word-vector text file into `embedding`; return how many.

    The file has one word per line followed by its values, separated by spaces (GloVe), optionally after a word2vec
    header line "<count> <dimension>"; `.gz` files are read too. Rows for words outside the vocabulary are skipped,
    so are special tokens and the padding row, and rows of the embedding without a vector keep their values. When
    a word occurs twice (e.g. "The" and "the" with `lowercase=True`), its first row wins (files list frequent forms
    first).

    Args:
        path: the vector file.
        tokenizer: gives the vocabulary (`get_vocab()`: token -> row of `embedding`).
        embedding: the layer to fill in place (e.g. `model.get_input_embeddings()`).
        lowercase: lowercase the file's words before looking them up (for a lowercasing tokenizer).

    Raises:
        ValueError: a row or the header does not have `embedding.embedding_dim` values (the message names the file
            and line), or the vocabulary has ids beyond the embedding's rows.
    """
    path = Path(path)
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

    rows: list[int] = []
    vectors: list[list[float]] = []
    seen: set[int] = set()
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.rstrip().split(" ")
            if line_number == 1 and len(fields) == 2 and all(field.isdigit() for field in fields):
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
            row = vocab.get(word)
            if row is None or row in skipped_ids or row in seen:
                continue
            try:
                vectors.append([float(value) for value in fields[1:]])
            except ValueError as error:
                raise ValueError(f"{path}:{line_number}: {error}") from None
            rows.append(row)
            seen.add(row)

    if rows:
        with torch.no_grad():
            weight = embedding.weight
            weight[torch.tensor(rows, device=weight.device)] = torch.tensor(
                vectors, dtype=weight.dtype, device=weight.device
            )
    logger.info("Loaded %d word vectors from %s (vocabulary of %d tokens)", len(rows), path, len(vocab))
    return len(rows)


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


__all__ = ["load_word_vectors"]
