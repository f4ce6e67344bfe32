"""Train word, character and BPE tokenizers on raw text and wrap them as transformers fast tokenizers.

Every kind is a `tokenizers.Tokenizer` (normaliser -> pre-tokeniser -> model -> decoder) trained on an iterable of
texts and wrapped in `PreTrainedTokenizerFast`, so it pads, truncates, saves with `save_pretrained` and reloads with
`AutoTokenizer.from_pretrained` like any Hub tokenizer.

| kind       | splits text into                          | decode gives back                                  |
| ---------- | ----------------------------------------- | -------------------------------------------------- |
| `word`     | words and punctuation runs                | words joined by spaces, punctuation re-attached    |
| `char`     | single characters (spaces, newlines too)  | the exact text (for characters in the vocabulary)  |
| `bpe`      | subwords, "▁" marking a preceding space   | the text with its spaces (NFKC-normalised)         |
| `byte_bpe` | subwords over UTF-8 bytes (GPT-2 style)   | the exact text, always (no unknown tokens)         |

Special tokens come first in the vocabulary, in the order pad, unk, bos, eos, extras, so `<pad>` is id 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, TypeVar

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)
T = TypeVar("T")

TokenizerKind = Literal["word", "char", "bpe", "byte_bpe"]
TOKENIZER_KINDS: tuple[str, ...] = ("word", "char", "bpe", "byte_bpe")

# Default minimum count for a vocabulary entry (or a BPE merge). Characters are all kept so that text seen in
# training decodes exactly; words and merges seen once are mostly noise, and dropping them trains the unk embedding.
_DEFAULT_MIN_FREQUENCY = {"word": 2, "char": 1, "bpe": 2, "byte_bpe": 2}

# Applied in order to the space-joined tokens of a word-level tokenizer, to re-attach punctuation and clitics.
_WORD_DETOKENIZE_RULES = (
    (r"(?<=\w) ' (?=(?:s|m|t|re|ve|ll|d)\b)", "'"),  # it ' s -> it's, don ' t -> don't
    (r" (?=[.,!?;:%)\]}]|n't\b|'(?:s|m|re|ve|ll|d)\b)", ""),  # word . -> word.   does n't -> doesn't
    (r"(?<=[(\[{$]) ", ""),  # ( word -> (word   $ 10 -> $10
    (r"(?<=\d[.,]) (?=\d)", ""),  # 3. 5 -> 3.5
    (r"(?<=\w) - (?=\w)", "-"),  # well - made -> well-made
)


def train_tokenizer(
    texts: Iterable[str],
    kind: TokenizerKind = "word",
    vocab_size: int = 30_000,
    min_frequency: int | None = None,
    lowercase: bool = False,
    nfkc: bool | None = None,
    pad_token: str = "<pad>",
    unk_token: str = "<unk>",
    bos_token: str | None = None,
    eos_token: str | None = None,
    add_bos_token: bool = False,
    add_eos_token: bool = False,
    special_tokens: Sequence[str] = (),
    model_max_length: int | None = None,
    padding_side: Literal["right", "left"] = "right",
    split_punctuation: bool = True,
) -> PreTrainedTokenizerFast:
    """Train a tokenizer of the given kind on `texts` and wrap it as a fast tokenizer.

    Args:
        texts: the training texts (any iterable, read once).
        kind: `"word"`, `"char"`, `"bpe"` or `"byte_bpe"` (see the module docstring).
        vocab_size: the largest vocabulary, special tokens included.
        min_frequency: the smallest count for a word, character or merge to enter the vocabulary
            (default: 1 for `char`, 2 otherwise).
        lowercase: lowercase text before anything else (then decoding gives lowercase text).
        nfkc: apply Unicode NFKC normalisation (default: on for `word` and `bpe`; off for `char` and `byte_bpe`,
            whose decoding gives back the exact input).
        pad_token, unk_token: padding and unknown tokens (ids 0 and 1).
        bos_token, eos_token: optional begin/end-of-sequence tokens, for language models and seq2seq.
        add_bos_token, add_eos_token: add them around every encoded sequence.
        special_tokens: extra special tokens (never split, skipped by `decode(skip_special_tokens=True)`).
        model_max_length: the longest input the model accepts (used by `truncation=True`); unlimited if None.
        padding_side: `"right"` or `"left"`.
        split_punctuation: `word` only: split punctuation off words ("film," -> "film", ","). With False, text is
            split on whitespace only, so each word given with `is_split_into_words=True` is exactly one token
            (what a word-level tagger wants for CoNLL-style input).
    """
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"kind must be one of {TOKENIZER_KINDS}, got {kind!r}")
    if add_bos_token and bos_token is None:
        raise ValueError("add_bos_token=True needs a bos_token")
    if add_eos_token and eos_token is None:
        raise ValueError("add_eos_token=True needs an eos_token")
    all_special = [pad_token, unk_token, *(t for t in (bos_token, eos_token) if t is not None), *special_tokens]
    if len(set(all_special)) != len(all_special):
        raise ValueError(f"special tokens must be distinct, got {all_special}")
    if min_frequency is None:
        min_frequency = _DEFAULT_MIN_FREQUENCY[kind]
    if nfkc is None:
        nfkc = kind in ("word", "bpe")

    backend = new_tokenizer(
        kind, unk_token=unk_token, lowercase=lowercase, nfkc=nfkc, split_punctuation=split_punctuation
    )
    backend.train_from_iterator(texts, trainer=_trainer(kind, vocab_size, min_frequency, all_special))
    return wrap_tokenizer(
        backend,
        pad_token=pad_token,
        unk_token=unk_token,
        bos_token=bos_token,
        eos_token=eos_token,
        add_bos_token=add_bos_token,
        add_eos_token=add_eos_token,
        special_tokens=special_tokens,
        model_max_length=model_max_length,
        padding_side=padding_side,
    )


def new_tokenizer(
    kind: TokenizerKind,
    unk_token: str,
    lowercase: bool = False,
    nfkc: bool = True,
    split_punctuation: bool = True,
) -> Tokenizer:
    """An untrained `tokenizers.Tokenizer` of the given kind: model, normaliser, pre-tokeniser and decoder."""
    if kind == "word":
        tokenizer = Tokenizer(models.WordLevel(unk_token=unk_token))
        # Whitespace: runs of word characters or of punctuation; WhitespaceSplit: whatever lies between spaces.
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace() if split_punctuation else pre_tokenizers.WhitespaceSplit()
        tokenizer.decoder = decoders.Sequence(
            [
                decoders.Replace(Regex(r"\z"), " "),  # a space after every token...
                decoders.Fuse(),  # ...joined into one string, so the rules below see neighbouring tokens...
                # ...but not after the last one (not Strip(" ", 0, 1): it panics on no tokens, an empty output)
                decoders.Replace(Regex(r" \z"), ""),
                *(decoders.Replace(Regex(pattern), content) for pattern, content in _WORD_DETOKENIZE_RULES),
            ]
        )
    elif kind == "char":
        tokenizer = Tokenizer(models.WordLevel(unk_token=unk_token))
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tokenizer.decoder = decoders.Fuse()
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=unk_token))
        # Metaspace keeps where the spaces were; splitting punctuation off keeps "word," and "word" one entry.
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
        tokenizer.decoder = decoders.Metaspace()
    elif kind == "byte_bpe":
        tokenizer = Tokenizer(models.BPE())  # every byte is in the alphabet: no unknown token needed
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
    else:
        raise ValueError(f"kind must be one of {TOKENIZER_KINDS}, got {kind!r}")

    steps = ([normalizers.NFKC()] if nfkc else []) + ([normalizers.Lowercase()] if lowercase else [])
    if steps:
        tokenizer.normalizer = normalizers.Sequence(steps)
    return tokenizer


def _trainer(kind: TokenizerKind, vocab_size: int, min_frequency: int, special_tokens: list[str]) -> trainers.Trainer:
    if kind in ("word", "char"):
        return trainers.WordLevelTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special_tokens, show_progress=False
        )
    initial_alphabet = pre_tokenizers.ByteLevel.alphabet() if kind == "byte_bpe" else []
    return trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens,
        initial_alphabet=initial_alphabet,
        show_progress=False,
    )


def wrap_tokenizer(
    tokenizer: Tokenizer,
    pad_token: str = "<pad>",
    unk_token: str | None = "<unk>",
    bos_token: str | None = None,
    eos_token: str | None = None,
    add_bos_token: bool = False,
    add_eos_token: bool = False,
    special_tokens: Sequence[str] = (),
    model_max_length: int | None = None,
    padding_side: Literal["right", "left"] = "right",
) -> PreTrainedTokenizerFast:
    """Wrap a trained `tokenizers.Tokenizer` as a transformers fast tokenizer (inputs: ids and attention mask)."""
    options = {}
    if model_max_length is not None:
        options["model_max_length"] = model_max_length
    if add_bos_token or add_eos_token:  # transformers then writes the matching post-processor
        options.update(add_bos_token=add_bos_token, add_eos_token=add_eos_token)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=pad_token,
        unk_token=unk_token,
        bos_token=bos_token,
        eos_token=eos_token,
        extra_special_tokens=list(special_tokens),
        padding_side=padding_side,
        model_input_names=["input_ids", "attention_mask"],
        # The backend decoder already places spaces; transformers' clean-up would alter exact decodes.
        clean_up_tokenization_spaces=False,
        **options,
    )


def tokenizer_for_run(
    train: Callable[[], PreTrainedTokenizerFast], resume_checkpoint: str | None = None
) -> PreTrainedTokenizerFast:
    """The tokenizer of a run whose model learns its vocabulary: the checkpoint's when resuming, else ``train()``.

    A checkpoint's weights index its own vocabulary, so a resumed run reloads the tokenizer saved beside them rather
    than training one that might differ (other data or options). Under torch.distributed the main process alone
    trains it and sends it to the other ranks (:func:`on_main_process`), so every rank holds the very same
    vocabulary and no rank waits for a file that another one writes. This is the one policy of every recipe that
    trains a tokenizer.
    """
    if resume_checkpoint is not None:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(resume_checkpoint)
        logger.info("Tokenizer of %s reloaded (%d tokens)", resume_checkpoint, len(tokenizer))
        return tokenizer
    tokenizer = on_main_process(train)
    logger.info("Trained a tokenizer of %d tokens", len(tokenizer))
    return tokenizer


def on_main_process(build: Callable[[], T]) -> T:
    """``build()`` on the main process of the torch.distributed group, sent to the other ranks (pickled), so that
    all of them hold an identical object; a plain call in a single process."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return build()
    holder = [build() if torch.distributed.get_rank() == 0 else None]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


__all__ = [
    "TOKENIZER_KINDS",
    "TokenizerKind",
    "new_tokenizer",
    "on_main_process",
    "tokenizer_for_run",
    "train_tokenizer",
    "wrap_tokenizer",
]
