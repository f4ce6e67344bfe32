"""Multi-task benchmark: SST-2 sentiment and CoNLL-2003 entities on one MiniLM encoder against two single-task
MiniLMs, under the same total training budget.

    python benchmarks/multitask.py --data ../shared/datasets [--budget_minutes 10] [--only SYSTEM ...] [--log FILE]

Systems, each in its own process, one after the other (benchmarks/workers.py), all on the packaged
all-MiniLM-L6-v2 with the recipes' configs as they stand (frozen word embeddings, lr 1e-4, batch 32 or 16):

- `single_sst2`: `recipes/bert_sentiment.py --config sst2_local.yaml`, half the budget;
- `single_conll2003`: `recipes/ner.py --config conll2003_minilm.yaml`, the other half: two encoders, one budget;
- `multitask_sum` / `multitask_uncertainty` / `multitask_pcgrad`: `recipes/multitask.py --config
  sst2_conll2003_minilm.yaml --loss_combination ...`, the whole budget for one encoder serving both tasks (batches
  mixed in proportion to the tasks' sizes: 83% SST-2);
- `multitask_sum_even`: the sum again, with `--task_sampling temperature --sampling_temperature 10` (about even
  shares: CoNLL-2003 gets as many rows as SST-2).

Each line gives SST-2 dev accuracy and CoNLL-2003 validation entity F1 (seqeval), the training minutes and steps,
and the load average (the CPU may be shared). The comparison line gives each multi-task system minus the single-task
models in points, against the target: at least as good on both tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import tempfile
import time
from pathlib import Path

from workers import WorkerFailed, report, run_worker  # benchmarks/ is on sys.path: scripts run from it

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "recipes" / "configs"
SYSTEMS = ("single_sst2", "single_conll2003", "multitask_sum", "multitask_uncertainty", "multitask_pcgrad",
           "multitask_sum_even")  # fmt: skip
COMMON = ["--disable_tqdm", "true", "--overwrite_output_dir", "true", "--resume_from_checkpoint", "none",
          "--save_strategy", "no", "--eval_strategy", "no", "--report_to", "none"]  # fmt: skip


def recipe(name: str, argv: list[str]) -> dict:
    return runpy.run_path(str(REPO_ROOT / "recipes" / name))["main"](argv)


def run(system: str, budget_minutes: float, output_dir: str) -> dict:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    common = [*COMMON, "--output_dir", output_dir, "--sample_texts", "The film was not bad at all."]
    if system == "single_sst2":
        results = recipe("bert_sentiment.py", ["--config", str(CONFIGS / "bert_sentiment" / "sst2_local.yaml"),
                                               "--max_train_minutes", str(budget_minutes / 2), *common])  # fmt: skip
        scores = {"sst2_accuracy": results["eval_accuracy"]}
    elif system == "single_conll2003":
        results = recipe("ner.py", ["--config", str(CONFIGS / "ner" / "conll2003_minilm.yaml"),
                                    "--max_train_minutes", str(budget_minutes / 2), *common])  # fmt: skip
        scores = {"conll2003_f1": results["eval_f1"]}
    else:
        combination = system.removeprefix("multitask_").removesuffix("_even")
        sampling = ["--task_sampling", "temperature", "--sampling_temperature", "10"] if "_even" in system else []
        results = recipe("multitask.py", ["--config", str(CONFIGS / "multitask" / "sst2_conll2003_minilm.yaml"),
                                          "--loss_combination", combination, *sampling,
                                          "--max_train_minutes", str(budget_minutes), *common])  # fmt: skip
        scores = {"sst2_accuracy": results["eval_sentiment_accuracy"], "conll2003_f1": results["eval_entities_f1"]}
    return {
        "name": system,
        **{name: round(value * 100, 2) for name, value in scores.items()},
        "train_minutes": round(results["train_runtime"] / 60, 2),
        "train_steps": results.get("train_steps", results.get("global_step")),
        "epochs": round(results["epoch"], 3),
        "total_minutes": round((time.perf_counter() - started) / 60, 2),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def comparison(lines: dict[str, dict]) -> dict:
    single = {**lines.get("single_sst2", {}), **lines.get("single_conll2003", {})}
    rows = {}
    for name, line in lines.items():
        if name.startswith("multitask_") and "sst2_accuracy" in single and "conll2003_f1" in single:
            rows[name] = {
                "sst2_accuracy_minus_single": round(line["sst2_accuracy"] - single["sst2_accuracy"], 2),
                "conll2003_f1_minus_single": round(line["conll2003_f1"] - single["conll2003_f1"], 2),
                "at least as good on both": line["sst2_accuracy"] >= single["sst2_accuracy"]
                and line["conll2003_f1"] >= single["conll2003_f1"],
            }
    return {"comparison": "multi-task (one encoder, whole budget) minus single-task (two encoders, half each)", **rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="Folder holding sst2/ and conll2003/.")
    parser.add_argument("--budget_minutes", type=float, default=10.0, help="Total training budget per comparison.")
    parser.add_argument("--only", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--log", type=Path, help="Append the workers' output here (follow with tail -f).")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("sst2/train.tsv", "sst2/dev.tsv", "conll2003/train.txt", "conll2003/valid.txt"):
        if not (args.data / name).is_file():
            parser.error(f"{args.data / name} not found: --data must hold sst2/ and conll2003/")
    os.environ["NLPKIT_SHARED_DATA"] = str(args.data.resolve())
    if args.worker:
        with tempfile.TemporaryDirectory() as output_dir:
            report(run(args.worker, args.budget_minutes, output_dir))
        return
    lines = {}
    for system in args.only:
        arguments = ["--data", str(args.data), "--budget_minutes", str(args.budget_minutes), "--worker", system]
        try:
            lines[system] = run_worker(__file__, arguments, log_file=args.log)
            print(json.dumps({"benchmark": "multitask", **lines[system]}), flush=True)
        except WorkerFailed as error:
            print(error, flush=True)
    print(json.dumps({"benchmark": "multitask", **comparison(lines)}), flush=True)


if __name__ == "__main__":
    main()
