"""Character-level Shakespeare: nlpkit's GPT against transformers' GPT2LMHeadModel, plus nlpkit's LSTM LM.

Both transformers train side by side in one run at nanoGPT's CPU configuration (4 layers, 4 heads, width 128,
context 64, batch 12, 2,000 iterations, AdamW lr 1e-3 with 100 warm-up steps and cosine decay to 1e-4, betas
(0.9, 0.99), weight decay 0.1 on 2-D parameters, gradient clipping 1.0, no dropout), from the same seed on the same
batches. nlpkit's GPT uses rotary position embeddings here (`--position_embedding_type learned` for GPT-2's
learned table). The LSTM LM (2 x 256, char-rnn's learning rate 2e-3) then trains for the wall-clock time the GPT
needed, its schedule following the fraction of that budget spent. One JSON line per model:

    val_loss            mean cross-entropy over a fixed set of validation batches (nats per character)
    train_tokens_per_s  training throughput (forward, backward, clipping and optimizer step)
    gen_tokens_per_s    `generate()` throughput at batch 1 with the cache (sampling, block_size - 1 new tokens from a
                        one-character prompt, so that GPT-2's learned positions stay within the trained context)

and, when both transformers ran, a last line comparing them against the targets: nlpkit's val loss <= 1.85 at the same
steps, train tokens/s >= 1.1x and generation tokens/s >= 1.0x GPT-2's.

    python benchmarks/text_generation.py --data /work/shared/datasets/tinyshakespeare/input.txt
    python benchmarks/text_generation.py --data ... --max_iters 50   # smoke test

The first 90% of the text is the training split and the last 10% the validation split; the vocabulary is the sorted
set of the text's characters. Timings on a shared machine are noisy; the models alternate within one process so that
they see the same conditions.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel
from transformers import logging as transformers_logging

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlpkit.models.gpt import GPTConfig, GPTForCausalLM  # noqa: E402
from nlpkit.models.lstm_lm import LSTMForCausalLM, LSTMLMConfig  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="path to tinyshakespeare's input.txt")
    parser.add_argument("--max_iters", type=int, default=2000)
    parser.add_argument("--warmup_iters", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=12)
    parser.add_argument("--block_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--min_lr", type=float, default=1e-4)
    parser.add_argument("--eval_batches", type=int, default=200, help="fixed validation batches for val_loss")
    parser.add_argument("--gen_rounds", type=int, default=5, help="generations of block_size - 1 new tokens each")
    parser.add_argument("--position_embedding_type", choices=["learned", "rotary"], default="rotary")
    parser.add_argument("--models", default="gpt,gpt2,lstm", help="comma-separated subset of gpt,gpt2,lstm")
    parser.add_argument("--lstm_budget_s", type=float, default=None, help="LSTM training time (default: GPT's)")
    parser.add_argument("--lstm_learning_rate", type=float, default=2e-3, help="peak LR of the LSTM (char-rnn's)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: leave torch's default)")
    args = parser.parse_args()
    if args.data is None:
        parser.error("--data is required: the path to tinyshakespeare's input.txt (e.g. /work/shared/datasets/...)")
    if not args.data.is_file():
        parser.error(f"--data {args.data} is not a file")
    return args


class CharBatches:
    """Random (input, target) windows of a token tensor; batch `i` is the same for every model that asks for it."""

    def __init__(self, data: torch.Tensor, batch_size: int, block_size: int, seed: int):
        self.data, self.batch_size, self.block_size = data, batch_size, block_size
        self.generator = torch.Generator().manual_seed(seed)
        self.starts: list[torch.Tensor] = []

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        while len(self.starts) <= i:
            high = len(self.data) - self.block_size - 1
            self.starts.append(torch.randint(high, (self.batch_size,), generator=self.generator))
        offsets = self.starts[i][:, None] + torch.arange(self.block_size + 1)
        window = self.data[offsets]
        return window[:, :-1], window[:, 1:]


def cosine_lr(progress: float, args: argparse.Namespace) -> float:
    """nanoGPT's schedule as a function of training progress in [0, 1]: linear warm-up, cosine decay to min_lr."""
    warmup = args.warmup_iters / args.max_iters
    if progress < warmup:
        return args.learning_rate * (progress * args.max_iters + 1) / (args.warmup_iters + 1)
    ratio = min(1.0, (progress - warmup) / (1.0 - warmup))
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (args.learning_rate - args.min_lr)


def adamw(model: torch.nn.Module, lr: float) -> torch.optim.AdamW:
    """nanoGPT's optimizer: weight decay 0.1 on matrices and embeddings, none on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


class Trainee:
    """A model with its optimizer, trained one step at a time so that several models can alternate."""

    def __init__(self, name: str, model: PreTrainedModel, vocab_size: int, learning_rate: float):
        self.name, self.model, self.vocab_size = name, model, vocab_size
        self.optimizer = adamw(model, learning_rate)
        self.train_seconds = 0.0
        self.steps = 0

    def train_step(self, inputs: torch.Tensor, targets: torch.Tensor, lr: float) -> float:
        start = time.perf_counter()
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        logits = self.model(input_ids=inputs, use_cache=False).logits
        loss = F.cross_entropy(logits.view(-1, self.vocab_size), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.train_seconds += time.perf_counter() - start
        self.steps += 1
        return loss.item()

    @torch.no_grad()
    def val_loss(self, batches: CharBatches, num_batches: int) -> float:
        self.model.eval()
        losses = []
        for i in range(num_batches):
            inputs, targets = batches[i]
            logits = self.model(input_ids=inputs, use_cache=False).logits
            losses.append(F.cross_entropy(logits.view(-1, self.vocab_size), targets.reshape(-1)).item())
        return sum(losses) / len(losses)


@torch.no_grad()
def generation_speeds(
    trainees: list[Trainee], prompt: torch.Tensor, new_tokens: int, rounds: int, seed: int
) -> dict[str, tuple[float, torch.Tensor]]:
    """Tokens per second of sampled `generate()` at batch 1 with the cache, per model, and each first generation.

    The models take turns round by round, so that a change in the machine's load hits them alike.
    """
    kwargs = {"max_new_tokens": new_tokens, "do_sample": True, "temperature": 0.8, "use_cache": True}
    seconds = dict.fromkeys((t.name for t in trainees), 0.0)
    samples = {}
    for trainee in trainees:
        trainee.model.eval()
        trainee.model.generate(prompt, **kwargs)  # warm-up: generate() sets things up on its first call
    for round_ in range(rounds):
        for trainee in trainees:
            torch.manual_seed(seed + round_)
            start = time.perf_counter()
            output = trainee.model.generate(prompt, **kwargs)
            seconds[trainee.name] += time.perf_counter() - start
            samples.setdefault(trainee.name, output[0, prompt.shape[1] :])
    return {name: (rounds * new_tokens / seconds[name], samples[name]) for name in seconds}


def main() -> None:
    args = parse_args()
    transformers_logging.set_verbosity_error()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    models = args.models.split(",")

    text = args.data.read_text(encoding="utf-8")
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text], dtype=torch.long)
    split = int(0.9 * len(data))
    train_batches = CharBatches(data[:split], args.batch_size, args.block_size, args.seed)
    val_batches = CharBatches(data[split:], args.batch_size, args.block_size, args.seed + 1)
    vocab_size = len(chars)
    special_tokens = dict(bos_token_id=None, eos_token_id=None, pad_token_id=stoi["\n"])
    size = dict(vocab_size=vocab_size, n_layer=4, n_head=4, n_embd=128)

    def build(name: str) -> PreTrainedModel:
        torch.manual_seed(args.seed)  # same initial randomness for every model
        if name == "gpt":
            config = GPTConfig(
                **size, **special_tokens, block_size=args.block_size, dropout=0.0,
                position_embedding_type=args.position_embedding_type,
            )  # fmt: skip
            return GPTForCausalLM(config)
        if name == "gpt2":
            config = GPT2Config(
                **size, **special_tokens, n_positions=args.block_size, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0
            )
            return GPT2LMHeadModel(config)
        if name == "lstm":
            config = LSTMLMConfig(
                vocab_size=vocab_size, embedding_size=256, hidden_size=256, num_hidden_layers=2, **special_tokens
            )
            return LSTMForCausalLM(config)
        raise ValueError(f"unknown model {name!r}")

    labels = {"gpt": "nlpkit GPTForCausalLM", "gpt2": "transformers GPT2LMHeadModel", "lstm": "nlpkit LSTMForCausalLM"}
    transformers_ = [Trainee(name, build(name), vocab_size, args.learning_rate) for name in models if name != "lstm"]
    for it in range(args.max_iters if transformers_ else 0):
        inputs, targets = train_batches[it]
        lr = cosine_lr(it / args.max_iters, args)
        losses = {t.name: t.train_step(inputs, targets, lr) for t in transformers_}
        if it % 500 == 0 or it == args.max_iters - 1:
            print(f"iter {it}: train loss " + ", ".join(f"{k} {v:.4f}" for k, v in losses.items()), file=sys.stderr)

    trainees = list(transformers_)
    if "lstm" in models:
        budget = args.lstm_budget_s
        if budget is None:
            budget = next((t.train_seconds for t in transformers_ if t.name == "gpt"), None)
        if budget is None:
            raise SystemExit("--models with lstm but without gpt needs --lstm_budget_s")
        lstm = Trainee("lstm", build("lstm"), vocab_size, args.lstm_learning_rate)
        lstm_lr = {"learning_rate": args.lstm_learning_rate, "min_lr": args.lstm_learning_rate / 10}
        lstm_args = argparse.Namespace(**{**vars(args), **lstm_lr})
        while lstm.train_seconds < budget:  # the schedule follows the fraction of the time budget spent
            inputs, targets = train_batches[lstm.steps]
            lstm.train_step(inputs, targets, cosine_lr(lstm.train_seconds / budget, lstm_args))
        trainees.append(lstm)

    prompt = torch.tensor([[stoi["\n"]]])
    speeds = generation_speeds(trainees, prompt, args.block_size - 1, args.gen_rounds, args.seed)
    results = {}
    for trainee in trainees:
        gen_speed, sample = speeds[trainee.name]
        result = {
            "model": labels[trainee.name],
            "val_loss": round(trainee.val_loss(val_batches, args.eval_batches), 4),
            "train_tokens_per_s": round(trainee.steps * args.batch_size * args.block_size / trainee.train_seconds, 1),
            "gen_tokens_per_s": round(gen_speed, 1),
            "train_steps": trainee.steps,
            "train_seconds": round(trainee.train_seconds, 1),
            "parameters": sum(p.numel() for p in trainee.model.parameters()),
            "sample": "".join(chars[i] for i in sample.tolist()),
        }
        if trainee.name == "gpt":
            result["position_embedding_type"] = args.position_embedding_type
        print(json.dumps(result), flush=True)
        results[trainee.name] = result
    if {"gpt", "gpt2"} <= results.keys():
        print(json.dumps(comparison(results["gpt"], results["gpt2"])), flush=True)


TARGETS = {"val_loss_max": 1.85, "train_tokens_per_s_ratio_min": 1.1, "gen_tokens_per_s_ratio_min": 1.0}


def comparison(gpt: dict, gpt2: dict) -> dict:
    """nlpkit's GPT against GPT2LMHeadModel from the same run: speed ratios, val losses and whether the targets hold."""
    train_ratio = gpt["train_tokens_per_s"] / gpt2["train_tokens_per_s"]
    gen_ratio = gpt["gen_tokens_per_s"] / gpt2["gen_tokens_per_s"]
    return {
        "comparison": "nlpkit GPTForCausalLM / transformers GPT2LMHeadModel",
        "train_tokens_per_s_ratio": round(train_ratio, 3),
        "gen_tokens_per_s_ratio": round(gen_ratio, 3),
        "val_loss": gpt["val_loss"],
        "gpt2_val_loss": gpt2["val_loss"],
        "targets": TARGETS,
        "targets_met": gpt["val_loss"] <= TARGETS["val_loss_max"]
        and train_ratio >= TARGETS["train_tokens_per_s_ratio_min"]
        and gen_ratio >= TARGETS["gen_tokens_per_s_ratio_min"],
    }


if __name__ == "__main__":
    main()
