"""NER benchmark: the NER recipe's BiLSTM-CRF and packaged MiniLM on CoNLL-2003 and WNUT-17, under a time budget.

    python benchmarks/ner.py --data ../shared/datasets [--budget_minutes 20] [--datasets conll2003 wnut17] \
        [--models bilstm-crf minilm]

For each dataset and model, runs `recipes/ner.py` with `recipes/configs/ner/<dataset>_<model>.yaml` (the files under
`--data`, training capped at `--budget_minutes`) in its own subprocess, one after the other, and prints one JSON line:
validation entity-level F1 (seqeval, micro over entities), training and prediction speed in sentences per second
(prediction: the Trainer's batched evaluation of the validation set, metric included), minutes of training, epochs
reached, and the machine's load average before and after (the CPU may be shared: speeds are only comparable at
similar load).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import tempfile
import time
from pathlib import Path

from workers import WorkerFailed, report, run_worker  # benchmarks/ is on sys.path: scripts run from it

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = {
    "conll2003": ("conll2003/train.txt", "conll2003/valid.txt"),
    "wnut17": ("wnut17/wnut17train.conll", "wnut17/emerging.dev.conll"),
}
MODELS = ("bilstm-crf", "minilm")


def run(dataset: str, model: str, data: Path, budget_minutes: float, output_dir: str) -> dict:
    train, validation = (data / name for name in DATASETS[dataset])
    config = REPO_ROOT / "recipes" / "configs" / "ner" / f"{dataset}_{model.replace('-', '_')}.yaml"
    main = runpy.run_path(str(REPO_ROOT / "recipes" / "ner.py"))["main"]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    results = main(
        [
            "--config", str(config),
            "--train_file", str(train),
            "--validation_file", str(validation),
            "--output_dir", output_dir,
            "--max_train_minutes", str(budget_minutes),
            "--sample_texts", "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    return {
        "dataset": dataset,
        "model": model,
        "validation_f1": round(results["eval_f1"], 4),
        "validation_precision": round(results["eval_precision"], 4),
        "validation_recall": round(results["eval_recall"], 4),
        "train_sentences_per_second": round(results["train_samples_per_second"], 1),
        "predict_sentences_per_second": round(results["eval_samples_per_second"], 1),
        "train_minutes": round(results["train_runtime"] / 60, 2),
        "epochs": round(results["epoch"], 2),
        "total_minutes": round((time.perf_counter() - started) / 60, 2),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_threads": int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="Folder holding conll2003/ and wnut17/.")
    parser.add_argument("--budget_minutes", type=float, default=20.0, help="Training time budget per run.")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    for dataset in args.datasets:
        for name in DATASETS[dataset]:
            if not (args.data / name).is_file():
                parser.error(f"{args.data / name} not found: --data must hold conll2003/ and wnut17/")
    if args.worker:
        with tempfile.TemporaryDirectory() as output_dir:
            line = run(*args.worker, args.data, args.budget_minutes, output_dir)
        line["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        report(line)
        return

    for dataset in args.datasets:
        for model in args.models:
            arguments = ["--data", str(args.data), "--budget_minutes", str(args.budget_minutes)]
            arguments += ["--worker", dataset, model]
            try:
                print(json.dumps({"benchmark": "ner", **run_worker(__file__, arguments)}), flush=True)
            except WorkerFailed as error:
                print(error)


if __name__ == "__main__":
    main()
