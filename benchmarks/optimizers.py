"""LAMB and NovoGrad (pytorch-optimizer, through `optim:`) against AdamW on the char GPT at a large batch.

Each optimizer trains nlpkit's character-level GPT (recipes/text_generation.py with
recipes/configs/text_generation/shakespeare_char_gpt.yaml: 4 layers, 4 heads, width 128, context 64) on Tiny
Shakespeare at one large batch, for the same time budget (the recipes' `max_train_minutes`, which fits the cosine
schedule to the steps that fit), each in a fresh process of its own (see benchmarks/workers.py), with a learning rate
suited to that optimizer at that batch (layer-wise adaptive methods take a larger one). One JSON line per optimizer:

    eval_loss           mean cross-entropy on the validation split (last 10% of the text; nats per character)
    train_steps         optimizer steps done in the budget
    steps_per_s         train_steps_per_second (the recipe's whole-run figure)
    train_tokens_per_s  steps_per_s x batch x block_size

and a last line with each one's ratios to AdamW (eval loss: lower is better; steps/s: higher is better).

    python benchmarks/optimizers.py --data /work/shared/datasets/tinyshakespeare/input.txt --minutes 2
    python benchmarks/optimizers.py --data ... --minutes 0.2 --batch_size 64    # smoke test

Timings on a shared machine are noisy: the optimizers run one after the other, so a busy neighbour during one run
changes its steps (and so its loss) more than the optimizer does; `--clock cpu` budgets CPU time instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.workers import report, run_worker  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "recipes" / "configs" / "text_generation" / "shakespeare_char_gpt.yaml"
# optim name -> learning rate at a batch of about 512 sequences of 64 characters
DEFAULT_RATES = {"adamw_torch": 1e-3, "lamb": 1e-2, "novograd": 1e-2}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/datasets/tinyshakespeare/input.txt"))
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget per optimizer")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--max_steps", type=int, default=2000, help="the plan the budget cuts short")
    parser.add_argument(
        "--optimizers", default=",".join(f"{name}={rate}" for name, rate in DEFAULT_RATES.items()),
        help="comma-separated optim=learning_rate; the first is the baseline",
    )  # fmt: skip
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker(args: argparse.Namespace) -> None:
    """Train with one optimizer (``--worker optim=lr``) and report its figures."""
    from recipes.text_generation import main

    optim, rate = args.worker.split("=")
    block_size = 64
    os.environ["NLPKIT_SHARED_DATA"] = str(args.data.resolve().parent.parent)
    with tempfile.TemporaryDirectory() as output_dir:
        results = main([
            "--config", str(CONFIG), "--output_dir", output_dir, "--resume_from_checkpoint", "none",
            "--train_file", str(args.data), "--block_size", str(block_size),
            "--optim", optim, "--learning_rate", rate, "--per_device_train_batch_size", str(args.batch_size),
            "--max_steps", str(args.max_steps), "--max_train_minutes", str(args.minutes),
            "--max_train_clock", args.clock, "--warmup_steps", "0.05", "--weight_decay", "0.1",
            "--adam_beta2", "0.99", "--eval_strategy", "no", "--save_strategy", "no", "--logging_steps", "10",
            "--sample_temperatures", "1.0", "--sample_max_new_tokens", "1", "--disable_tqdm", "true",
        ])  # fmt: skip
    steps_per_s = results["train_steps_per_second"]
    report({
        "optim": optim, "learning_rate": float(rate), "batch_size": args.batch_size, "minutes": args.minutes,
        "clock": args.clock, "eval_loss": round(results["eval_loss"], 4), "train_steps": results["train_steps"],
        "steps_per_s": steps_per_s, "train_tokens_per_s": round(steps_per_s * args.batch_size * block_size, 1),
    })  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    common = ["--data", str(args.data), "--minutes", str(args.minutes), "--clock", args.clock,
              "--batch_size", str(args.batch_size), "--max_steps", str(args.max_steps)]  # fmt: skip
    lines = []
    for entry in args.optimizers.split(","):
        line = run_worker(__file__, [*common, "--worker", entry])
        print(json.dumps(line), flush=True)
        lines.append(line)
    base = lines[0]
    print(json.dumps({
        "comparison": f"vs {base['optim']}",
        **{
            line["optim"]: {
                "eval_loss_ratio": round(line["eval_loss"] / base["eval_loss"], 3),
                "steps_per_s_ratio": round(line["steps_per_s"] / base["steps_per_s"], 3),
            }
            for line in lines[1:]
        },
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
