"""Fine-tune a pretrained BERT-family model for sentiment (or any single-label text classification).

    accelerate launch recipes/bert_sentiment.py                  # offline quickstart: MiniLM on nlpkit's sample data
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/bert_sentiment.py \
        --config recipes/configs/bert_sentiment/sst2_local.yaml     # SST-2 from local TSV files
    accelerate launch --config_file accelerate_configs/multi_gpu.yaml recipes/bert_sentiment.py \
        --config recipes/configs/bert_sentiment/sst2_hub.yaml     # bert-base-uncased on stanfordnlp/sst2

Any key of the config file can be overridden on the command line (`--learning_rate 3e-5`); `--help` lists them.
"""

from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from nlpkit.cards import ModelCardInfo
from nlpkit.cli import recipe_main
from nlpkit.config import parse_args
from nlpkit.pretrained import from_pretrained, resolve_model_path
from nlpkit.tasks.classification import (
    CLASSIFICATION_DEFAULTS,
    TextClassificationArguments,
    load_data,
    run_text_classification,
)
from nlpkit.training import TrainingArguments, start_run

CONFIGS = Path(__file__).resolve().parent / "configs" / "bert_sentiment"

DEFAULTS = {
    **CLASSIFICATION_DEFAULTS,
    "output_dir": "outputs/bert_sentiment",
    "learning_rate": 1e-4,
    "num_train_epochs": 3,
    "warmup_steps": 0.06,
    "weight_decay": 0.01,
}


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        metadata={"help": "Hub id or local folder of a pretrained BERT-family encoder."},
    )
    freeze_embeddings: bool = field(
        default=False,
        metadata={"help": "Keep the pretrained word embeddings fixed (half of a small BERT's weights): faster steps."},
    )
    dataset_description: str = field(default="", metadata={"help": "What the data is, for the model card."})


def main(argv: list[str] | None = None) -> dict:
    parsed = parse_args(
        [ModelArguments, TextClassificationArguments, TrainingArguments],
        argv,
        default_config=CONFIGS / "quickstart.yaml",
        defaults=DEFAULTS,
    )
    model_args, data_args, training_args = parsed.args
    run = start_run(parsed, training_args)
    model_path = resolve_model_path(model_args.model_name_or_path)
    data = load_data(data_args, training_args)

    tokenizer = from_pretrained(AutoTokenizer, model_path)
    model = from_pretrained(
        AutoModelForSequenceClassification,
        model_path,
        num_labels=len(data.label_names),
        id2label=data.id2label,
        label2id=data.label2id,
    )
    if model_args.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    card = ModelCardInfo(
        pipeline_tag="text-classification",
        auto_class="AutoModelForSequenceClassification",
        task_name="Text Classification",
        base_model=model_args.model_name_or_path if not Path(model_args.model_name_or_path).exists() else None,
        datasets=[data_args.dataset_name] if data_args.dataset_name else [],
        dataset_description=model_args.dataset_description,
        tags=["sentiment-analysis", "bert"],
    )
    return run_text_classification(
        parsed=parsed, run=run, data=data, args=data_args, model=model, tokenizer=tokenizer, card=card
    )


if __name__ == "__main__":
    recipe_main(main)
