"""Word vectors: a corpus, its vocabulary, training rows, the intrinsic evaluations (Google analogies, WordSim-353,
SimLex-999) after each evaluation, and an output folder with ``vectors.txt`` (word2vec text format). Models: nlpkit's
Word2Vec (skip-gram, CBOW) and GloVe, trained from scratch (``from_scratch.py``).

Training rows are chunks of whole sentences (``chunk_tokens`` words). Word2Vec's collator turns a batch of them into
(centre, context, negatives) examples with subsampling and dynamic windows drawn afresh each epoch; GloVe trains on
the corpus' co-occurrence counts instead (its ``ModelSetup.encode``). A small share of the chunks
(``validation_split_percentage``) is held out: its loss is the evaluation loss, beside the vectors' scores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pyarrow.compute as pc
import torch
import transformers
from transformers import Trainer

from nlpkit.data.loading import DataError, resolve_data_path
from nlpkit.data.word_vectors import Vocabulary, WordVectorDataArguments, corpus_source, encode_corpus, load_corpus
from nlpkit.tasks import CardDefaults, ModelSetup, card_languages, local_dataset_name, on_main_process_first
from nlpkit.training import Run, train_and_save
from nlpkit.word_vectors import VECTORS_FILE, WordVectors, evaluate_word_vectors, most_similar

logger = logging.getLogger("nlpkit")


@dataclass
class Arguments(WordVectorDataArguments):
    """The corpus arguments plus the held-out share, the evaluation sets and the neighbours shown at the end."""

    validation_split_percentage: float = field(
        default=1.0, metadata={"help": "Percent of the corpus' chunks held out for the evaluation loss (0: none)."}
    )
    evaluation_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder of questions-words.txt / wordsim353.tsv / simlex999.txt, scored after each evaluation."
        },
    )
    sample_words: list[str] = field(
        default_factory=lambda: ["good", "day", "king", "house"],
        metadata={"help": "Words whose nearest neighbours are printed and saved at the end of the run."},
    )
    dataset_description: str = field(default="", metadata={"help": "What the corpus is, for the model card."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.validation_split_percentage < 100:
            raise ValueError(
                f"'validation_split_percentage' must be in [0, 100), got {self.validation_split_percentage}"
            )
        if self.evaluation_dir is not None and not resolve_data_path(self.evaluation_dir).is_dir():
            raise ValueError(f"evaluation_dir: no folder at {resolve_data_path(self.evaluation_dir)}")


# TrainingArguments defaults of word vectors (a recipe and its YAML files override them).
DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 5,
    # AdaGrad moves only the rows a batch touches, each by its own step size, as word2vec's per-pair SGD and GloVe
    # do. Dense Adam moves every row by its momentum every step, and at any rate that learns in a few epochs all
    # the vectors drift into one direction (cosine ~1.00 between any two words on the benchmark corpus).
    "optim": "adagrad",
    "learning_rate": 0.4,
    "warmup_steps": 0.2,  # AdaGrad's first step moves each coordinate by the full rate: warming up keeps it small
    "max_grad_norm": 0.0,  # word2vec and GloVe do not clip (and the norm of every row costs a pass per step)
    "lr_scheduler_type": "linear",  # word2vec's learning rate decays linearly to (almost) zero
    "weight_decay": 0.0,
    "per_device_train_batch_size": 16,  # chunks of chunk_tokens words
    "per_device_eval_batch_size": 16,
    "remove_unused_columns": False,  # the collator reads sentence_lengths, which forward() does not take
    "prediction_loss_only": True,  # the evaluation is the held-out loss and the vectors' scores: no logits kept
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_steps": 50,
    "metric_for_best_model": "loss",
    "load_best_model_at_end": True,  # end with the best evaluation's weights (training.keep_best_where_evaluated)
}

CARD = CardDefaults("feature-extraction", "AutoModel", "Word Vectors")


@dataclass
class WordVectorData:
    """The vocabulary and the encoded chunks, split into training and held-out rows."""

    vocabulary: Vocabulary
    train: datasets.Dataset
    validation: datasets.Dataset | None
    corpus_tokens: int  # in-vocabulary words of the training chunks (one epoch)


def load_data(run: Run) -> WordVectorData:
    """The corpus, its vocabulary (``min_count``) and the training chunks; DataError naming the file on bad input."""
    args = run.get(Arguments)
    return on_main_process_first(run, "reading the corpus", lambda: _load(args, seed=run.training_args.seed))


def _load(args: Arguments, seed: int) -> WordVectorData:
    corpus = load_corpus(args)
    vocabulary = Vocabulary.from_corpus(corpus, args.min_count, args.max_vocab_size, source=corpus_source(args))
    chunks = encode_corpus(corpus, vocabulary, args.chunk_tokens)
    validation = None
    if args.validation_split_percentage > 0 and len(chunks) > 1:
        held_out = max(1, round(len(chunks) * args.validation_split_percentage / 100))
        split = chunks.train_test_split(test_size=held_out, seed=seed)
        chunks, validation = split["train"], split["test"]
    # Counted in Arrow: the ids are never turned into Python lists (the corpus may not fit in memory)
    tokens = pc.sum(pc.list_value_length(chunks.with_format("arrow")["input_ids"])).as_py() or 0
    if tokens == 0:
        raise DataError(f"{corpus_source(args)}: no word of the corpus is in the vocabulary")
    logger.info(
        "Corpus: %d words in the vocabulary of %d (min_count %d), %d training chunks%s",
        tokens, len(vocabulary.words), args.min_count, len(chunks),
        f", {len(validation)} held out" if validation is not None else "",
    )  # fmt: skip
    return WordVectorData(vocabulary, chunks, validation, tokens)


def vectors_of(model: transformers.PreTrainedModel, vocabulary: Vocabulary) -> WordVectors:
    """The model's word vectors, one per vocabulary word (in the vocabulary's frequency order)."""
    weight = model.word_vectors().detach().float().cpu().numpy()
    return WordVectors(list(vocabulary.words), weight[: len(vocabulary.words)])


class WordVectorTrainer(Trainer):
    """A Trainer whose evaluation logs also hold the vectors' scores (analogy accuracy, WordSim-353 and SimLex-999
    Spearman, each with the share of questions the vocabulary covers): ``metric_for_best_model`` can be any of them.
    """

    vocabulary: Vocabulary
    evaluation_dir: Path | None = None

    @staticmethod
    def get_optimizer_cls_and_kwargs(args: Any, model: Any = None) -> tuple[Any, Any]:
        """The Trainer's optimizer, AdaGrad fused on a CPU: its one kernel over the two matrices took 3 ms a step
        where the default per-tensor loop took 12 (a fifth of a skip-gram step on the benchmark corpus)."""
        optimizer_class, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
        if optimizer_class is torch.optim.Adagrad and args.device.type == "cpu":
            kwargs = {**kwargs, "fused": True}
        return optimizer_class, kwargs

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        for prefix in ("eval", "test"):
            if f"{prefix}_loss" in logs and self.evaluation_dir is not None:  # in place: evaluate() returns logs
                scores = evaluate_word_vectors(vectors_of(self.model, self.vocabulary), self.evaluation_dir)
                logs.update({f"{prefix}_{name}": value for name, value in scores.items()})
        super().log(logs, start_time)


def neighbours(vectors: WordVectors, words: list[str], topn: int = 8) -> dict[str, list[tuple[str, float]]]:
    """The nearest neighbours of each known word of ``words``."""
    return {word: most_similar(vectors, [word], topn=topn) for word in words if word in vectors.index}


def add_vectors(vocabulary: Vocabulary, model: transformers.PreTrainedModel) -> Callable[[Path], None]:
    """``add_to_folder`` of :func:`~nlpkit.training.train_and_save`: ``vectors.txt`` (word2vec text format, which
    gensim's ``KeyedVectors.load_word2vec_format`` reads) and the vocabulary's counts beside the model."""

    def add(staging: Path) -> None:
        vectors_of(model, vocabulary).save_word2vec_format(staging / VECTORS_FILE)
        vocabulary.save(staging)

    return add


USAGE = """Its vectors are in `vectors.txt` (word2vec text format, one word per line in frequency order):

```python
from gensim.models import KeyedVectors

vectors = KeyedVectors.load_word2vec_format("{folder}/vectors.txt")
print(vectors.most_similar("king"))
```

or `nlpkit similar {folder} king` (and `nlpkit similar {folder} king - man + woman`). `--word_vectors {folder}`
starts the embeddings of nlpkit's LSTM classifier, BiLSTM-CRF and RNN seq2seq from them."""


def train(run: Run, data: WordVectorData, setup: ModelSetup) -> dict[str, Any]:
    """Train on the chunks (or the model's own encoding of them), score the vectors after each evaluation, save the
    folder with ``vectors.txt`` and print the sample words' neighbours."""
    from nlpkit.cards import ModelCardInfo

    args = run.get(Arguments)
    model = setup.model
    # numpy rows: the collator reads the ids as arrays, without a Python list per row on every step
    train_rows = data.train.with_format("numpy")
    eval_rows = data.validation.with_format("numpy") if data.validation is not None else None
    if setup.encode is not None:  # GloVe: the co-occurrence counts of the chunks
        encoded = setup.encode(data, setup.tokenizer, args)
        train_rows, eval_rows = encoded["train"], encoded.get("validation")

    class _Trainer(WordVectorTrainer):
        vocabulary = data.vocabulary
        evaluation_dir = resolve_data_path(args.evaluation_dir) if args.evaluation_dir else None

    training_args = run.training_args
    if eval_rows is None and training_args.eval_strategy != "no":
        logger.info("No held-out chunks (validation_split_percentage 0): no evaluation during training")
        training_args.eval_strategy = transformers.IntervalStrategy.NO
    card = ModelCardInfo(
        pipeline_tag=CARD.pipeline_tag,
        auto_class=CARD.auto_class,
        task_name=CARD.task_name,
        datasets=[args.dataset_name] if args.dataset_name else [],
        dataset_description=args.dataset_description or corpus_source(args),
        tags=["word-vectors", *setup.tags],
        language=card_languages(args),
        local_dataset=local_dataset_name(args),
        example_inputs=[" ".join(args.sample_words) or "king"],
        description=setup.description + "\n\n" + USAGE.format(folder="path/to/this/folder"),
        hyperparameters={
            **setup.hyperparameters,
            "min_count": args.min_count,
            "vocabulary": len(data.vocabulary.words),
            "corpus_words": data.corpus_tokens,
        },
    )
    trainer, results = train_and_save(
        run,
        model=model,
        processing_class=setup.tokenizer,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        data_collator=setup.collator or transformers.default_data_collator,
        compute_metrics=None,
        card=card,
        trainer_class=_Trainer,
        add_to_folder=add_vectors(data.vocabulary, model),
    )
    if trainer.is_world_process_zero():
        vectors = vectors_of(model, data.vocabulary)
        for word, similar in neighbours(vectors, args.sample_words).items():
            print(f"{word}: " + ", ".join(f"{other} {score:.2f}" for other, score in similar), flush=True)
    return results
