"""SST-2 sentiment with the packaged MiniLM: nlpkit's recipe defaults against a plain Trainer, side by side.

    python benchmarks/bert_sentiment.py --data ../shared/datasets/sst2 [--budget_minutes 5]

Prints one JSON line per system (train samples/s, dev accuracy, peak memory, training minutes) and a comparison
line. Each system runs in its own subprocess, one after the other, so peak memory is its own and neither competes
with the other for the CPU.

- baseline: `Trainer` with default `TrainingArguments` (batch 8, lr 5e-5, 1 epoch, no length grouping) on the first
  `--baseline_rows` training rows, then the dev set.
- nlpkit: `recipes/bert_sentiment.py --config recipes/configs/bert_sentiment/sst2_local.yaml` (nlpkit's defaults for
  SST-2 on a CPU) with training capped at `--budget_minutes`.
"""

from __future__ import annotations

import argparse
import json
import resource
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
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def cpu_seconds() -> float:
    """This process's CPU time over its torch threads: wall-clock seconds it would take on an idle machine."""
    import torch

    return time.process_time() / torch.get_num_threads()


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_baseline(data: Path, rows: int, output_dir: str) -> dict:
    import numpy as np
    import pandas as pd
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from nlpkit.pretrained import resolve_model_path

    path = resolve_model_path(MODEL_ID)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)

    def load(name: str, limit: int | None = None) -> Dataset:
        frame = pd.read_csv(data / name, sep="\t", quoting=3, nrows=limit)
        dataset = Dataset.from_pandas(frame.rename(columns={"label": "labels"}))
        return dataset.map(lambda batch: tokenizer(batch["sentence"], truncation=True), batched=True)

    train, dev = load("train.tsv", rows), load("dev.tsv")
    args = TrainingArguments(output_dir=output_dir, report_to="none")  # defaults: what a newcomer gets
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tokenizer))
    started, cpu_started = time.perf_counter(), cpu_seconds()
    trainer.train()
    minutes, cpu_minutes = (time.perf_counter() - started) / 60, (cpu_seconds() - cpu_started) / 60
    predictions = trainer.predict(dev.remove_columns(["sentence"]))
    accuracy = float((np.argmax(predictions.predictions, -1) == predictions.label_ids).mean())
    return {
        "system": "plain Trainer, default arguments",
        "train_rows": len(train),
        "train_samples_per_second": round(len(train) / (minutes * 60), 1),
        "train_samples_per_cpu_second": round(len(train) / (cpu_minutes * 60), 1),
        "train_minutes": round(minutes, 2),
        "train_cpu_minutes": round(cpu_minutes, 2),
        "dev_accuracy": round(accuracy, 4),
    }


def run_nlpkit(data: Path, budget_minutes: float, clock: str, output_dir: str) -> dict:
    import runpy

    main = runpy.run_path(str(REPO_ROOT / "recipes" / "bert_sentiment.py"))["main"]
    started, cpu_started = time.perf_counter(), cpu_seconds()
    results = main(
        [
            "--config", str(REPO_ROOT / "recipes" / "configs" / "bert_sentiment" / "sst2_local.yaml"),
            "--train_file", str(data / "train.tsv"),
            "--validation_file", str(data / "dev.tsv"),
            "--output_dir", output_dir,
            "--max_train_minutes", str(budget_minutes),
            "--max_train_clock", clock,
            "--eval_strategy", "no",
            "--save_strategy", "no",
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    trained = results["train_steps"] * results["train_global_batch_size"]
    return {
        "system": "nlpkit recipe, sst2_local.yaml",
        "train_rows_seen": trained,
        "train_samples_per_second": round(results["train_samples_per_second"], 1),
        "train_samples_per_cpu_second": round(trained / (results["train_cpu_seconds"]), 1),
        "train_minutes": round(results["train_runtime"] / 60, 2),
        "train_cpu_minutes": round(results["train_cpu_seconds"] / 60, 2),
        "budget": f"{budget_minutes:g} min ({clock} clock)",
        "total_minutes": round((time.perf_counter() - started) / 60, 2),
        "total_cpu_minutes": round((cpu_seconds() - cpu_started) / 60, 2),
        "dev_accuracy": round(results["eval_accuracy"], 4),
    }


def worker(kind: str, data: Path, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as output_dir:
        if kind == "baseline":
            line = run_baseline(data, args.baseline_rows, output_dir)
        else:
            line = run_nlpkit(data, args.budget_minutes, args.clock, output_dir)
    line["peak_memory_mb"] = round(peak_memory_mb(), 1)
    report(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sst2_arguments(parser)
    parser.add_argument("--budget_minutes", type=float, default=5.0, help="nlpkit's training time budget.")
    parser.add_argument("--baseline_rows", type=int, default=4000, help="Training rows for the plain Trainer.")
    parser.add_argument("--only", choices=["baseline", "nlpkit"], help="Run one system (default: both).")
    parser.add_argument("--worker", choices=["baseline", "nlpkit"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    check_sst2_folder(parser, args.data)
    if args.worker:
        worker(args.worker, args.data, args)
        return

    lines = run_systems(__file__, "bert_sentiment", [args.only] if args.only else ["baseline", "nlpkit"])
    if len(lines) == 2:
        base, ours = lines["baseline"], lines["nlpkit"]
        comparison = {
            "benchmark": "bert_sentiment",
            "comparison": "nlpkit / plain Trainer",
            "dev_accuracy": [ours["dev_accuracy"], base["dev_accuracy"]],
            "accuracy_gain": round(ours["dev_accuracy"] - base["dev_accuracy"], 4),
            "train_samples_per_second_ratio": round(
                ours["train_samples_per_second"] / base["train_samples_per_second"], 2
            ),
            "peak_memory_ratio": round(ours["peak_memory_mb"] / base["peak_memory_mb"], 2),
            "nlpkit_train_minutes": ours["train_minutes"],
        }
        print(json.dumps(comparison), flush=True)


if __name__ == "__main__":
    main()
