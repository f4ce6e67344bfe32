"""Word vectors trained from scratch: nlpkit's Word2Vec (``model: word2vec``; skip-gram or CBOW with negative
sampling) or GloVe (``model: glove``), over the run's vocabulary.

Word2Vec's examples are drawn by :class:`~nlpkit.data.word_vectors.Word2VecCollator` from the config's window,
negatives and subsampling threshold, so the config saved with the vectors says how they were trained. GloVe trains on
the co-occurrence counts of the chunks (its config's window, distance-weighted), computed once and cached.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict

from nlpkit.config import model_arguments
from nlpkit.data.word_vectors import Word2VecCollator, cooccurrence_counts
from nlpkit.models.glove import GloVeConfig, GloVeModel
from nlpkit.models.word2vec import Word2VecConfig, Word2VecModel
from nlpkit.tasks import ModelSetup, on_main_process_first
from nlpkit.training import Run

COOCCURRENCE_BLOCK = 1024  # co-occurrence entries per training row of GloVe

Arguments = model_arguments(
    "WordVectorModelArguments",
    {"word2vec": Word2VecConfig, "glove": GloVeConfig},
    exclude=("vocab_size", "pad_token_id", "bos_token_id", "eos_token_id"),
    choice_help="How the vectors are trained.",
)


def build(run: Run, data: Any) -> ModelSetup:
    """A new Word2Vec or GloVe model over the vocabulary, the vocabulary's tokenizer, and how its rows are made."""
    args = run.get(Arguments)
    vocabulary = data.vocabulary
    tokenizer = vocabulary.tokenizer()
    config = args.make_config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    if args.model_type == "word2vec":
        model = Word2VecModel(config)
        collator = Word2VecCollator(
            vocabulary.counts, architecture=config.architecture, window=config.window, negative=config.negative,
            sample=config.sample, pad_token_id=config.pad_token_id, seed=run.training_args.seed,
            negative_block_size=config.negative_block_size, shared_negatives=config.shared_negatives,
        )  # fmt: skip
        settings = {key: getattr(config, key) for key in ("architecture", "window", "negative", "sample")}
        return ModelSetup(
            model, tokenizer, tags=["word2vec", config.architecture], collator=collator,
            hyperparameters={"model": "word2vec", "embedding_size": config.embedding_size, **settings},
            description=f"Word2Vec ({config.architecture}, negative sampling) word vectors trained with nlpkit.",
        )  # fmt: skip
    model = GloVeModel(config)

    def encode(data: Any, tokenizer: Any, task_args: Any) -> DatasetDict:
        splits = {"train": data.train, **({"validation": data.validation} if data.validation is not None else {})}

        def blocks(rows: Any) -> Any:
            counts = cooccurrence_counts(rows, len(tokenizer), window=config.window).with_format("numpy")
            # Rows of COOCCURRENCE_BLOCK shuffled entries (GloVe shuffles its entries once, as cooccur.c's shuffle
            # step does): batch sizes count rows as for Word2Vec's chunks, and a batch mixes the whole matrix. The
            # columns are shuffled in numpy (datasets' shuffle + flatten_indices took 45 s for 3.3M entries); they
            # fit in memory, as the sparse matrix they were counted in did.
            order = np.random.default_rng(run.training_args.seed).permutation(len(counts))
            starts = range(0, len(order), COOCCURRENCE_BLOCK)
            columns = {name: counts[name][order] for name in counts.column_names}
            blocked = {name: [column[i : i + COOCCURRENCE_BLOCK] for i in starts] for name, column in columns.items()}
            return Dataset.from_dict(blocked).with_format("torch")

        return on_main_process_first(
            run, "counting co-occurrences", lambda: DatasetDict({split: blocks(rows) for split, rows in splits.items()})
        )

    settings = {key: getattr(config, key) for key in ("window", "x_max", "alpha")}
    return ModelSetup(
        model, tokenizer, tags=["glove"], encode=encode, collator=concatenate_blocks,
        hyperparameters={"model": "glove", "embedding_size": config.embedding_size, **settings},
        description="GloVe word vectors (the sum of word and context vectors) trained with nlpkit.",
    )  # fmt: skip


def concatenate_blocks(rows: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """GloVe's batch: the entries of the rows' blocks, as (N,) tensors of row words, column words and counts."""
    return {
        "input_ids": torch.cat([row["input_ids"] for row in rows]).long(),
        "output_ids": torch.cat([row["output_ids"] for row in rows]).long(),
        "cooccurrence": torch.cat([row["cooccurrence"] for row in rows]).float(),
    }
