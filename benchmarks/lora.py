"""SST-2 sentiment with the packaged MiniLM: LoRA (peft) against full fine-tuning, under the same time budget.

    python benchmarks/lora.py --data ../shared/datasets/sst2 [--budget_minutes 5]

Both systems are `recipes/bert_sentiment.py --config recipes/configs/bert_sentiment/sst2_local.yaml` with training
capped at `--budget_minutes`, then scored on the dev set:

- full: every weight trained (the config's learning rate, 1e-4);
- lora: `--use_peft true` (rank `--lora_r`, peft's target modules for BERT: query and value; the new classifier
  trained whole) at `--lora_learning_rate` (LoRA takes a higher rate than full fine-tuning), merged weights saved.

Prints one JSON line per system (dev accuracy, train rows/s, trainable parameters, peak memory: the process's RSS,
or the GPU's peak allocation on a GPU) and a comparison line. Each system runs in its own subprocess, one after the
other, so peak memory is its own and neither competes with the other for the CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import runpy
import tempfile
import time
from pathlib import Path

from workers import (  # benchmarks/ is on sys.path: scripts run from it
    add_sst2_arguments,
    check_sst2_folder,
    report,
    run_systems,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = ("full", "lora")


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process, and the GPU's peak allocation where training ran on one."""
    import torch

    peak = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        peak["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak


def run_system(kind: str, data: Path, args: argparse.Namespace, output_dir: str) -> dict:
    main = runpy.run_path(str(REPO_ROOT / "recipes" / "bert_sentiment.py"))["main"]
    lora = ["--use_peft", "true", "--lora_r", str(args.lora_r), "--learning_rate", str(args.lora_learning_rate)]
    started = time.perf_counter()
    results = main(
        [
            "--config", str(REPO_ROOT / "recipes" / "configs" / "bert_sentiment" / "sst2_local.yaml"),
            "--train_file", str(data / "train.tsv"),
            "--validation_file", str(data / "dev.tsv"),
            "--output_dir", output_dir,
            "--max_train_minutes", str(args.budget_minutes),
            "--max_train_clock", args.clock,
            "--eval_strategy", "no",
            "--save_strategy", "no",
            "--disable_tqdm", "true",
            "--report_to", "none",
            *(lora if kind == "lora" else []),
        ]
    )  # fmt: skip
    trained = results["train_steps"] * results["train_global_batch_size"]
    return {
        "system": f"LoRA r={args.lora_r}, lr {args.lora_learning_rate:g}" if kind == "lora" else "full fine-tuning",
        "dev_accuracy": round(results["eval_accuracy"], 4),
        "train_rows_seen": trained,
        "train_samples_per_second": round(results["train_samples_per_second"], 1),
        "train_samples_per_cpu_second": round(trained / results["train_cpu_seconds"], 1),
        "trainable_parameters": results["trainable_parameters"],
        "train_minutes": round(results["train_runtime"] / 60, 2),
        "budget": f"{args.budget_minutes:g} min ({args.clock} clock)",
        "total_minutes": round((time.perf_counter() - started) / 60, 2),
    }


def worker(kind: str, data: Path, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as output_dir:
        line = run_system(kind, data, args, output_dir)
    report({**line, **peak_memory_mb()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sst2_arguments(parser)
    parser.add_argument("--budget_minutes", type=float, default=5.0, help="Training time budget of each system.")
    parser.add_argument("--lora_r", type=int, default=16, help="LoRA rank.")
    parser.add_argument("--lora_learning_rate", type=float, default=5e-4, help="Learning rate of the LoRA run.")
    parser.add_argument("--only", choices=SYSTEMS, help="Run one system (default: both).")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    check_sst2_folder(parser, args.data)
    if args.worker:
        worker(args.worker, args.data, args)
        return

    lines = run_systems(__file__, "lora", [args.only] if args.only else list(SYSTEMS))
    if len(lines) == 2:
        full, lora = lines["full"], lines["lora"]
        memory = "peak_gpu_memory_mb" if "peak_gpu_memory_mb" in full else "peak_rss_mb"
        comparison = {
            "benchmark": "lora",
            "comparison": "LoRA / full fine-tuning",
            "budget": full["budget"],
            "dev_accuracy": [lora["dev_accuracy"], full["dev_accuracy"]],
            "accuracy_difference": round(lora["dev_accuracy"] - full["dev_accuracy"], 4),
            "train_samples_per_second_ratio": round(
                lora["train_samples_per_second"] / full["train_samples_per_second"], 2
            ),
            "trainable_parameters": [lora["trainable_parameters"], full["trainable_parameters"]],
            "trainable_fraction": round(lora["trainable_parameters"] / full["trainable_parameters"], 4),
            f"{memory}_ratio": round(lora[memory] / full[memory], 2),
        }
        print(json.dumps(comparison), flush=True)


if __name__ == "__main__":
    main()
