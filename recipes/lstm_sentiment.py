"""Train an LSTM/GRU sentiment classifier from scratch (or any single-label text classifier), tokenizer included.

    accelerate launch recipes/lstm_sentiment.py                  # offline quickstart on nlpkit's sample data
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/lstm_sentiment.py \
        --config recipes/configs/lstm_sentiment/sst2_local.yaml     # SST-2 from local TSV files
    accelerate launch recipes/lstm_sentiment.py \
        --config recipes/configs/lstm_sentiment/sst2_hub.yaml       # SST-2 from the Hub (stanfordnlp/sst2)

The tokenizer (word-level or BPE) is trained on the training split of each run and saved with the model; the word
embeddings can start from a GloVe/word2vec text file (`--word_vectors glove.6B.100d.txt`). The saved folder loads
with transformers alone (`trust_remote_code=True`) and with `nlpkit predict`. Any key of the config file can be
overridden on the command line (`--hidden_size 128`); `--help` lists them.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from transformers import AutoModelForSequenceClassification

from nlpkit.cards import ModelCardInfo
from nlpkit.cli import recipe_main
from nlpkit.config import ConfigError, parse_args
from nlpkit.data.loading import resolve_data_path
from nlpkit.embeddings import load_word_vectors
from nlpkit.models.lstm_classifier import LSTMClassifierConfig
from nlpkit.tasks.classification import (
    CLASSIFICATION_DEFAULTS,
    TextClassificationArguments,
    load_data,
    run_text_classification,
)
from nlpkit.tokenization import tokenizer_for_run, train_tokenizer
from nlpkit.training import TrainingArguments, start_run

CONFIGS = Path(__file__).resolve().parent / "configs" / "lstm_sentiment"

DEFAULTS = {
    **CLASSIFICATION_DEFAULTS,
    "output_dir": "outputs/lstm_sentiment",
    "learning_rate": 2e-3,
    "num_train_epochs": 3,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 256,
}

MODEL = LSTMClassifierConfig()  # the model's defaults are the recipe's


@dataclass
class ModelArguments:
    """The tokenizer trained for the run and the size and shape of the recurrent classifier."""

    tokenizer_kind: Literal["word", "bpe"] = field(
        default="word", metadata={"help": "Word-level vocabulary, or BPE subwords (no unknown words)."}
    )
    vocab_size: int = field(default=20_000, metadata={"help": "Largest vocabulary, special tokens included."})
    min_frequency: int | None = field(
        default=None, metadata={"help": "Smallest count of a word (or merge) in the vocabulary (default 2)."}
    )
    lowercase: bool = field(default=True, metadata={"help": "Lowercase texts before tokenizing."})
    embedding_dim: int = field(default=MODEL.embedding_dim, metadata={"help": "Width of the word embeddings."})
    hidden_size: int = field(default=MODEL.hidden_size, metadata={"help": "Recurrent state width per direction."})
    num_layers: int = field(default=MODEL.num_layers, metadata={"help": "Stacked recurrent layers."})
    cell: Literal["lstm", "gru"] = field(default=MODEL.cell, metadata={"help": "Recurrent cell."})
    bidirectional: bool = field(default=MODEL.bidirectional, metadata={"help": "Also read right to left."})
    pooling: Literal["last", "max", "mean"] = field(
        default=MODEL.pooling, metadata={"help": "Sentence vector: final states, or max/mean over the outputs."}
    )
    embedding_init_std: float = field(
        default=MODEL.embedding_init_std, metadata={"help": "Standard deviation of the random initial embeddings."}
    )
    embedding_dropout: float = field(default=MODEL.embedding_dropout, metadata={"help": "Dropout on embeddings."})
    rnn_dropout: float = field(default=MODEL.rnn_dropout, metadata={"help": "Dropout between recurrent layers."})
    classifier_dropout: float = field(
        default=MODEL.classifier_dropout, metadata={"help": "Dropout before the classification head."}
    )
    word_vectors: str | None = field(
        default=None,
        metadata={"help": "GloVe/word2vec text file (.txt or .gz) to start the embeddings from; its width must be "
                  "embedding_dim."},
    )  # fmt: skip
    dataset_description: str = field(default="", metadata={"help": "What the data is, for the model card."})

    def __post_init__(self) -> None:
        if self.word_vectors is not None and not resolve_data_path(self.word_vectors).is_file():
            raise ValueError(f"word_vectors: no file at {resolve_data_path(self.word_vectors)}")


def main(argv: list[str] | None = None) -> dict:
    parsed = parse_args(
        [ModelArguments, TextClassificationArguments, TrainingArguments],
        argv,
        default_config=CONFIGS / "quickstart.yaml",
        defaults=DEFAULTS,
    )
    model_args, data_args, training_args = parsed.args
    run = start_run(parsed, training_args)
    data = load_data(data_args, training_args)

    train_split = data.raw.splits["train"]
    text_columns = [data_args.text_column, data_args.text_pair_column]
    tokenizer = tokenizer_for_run(
        lambda: train_tokenizer(
            (text for column in text_columns if column for text in train_split[column][:]),
            kind=model_args.tokenizer_kind,
            vocab_size=model_args.vocab_size,
            min_frequency=model_args.min_frequency,
            lowercase=model_args.lowercase,
        ),
        resume_checkpoint=run.resume_checkpoint,
    )
    config = LSTMClassifierConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        embedding_dim=model_args.embedding_dim,
        hidden_size=model_args.hidden_size,
        num_layers=model_args.num_layers,
        cell=model_args.cell,
        bidirectional=model_args.bidirectional,
        pooling=model_args.pooling,
        embedding_init_std=model_args.embedding_init_std,
        embedding_dropout=model_args.embedding_dropout,
        rnn_dropout=model_args.rnn_dropout,
        classifier_dropout=model_args.classifier_dropout,
        num_labels=len(data.label_names),
        id2label=data.id2label,
        label2id=data.label2id,
    )
    model = AutoModelForSequenceClassification.from_config(config)
    found = None
    if model_args.word_vectors and run.resume_checkpoint is None:  # a checkpoint's embeddings replace them anyway
        try:
            found = load_word_vectors(
                resolve_data_path(model_args.word_vectors),
                tokenizer,
                model.get_input_embeddings(),
                lowercase=model_args.lowercase,
            )
        except ValueError as error:
            raise ConfigError(f"word_vectors: {error}") from None  # e.g. vectors of another width than embedding_dim

    card, card_extra = model_card(model_args, data_args, config, tokenizer_size=len(tokenizer), vectors_found=found)
    return run_text_classification(
        parsed=parsed,
        run=run,
        data=data,
        args=data_args,
        model=model,
        tokenizer=tokenizer,
        card=card,
        card_extra_hyperparameters=card_extra,
    )


def model_card(
    model_args: ModelArguments,
    data_args: TextClassificationArguments,
    config: LSTMClassifierConfig,
    tokenizer_size: int,
    vectors_found: int | None,
) -> tuple[ModelCardInfo, dict[str, str]]:
    """What the card says about this model, and the model settings added to its hyper-parameter table."""
    shape = f"{'bidirectional ' if config.bidirectional else ''}{config.num_layers}-layer {config.cell.upper()}"
    sizes = f"embeddings {config.embedding_dim}, hidden size {config.hidden_size}, {config.pooling} pooling"
    tokenizer = f"{model_args.tokenizer_kind}-level tokenizer of {tokenizer_size} tokens"
    vectors = Path(model_args.word_vectors).name if model_args.word_vectors else None
    card = ModelCardInfo(
        pipeline_tag="text-classification",
        auto_class="AutoModelForSequenceClassification",
        task_name="Text Classification",
        datasets=[data_args.dataset_name] if data_args.dataset_name else [],
        dataset_description=model_args.dataset_description,
        tags=["sentiment-analysis", "lstm_classifier", config.cell],
        description=(
            f"A {shape} text classifier ({sizes}) trained from scratch with "
            f"[nlpkit](https://github.com/nlpkit/nlpkit), with a {tokenizer} trained on the same training data"
            + (f" and word embeddings initialised from `{vectors}`." if vectors else ".")
        ),
    )
    dropouts = [("embedding", config.embedding_dropout), ("classifier", config.classifier_dropout)]
    if config.num_layers > 1:
        dropouts.insert(1, ("between layers", config.rnn_dropout))
    extra = {
        "model": f"{shape}, {sizes}",
        "tokenizer": tokenizer,
        "dropout": ", ".join(f"{value} ({where})" for where, value in dropouts),
    }
    if vectors:
        extra["word_vectors"] = f"{vectors} ({vectors_found} of {tokenizer_size} words found)"
    return card, extra


if __name__ == "__main__":
    recipe_main(main)
