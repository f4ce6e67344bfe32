"""Text classification: data, tokenizing, collator, metrics, training and the closing predictions of every text
classifier (a pretrained BERT-family encoder: ``pretrained.py``; nlpkit's LSTM/GRU classifier:
``lstm_classifier.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from nlpkit.predict import classify, format_predictions, predict_records, predictor_for_model
from nlpkit.tasks import (
    CardDefaults,
    ModelSetup,
    load_labelled_data,
    load_trained,
    model_card,
    on_main_process_first,
    prediction_batch_size,
    sample_texts_field,
    trained_setup,
)
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
    "load_best_model_at_end": True,  # end with the best evaluation's weights (training.keep_best_where_evaluated)
}

CARD = CardDefaults("text-classification", "AutoModelForSequenceClassification", "Text Classification")


def load_data(run: Run) -> ClassificationData:
    """The validated data; with do_train false only the validation/test data, labelled with the model's labels."""
    return load_labelled_data(run, Arguments, load_classification_data, CARD.pipeline_tag)


def build_trained(run: Run) -> ModelSetup:
    """do_train false: the trained classifier (a BERT-family or LSTM one) and its tokenizer."""
    model, tokenizer = load_trained(run, transformers.AutoModelForSequenceClassification, CARD.pipeline_tag)
    return trained_setup(model, tokenizer, run)


def test_predictions(
    data: ClassificationData, args: Arguments, tokenizer: Any, batch_size: int
) -> Callable[[Any], Iterator[dict[str, Any]]]:
    """``predictions(model)`` for :func:`~nlpkit.training.train_and_save`: each test row (its fields as read, the
    label as ``reference_label`` where the file has labels) with the prediction of ``nlpkit predict``."""

    def predictions(model: Any) -> Iterator[dict[str, Any]]:
        test = data.raw.splits["test"]
        records = test.to_list()
        if "test" not in data.unlabelled:
            for record in records:
                record["reference_label"] = data.label_names[record.pop(args.label_column)]
        return predict_records(
            predictor_for_model(model, tokenizer),
            records,
            text_column=args.text_column,
            text_pair_column=args.text_pair_column,
            batch_size=batch_size,
        )

    return predictions


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
    predictions = None
    if run.writes_predictions:
        predictions = test_predictions(data, args, setup.tokenizer, prediction_batch_size(run))
    trainer, results = train_and_save(
        run,
        model=setup.model,
        processing_class=setup.tokenizer,
        train_dataset=tokenized.get("train"),
        eval_dataset=tokenized.get("validation"),
        test_dataset=None if "test" in data.unlabelled else tokenized.get("test"),
        data_collator=setup.collator
        or PaddingCollator.for_tokenizer(setup.tokenizer, run.training_args.pad_to_multiple_of),
        compute_metrics=accuracy_and_f1(),
        card=model_card(CARD, run, setup, args.sample_texts),
        predictions=predictions,
    )
    if trainer.is_world_process_zero() and args.sample_texts and not run.predict_only:
        pipe = transformers.pipeline("text-classification", model=trainer.model, tokenizer=setup.tokenizer)
        print("\nPredictions:\n" + format_predictions(classify(pipe, list(args.sample_texts))), flush=True)
    return results
