"""NER by nlpkit's BiLSTM-CRF trained from scratch: one token per word, with the word's characters.

The vocabulary is trained on the training words with a whitespace-only word tokenizer (so each CoNLL word is one
entry); for raw text (``pipeline()``, ``nlpkit predict``) its pre-tokenizer is then swapped for a CoNLL-like
splitter (``"Paris."`` -> ``"Paris" "."``), with character offsets.

Character features (``pass_char_ids``, on by default): training and evaluation pass every word's real characters as
``char_ids``, so a word outside the vocabulary still shows its spelling, which is what most helps on unseen names.
The pipeline that ships with the model's code (``pipeline("token-classification", model=DIR,
trust_remote_code=True)``, ``nlpkit predict``) does the same, cutting each word's characters from the text.
``pass_char_ids: false`` trains and evaluates through the model's vocabulary table instead (where an unknown word has
no characters), as a caller that gives only ``input_ids`` sees the model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import transformers
from datasets import DatasetDict
from tokenizers import Regex, pre_tokenizers
from transformers import DataCollatorForTokenClassification, PreTrainedTokenizerBase

from nlpkit.config import model_arguments
from nlpkit.data.loading import encode_splits
from nlpkit.data.token_classification import TokenClassificationData, TokenClassificationDataArguments
from nlpkit.embeddings import RESUMED_WORD_VECTORS, WordVectorArguments, start_from_word_vectors, word_vectors_name
from nlpkit.models.bilstm_crf import BiLSTMCRFConfig, BiLSTMCRFForTokenClassification, words_to_char_ids
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.token_classification import drop_length_columns
from nlpkit.tokenization import tokenizer_for_run, train_tokenizer
from nlpkit.training import Run

logger = logging.getLogger("nlpkit")

DESCRIPTION = (
    "A BiLSTM-CRF named-entity tagger trained from scratch with [nlpkit](https://github.com/nlpkit/nlpkit): one "
    "position per word (word embedding + character CNN/BiLSTM features), a BiLSTM, and a linear-chain CRF whose "
    "Viterbi path is the argmax of the logits. Its pipeline ships with its code: it splits text into CoNLL-style "
    "words and gives the model each word's characters, as in training and evaluation."
)


@dataclass
class WordArguments(WordVectorArguments):
    """The word vocabulary and the inputs of the BiLSTM-CRF (its shape is BiLSTMCRFConfig's), and the word vectors
    its word embeddings may start from (``word_vectors``: a cased vocabulary word takes the file's vector of its
    lowercased form when the file has none of its own, see :mod:`nlpkit.embeddings`)."""

    min_word_frequency: int = field(
        default=2,
        metadata={"help": "Training count a word needs for its own embedding; rarer words train the unknown one."},
    )
    pass_char_ids: bool = field(
        default=True,
        metadata={
            "help": "Give the model each word's real characters in training and evaluation (best scores; unknown "
            "words keep their spelling). Off: read them from the model's vocabulary table."
        },
    )


Arguments = model_arguments(
    "BiLSTMCRFArguments",
    {"bilstm_crf": BiLSTMCRFConfig},
    base=WordArguments,
    exclude=("vocab_size", "pad_token_id", "char_alphabet"),
)


def build(run: Run, data: TokenClassificationData) -> ModelSetup:
    """A new tagger and its word tokenizer, built from the training words (or the ones of the checkpoint resumed);
    with do_train false, the trained tagger (output_dir's run)."""
    if run.predict_only:
        from nlpkit.tasks.token_classification import build_trained

        return build_trained(run)
    args, data_args = run.get(Arguments), run.get(TokenClassificationDataArguments)
    train_words = data.raw.splits["train"]["tokens"]
    tokenizer = tokenizer_for_run(
        lambda: train_word_tokenizer(train_words, args.min_word_frequency, data_args.max_seq_length),
        resume_checkpoint=run.resume_checkpoint,
    )
    if run.resume_checkpoint:  # the alphabet must be the checkpoint's, whatever the data now holds
        config = BiLSTMCRFConfig.from_pretrained(run.resume_checkpoint)
    else:
        config = args.make_config(
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            char_alphabet=character_alphabet(train_words),
            id2label=data.id2label,
            label2id=data.label2id,
        )
        if config.char_encoder is None:
            config.char_alphabet = ""
    model = BiLSTMCRFForTokenClassification(config)
    if config.char_encoder is not None:
        model.set_word_vocabulary(tokenizer.get_vocab(), tokenizer.all_special_tokens)
    logger.info(
        "BiLSTM-CRF: %d words in the vocabulary (seen %d+ times in training), %d characters",
        len(tokenizer), args.min_word_frequency, len(config.char_alphabet),
    )  # fmt: skip
    hyperparameters = {"model": _shape(config), "min_word_frequency": args.min_word_frequency}
    description = DESCRIPTION
    if args.word_vectors:
        vectors = word_vectors_name(args.word_vectors)
        hyperparameters["word_vectors"] = RESUMED_WORD_VECTORS.format(name=vectors)
        if run.resume_checkpoint is None:  # a checkpoint's embeddings replace them anyway
            hyperparameters["word_vectors"] = start_from_word_vectors(
                args.word_vectors, tokenizer, model.word_embeddings
            )
        description += f" Its word embeddings started from `{vectors}`."
    with_chars = args.pass_char_ids and config.char_encoder is not None
    return ModelSetup(
        model,
        tokenizer,
        tags=["ner", "bilstm-crf"],
        description=description,
        hyperparameters=hyperparameters,
        collator=WordCharCollator(tokenizer, run.training_args.pad_to_multiple_of),
        encode=lambda data, tokenizer, task_args: encode_words(data, tokenizer, config, task_args, with_chars),
    )


def _shape(config: BiLSTMCRFConfig) -> str:
    chars = f", char {config.char_encoder} {config.char_hidden_size}" if config.char_encoder else ""
    return (
        f"{config.num_hidden_layers}-layer BiLSTM {config.hidden_size} per direction, word embeddings "
        f"{config.embedding_size}{chars}, dropout {config.dropout}, CRF"
        + (" (IOB2 moves only)" if config.constrain_bio_transitions else "")
    )


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


def encode_words(
    data: TokenClassificationData,
    tokenizer: PreTrainedTokenizerBase,
    config: BiLSTMCRFConfig,
    args: TokenClassificationDataArguments,
    with_chars: bool,
) -> DatasetDict:
    """Word ids (one per word, unknown words -> unk), labels and, if ``with_chars``, each word's character ids."""

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
    encoded = DatasetDict(
        {split: drop_length_columns(split, rows, args.max_seq_length) for split, rows in encoded.items()}
    )
    unknown = _unknown_rate(encoded.get("validation"), tokenizer.unk_token_id)
    if unknown is not None:
        logger.info("%.1f%% of the validation words are outside the vocabulary", 100 * unknown)
    return encoded


def _unknown_rate(dataset: Any, unk_token_id: int) -> float | None:
    if dataset is None or len(dataset) == 0:
        return None
    ids = np.concatenate([np.asarray(row) for row in dataset["input_ids"]])
    return float((ids == unk_token_id).mean()) if len(ids) else None


class WordCharCollator:
    """Pads words, attention mask and labels (-100) to the batch's longest sentence, and ``char_ids`` if present.

    ``char_ids`` rows come padded to ``max_word_length``; the batch keeps only the columns up to its longest word.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, pad_to_multiple_of: int | None = None):
        self.pad = DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

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
