"""Text classification: data, tokenizing, collator, metrics, training and the closing predictions of every text
classifier (a pretrained BERT-family encoder: ``pretrained.py``; nlpkit's LSTM/GRU classifier:
``lstm_classifier.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import transformers
from transformers import EvalPrediction

from nlpkit.data.classification import (
    ClassificationData,
    ClassificationDataArguments,
    PaddingCollator,
    load_classification_data,
    tokenize_classification,
)
from nlpkit.metrics import combine_metrics
from nlpkit.predict import classify, format_predictions
from nlpkit.tasks import CardDefaults, ModelSetup, load_task_data, model_card, on_main_process_first, sample_texts_field
from nlpkit.training import Run, train_and_save

DEFAULT_SAMPLE_TEXTS = [
    "We went to Bali for holiday. It was fantastic!",
    "My neighbour won the jackpot! not me.",
    "The film was not bad at all.",
    "Great location, but the room was filthy and the staff were rude.",
]


@dataclass
class Arguments(ClassificationDataArguments):
    """Data arguments of the classification recipes, plus the sentences classified at the end of a run."""

    sample_texts: list[str] = sample_texts_field(DEFAULT_SAMPLE_TEXTS, "classified and printed")


DEFAULTS: dict[str, Any] = {
    "train_sampling_strategy": "group_by_length",  # batches of similar length: far less padding
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "metric_for_best_model": "accuracy",
}

CARD = CardDefaults("text-classification", "AutoModelForSequenceClassification", "Text Classification")


def load_data(run: Run) -> ClassificationData:
    return load_task_data(run, Arguments, load_classification_data)


def accuracy_and_f1() -> Any:
    """``compute_metrics`` for the Trainer: accuracy and macro precision/recall/F1 from nlpkit's metric modules."""
    metrics = combine_metrics(["accuracy", "precision_recall_f1"])

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return metrics.compute(predictions=np.argmax(logits, axis=-1), references=prediction.label_ids)

    return compute_metrics


def train(run: Run, data: ClassificationData, setup: ModelSetup) -> dict[str, Any]:
    """Tokenize, train, evaluate (accuracy, macro F1), save, and print predictions for ``sample_texts``."""
    args = run.get(Arguments)
    encode = setup.encode or tokenize_classification
    tokenized = on_main_process_first(run, "tokenizing", lambda: encode(data, setup.tokenizer, args))
    trainer, results = train_and_save(
        run,
        model=setup.model,
        processing_class=setup.tokenizer,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        test_dataset=tokenized.get("test"),
        data_collator=setup.collator or PaddingCollator.for_tokenizer(setup.tokenizer),
        compute_metrics=accuracy_and_f1(),
        card=model_card(CARD, run, setup, args.sample_texts),
    )
    if trainer.is_world_process_zero() and args.sample_texts:
        pipe = transformers.pipeline("text-classification", model=trainer.model, tokenizer=setup.tokenizer)
        print("\nPredictions:\n" + format_predictions(classify(pipe, list(args.sample_texts))), flush=True)
    return results
