"""SST-2 with an LSTM trained from scratch: nlpkit's recipe against the tutorial's hand-written loop, in one run.

    python benchmarks/lstm_sentiment.py --data ../shared/datasets/sst2

Prints one JSON line per system, then a comparison line. Each system runs in its own subprocess, one after the
other, so none competes with another for the CPU; every line records the load average when it ran (the CPU may be
shared).

- `baseline`: `benchmarks/lstm_baseline.py`, the tutorial's loop (whitespace vocabulary, embedding 100, one LSTM
  layer of 256, final hidden state, dropout 0.5, Adam 1e-3, random batches of 64 padded and packed by hand).
- `nlpkit_same_size`: `recipes/lstm_sentiment.py` with the baseline's model, vocabulary, batch size and optimizer
  settings, for the throughput ratio (same work per sample).
- `nlpkit_default`: `recipes/lstm_sentiment.py --config recipes/configs/lstm_sentiment/sst2_local.yaml` as it
  stands, for dev accuracy.

Throughput is training samples per second over the training loop only (evaluation excluded) for every system.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

SYSTEMS = ("baseline", "nlpkit_same_size", "nlpkit_default")
SAME_SIZE = [
    "--tokenizer_kind", "word", "--min_frequency", "1", "--vocab_size", "25002", "--lowercase", "false",
    "--embedding_size", "100", "--hidden_size", "256", "--num_hidden_layers", "1", "--rnn_type", "lstm",
    "--bidirectional", "false", "--pooling", "last", "--embedding_dropout", "0.5", "--classifier_dropout", "0.5",
    "--per_device_train_batch_size", "64", "--learning_rate", "1e-3", "--lr_scheduler_type", "constant",
    "--weight_decay", "0", "--eval_strategy", "no",
]  # fmt: skip


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def run_baseline(data: Path, args: argparse.Namespace) -> dict:
    from lstm_baseline import build_vocab, encode, read_tsv, train_baseline

    train_texts, train_labels = read_tsv(data / "train.tsv")
    dev_texts, dev_labels = read_tsv(data / "dev.tsv")
    vocab = build_vocab(train_texts)
    result = train_baseline(
        encode(train_texts, vocab),
        train_labels,
        encode(dev_texts, vocab),
        dev_labels,
        vocab_size=len(vocab),
        epochs=args.epochs,
        max_steps=args.max_steps,
    )
    return {
        "system": "hand-written tutorial loop (benchmarks/lstm_baseline.py)",
        "train_samples_per_second": round(result["train_samples_per_second"], 1),
        "train_minutes": round(result["train_seconds"] / 60, 2),
        "epochs": args.epochs,
        "steps": result["steps"],
        "dev_accuracy": round(result["dev_accuracy"], 4),
        "num_parameters": result["num_parameters"],
    }


def run_nlpkit(data: Path, args: argparse.Namespace, output_dir: str, same_size: bool) -> dict:
    import math
    import runpy

    from safetensors import safe_open

    main = runpy.run_path(str(REPO_ROOT / "recipes" / "lstm_sentiment.py"))["main"]
    argv = [
        "--config", str(REPO_ROOT / "recipes" / "configs" / "lstm_sentiment" / "sst2_local.yaml"),
        "--train_file", str(data / "train.tsv"),
        "--validation_file", str(data / "dev.tsv"),
        "--output_dir", output_dir,
        "--save_strategy", "no",
        "--disable_tqdm", "true",
        "--sample_texts", "a gorgeous, witty, seductive movie.",
    ]  # fmt: skip
    if same_size:
        argv += [*SAME_SIZE, "--num_train_epochs", str(args.epochs)]
    if args.max_steps:
        argv += ["--max_steps", str(args.max_steps)]
    started = time.perf_counter()
    results = main(argv)
    with safe_open(Path(output_dir) / "model.safetensors", "pt") as weights:
        num_parameters = sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
    return {
        "system": "nlpkit recipe, sst2_local.yaml" + (" with the baseline's sizes" if same_size else ""),
        "train_samples_per_second": round(results["train_samples_per_second"], 1),
        "train_minutes": round(results["train_runtime"] / 60, 2),
        "total_minutes": round((time.perf_counter() - started) / 60, 2),
        "epochs": round(results["epoch"], 2),
        "dev_accuracy": round(results["eval_accuracy"], 4),
        "num_parameters": num_parameters,
    }


def worker(kind: str, data: Path, args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = load_average()
    with tempfile.TemporaryDirectory() as output_dir:
        if kind == "baseline":
            line = run_baseline(data, args)
        else:
            line = run_nlpkit(data, args, output_dir, same_size=kind == "nlpkit_same_size")
    line["threads"] = torch.get_num_threads()
    line["load_average"] = [load_before, load_average()]  # 1-minute load before and after
    report(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sst2_arguments(parser, clock=False)
    parser.add_argument("--epochs", type=int, default=1, help="Epochs of the baseline and the same-size run.")
    parser.add_argument("--max_steps", type=int, default=None, help="Stop every system after this many batches.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in every system (default: torch's).")
    parser.add_argument("--only", choices=SYSTEMS, nargs="+", help="Run these systems (default: all).")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    check_sst2_folder(parser, args.data)
    if args.worker:
        worker(args.worker, args.data, args)
        return

    lines = run_systems(__file__, "lstm_sentiment", list(args.only or SYSTEMS), name_key="name")
    if "baseline" in lines and "nlpkit_same_size" in lines:
        base, same = lines["baseline"], lines["nlpkit_same_size"]
        comparison = {
            "benchmark": "lstm_sentiment",
            "comparison": "nlpkit / hand-written loop, same model size",
            "train_samples_per_second_ratio": round(
                same["train_samples_per_second"] / base["train_samples_per_second"], 2
            ),
            "dev_accuracy_same_size": [same["dev_accuracy"], base["dev_accuracy"]],
        }
        if "nlpkit_default" in lines:
            comparison["dev_accuracy_nlpkit_default"] = lines["nlpkit_default"]["dev_accuracy"]
        print(json.dumps(comparison), flush=True)


if __name__ == "__main__":
    main()
