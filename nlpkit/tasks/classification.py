"""Text classification: everything the BERT and LSTM sentiment recipes share after building model and tokenizer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import transformers
from transformers import EvalPrediction

from nlpkit.cards import ModelCardInfo
from nlpkit.config import ParsedConfig
from nlpkit.data.classification import (
    ClassificationData,
    ClassificationDataArguments,
    PaddingCollator,
    load_classification_data,
    tokenize_classification,
)
from nlpkit.metrics import combine_metrics
from nlpkit.predict import classify, format_predictions
from nlpkit.training import RunState, train_and_save

logger = logging.getLogger("nlpkit")

DEFAULT_SAMPLE_TEXTS = [
    "We went to Bali for holiday. It was fantastic!",
    "My neighbour won the jackpot! not me.",
    "The film was not bad at all.",
    "Great location, but the room was filthy and the staff were rude.",
]


@dataclass
class TextClassificationArguments(ClassificationDataArguments):
    """Data arguments of the classification recipes, plus the sentences classified at the end of a run."""

    sample_texts: list[str] = field(
        default_factory=lambda: list(DEFAULT_SAMPLE_TEXTS),
        metadata={"help": "Sentences classified and printed at the end of the run."},
    )


# TrainingArguments defaults for classification recipes (a recipe or its YAML file overrides them).
CLASSIFICATION_DEFAULTS: dict[str, Any] = {
    "train_sampling_strategy": "group_by_length",  # batches of similar length: far less padding
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "metric_for_best_model": "accuracy",
}


def load_data(args: TextClassificationArguments, training_args: transformers.TrainingArguments) -> ClassificationData:
    with training_args.main_process_first(desc="loading data"):
        return load_classification_data(args, seed=training_args.seed)


def accuracy_and_f1() -> Any:
    """``compute_metrics`` for the Trainer: accuracy and macro precision/recall/F1 from nlpkit's metric modules."""
    metrics = combine_metrics(["accuracy", "precision_recall_f1"])

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return metrics.compute(predictions=np.argmax(logits, axis=-1), references=prediction.label_ids)

    return compute_metrics


def run_text_classification(
    *,
    parsed: ParsedConfig,
    run: RunState,
    data: ClassificationData,
    args: TextClassificationArguments,
    model: transformers.PreTrainedModel,
    tokenizer: transformers.PreTrainedTokenizerBase,
    card: ModelCardInfo,
    card_extra_hyperparameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Tokenize, train, evaluate, save, and print predictions for ``args.sample_texts``."""
    training_args = next(arg for arg in parsed.args if isinstance(arg, transformers.TrainingArguments))
    with training_args.main_process_first(desc="tokenizing"):
        tokenized = tokenize_classification(data, tokenizer, args)
    card.example_inputs = card.example_inputs or list(args.sample_texts)
    trainer, results = train_and_save(
        parsed=parsed,
        run=run,
        model=model,
        processing_class=tokenizer,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        test_dataset=tokenized.get("test"),
        data_collator=PaddingCollator.for_tokenizer(tokenizer),
        compute_metrics=accuracy_and_f1(),
        card=card,
        card_extra_hyperparameters=card_extra_hyperparameters,
    )
    if trainer.is_world_process_zero() and args.sample_texts:
        pipe = transformers.pipeline("text-classification", model=trainer.model, tokenizer=tokenizer)
        print("\nPredictions:\n" + format_predictions(classify(pipe, list(args.sample_texts))), flush=True)
    return results
