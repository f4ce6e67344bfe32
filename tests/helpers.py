"""Test helpers shared by the suite."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel, TrainingArguments
from transformers.modeling_outputs import (
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

from nlpkit.multitask import MultiTaskCollator, MultiTaskTrainer

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
