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
from nlpkit.predict import (
    format_predictions,
    predict_records,
    predictor_for_model,
    tag_entities,
    token_classification_pipeline,
)
from nlpkit.tasks import (
    CardDefaults,
    ModelSetup,
    load_labelled_data,
    load_trained,
    model_card,
    on_main_process_first,
    prediction_batch_size,
    prediction_config,
    sample_texts_field,
    trained_setup,
)
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
    "load_best_model_at_end": True,  # end with the best evaluation's weights (training.keep_best_where_evaluated)
}

CARD = CardDefaults("token-classification", "AutoModelForTokenClassification", "Token Classification")


def load_data(run: Run) -> TokenClassificationData:
    """The validated data; with do_train false only the validation/test data, tagged with the model's tags."""
    return load_labelled_data(run, TokenClassificationDataArguments, load_token_classification_data, CARD.pipeline_tag)


def build_trained(run: Run) -> ModelSetup:
    """do_train false: the trained tagger and its tokenizer, encoded as its family needs (one id per word plus its
    characters for the BiLSTM-CRF, aligned sub-tokens for a BERT-family encoder), whichever model the recipe
    names."""
    from transformers import AutoModelForTokenClassification

    config = prediction_config(run, CARD.pipeline_tag)
    if config.model_type == "bilstm_crf":
        from nlpkit.tasks.token_classification.bilstm_crf import WordCharCollator, encode_words

        model, tokenizer = load_trained(run, AutoModelForTokenClassification, CARD.pipeline_tag)
        with_chars = config.char_encoder is not None

        def encode(data: Any, tokenizer: Any, args: Any) -> Any:
            return encode_words(data, tokenizer, config, args, with_chars)

        collator = WordCharCollator(tokenizer, run.training_args.pad_to_multiple_of)
        return trained_setup(model, tokenizer, run, collator=collator, encode=encode)
    from transformers import DataCollatorForTokenClassification

    from nlpkit.tasks.token_classification.pretrained import PREFIX_SPACE_MODEL_TYPES, tokenize_subwords

    prefix_space = {"add_prefix_space": True} if config.model_type in PREFIX_SPACE_MODEL_TYPES else {}
    model, tokenizer = load_trained(run, AutoModelForTokenClassification, CARD.pipeline_tag, **prefix_space)
    collator = DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=run.training_args.pad_to_multiple_of)
    return trained_setup(model, tokenizer, run, collator=collator, encode=tokenize_subwords)


def reference_entities(tokens: list[str], tags: list[str]) -> list[dict[str, Any]]:
    """The entities of IOB2 ``tags`` over ``tokens``, with character offsets into ``" ".join(tokens)`` (the text
    the tagger reads), in the shape of a predicted entity less its score."""
    text = " ".join(tokens)
    spans: list[list[Any]] = []  # [label, start, end]
    start, previous = 0, "O"
    for token, tag in zip(tokens, tags):
        end = start + len(token)
        if tag.startswith("I-") and previous[2:] == tag[2:]:  # continues the entity before it
            spans[-1][2] = end
        elif tag != "O":
            spans.append([tag[2:], start, end])
        start, previous = end + 1, tag
    return [{"label": label, "start": begin, "end": end, "text": text[begin:end]} for label, begin, end in spans]


def test_predictions(data: TokenClassificationData, tokenizer: Any, batch_size: int) -> Callable[[Any], Any]:
    """``predictions(model)`` for :func:`~nlpkit.training.train_and_save`: each test sentence as the text the
    tagger reads (its words joined by spaces, with the words; or the sentence of a raw-text file as written), its
    ``reference_entities`` (character offsets into the text) where the file has tags, and the entities ``nlpkit
    predict`` finds."""

    def predictions(model: Any) -> Any:
        test = data.raw.splits["test"]
        records = []
        for row in test.to_list():
            # A file of raw sentences keeps each as written; CoNLL words are joined by spaces (and kept beside).
            record = (
                {"text": row["text"]} if "text" in row else {"text": " ".join(row["tokens"]), "tokens": row["tokens"]}
            )
            if "ner_tags" in row:
                tags = [data.label_names[tag] for tag in row["ner_tags"]]
                record["reference_entities"] = reference_entities(row["tokens"], tags)
            records.append(record)
        return predict_records(predictor_for_model(model, tokenizer), records, batch_size=batch_size)

    return predictions


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
    labelled = TokenClassificationData(raw=data.labelled_splits(), label_names=data.label_names)
    tokenized = on_main_process_first(run, "encoding", lambda: setup.encode(labelled, setup.tokenizer, args))
    predictions = None
    if run.writes_predictions:
        predictions = test_predictions(data, setup.tokenizer, prediction_batch_size(run))
    trainer, results = train_and_save(
        run,
        model=setup.model,
        processing_class=setup.tokenizer,
        train_dataset=tokenized.get("train"),
        eval_dataset=tokenized.get("validation"),
        test_dataset=tokenized.get("test"),
        data_collator=setup.collator,
        compute_metrics=entity_metrics(data.label_names),
        card=model_card(CARD, run, setup, args.sample_texts),
        predictions=predictions,
    )
    if trainer.is_world_process_zero() and args.sample_texts and not run.predict_only:
        tagger = token_classification_pipeline(trainer.model, setup.tokenizer)
        print("\nEntities:\n" + format_predictions(tag_entities(tagger, list(args.sample_texts))), flush=True)
    return results
