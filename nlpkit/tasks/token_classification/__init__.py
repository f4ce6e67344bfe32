"""Token classification (NER): data, metrics, training and the closing predictions of every tagger (a BERT-family
encoder fine-tuned: ``pretrained.py``; nlpkit's BiLSTM-CRF trained from scratch: ``bilstm_crf.py``).

Every model sees the same validated data (``tokens`` + IOB2 ``ner_tags``, see ``nlpkit.data.token_classification``)
and is scored the same way: one tag per word, entity-level precision/recall/F1 with seqeval. The model module says
how words become model inputs (sub-tokens with aligned labels, or one id per word plus its characters).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import EvalPrediction

from nlpkit.data.token_classification import (
    TokenClassificationData,
    TokenClassificationDataArguments,
    load_token_classification_data,
)
from nlpkit.metrics import load_metric
from nlpkit.predict import format_predictions, tag_entities, token_classification_pipeline
from nlpkit.tasks import CardDefaults, ModelSetup, load_task_data, model_card, on_main_process_first, sample_texts_field
from nlpkit.training import Run, train_and_save

logger = logging.getLogger("nlpkit")

DEFAULT_SAMPLE_TEXTS = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "Shares of Northgate Bank fell 3% after the Reuters report from New York.",
    "The World Cup final between Brazil and Germany drew 80,000 fans to the Maracana.",
]


@dataclass
class Arguments(TokenClassificationDataArguments):
    """Data arguments of the NER recipe, plus the sentences tagged at the end of a run."""

    sample_texts: list[str] = sample_texts_field(DEFAULT_SAMPLE_TEXTS, "tagged and printed")


DEFAULTS: dict[str, Any] = {
    "train_sampling_strategy": "group_by_length",  # batches of similar length: less padding, shorter CRF loops
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "metric_for_best_model": "f1",
}

CARD = CardDefaults("token-classification", "AutoModelForTokenClassification", "Token Classification")


def load_data(run: Run) -> TokenClassificationData:
    return load_task_data(run, TokenClassificationDataArguments, load_token_classification_data)


def drop_length_columns(split: str, dataset: Dataset, max_seq_length: int) -> Dataset:
    """Warn about sentences cut by ``max_seq_length`` (their last words are neither trained on nor scored), read
    from the ``num_words`` and ``num_kept`` columns every encoding writes; return the dataset without them."""
    cut = [words - kept for words, kept in zip(dataset["num_words"], dataset["num_kept"]) if kept < words]
    if cut:
        logger.warning(
            "%s: %d sentences are longer than max_seq_length=%d tokens; their last %d words are left out",
            split, len(cut), max_seq_length, sum(cut),
        )  # fmt: skip
    return dataset.remove_columns(["num_words", "num_kept"])


def word_tags(
    predictions: np.ndarray, label_ids: np.ndarray, label_names: list[str]
) -> tuple[list[list[str]], list[list[str]]]:
    """Predicted and gold tag names per sentence, read where the gold label is set (a word's first token)."""
    predicted, gold = [], []
    for predicted_row, gold_row in zip(predictions, label_ids):
        scored = gold_row != -100
        predicted.append([label_names[tag] for tag in predicted_row[scored]])
        gold.append([label_names[tag] for tag in gold_row[scored]])
    return predicted, gold


def entity_metrics(label_names: list[str]) -> Callable[[EvalPrediction], dict[str, float]]:
    """``compute_metrics`` for the Trainer: entity-level precision/recall/F1 (overall and ``f1_<TYPE>``), accuracy."""
    seqeval = load_metric("seqeval")

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predicted, gold = word_tags(np.argmax(logits, axis=-1), prediction.label_ids, label_names)
        scores = seqeval.compute(predictions=predicted, references=gold)
        metrics = {name: scores[f"overall_{name}"] for name in ("precision", "recall", "f1", "accuracy")}
        for name, value in scores.items():
            if isinstance(value, dict):
                metrics[f"f1_{name}"] = value["f1"]
        return metrics

    return compute_metrics


def train(run: Run, data: TokenClassificationData, setup: ModelSetup) -> dict[str, Any]:
    """Encode (the model module's ``encode``), train, evaluate (entity-level F1), save, and print the entities
    found in ``sample_texts``."""
    args = run.get(Arguments)
    tokenized = on_main_process_first(run, "encoding", lambda: setup.encode(data, setup.tokenizer, args))
    trainer, results = train_and_save(
        run,
        model=setup.model,
        processing_class=setup.tokenizer,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        test_dataset=tokenized.get("test"),
        data_collator=setup.collator,
        compute_metrics=entity_metrics(data.label_names),
        card=model_card(CARD, run, setup, args.sample_texts),
    )
    if trainer.is_world_process_zero() and args.sample_texts:
        tagger = token_classification_pipeline(trainer.model, setup.tokenizer)
        print("\nEntities:\n" + format_predictions(tag_entities(tagger, list(args.sample_texts))), flush=True)
    return results
