"""Test helpers shared by the suite."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel, TrainingArguments
from transformers.modeling_outputs import (
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

from nlpkit.models import MODEL_FAMILIES, ModelFamily
from nlpkit.multitask import MultiTaskCollator, MultiTaskTrainer
from nlpkit.tokenization import train_tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]

# A sitecustomize that makes `import nlpkit` fail, so a subprocess sees the world of a user without nlpkit.
_BLOCK_NLPKIT = """
import sys
class _BlockNlpkit:
    def find_spec(self, name, path=None, target=None):
        if name == "nlpkit" or name.startswith("nlpkit."):
            raise ImportError("nlpkit is blocked in this process")
        return None
sys.meta_path.insert(0, _BlockNlpkit())
"""


def run_without_nlpkit(code: str, tmp_path: Path, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    """Run ``code`` in a fresh Python where ``import nlpkit`` raises; return its stdout (raises on failure)."""
    site = tmp_path / "block_nlpkit"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_BLOCK_NLPKIT)
    child_env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def last_json_line(output: str) -> dict:
    """The last line of ``output`` that parses as a JSON object."""
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"no JSON line in output:\n{output}")


def free_port() -> int:
    """A TCP port free on this machine now, for a two-rank launch's rendezvous: launches in parallel test workers
    would otherwise all bind torch.distributed's default port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rendezvous_options(config_file: str) -> list[str]:
    """``accelerate launch`` options giving a multi-process config its own port (none for a one-process config)."""
    return ["--main_process_port", str(free_port())] if config_file.startswith("multi_") else []


def launch_recipe(
    recipe: Path | str, *args: str, config_file: str = "cpu.yaml", check: bool = True
) -> subprocess.CompletedProcess:
    """Run ``recipe`` through ``accelerate launch`` with one of the project's accelerate configs, as a user would."""
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO_ROOT / "accelerate_configs" / config_file), *rendezvous_options(config_file),
        str(recipe), *args,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"recipe failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def overfit_losses(model, input_ids, *, learning_rate: float, steps: int) -> list[float]:
    """Train a causal LM on one batch (labels = inputs) with AdamW; the loss of every step."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    losses = []
    for _ in range(steps):
        loss = model(input_ids, labels=input_ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


# A sitecustomize that injects one fault into a recipe run, as $NLPKIT_TEST_FAULT says (fault injection lives in the
# tests, never in nlpkit):
#   "step N SIGNAL"     send SIGNAL (SIGKILL, SIGTERM, SIGINT) to the process as its Nth optimizer step starts;
#   "write PART N"      on the Nth torch.save / safetensors save_file to a path containing PART, write half of the
#                       bytes there, then SIGKILL the process (a kill or a full disk in the middle of a write).
_INJECT_FAULT = """
import io
import os
import signal

_FAULT = os.environ.get("NLPKIT_TEST_FAULT", "").split()
if _FAULT:
    import safetensors.torch
    import torch

    if _FAULT[0] == "write":
        _target, _nth = _FAULT[1], int(_FAULT[2])
    else:
        _nth, _signal = int(_FAULT[1]), getattr(signal, _FAULT[2])
    _calls = [0]

    def _hit(path):
        if _target not in str(path):
            return False
        _calls[0] += 1
        return _calls[0] == _nth

    def _half_then_kill(path, data):
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    if _FAULT[0] == "write":
        _torch_save, _save_file = torch.save, safetensors.torch.save_file

        def _save(obj, f, *args, **kwargs):
            if isinstance(f, (str, os.PathLike)) and _hit(f):
                buffer = io.BytesIO()
                _torch_save(obj, buffer, *args, **kwargs)
                _half_then_kill(f, buffer.getvalue())
            return _torch_save(obj, f, *args, **kwargs)

        def _save_tensors(tensors, filename, metadata=None):
            if _hit(filename):
                _half_then_kill(filename, safetensors.torch.save(tensors, metadata=metadata))
            return _save_file(tensors, filename, metadata)

        torch.save, safetensors.torch.save_file = _save, _save_tensors
    else:
        _step = torch.optim.AdamW.step

        def _counted_step(self, *args, **kwargs):
            _calls[0] += 1
            if _calls[0] == _nth:
                os.kill(os.getpid(), _signal)
            return _step(self, *args, **kwargs)

        torch.optim.AdamW.step = _counted_step
"""


def run_recipe(
    recipe: Path | str, *args: str, fault: str | None = None, tmp_path: Path, timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run ``recipe`` with this Python (no launcher), offline; with ``fault``, inject it (see ``_INJECT_FAULT``)."""
    site = tmp_path / "inject_fault"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_INJECT_FAULT)
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "NLPKIT_TEST_FAULT": fault or ""}
    return subprocess.run(
        [sys.executable, str(recipe), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
        preexec_fn=_default_sigint,
    )  # fmt: skip


def _default_sigint() -> None:
    """The recipe starts with SIGINT at its default, as in a terminal: a suite run as a background job inherits it
    ignored, and nlpkit rightly leaves an ignored SIGINT ignored (so Ctrl-C tests would see no Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


CHARS = list(" \nabcdefghijklmnopqrstuvwxyz.,!?")


def build_char_tokenizer() -> Any:
    """A character-level fast tokenizer (id 0 = <pad>, 1 = <unk>), left-padding for batched generation."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(["<pad>", "<unk>", *CHARS])}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))  # no merges: one token per char
    tokenizer.decoder = decoders.Fuse()  # join characters back without spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", padding_side="left"
    )


CONSOLE_SCRIPT = Path(sys.executable).parent / "nlpkit"


def console_script() -> Path:
    """The installed `nlpkit` console script (the test skips where the package is not installed)."""
    import pytest

    if not CONSOLE_SCRIPT.is_file():
        pytest.skip(f"the nlpkit console script is not installed at {CONSOLE_SCRIPT} (pip install -e .)")
    return CONSOLE_SCRIPT


def saved_classifier(folder: Path):
    """A tiny nlpkit text classifier saved with its tokenizer (the keys are the same before and after the renames)."""
    import torch

    from nlpkit.models.lstm_classifier import LSTMClassifierConfig, LSTMClassifierForSequenceClassification
    from nlpkit.tokenization import train_tokenizer

    tokenizer = train_tokenizer(["a great film", "a dull film"], kind="word", min_frequency=1)
    config = LSTMClassifierConfig(
        vocab_size=len(tokenizer),
        hidden_size=4,
        pad_token_id=tokenizer.pad_token_id,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    torch.manual_seed(0)
    model = LSTMClassifierForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


def save_tiny_bert(folder: Path) -> Path:
    """A 1-layer BERT (random weights, hidden size 32) with MiniLM's tokenizer, saved like a pretrained checkpoint:
    the recipes' pretrained-encoder paths at a fraction of MiniLM's cost."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from nlpkit.pretrained import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("sentence-transformers/all-MiniLM-L6-v2"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# The sample files the stand-ins' tokenizers are trained on.
SAMPLE_PROSE = REPO_ROOT / "nlpkit" / "resources" / "text" / "sample.txt"
SAMPLE_PAIRS = REPO_ROOT / "nlpkit" / "resources" / "translation" / "train.tsv"
TINY_GPT2_CONTEXT = 64  # the tiny GPT-2's n_positions
# The text-generation and translation recipes' shortest fine-tuning runs, for the stand-ins below.
TEXT_GENERATION_TINY_RUN = [
    "--block_size", "32", "--max_steps", "3", "--max_train_samples", "24", "--max_eval_samples", "4",
    "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4", "--eval_strategy", "steps",
    "--eval_steps", "3", "--save_strategy", "no", "--logging_steps", "1", "--sample_temperatures", "1.0",
    "--sample_max_new_tokens", "5", "--generation_max_new_tokens", "5",
]  # fmt: skip
TRANSLATION_TINY_RUN = [
    "--max_steps", "2", "--max_train_samples", "16", "--max_eval_samples", "4", "--per_device_train_batch_size", "8",
    "--per_device_eval_batch_size", "4", "--max_source_length", "24", "--max_target_length", "8",
    "--num_sample_translations", "2", "--eval_strategy", "no", "--save_strategy", "no", "--logging_steps", "1",
]  # fmt: skip
TINY_SEQ2SEQ_SIZES = {"encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
                      "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "d_model": 16,
                      "max_position_embeddings": 64}  # fmt: skip


def save_tiny_gpt2(folder: Path) -> Path:
    """A tiny GPT-2 (1 layer, width 16) and a GPT2Tokenizer of 300 byte-level BPE tokens trained on the sample prose,
    saved as a Hub folder: openai-community/gpt2 without the download."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator([SAMPLE_PROSE.read_text(encoding="utf-8")], trainer)
    learned = json.loads(bpe.to_str())["model"]
    tokenizer = GPT2Tokenizer(vocab=learned["vocab"], merges=[tuple(merge) for merge in learned["merges"]])
    end = tokenizer.eos_token_id
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=TINY_GPT2_CONTEXT, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=end, eos_token_id=end)  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def sample_sentences() -> list[str]:
    """Both sides of the sample translation pairs."""
    return [text for line in SAMPLE_PAIRS.read_text(encoding="utf-8").splitlines() for text in line.split("\t")]


def save_tiny_marian(folder: Path) -> Path:
    """A tiny Marian with a BPE tokenizer of 300 pieces (SentencePiece-like: ▁ marks spaces, </s> ends every text)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace()
    bpe.decoder = decoders.Metaspace()
    bpe.train_from_iterator(
        sample_sentences(), trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"])
    )
    bpe.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    special = {"pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0, "forced_eos_token_id": 1}
    MarianMTModel(MarianConfig(vocab_size=len(tokenizer), **TINY_SEQ2SEQ_SIZES, **special)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# Three CoNLL sentences with their tags (tests/test_ner.py's pipelines, tests/test_padding.py).
NER_SENTENCES = [
    ("John Smith lives in Paris.", ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
    ("Mary works in London.", ["B-PER", "O", "O", "B-LOC", "O"]),
    ("Paris welcomes Mary Kovacs.", ["B-LOC", "O", "B-PER", "I-PER", "O"]),  # ko ##vac ##s
]


def write_conll(folder: Path, sentences=NER_SENTENCES) -> Path:
    """``folder/train.txt``: ``sentences`` as a CoNLL file (one "word tag" per line, the final dot a word)."""
    words = [(text.rstrip(".").split() + ["."], tags) for text, tags in sentences]
    path = folder / "train.txt"
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(*s)) for s in words) + "\n", encoding="utf-8")
    return path


# ---- One tiny setting per family of the registry (nlpkit.models.MODEL_FAMILIES), keyed by its model_type: a tokenizer,
# config keys, a batch with labels. tests/test_model_contract.py checks every family's contract with them; a new family
# adds its setting here. The configs use only keys whose names are the same before and after the config renames
# (vocab_size, hidden_size, ...), so that they never depend on which names a family uses for its other settings.

CLASSIFIER_TEXTS = [
    "a truly great film",
    "boring and far too long",
    "great acting , great story",
    "a dull , boring mess",
]
SENTIMENTS = ["positive", "negative", "positive", "negative"]
TAGGED = [
    ("John Smith lives in Paris .", ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
    ("Mary works in London .", ["B-PER", "O", "O", "B-LOC", "O"]),
    ("Paris welcomes Mary Jones .", ["B-LOC", "O", "B-PER", "I-PER", "O"]),
]
BIO_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
LM_TEXTS = ["to be or not to be", "that is the question", "whether tis nobler in the mind"]
PAIRS = [
    ("ein hund läuft", "a dog runs"),
    ("eine katze schläft", "a cat sleeps"),
    ("zwei hunde spielen im park", "two dogs play in the park"),
]


WORD_VECTOR_TEXTS = ["the king rules the land", "the queen rules the land", "a man walks home", "a woman walks home"]


def labelled(names: list[str]) -> dict[str, Any]:
    return {"id2label": dict(enumerate(names)), "label2id": {name: i for i, name in enumerate(names)}}


def classification_batch(tokenizer) -> dict[str, torch.Tensor]:
    batch = dict(tokenizer(CLASSIFIER_TEXTS, padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([0 if sentiment == "positive" else 1 for sentiment in SENTIMENTS])
    return batch


def tagging_batch(tokenizer) -> dict[str, torch.Tensor]:
    batch = dict(tokenizer([text for text, _ in TAGGED], padding=True, return_tensors="pt"))
    labels = torch.full_like(batch["input_ids"], -100)
    for row, (_, tags) in enumerate(TAGGED):
        assert len(tags) == int(batch["attention_mask"][row].sum())  # one token per word
        labels[row, : len(tags)] = torch.tensor([BIO_LABELS.index(tag) for tag in tags])
    batch["labels"] = labels
    return batch


def causal_lm_batch(tokenizer) -> dict[str, torch.Tensor]:
    batch = dict(tokenizer(LM_TEXTS, padding=True, return_tensors="pt"))  # left-padded
    batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    return batch


def seq2seq_batch(tokenizer) -> dict[str, torch.Tensor]:
    encoded = tokenizer([s for s, _ in PAIRS], text_target=[t for _, t in PAIRS], padding=True, return_tensors="pt")
    labels = encoded["labels"].masked_fill(encoded["labels"] == tokenizer.pad_token_id, -100)
    decoder_input_ids = torch.cat([torch.full_like(labels[:, :1], tokenizer.bos_token_id), labels[:, :-1]], dim=1)
    return {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "decoder_input_ids": decoder_input_ids.masked_fill(decoder_input_ids == -100, tokenizer.pad_token_id),
        "labels": labels,
    }


def word_ids(tokenizer) -> list[list[int]]:
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in WORD_VECTOR_TEXTS]


def cbow_batch(tokenizer, window: int = 2, block: int = 4, shared: int = 3) -> dict[str, torch.Tensor]:
    """Word2Vec's CBOW examples: each word of WORD_VECTOR_TEXTS from its neighbours (padded, masked at sentence
    ends), with seeded negatives shared by each block of ``block`` examples (the default way, last block shorter)."""
    contexts, centres = [], []
    for ids in word_ids(tokenizer):
        for position, centre in enumerate(ids):
            context = ids[max(0, position - window) : position] + ids[position + 1 : position + 1 + window]
            contexts.append(context + [tokenizer.pad_token_id] * (2 * window - len(context)))
            centres.append(centre)
    input_ids = torch.tensor(contexts)
    blocks = -(-len(centres) // block)
    negatives = torch.randint(len(tokenizer), (blocks, shared), generator=torch.Generator().manual_seed(0))
    return {
        "input_ids": input_ids,
        "attention_mask": input_ids.ne(tokenizer.pad_token_id).long(),
        "output_ids": torch.tensor(centres),
        "negative_ids": negatives,
    }


def cooccurrence_batch(tokenizer, window: int = 2) -> dict[str, torch.Tensor]:
    """GloVe's entries: the nonzero co-occurrence counts of WORD_VECTOR_TEXTS, a pair at distance k adding 1/k."""
    counts: dict[tuple[int, int], float] = defaultdict(float)
    for ids in word_ids(tokenizer):
        for position, word in enumerate(ids):
            for distance in range(1, window + 1):
                if position + distance < len(ids):
                    counts[word, ids[position + distance]] += 1.0 / distance
                    counts[ids[position + distance], word] += 1.0 / distance
    pairs = sorted(counts)
    return {
        "input_ids": torch.tensor([row for row, _ in pairs]),
        "output_ids": torch.tensor([column for _, column in pairs]),
        "cooccurrence": torch.tensor([counts[pair] for pair in pairs]),
    }


def randomise_zero_parameters(model, tokenizer) -> None:
    """Parameters that start at zero (Word2Vec's output vectors, GloVe's biases) get random values, so that the
    outputs compared after loading depend on every parameter (Word2Vec's scores are all 0 at initialisation)."""
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_()


def set_word_vocabulary(model, tokenizer) -> None:
    """The BiLSTM-CRF reads the characters of its vocabulary words from a buffer (saved with the weights)."""
    if getattr(model, "char_encoder", None) is not None:
        model.set_word_vocabulary(tokenizer.get_vocab(), tokenizer.all_special_tokens)


@dataclass(frozen=True)
class Tiny:
    """A family's tiny setting. `config` maps the tokenizer to config keys; `batch` gives forward inputs + labels."""

    tokenizer: Callable[[], Any]
    config: Callable[[Any], dict[str, Any]]
    batch: Callable[[Any], dict[str, torch.Tensor]]
    learning_rate: float  # AdamW's, for overfitting the batch
    prepare: Callable[[Any, Any], None] = lambda model, tokenizer: None  # (model, tokenizer) after construction


TINY: dict[str, Tiny] = {
    "lstm_classifier": Tiny(
        tokenizer=lambda: train_tokenizer(CLASSIFIER_TEXTS, kind="word", min_frequency=1),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "hidden_size": 8,
            "embedding_dropout": 0.0,
            "classifier_dropout": 0.0,
            **labelled(["positive", "negative"]),
        },
        batch=classification_batch,
        learning_rate=3e-2,
    ),
    "bilstm_crf": Tiny(
        tokenizer=lambda: train_tokenizer([text for text, _ in TAGGED], kind="word", min_frequency=1),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "char_encoder": "cnn",
            "char_alphabet": "".join(sorted(set("".join(text for text, _ in TAGGED)) - {" "})),
            "char_hidden_size": 8,
            "dropout": 0.0,
            **labelled(BIO_LABELS),
        },
        batch=tagging_batch,
        learning_rate=3e-2,
        prepare=set_word_vocabulary,
    ),
    "gpt": Tiny(
        tokenizer=lambda: train_tokenizer(LM_TEXTS, kind="char", padding_side="left"),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 64,
            "initializer_range": 0.2,  # peaked predictions: greedy decoding does not repeat one token
        },
        batch=causal_lm_batch,
        learning_rate=1e-2,
    ),
    "lstm_lm": Tiny(
        tokenizer=lambda: train_tokenizer(LM_TEXTS, kind="char", padding_side="left"),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "embedding_size": 24,
            "hidden_size": 24,  # equal sizes, so that the embeddings can be tied
            "num_hidden_layers": 2,
            "initializer_range": 0.5,
        },
        batch=causal_lm_batch,
        learning_rate=3e-2,
    ),
    "rnn_seq2seq": Tiny(
        tokenizer=lambda: train_tokenizer(
            [text for pair in PAIRS for text in pair],
            kind="word",
            min_frequency=1,
            bos_token="<s>",
            eos_token="</s>",
            add_eos_token=True,  # sources and targets end in </s>; the decoder starts from <s>
        ),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "embedding_size": 16,
            "encoder_hidden_size": 16,
            "hidden_size": 16,
            "dropout": 0.0,
        },
        batch=seq2seq_batch,
        learning_rate=3e-2,
    ),
    # The word vector models have no head and no labels: only the registry-wide tests (saving, loading, remote code,
    # tying, config help) run on them; the training tests are the heads'. Their own tests: test_word_vector_models.py.
    "word2vec": Tiny(
        tokenizer=lambda: train_tokenizer(WORD_VECTOR_TEXTS, kind="word", min_frequency=1),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "embedding_size": 8,
            "architecture": "cbow",  # the path with padding and a mask; skip-gram is one gather less
            "window": 2,
            "negative": 3,
            "negative_block_size": 4,
            "shared_negatives": 3,
        },
        batch=cbow_batch,
        learning_rate=3e-2,
        prepare=randomise_zero_parameters,
    ),
    "glove": Tiny(
        tokenizer=lambda: train_tokenizer(WORD_VECTOR_TEXTS, kind="word", min_frequency=1),
        config=lambda tokenizer: {"vocab_size": len(tokenizer), "embedding_size": 8, "window": 2, "x_max": 2.0},
        batch=cooccurrence_batch,
        learning_rate=3e-2,
        prepare=randomise_zero_parameters,
    ),
    # An encoder-decoder for generate(): right-padded sentences ending in </s> are encoded, the decoder starts from <s>.
    # Its own tests (KL, annealing, word dropout, generation from latent codes): test_sentence_vae_model.py.
    "sentence_vae": Tiny(
        tokenizer=lambda: train_tokenizer(
            LM_TEXTS, kind="word", min_frequency=1, bos_token="<s>", eos_token="</s>", add_eos_token=True
        ),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "unk_token_id": tokenizer.unk_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "embedding_size": 16,
            "hidden_size": 16,  # equal sizes, so that the embeddings can be tied
            "latent_size": 4,
            "initializer_range": 0.5,
        },
        batch=causal_lm_batch,  # right-padded here: labels are the sentences, -100 at padding
        learning_rate=3e-2,
    ),
    # One head, so that forward needs no `task`; a tiny BERT encoder (a nested transformers config rebuilt when
    # loading). The BiLSTM encoder's remote-code load and the heads: test_multitask_model.py.
    "multitask": Tiny(
        tokenizer=lambda: train_tokenizer(CLASSIFIER_TEXTS, kind="word", min_frequency=1),
        config=lambda tokenizer: {
            "encoder_type": "pretrained",
            "encoder": {
                "model_type": "bert",
                "vocab_size": len(tokenizer),
                "pad_token_id": tokenizer.pad_token_id,
                "hidden_size": 16,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 32,
                "max_position_embeddings": 32,
            },
            "heads": [{"name": "sentiment", "kind": "sequence_classification", "labels": ["positive", "negative"]}],
        },
        batch=classification_batch,
        learning_rate=3e-2,
    ),
}


# The classes each family resolves to, and pytest params over the families.
RESOLVED = {family.model_type: family.resolve() for family in MODEL_FAMILIES}

FAMILIES = [pytest.param(family, id=family.model_type) for family in MODEL_FAMILIES]


@functools.cache
def tiny_tokenizer(model_type: str):
    return TINY[model_type].tokenizer()


def tiny_model(family: ModelFamily, model_class: type, seed: int = 0, **overrides):
    """A freshly initialised tiny `model_class` (eval mode) and its family's tokenizer."""
    tiny, tokenizer = TINY[family.model_type], tiny_tokenizer(family.model_type)
    config = RESOLVED[family.model_type].config_class(**{**tiny.config(tokenizer), **overrides})
    torch.manual_seed(seed)
    model = model_class(config)
    tiny.prepare(model, tokenizer)
    return model.eval(), tokenizer


def tiny_batch(family: ModelFamily) -> dict[str, torch.Tensor]:
    return TINY[family.model_type].batch(tiny_tokenizer(family.model_type))


# ---- A tiny multi-head model honouring the multi-task model's contract (tests/test_multitask_training.py and the
# 2-rank script it runs) ----

TASKS = ["sentiment", "entities", "qa"]
SEQ = 4


class TinyMultiTaskConfig(PretrainedConfig):
    model_type = "tiny_multitask_test"

    def __init__(self, task_names: list[str] | None = None, vocab_size: int = 12, hidden_size: int = 8, **kwargs):
        self.task_names = list(task_names or TASKS)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        super().__init__(**kwargs)


class TinyMultiTaskModel(PreTrainedModel):
    """Embedding + linear encoder; heads: sentence classes, token tags, answer span."""

    config_class = TinyMultiTaskConfig

    def __init__(self, config: TinyMultiTaskConfig) -> None:
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.encoder = nn.Linear(config.hidden_size, config.hidden_size)
        self.heads = nn.ModuleDict(
            {"sentiment": nn.Linear(config.hidden_size, 2), "entities": nn.Linear(config.hidden_size, 3)}
        )
        self.heads["qa"] = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def shared_parameters(self):
        yield from self.embed.parameters()
        yield from self.encoder.parameters()

    def head_parameters(self, name: str):
        yield from self.heads[name].parameters()

    def forward(self, task: str, input_ids, labels=None, start_positions=None, end_positions=None):
        hidden = torch.tanh(self.encoder(self.embed(input_ids)))
        ce = nn.functional.cross_entropy
        if task == "sentiment":
            logits = self.heads[task](hidden.mean(1))
            return SequenceClassifierOutput(loss=None if labels is None else ce(logits, labels), logits=logits)
        if task == "entities":
            logits = self.heads[task](hidden)
            loss = None if labels is None else ce(logits.reshape(-1, 3), labels.reshape(-1))
            return TokenClassifierOutput(loss=loss, logits=logits)
        start, end = self.heads[task](hidden).unbind(-1)
        loss = None if start_positions is None else (ce(start, start_positions) + ce(end, end_positions)) / 2
        return QuestionAnsweringModelOutput(loss=loss, start_logits=start, end_logits=end)


def make_examples(task: str, n: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        ids = torch.randint(0, 12, (SEQ,), generator=g)
        row = {"task": task, "input_ids": ids}
        if task == "sentiment":
            row["labels"] = int(ids[0] < 6)
        elif task == "entities":
            row["labels"] = ids % 3
        else:
            row["start_positions"], row["end_positions"] = 1, 2
        rows.append(row)
    return rows


def stack(rows: list[dict]) -> dict:
    return {k: torch.stack([torch.as_tensor(r[k]) for r in rows]) for k in rows[0]}


COLLATOR = MultiTaskCollator(dict.fromkeys(TASKS, stack))


def accuracy(pred) -> dict:
    return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}


def token_accuracy(pred) -> dict:
    return {"f1": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}


def make_trainer(tmp_path, combination="sum", sampling="proportional", **kwargs) -> MultiTaskTrainer:
    torch.manual_seed(0)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=6,
        per_device_eval_batch_size=4,
        learning_rate=0.05,
        max_steps=kwargs.pop("max_steps", 3),
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        **{"save_strategy": "no", **kwargs.pop("args", {})},
    )
    train = {"sentiment": make_examples("sentiment", 12), "entities": make_examples("entities", 8, 1)}
    return MultiTaskTrainer(
        model=TinyMultiTaskModel(TinyMultiTaskConfig()),
        args=args,
        train_dataset=train,
        eval_dataset={"sentiment": make_examples("sentiment", 6, 2), "entities": make_examples("entities", 6, 3)},
        data_collator=COLLATOR,
        loss_combination=combination,
        sampling=sampling,
        **kwargs,
    )
