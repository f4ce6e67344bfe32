"""Text classification by nlpkit's LSTM/GRU classifier trained from scratch, with a tokenizer trained for the run
and, optionally, word embeddings started from GloVe/word2vec vectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from transformers import AutoModelForSequenceClassification

from nlpkit.config import model_arguments
from nlpkit.data.classification import ClassificationData
from nlpkit.embeddings import RESUMED_WORD_VECTORS, WordVectorArguments, start_from_word_vectors, word_vectors_name
from nlpkit.models.lstm_classifier import LSTMClassifierConfig
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.classification import Arguments as TaskArguments
from nlpkit.tasks.classification import build_trained
from nlpkit.tokenization import tokenizer_for_run, train_tokenizer
from nlpkit.training import Run


@dataclass
class TokenizerArguments(WordVectorArguments):
    """The tokenizer trained for the run, and the word vectors the embeddings may start from (``word_vectors``:
    checked as the arguments are parsed, see :class:`~nlpkit.embeddings.WordVectorArguments`)."""

    tokenizer_kind: Literal["word", "bpe"] = field(
        default="word", metadata={"help": "Word-level vocabulary, or BPE subwords (no unknown words)."}
    )
    vocab_size: int = field(default=20_000, metadata={"help": "Largest vocabulary, special tokens included."})
    min_frequency: int | None = field(
        default=None, metadata={"help": "Smallest count of a word (or merge) in the vocabulary (default 2)."}
    )
    lowercase: bool = field(default=True, metadata={"help": "Lowercase texts before tokenizing."})


Arguments = model_arguments(
    "LSTMClassifierArguments",
    {"lstm_classifier": LSTMClassifierConfig},
    base=TokenizerArguments,
    exclude=("vocab_size", "pad_token_id"),
)


def build(run: Run, data: ClassificationData) -> ModelSetup:
    if run.predict_only:  # do_train false: the trained classifier (output_dir's run)
        return build_trained(run)
    args, data_args = run.get(Arguments), run.get(TaskArguments)
    train_split = data.raw.splits["train"]
    columns = [column for column in (data_args.text_column, data_args.text_pair_column) if column]
    tokenizer = tokenizer_for_run(
        lambda: train_tokenizer(
            (text for column in columns for text in train_split[column][:]),
            kind=args.tokenizer_kind,
            vocab_size=args.vocab_size,
            min_frequency=args.min_frequency,
            lowercase=args.lowercase,
        ),
        resume_checkpoint=run.resume_checkpoint,
    )
    config = args.make_config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        num_labels=len(data.label_names),
        id2label=data.id2label,
        label2id=data.label2id,
    )
    model = AutoModelForSequenceClassification.from_config(config)
    vectors_found = None
    if args.word_vectors and run.resume_checkpoint is None:  # a checkpoint's embeddings replace them anyway
        vectors_found = start_from_word_vectors(
            args.word_vectors, tokenizer, model.get_input_embeddings(), lowercase=args.lowercase
        )

    shape = (
        f"{'bidirectional ' if config.bidirectional else ''}{config.num_hidden_layers}-layer {config.rnn_type.upper()}"
    )
    sizes = f"embeddings {config.embedding_size}, hidden size {config.hidden_size}, {config.pooling} pooling"
    tokenizer_text = f"{args.tokenizer_kind}-level tokenizer of {len(tokenizer)} tokens"
    vectors = word_vectors_name(args.word_vectors) if args.word_vectors else None
    dropouts = [("embedding", config.embedding_dropout), ("classifier", config.classifier_dropout)]
    if config.num_hidden_layers > 1:
        dropouts.insert(1, ("between layers", config.rnn_dropout))
    hyperparameters = {
        "model": f"{shape}, {sizes}",
        "tokenizer": tokenizer_text,
        "dropout": ", ".join(f"{value} ({where})" for where, value in dropouts),
    }
    if vectors:
        hyperparameters["word_vectors"] = vectors_found or RESUMED_WORD_VECTORS.format(name=vectors)
    description = (
        f"A {shape} text classifier ({sizes}) trained from scratch with [nlpkit](https://github.com/nlpkit/nlpkit), "
        f"with a {tokenizer_text} trained on the same training data"
        + (f" and word embeddings initialised from `{vectors}`." if vectors else ".")
    )
    return ModelSetup(
        model,
        tokenizer,
        tags=["lstm_classifier", config.rnn_type],
        description=description,
        hyperparameters=hyperparameters,
    )
