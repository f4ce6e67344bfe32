"""Train an LSTM/GRU sentiment classifier from scratch (or any single-label text classifier), tokenizer included.

    accelerate launch recipes/lstm_sentiment.py                  # offline quickstart on nlpkit's sample data
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/lstm_sentiment.py \
        --config recipes/configs/lstm_sentiment/sst2_local.yaml     # SST-2 from local TSV files
    accelerate launch recipes/lstm_sentiment.py \
        --config recipes/configs/lstm_sentiment/sst2_hub.yaml       # SST-2 from the Hub (stanfordnlp/sst2)

The tokenizer (word-level or BPE) is trained on the training split of each run and saved with the model; the word
embeddings can start from a GloVe/word2vec text file (`--word_vectors glove.6B.100d.txt`). The model's settings
(`--hidden_size 128`, `--rnn_type gru`, `--pooling max`, ...) are the fields of `LSTMClassifierConfig`. The saved
folder loads with transformers alone (`trust_remote_code=True`) and with `nlpkit predict`. Any key of the config
file can be overridden on the command line; `--help` lists them.
"""

from pathlib import Path

from nlpkit.cli import recipe_main
from nlpkit.tasks import classification
from nlpkit.tasks.classification import lstm_classifier
from nlpkit.training import TrainingArguments, start_run

QUICKSTART = Path(__file__).resolve().parent / "configs" / "lstm_sentiment" / "quickstart.yaml"

DEFAULTS = {
    **classification.DEFAULTS,
    "output_dir": "outputs/lstm_sentiment",
    "learning_rate": 2e-3,
    "num_train_epochs": 3,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 256,
}


def main(argv: list[str] | None = None) -> dict:
    run = start_run(
        [lstm_classifier.Arguments, classification.Arguments, TrainingArguments],
        argv,
        default_config=QUICKSTART,
        defaults=DEFAULTS,
    )
    data = classification.load_data(run)
    setup = lstm_classifier.build(run, data)  # word/BPE tokenizer trained on the data + LSTMClassifierConfig model
    setup.tags.append("sentiment-analysis")
    return classification.train(run, data, setup)


if __name__ == "__main__":
    recipe_main(main)
