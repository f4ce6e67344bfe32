"""Token classification (NER): the blocks the NER recipe runs, for the BiLSTM-CRF and for BERT-family encoders.

Both models see the same validated data (``tokens`` + IOB2 ``ner_tags``, see ``nlpkit.data.token_classification``)
and are scored the same way: one tag per word, entity-level precision/recall/F1 with seqeval.

- BERT family: words are split into sub-tokens; a word's tag goes on its first sub-token and the others are ignored
  (``-100``), or, with ``label_all_tokens``, labelled too (``B-X`` becoming ``I-X``) in training. Predictions are read
  back at each word's first sub-token.
- BiLSTM-CRF: one token per word. The vocabulary is trained on the training words with a whitespace-only word
  tokenizer (so each CoNLL word is one entry); for raw text (``pipeline()``, ``nlpkit predict``) its pre-tokenizer is
  then swapped for a CoNLL-like splitter (``"Paris."`` -> ``"Paris" "."``), with character offsets.

Character features of the BiLSTM-CRF (``pass_char_ids``, on by default): the recipe passes every word's real
characters as ``char_ids`` in training and evaluation, so a word outside the vocabulary still shows its spelling,
which is what most helps on unseen names. ``nlpkit predict`` and the recipe's closing predictions do the same
(``nlpkit.predict.CharTokenClassificationPipeline``). A plain ``pipeline()`` (say, the saved folder loaded with
remote code where nlpkit is not installed) cannot pass them: the model then reads each word's characters from its
vocabulary table (``set_word_vocabulary``), where an unknown word has none, so its tags for unseen words are worse
than the evaluation scores say. ``pass_char_ids: false`` trains and evaluates through the table instead, so the
scores describe what a plain pipeline sees, at the cost of the characters of every word outside the vocabulary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import torch
import transformers
from datasets import DatasetDict
from tokenizers import Regex, pre_tokenizers
from transformers import DataCollatorForTokenClassification, EvalPrediction, PreTrainedTokenizerBase

from nlpkit.cards import ModelCardInfo
from nlpkit.config import ParsedConfig
from nlpkit.data.loading import encode_splits
from nlpkit.data.token_classification import (
    TokenClassificationData,
    TokenClassificationDataArguments,
    load_token_classification_data,
)
from nlpkit.metrics import load_metric
from nlpkit.models.bilstm_crf import BiLSTMCRFConfig, BiLSTMCRFForTokenClassification, words_to_char_ids
from nlpkit.predict import format_predictions, tag_entities, token_classification_pipeline
from nlpkit.tokenization import train_tokenizer
from nlpkit.training import RunState, train_and_save

logger = logging.getLogger("nlpkit")
T = TypeVar("T")

DEFAULT_SAMPLE_TEXTS = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "Shares of Northgate Bank fell 3% after the Reuters report from New York.",
    "The World Cup final between Brazil and Germany drew 80,000 fans to the Maracana.",
]

# TrainingArguments defaults of the NER recipe (its YAML files override them).
NER_DEFAULTS: dict[str, Any] = {
    "train_sampling_strategy": "group_by_length",  # batches of similar length: less padding, shorter CRF loops
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "metric_for_best_model": "f1",
}


@dataclass
class TokenClassificationArguments(TokenClassificationDataArguments):
    """Data arguments of the NER recipe, plus the sentences tagged at the end of a run."""

    sample_texts: list[str] = field(
        default_factory=lambda: list(DEFAULT_SAMPLE_TEXTS),
        metadata={"help": "Sentences tagged and printed at the end of the run."},
    )


@dataclass
class BiLSTMCRFArguments:
    """Shape and inputs of the BiLSTM-CRF tagger trained from scratch (``model: bilstm-crf``)."""

    word_embedding_dim: int = field(default=100, metadata={"help": "Size of a word embedding."})
    lstm_hidden_size: int = field(default=100, metadata={"help": "Hidden size of each direction of the BiLSTM."})
    num_lstm_layers: int = field(default=1, metadata={"help": "Stacked BiLSTM layers."})
    dropout: float = field(default=0.5, metadata={"help": "Dropout on the BiLSTM's inputs and outputs."})
    char_encoder: Literal["cnn", "lstm", "none"] = field(
        default="cnn", metadata={"help": "Character features of each word: 'cnn', 'lstm' or 'none'."}
    )
    char_embedding_dim: int = field(default=30, metadata={"help": "Size of a character embedding."})
    char_hidden_size: int = field(default=50, metadata={"help": "Size of a word's character features."})
    max_word_length: int = field(default=20, metadata={"help": "Characters kept per word."})
    constrain_bio_transitions: bool = field(
        default=True, metadata={"help": "Forbid CRF moves that are invalid in IOB2 (I-X after O, ...)."}
    )
    min_word_frequency: int = field(
        default=2,
        metadata={"help": "Training count a word needs for its own embedding; rarer words train the unknown one."},
    )
    pass_char_ids: bool = field(
        default=True,
        metadata={
            "help": "Give the model each word's real characters in training and evaluation (best scores; unknown "
            "words keep their spelling). Off: read them from the model's vocabulary table, as pipeline() does."
        },
    )


# ---------------------------------------------------------------------------------------------------------------------
# Data


def load_data(
    args: TokenClassificationDataArguments, training_args: transformers.TrainingArguments
) -> TokenClassificationData:
    with training_args.main_process_first(desc="loading data"):
        return load_token_classification_data(args, seed=training_args.seed)


def begin_to_inside(label_names: list[str]) -> list[int]:
    """For each tag id, the id a later sub-token of the same word gets: ``I-X`` for ``B-X``, itself otherwise."""
    label_ids = {name: index for index, name in enumerate(label_names)}
    return [
        label_ids.get("I-" + name[2:], index) if name.startswith("B-") else index
        for index, name in enumerate(label_names)
    ]


def align_labels(
    word_ids: list[int | None], word_tags: list[int], label_all_tokens: bool = False, inside: list[int] | None = None
) -> list[int]:
    """One label per sub-token: the word's tag on its first sub-token; -100 on special tokens, and on a word's other
    sub-tokens unless ``label_all_tokens`` (then they get ``inside[tag]``: ``I-X`` for a ``B-X`` word)."""
    labels = []
    previous = None
    for word_id in word_ids:
        if word_id is None:
            labels.append(-100)
        elif word_id != previous:
            labels.append(word_tags[word_id])
        else:
            labels.append(inside[word_tags[word_id]] if label_all_tokens else -100)
        previous = word_id
    return labels


def tokenize_subwords(
    data: TokenClassificationData, tokenizer: PreTrainedTokenizerBase, args: TokenClassificationDataArguments
) -> DatasetDict:
    """Sub-word inputs and aligned labels of every split (``label_all_tokens`` applies to training only)."""
    inside = begin_to_inside(data.label_names)
    invisible = _words_without_tokens(data, tokenizer)
    if invisible:
        logger.info("%d distinct words have no sub-token (e.g. %r): they are fed as %s", len(invisible),
                    sorted(invisible)[:3], tokenizer.unk_token)  # fmt: skip

    def tokenize(batch: dict, label_all_tokens: bool) -> dict:
        words = [[tokenizer.unk_token if word in invisible else word for word in row] for row in batch["tokens"]]
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=args.max_seq_length)
        encoded["labels"] = [
            align_labels(encoded.word_ids(row), tags, label_all_tokens, inside)
            for row, tags in enumerate(batch["ner_tags"])
        ]
        encoded["num_words"] = [len(row) for row in words]
        encoded["num_kept"] = [len({i for i in encoded.word_ids(row) if i is not None}) for row in range(len(words))]
        return encoded

    tokenized = encode_splits(
        data.raw.splits,
        tokenize,
        num_proc=args.preprocessing_num_workers,
        split_kwargs=lambda split: {"label_all_tokens": args.label_all_tokens and split == "train"},
    )
    return DatasetDict({split: _warn_truncated(split, rows, args.max_seq_length) for split, rows in tokenized.items()})


def _words_without_tokens(data: TokenClassificationData, tokenizer: PreTrainedTokenizerBase) -> set[str]:
    """Words the tokenizer turns into nothing (control or format characters): they would lose their tag."""
    words = sorted({word for dataset in data.raw.splits.values() for row in dataset["tokens"] for word in row})
    ids = tokenizer(words, add_special_tokens=False)["input_ids"]
    return {word for word, word_ids in zip(words, ids) if not word_ids}


def _warn_truncated(split: str, dataset: Any, max_seq_length: int) -> Any:
    """Warn about sentences cut by ``max_seq_length`` (their last words are neither trained on nor scored); return
    the dataset without the ``num_words`` and ``num_kept`` columns this needs."""
    cut = [words - kept for words, kept in zip(dataset["num_words"], dataset["num_kept"]) if kept < words]
    if cut:
        logger.warning(
            "%s: %d sentences are longer than max_seq_length=%d tokens; their last %d words are left out",
            split, len(cut), max_seq_length, sum(cut),
        )  # fmt: skip
    return dataset.remove_columns(["num_words", "num_kept"])


# ---------------------------------------------------------------------------------------------------------------------
# BiLSTM-CRF: word tokenizer, character alphabet, model, collator


# A CoNLL-like split of raw text inside each whitespace-separated chunk, first match wins: URLs, @handles/#tags,
# initialisms (U.S.), common abbreviations (Mr., Corp.), "does|n't", clitics ('s), words and numbers with inner
# joiners (1996-08-22, 3.5, AT&T, O'Neill), runs of dots or dashes, then any other character on its own.
_ABBREVIATIONS = "Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Gen|Gov|Sen|Rep|Lt|Col|Capt|Inc|Corp|Co|Ltd|Bros|No|vs|" + (
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
CONLL_WORD_PATTERN = "|".join(
    [
        r"https?://\S*[\w/]",
        r"[@#]\w+",
        r"(?:[A-Za-z]\.){2,}",
        rf"(?:{_ABBREVIATIONS})\.(?!\w)",
        r"\w+(?=n't\b)",
        r"n't\b",
        r"'(?:s|m|d|re|ve|ll)\b",
        r"\w+(?:[-&./,:]\w+|['’](?!(?:s|m|d|t|re|ve|ll)\b)\w+)*",
        r"\.{2,}|-{2,}",
        r"\S",
    ]
)


def conll_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Splits raw text into CoNLL-style words ("Germany's ally." -> "Germany" "'s" "ally" "."), keeping offsets."""
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(CONLL_WORD_PATTERN), behavior="isolated")]
    )


def train_word_tokenizer(
    sentences: list[list[str]], min_frequency: int, max_length: int | None = None
) -> transformers.PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary is the training words (case kept, no normalisation), one token each.

    Training data is encoded word by word (:func:`encode_words`), so a word is never split; raw text goes through
    :func:`conll_pre_tokenizer`.
    """
    tokenizer = train_tokenizer(
        (" ".join(words) for words in sentences),
        kind="word",
        vocab_size=10_000_000,  # no cap: min_frequency decides
        min_frequency=min_frequency,
        nfkc=False,  # the vocabulary must hold the words exactly as the data spells them
        split_punctuation=False,
        model_max_length=max_length,
    )
    tokenizer.backend_tokenizer.pre_tokenizer = conll_pre_tokenizer()
    return tokenizer


def character_alphabet(sentences: list[list[str]]) -> str:
    """Every character of the training words, sorted (deterministic, so every process builds the same one)."""
    return "".join(sorted({char for words in sentences for word in words for char in word}))


def build_on_main_process(build: Callable[[], T], training_args: transformers.TrainingArguments) -> T:
    """``build()`` on the main process, sent to the other ranks, so that all of them hold an identical object."""
    if training_args.world_size <= 1 or not torch.distributed.is_initialized():
        return build()
    holder = [build() if training_args.process_index == 0 else None]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


def build_bilstm_crf(
    args: BiLSTMCRFArguments,
    data: TokenClassificationData,
    data_args: TokenClassificationDataArguments,
    training_args: transformers.TrainingArguments,
    run: RunState,
) -> tuple[BiLSTMCRFForTokenClassification, transformers.PreTrainedTokenizerFast]:
    """A new tagger and its word tokenizer, built from the training words (or the ones of the checkpoint resumed)."""
    if run.resume_checkpoint:
        # The vocabulary and alphabet must be the checkpoint's, whatever the data now holds.
        tokenizer = transformers.AutoTokenizer.from_pretrained(run.resume_checkpoint)
        config = BiLSTMCRFConfig.from_pretrained(run.resume_checkpoint)
    else:
        train_words = data.raw.splits["train"]["tokens"]
        tokenizer, alphabet = build_on_main_process(
            lambda: (
                train_word_tokenizer(train_words, args.min_word_frequency, data_args.max_seq_length),
                character_alphabet(train_words),
            ),
            training_args,
        )
        char_encoder = None if args.char_encoder == "none" else args.char_encoder
        config = BiLSTMCRFConfig(
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            word_embedding_dim=args.word_embedding_dim,
            lstm_hidden_size=args.lstm_hidden_size,
            num_lstm_layers=args.num_lstm_layers,
            dropout=args.dropout,
            char_encoder=char_encoder,
            char_alphabet=alphabet if char_encoder else "",
            char_embedding_dim=args.char_embedding_dim,
            char_hidden_size=args.char_hidden_size,
            max_word_length=args.max_word_length,
            constrain_bio_transitions=args.constrain_bio_transitions,
            id2label=data.id2label,
            label2id=data.label2id,
        )
    model = BiLSTMCRFForTokenClassification(config)
    if config.char_encoder is not None:
        model.set_word_vocabulary(tokenizer.get_vocab(), tokenizer.all_special_tokens)
    logger.info(
        "BiLSTM-CRF: %d words in the vocabulary (seen %d+ times in training), %d characters",
        len(tokenizer), args.min_word_frequency, len(config.char_alphabet),
    )  # fmt: skip
    return model, tokenizer


def encode_words(
    data: TokenClassificationData,
    tokenizer: PreTrainedTokenizerBase,
    config: BiLSTMCRFConfig,
    args: TokenClassificationDataArguments,
    pass_char_ids: bool,
) -> DatasetDict:
    """Word ids (one per word, unknown words -> unk), labels and, if ``pass_char_ids``, each word's character ids."""
    with_chars = pass_char_ids and config.char_encoder is not None

    def encode(batch: dict) -> dict:
        rows: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "num_words": [], "num_kept": []}
        if with_chars:
            rows["char_ids"] = []
        for words, tags in zip(batch["tokens"], batch["ner_tags"]):
            rows["num_words"].append(len(words))
            words, tags = words[: args.max_seq_length], tags[: args.max_seq_length]
            rows["num_kept"].append(len(words))
            rows["input_ids"].append(tokenizer.convert_tokens_to_ids(words))
            rows["attention_mask"].append([1] * len(words))
            rows["labels"].append(tags)
            if with_chars:
                rows["char_ids"].append(words_to_char_ids(words, config.char_alphabet, config.max_word_length).tolist())
        return rows

    encoded = encode_splits(data.raw.splits, encode, num_proc=args.preprocessing_num_workers, desc="Encoding")
    encoded = DatasetDict({split: _warn_truncated(split, rows, args.max_seq_length) for split, rows in encoded.items()})
    unknown = _unknown_rate(encoded.get("validation"), tokenizer.unk_token_id)
    if unknown is not None:
        logger.info("%.1f%% of the validation words are outside the vocabulary", 100 * unknown)
    return DatasetDict(encoded)


def _unknown_rate(dataset: Any, unk_token_id: int) -> float | None:
    if dataset is None or len(dataset) == 0:
        return None
    ids = np.concatenate([np.asarray(row) for row in dataset["input_ids"]])
    return float((ids == unk_token_id).mean()) if len(ids) else None


class WordCharCollator:
    """Pads words, attention mask and labels (-100) to the batch's longest sentence, and ``char_ids`` if present.

    ``char_ids`` rows come padded to ``max_word_length``; the batch keeps only the columns up to its longest word.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.pad = DataCollatorForTokenClassification(tokenizer)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        chars = [feature["char_ids"] for feature in features] if "char_ids" in features[0] else None
        batch = self.pad([{key: value for key, value in f.items() if key != "char_ids"} for f in features])
        if chars is not None:
            batch_size, seq_len = batch["input_ids"].shape
            char_ids = torch.zeros(batch_size, seq_len, len(chars[0][0]) if chars[0] else 1, dtype=torch.long)
            for row, words in enumerate(chars):
                if words:
                    char_ids[row, : len(words)] = torch.tensor(words)
            longest = int((char_ids != 0).sum(dim=-1).max().clamp(min=1))
            batch["char_ids"] = char_ids[:, :, :longest]
        return batch


# ---------------------------------------------------------------------------------------------------------------------
# Metrics and the run


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


def run_token_classification(
    *,
    parsed: ParsedConfig,
    run: RunState,
    data: TokenClassificationData,
    args: TokenClassificationArguments,
    model: transformers.PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    tokenized: DatasetDict,
    data_collator: Callable,
    card: ModelCardInfo,
    card_extra_hyperparameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, evaluate (entity-level F1), save, and print the entities found in ``args.sample_texts``."""
    card.example_inputs = card.example_inputs or list(args.sample_texts)
    trainer, results = train_and_save(
        parsed=parsed,
        run=run,
        model=model,
        processing_class=tokenizer,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        test_dataset=tokenized.get("test"),
        data_collator=data_collator,
        compute_metrics=entity_metrics(data.label_names),
        card=card,
        card_extra_hyperparameters=card_extra_hyperparameters,
    )
    if trainer.is_world_process_zero() and args.sample_texts:
        tagger = token_classification_pipeline(trainer.model, tokenizer)
        print("\nEntities:\n" + format_predictions(tag_entities(tagger, list(args.sample_texts))), flush=True)
    return results
