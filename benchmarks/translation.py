"""Multi30k German->English: nlpkit's RNN and Transformer recipes under a time budget, and the tutorial model's speed.

    python benchmarks/translation.py --data ../shared/datasets/multi30k [--budget_minutes 30] \
        [--transformer_budget_minutes 30] [--tutorial_batches 20] [--only tutorial rnn transformer] [--log FILE]

Prints one JSON line per system, then a comparison line. Each system runs in its own subprocess, one after the
other, so none competes with another for the CPU; every line records the 1-minute load average before and after it
ran (the CPU may be shared: speeds are only comparable at similar load).

- `tutorial`: the bentrevett/pytorch-seq2seq notebook 3 model (`benchmarks/seq2seq_tutorial_baseline.py`: embedding
  256, bidirectional GRU 512 encoder, Bahdanau attention, GRU 512 decoder, half teacher forcing, Adam) trained on
  `--tutorial_batches` batches of 128 Multi30k pairs (after one untimed warm-up batch), its word-level vocabulary.
  Speed only: it is not trained to convergence here.
- `rnn`: `recipes/translation.py --config recipes/configs/translation/multi30k_de_en.yaml`, training capped at
  `--budget_minutes` through the recipe's `--max_train_minutes`.
- `transformer`: the same with `multi30k_transformer.yaml` (small pre-norm Transformer from scratch),
  `--transformer_budget_minutes`.

The recipe runs with its config as it stands (its epochs, or `--epochs`, within the budget), except that it does not
checkpoint (`--save_strategy no`) and its evaluation after each epoch is the validation loss only
(`--prediction_loss_only`: a forward pass, no generation), so nearly all of the budget is training. Figures for the
recipe systems:

- `train_target_tokens_per_second`: target tokens trained on / the Trainer's `train_runtime` (wall seconds of the
  training loop). Target tokens are the non-pad label tokens, `</s>` included (the tutorial count: tokens after
  `<sos>`, `<eos>` included), of the training pairs the run went through: every pair of each completed epoch, and for
  an unfinished epoch its number of pairs times the mean label length. Recipe tokens are BPE pieces (8k joint
  vocabulary), the tutorial's are words, so the comparison line also gives the ratio in sentences/s.
- `validation_bleu_greedy` / `validation_bleu_beam5` (and chrF): sacrebleu corpus BLEU of the detokenized output of
  the model saved in the output folder (loaded back with `from_pretrained`) against the raw reference lines of the
  whole validation set.
- `eval_loss_curve` ([epoch, validation loss] after each epoch and at the end), `best_eval_loss`, `final_eval_loss`,
  and `train_loss_curve` ([epoch, mean training loss of the last logging window], about 20 points).
- `decode_sentences_per_second_greedy` / `_beam5`: validation sentences translated per second by batched
  `generate()` (`--decode_batch_size`, in file order, max length 64), after one untimed warm-up batch.

Smoke test (about a minute): `--budget_minutes 0.2 --tutorial_batches 2 --max_eval_sentences 32`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from workers import WorkerFailed, report, run_worker  # benchmarks/ is on sys.path: scripts run from it

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

SYSTEMS = ("tutorial", "rnn", "transformer")
CONFIGS = {"rnn": "multi30k_de_en.yaml", "transformer": "multi30k_transformer.yaml"}
SOURCE_LANG, TARGET_LANG = "de", "en"
BLEU_TARGET, SPEEDUP_TARGET = 25.0, 10.0
TRANSFORMER_BLEU_TARGET = 38.0


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def read_lines(path: Path, limit: int | None = None) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return lines[:limit] if limit else lines


def run_tutorial(args: argparse.Namespace) -> dict:
    from seq2seq_tutorial_baseline import count_target_tokens, load_multi30k_batches, tutorial_tokens_per_second

    batch_size, warmup_batches = 128, 1
    src_batches, tgt_batches, src_vocab_size, tgt_vocab_size = load_multi30k_batches(args.data, batch_size)
    tokens_per_second = tutorial_tokens_per_second(
        src_batches, tgt_batches, src_vocab_size, tgt_vocab_size, args.tutorial_batches, warmup_batches=warmup_batches
    )
    timed = tgt_batches[warmup_batches:][: args.tutorial_batches]
    tokens_per_sentence = count_target_tokens(timed) / sum(len(batch) for batch in timed)
    return {
        "system": "tutorial model (bentrevett notebook 3), word vocabulary, batch 128, teacher forcing 0.5",
        "train_target_tokens_per_second": round(tokens_per_second, 1),
        "train_sentences_per_second": round(tokens_per_second / tokens_per_sentence, 2),
        "target_tokens_per_sentence": round(tokens_per_sentence, 2),
        "timed_batches": args.tutorial_batches,
        "vocab_sizes": [src_vocab_size, tgt_vocab_size],
    }


def trained_target_tokens(output_dir: Path, train_targets: list[str], max_target_length: int, results: dict) -> int:
    """Non-pad label tokens of the training pairs the run went through (see the module docstring)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(output_dir))
    labels = tokenizer(text_target=train_targets, max_length=max_target_length, truncation=True)["input_ids"]
    epoch_tokens, pairs = sum(map(len, labels)), len(labels)
    batch_size = results["train_global_batch_size"]
    steps_per_epoch = math.ceil(pairs / batch_size)
    full_epochs, steps_left = divmod(results["train_steps"], steps_per_epoch)
    return round(full_epochs * epoch_tokens + min(pairs, steps_left * batch_size) * epoch_tokens / pairs)


def decode(model, tokenizer, sources: list[str], references: list[str], num_beams: int, batch_size: int) -> dict:
    import sacrebleu

    from nlpkit.tasks.translation import translate

    model.generation_config.num_beams = num_beams
    translate(model, tokenizer, sources[:8], batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    hypotheses = translate(model, tokenizer, sources, batch_size=batch_size)
    seconds = time.perf_counter() - started
    return {
        "bleu": round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(hypotheses, [references]).score, 2),
        "sentences_per_second": round(len(sources) / seconds, 1),
    }


def run_recipe(kind: str, args: argparse.Namespace, output_dir: Path) -> dict:
    import runpy

    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    import nlpkit  # noqa: F401  (registers rnn_seq2seq with the Auto classes)

    budget = args.transformer_budget_minutes if kind == "transformer" else args.budget_minutes
    config = REPO_ROOT / "recipes" / "configs" / "translation" / CONFIGS[kind]
    argv = [
        "--config", str(config),
        "--train_file", str(args.data / "train"),
        "--validation_file", str(args.data / "val"),
        "--output_dir", str(output_dir),
        "--resume_from_checkpoint", "none",
        "--max_train_minutes", str(budget),
        "--max_train_clock", args.budget_clock,
        "--eval_strategy", "epoch",  # validation loss only (cheap): the loss curves, no generation
        "--prediction_loss_only", "true",
        "--metric_for_best_model", "loss",
        "--save_strategy", "no",
        "--disable_tqdm", "true",
        "--num_sample_translations", "5",
    ]  # fmt: skip
    if args.epochs:  # the budget still ends training first if they do not fit
        argv += ["--num_train_epochs", str(args.epochs)]
    if args.max_eval_sentences:
        argv += ["--max_eval_samples", str(args.max_eval_sentences)]
    main = runpy.run_path(str(REPO_ROOT / "recipes" / "translation.py"))["main"]
    results = main(argv)
    saved = json.loads((output_dir / "config.json").read_text())
    # run_translation sets the generation max_length to the run's max_target_length (label truncation)
    max_target_length = json.loads((output_dir / "generation_config.json").read_text())["max_length"]
    tokens = trained_target_tokens(
        output_dir, read_lines(args.data / f"train.{TARGET_LANG}"), max_target_length, results
    )
    pairs_trained = results["train_steps"] * results["train_global_batch_size"]
    log = json.loads((output_dir / "trainer_state_log.json").read_text())
    eval_curve = []
    for entry in log:  # the evaluation after training repeats the last epoch's when training ended on one
        point = [round(entry["epoch"], 2), round(entry["eval_loss"], 4)] if "eval_loss" in entry else None
        if point and point not in eval_curve[-1:]:
            eval_curve.append(point)
    train_curve = [[round(entry["epoch"], 2), round(entry["loss"], 4)] for entry in log if "loss" in entry]

    model = AutoModelForSeq2SeqLM.from_pretrained(str(output_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(output_dir))
    sources = read_lines(args.data / f"val.{SOURCE_LANG}", args.max_eval_sentences)
    references = read_lines(args.data / f"val.{TARGET_LANG}", args.max_eval_sentences)
    greedy = decode(model, tokenizer, sources, references, 1, args.decode_batch_size)
    beam5 = decode(model, tokenizer, sources, references, 5, args.decode_batch_size)
    return {
        "system": f"nlpkit recipes/translation.py, {CONFIGS[kind]}",
        "model_type": saved["model_type"],
        "num_parameters": model.num_parameters(),
        "validation_bleu_greedy": greedy["bleu"],
        "validation_bleu_beam5": beam5["bleu"],
        "validation_chrf_greedy": greedy["chrf"],
        "validation_chrf_beam5": beam5["chrf"],
        "validation_sentences": len(sources),
        "train_target_tokens_per_second": round(tokens / results["train_runtime"], 1),
        "train_sentences_per_second": round(results["train_samples_per_second"], 2),
        "target_tokens_per_sentence": round(tokens / pairs_trained, 2) if pairs_trained else None,
        "decode_sentences_per_second_greedy": greedy["sentences_per_second"],
        "decode_sentences_per_second_beam5": beam5["sentences_per_second"],
        "budget_minutes": budget,
        "budget_clock": args.budget_clock,
        "train_minutes": round(results["train_runtime"] / 60, 2),
        "train_steps": results["train_steps"],
        "epochs": round(results["epoch"], 2),
        "train_loss": round(results["train_loss"], 4),
        "final_eval_loss": eval_curve[-1][1] if eval_curve else None,
        "best_eval_loss": min(loss for _, loss in eval_curve) if eval_curve else None,
        "eval_loss_curve": eval_curve,
        "train_loss_curve": train_curve[:: max(1, len(train_curve) // 20)] + train_curve[-1:],
    }


def worker(kind: str, args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = load_average()
    started = time.perf_counter()
    if kind == "tutorial":
        line = run_tutorial(args)
    else:
        with tempfile.TemporaryDirectory() as output_dir:
            line = run_recipe(kind, args, Path(output_dir))
    line["total_minutes"] = round((time.perf_counter() - started) / 60, 2)
    line["threads"] = torch.get_num_threads()
    line["load_average"] = [load_before, load_average()]  # 1-minute load before and after
    line["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    report(line)


def comparison(lines: dict[str, dict]) -> dict:
    line: dict = {"benchmark": "translation", "comparison": "nlpkit recipes against the tutorial model and targets"}
    tutorial = lines.get("tutorial")
    for kind in ("rnn", "transformer"):
        if kind not in lines:
            continue
        system = lines[kind]
        if tutorial:
            for unit in ("target_tokens", "sentences"):
                key = f"train_{unit}_per_second"
                line[f"{kind}_over_tutorial_{key}"] = round(system[key] / tutorial[key], 2)
        line[f"{kind}_validation_bleu_beam5"] = system["validation_bleu_beam5"]
        line[f"{kind}_validation_bleu_greedy"] = system["validation_bleu_greedy"]
    if "rnn" in lines:
        rnn = lines["rnn"]
        line["rnn_targets"] = {
            "speedup >= 10": line["rnn_over_tutorial_train_target_tokens_per_second"] >= SPEEDUP_TARGET
            if tutorial
            else None,
            "bleu >= 25": rnn["validation_bleu_beam5"] >= BLEU_TARGET,
            "within budget minutes": rnn["budget_minutes"],
        }
    if "transformer" in lines:
        transformer = lines["transformer"]
        targets = {
            f"bleu >= {TRANSFORMER_BLEU_TARGET:g}": transformer["validation_bleu_beam5"] >= TRANSFORMER_BLEU_TARGET
        }
        if "rnn" in lines:
            rnn = lines["rnn"]
            speedup = transformer["decode_sentences_per_second_beam5"] / rnn["decode_sentences_per_second_beam5"]
            line["transformer_over_rnn_decode_beam5"] = round(speedup, 2)
            line["transformer_minus_rnn_bleu_beam5"] = round(
                transformer["validation_bleu_beam5"] - rnn["validation_bleu_beam5"], 2
            )
            targets["bleu >= rnn"] = transformer["validation_bleu_beam5"] >= rnn["validation_bleu_beam5"]
            targets["decodes faster than rnn at beam 5"] = speedup > 1
            targets["same budget minutes"] = transformer["budget_minutes"] == rnn["budget_minutes"]
        line["transformer_targets"] = targets
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="Multi30k folder: train.de/en, val.de/en.")
    parser.add_argument("--budget_minutes", type=float, default=30.0, help="Training budget of the RNN.")
    parser.add_argument(
        "--transformer_budget_minutes", type=float, default=None, help="Training budget of the Transformer."
    )
    parser.add_argument(
        "--budget_clock", choices=["wall", "cpu"], default="wall", help="The recipe's --max_train_clock."
    )
    parser.add_argument("--tutorial_batches", type=int, default=20, help="Timed training batches of the tutorial.")
    parser.add_argument("--decode_batch_size", type=int, default=64, help="Sentences per generate() call.")
    parser.add_argument(
        "--max_eval_sentences", type=int, default=None, help="Use only the first N validation pairs (smoke tests)."
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads in every system (default: torch's).")
    parser.add_argument("--only", choices=SYSTEMS, nargs="+", help="Run these systems, in this order (default: all).")
    parser.add_argument(
        "--epochs", type=float, help="Train every recipe for this many epochs instead of its config's (within budget)."
    )
    parser.add_argument("--log", type=Path, help="Append each system's training output to this file as it runs.")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.transformer_budget_minutes is None:
        args.transformer_budget_minutes = args.budget_minutes
    for split in ("train", "val"):
        for language in (SOURCE_LANG, TARGET_LANG):
            if not (args.data / f"{split}.{language}").is_file():
                parser.error(f"{args.data / f'{split}.{language}'} not found: --data must be the Multi30k folder")
    if args.worker:
        worker(args.worker, args)
        return

    lines = {}
    for kind in args.only or SYSTEMS:
        try:
            lines[kind] = run_worker(__file__, ["--worker", kind, *sys.argv[1:]], log_file=args.log)
        except WorkerFailed as error:
            print(error)
            continue
        print(json.dumps({"benchmark": "translation", "name": kind, **lines[kind]}), flush=True)
    if len(lines) > 1 or "rnn" in lines:
        print(json.dumps(comparison(lines)), flush=True)


if __name__ == "__main__":
    main()
