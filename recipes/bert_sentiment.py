"""Fine-tune a pretrained BERT-family model for sentiment (or any single-label text classification).

    accelerate launch recipes/bert_sentiment.py                  # offline quickstart: MiniLM on nlpkit's sample data
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/bert_sentiment.py \
        --config recipes/configs/bert_sentiment/sst2_local.yaml     # SST-2 from local TSV files
    accelerate launch --config_file accelerate_configs/multi_gpu.yaml recipes/bert_sentiment.py \
        --config recipes/configs/bert_sentiment/sst2_hub.yaml     # bert-base-uncased on stanfordnlp/sst2

Any key of the config file can be overridden on the command line (`--learning_rate 3e-5`); `--help` lists them.
"""

from pathlib import Path

from nlpkit.cli import recipe_main
from nlpkit.lora import PeftArguments
from nlpkit.tasks import classification
from nlpkit.tasks.classification import pretrained
from nlpkit.training import TrainingArguments, start_run

QUICKSTART = Path(__file__).resolve().parent / "configs" / "bert_sentiment" / "quickstart.yaml"

DEFAULTS = {
    **classification.DEFAULTS,
    "model_name_or_path": "sentence-transformers/all-MiniLM-L6-v2",
    "output_dir": "outputs/bert_sentiment",
    "learning_rate": 1e-4,
    "num_train_epochs": 3,
    "warmup_steps": 0.06,
    "weight_decay": 0.01,
}


def main(argv: list[str] | None = None) -> dict:
    run = start_run(
        [pretrained.Arguments, PeftArguments, classification.Arguments, TrainingArguments],
        argv,
        default_config=QUICKSTART,
        defaults=DEFAULTS,
    )
    data = classification.load_data(run)
    setup = pretrained.build(run, data)  # AutoTokenizer + AutoModelForSequenceClassification with a new head
    setup.tags.append("sentiment-analysis")
    return classification.train(run, data, setup)


if __name__ == "__main__":
    recipe_main(main)
