"""Inference: each model family served by its PyTorch pipeline (eager) against its `nlpkit export` (fp32 and int8).

    python benchmarks/inference.py --data ../shared/datasets --models /tmp/nlpkit-inference-models \
        [--families minilm lstm bilstm_crf gpt rnn transformer] [--train_minutes 4] [--batch_one_limit 200]

The models: each family's folder under `--models` (`<models>/<family>`), trained by its recipe on the real data
first if it is not there (`--train_minutes` of CPU time, `--max_train_clock cpu`, so a shared machine trains the same
model; kept for later runs). The quality figure only has to be the same across runtimes, not state of the art.

| family | recipe, config | evaluated on | quality |
| --- | --- | --- | --- |
| `minilm` | bert_sentiment.py, sst2_local.yaml (all-MiniLM-L6-v2) | SST-2 dev, 872 | accuracy |
| `lstm` | lstm_sentiment.py, sst2_local.yaml | SST-2 dev, 872 | accuracy |
| `bilstm_crf` | ner.py, conll2003_bilstm_crf.yaml | CoNLL-2003 valid, 3,250 | entity F1 (exact spans) |
| `gpt` | text_generation.py, shakespeare_char_gpt.yaml | 32 prompts of 16 chars, 48 new tokens | greedy = eager |
| `rnn` | translation.py, multi30k_de_en.yaml | Multi30k val, 1,014 | sacreBLEU, beam 5 |
| `transformer` | translation.py, multi30k_transformer.yaml | Multi30k val, 1,014 | sacreBLEU, beam 5 |

Every family runs in a fresh process of its own (`--worker`), one after the other, and prints one JSON line per
runtime (`eager`, then each export: `onnx` fp32 and int8, and `ctranslate2` fp32 and int8 where the family has it):
texts (or generated tokens) per second at batch 1 (the first `--batch_one_limit` texts, after a warm-up) and at batch
32 (all of them), and the quality of the batch-32 predictions. Every runtime is served the way a user serves it:
`nlpkit.predict.load_predictor(folder)` on the model folder or on the exported folder. A last line per family gives
the ratios against eager and the issue's targets: exported MiniLM >= 2x eager at batch 1 with accuracy within 0.5
points; every nlpkit architecture >= 1.5x eager at batch 1; translation >= 2x eager at beam 5 with BLEU within 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from workers import WorkerFailed, report, run_worker  # benchmarks/ is on sys.path: scripts run from it

REPO_ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("minilm", "lstm", "bilstm_crf", "gpt", "rnn", "transformer")
QUIET = ["--eval_strategy", "no", "--save_strategy", "no"]  # the final evaluation only, no checkpoints
RECIPES = {
    "minilm": ("bert_sentiment.py", "bert_sentiment/sst2_local.yaml", QUIET),
    "lstm": ("lstm_sentiment.py", "lstm_sentiment/sst2_local.yaml", QUIET),
    "bilstm_crf": ("ner.py", "ner/conll2003_bilstm_crf.yaml", ["--save_strategy", "no"]),
    "gpt": ("text_generation.py", "text_generation/shakespeare_char_gpt.yaml", QUIET),
    "rnn": ("translation.py", "translation/multi30k_de_en.yaml", QUIET),
    "transformer": ("translation.py", "translation/multi30k_transformer.yaml", QUIET),
}
TRAIN_MINUTES = {"minilm": 5, "lstm": 3, "bilstm_crf": 3, "gpt": 2, "rnn": 12, "transformer": 15}  # CPU minutes
TRANSLATION_FAMILIES = ("rnn", "transformer")


def train(family: str, args: argparse.Namespace, output_dir: Path) -> None:
    """Train ``family``'s model with its recipe into ``output_dir`` (in a worker process)."""
    import runpy

    recipe, config, extra = RECIPES[family]
    os.environ["NLPKIT_SHARED_DATA"] = str(args.data.resolve())
    main = runpy.run_path(str(REPO_ROOT / "recipes" / recipe))["main"]
    main(
        [
            "--config", str(REPO_ROOT / "recipes" / "configs" / config),
            "--output_dir", str(output_dir),
            "--resume_from_checkpoint", "none",
            "--overwrite_output_dir", "true",
            "--max_train_minutes", str(args.train_minutes or TRAIN_MINUTES[family]),
            "--max_train_clock", "cpu",
            "--disable_tqdm", "true",
            *extra,
        ]
    )  # fmt: skip


def evaluation_set(family: str, data: Path) -> tuple[list[str], list]:
    """The texts each family is served and their references (labels, entity spans, translations; none for gpt)."""
    if family in ("minilm", "lstm"):
        rows = [line.rstrip("\n").split("\t") for line in (data / "sst2" / "dev.tsv").read_text().splitlines()[1:]]
        return [text.strip() for text, _ in rows], [int(label) for _, label in rows]
    if family == "bilstm_crf":
        return conll_sentences(data / "conll2003" / "valid.txt")
    if family == "gpt":
        text = (data / "tinyshakespeare" / "input.txt").read_text()
        tail = text[len(text) * 9 // 10 :]
        lines = [line[:16] for line in tail.splitlines() if len(line) > 20]  # 16 + 48 new: the GPT's 64 of context
        return lines[:: max(1, len(lines) // 32)][:32], []
    sources = (data / "multi30k" / "val.de").read_text().splitlines()
    return sources, (data / "multi30k" / "val.en").read_text().splitlines()


def conll_sentences(path: Path) -> tuple[list[str], list[set[tuple[str, int, int]]]]:
    """Each sentence's tokens joined by spaces, and its gold entities as (label, start, end) character spans."""
    texts, spans, tokens, tags = [], [], [], []
    for line in [*path.read_text().splitlines(), ""]:
        if line.startswith("-DOCSTART-"):
            continue
        if not line.strip():
            if tokens:
                texts.append(" ".join(tokens))
                spans.append(iob_spans(tokens, tags))
            tokens, tags = [], []
            continue
        fields = line.split()
        tokens.append(fields[0])
        tags.append(fields[-1])
    return texts, spans


def iob_spans(tokens: list[str], tags: list[str]) -> set[tuple[str, int, int]]:
    spans, start, label, offset, end = set(), None, None, 0, 0
    for token, tag in zip([*tokens, ""], [*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == label):
            spans.add((label, start, end))
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, label = offset, tag[2:]
        end = offset + len(token)
        offset = end + 1
    return spans


def quality(family: str, predictions: list[dict], references: list, eager: list[dict] | None) -> dict:
    """The family's quality figure of ``predictions`` (and, for gpt, how many equal the eager ones)."""
    if family in ("minilm", "lstm"):
        names = sorted({p["label"] for p in predictions} | {"negative", "positive"})
        positive = "positive" if "positive" in names else names[-1]
        correct = sum((p["label"] == positive) == bool(label) for p, label in zip(predictions, references))
        return {"accuracy": round(100 * correct / len(references), 2)}
    if family == "bilstm_crf":
        found = [{(e["label"], e["start"], e["end"]) for e in p["entities"]} for p in predictions]
        true_positives = sum(len(f & g) for f, g in zip(found, references))
        precision = true_positives / max(1, sum(map(len, found)))
        recall = true_positives / max(1, sum(map(len, references)))
        return {"entity_f1": round(100 * 2 * precision * recall / max(1e-9, precision + recall), 2)}
    if family == "gpt":
        if eager is None:
            return {}
        same = sum(p["generated_text"] == e["generated_text"] for p, e in zip(predictions, eager))
        return {"greedy_equal_to_eager": f"{same}/{len(predictions)}"}
    import sacrebleu

    hypotheses = [p["translation_text"] for p in predictions]
    return {"bleu": round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 2)}


def options(family: str) -> dict:
    if family == "gpt":
        return {"max_new_tokens": 48, "do_sample": False}
    if family in TRANSLATION_FAMILIES:
        return {"num_beams": 5, "max_new_tokens": 64}
    return {}


def timed(predictor, texts: list[str], batch_size: int, family: str) -> tuple[list[dict], float]:
    """The predictions of ``texts`` and the seconds they took, after one untimed warm-up batch."""
    predictor(texts[:batch_size], batch_size=batch_size, **options(family))
    started = time.perf_counter()
    predictions = predictor(texts, batch_size=batch_size, **options(family))
    return predictions, time.perf_counter() - started


def measure(family: str, args: argparse.Namespace) -> list[dict]:
    """The lines of one family: eager, then each export, then the ratios and targets."""
    import tempfile

    import torch

    from nlpkit.errors import ConfigError
    from nlpkit.export import export_model, exporter_for
    from nlpkit.predict import load_predictor
    from nlpkit.pretrained import check_model_folder

    model_dir = args.models / family
    texts, references = evaluation_set(family, args.data)
    unit = "tokens" if family == "gpt" else "texts"
    config = check_model_folder(model_dir)
    formats = exporter_for(model_dir, config).load_module().FORMATS
    runtimes = [("eager", None, False)] + [
        (format, format, quantize) for format in formats for quantize in (False, True)
    ]
    lines, eager_predictions = [], None
    with tempfile.TemporaryDirectory() as exports:
        for name, format, quantize in runtimes:
            folder = model_dir
            if format is not None:
                try:
                    folder = export_model(
                        model_dir, Path(exports) / f"{format}-{quantize}", format=format, quantize=quantize
                    )
                except ConfigError as error:  # a format this model does not export to (CTranslate2 for nlpkit's)
                    print(f"{family}: no {format} export: {error}", flush=True)
                    continue
            predictor = load_predictor(folder)
            batch_one, seconds_one = timed(predictor, texts[: args.batch_one_limit], 1, family)
            batch_32, seconds_32 = timed(predictor, texts, 32, family)
            count_one = count_32 = None
            if family == "gpt":  # generated tokens, not texts
                count_one = sum(len(p["generated_text"]) - len(t) for p, t in zip(batch_one, texts))
                count_32 = sum(len(p["generated_text"]) - len(t) for p, t in zip(batch_32, texts))
            line = {
                "family": family,
                "runtime": name,
                "precision": "int8" if quantize else "fp32",
                f"{unit}_per_second_batch_1": round((count_one or len(batch_one)) / seconds_one, 1),
                f"{unit}_per_second_batch_32": round((count_32 or len(batch_32)) / seconds_32, 1),
                **quality(family, batch_32, references, eager_predictions),
                "texts": len(texts),
                "texts_at_batch_1": len(batch_one),
                "threads": torch.get_num_threads(),
                "load_average": round(os.getloadavg()[0], 2),
            }
            if name == "eager":
                eager_predictions = batch_32
            lines.append(line)
    lines.append(comparison(family, lines, unit))
    return lines


QUALITY_KEYS = ("accuracy", "entity_f1", "bleu")


def comparison(family: str, lines: list[dict], unit: str) -> dict:
    """Each export's speed over eager (batch 1 and 32) and quality change, and the issue's target for the family."""
    eager, exports = lines[0], lines[1:]
    key = next((key for key in QUALITY_KEYS if key in eager), None)
    ratios = {}
    for line in exports:
        name = f"{line['runtime']}_{line['precision']}"
        ratios[name] = {
            "batch_1": round(line[f"{unit}_per_second_batch_1"] / eager[f"{unit}_per_second_batch_1"], 2),
            "batch_32": round(line[f"{unit}_per_second_batch_32"] / eager[f"{unit}_per_second_batch_32"], 2),
        }
        if key:
            ratios[name][f"{key}_change"] = round(line[key] - eager[key], 2)
        else:
            ratios[name]["greedy_equal_to_eager"] = line.get("greedy_equal_to_eager")
    if family == "minilm":
        target, batch, ratio, drop = "exported >= 2x eager at batch 1, accuracy within 0.5", "batch_1", 2.0, 0.5
    elif family in TRANSLATION_FAMILIES:
        target, batch, ratio, drop = "exported >= 2x eager at beam 5 (batch 32), BLEU within 0.5", "batch_32", 2.0, 0.5
    else:
        target, batch, ratio, drop = "exported >= 1.5x eager at batch 1", "batch_1", 1.5, None
    if family == "rnn":
        target += "; and >= 1.5x at batch 1"

    def meets(figures: dict) -> bool:
        quality_ok = drop is None or figures.get(f"{key}_change", 0) >= -drop
        batch_one_ok = family != "rnn" or figures["batch_1"] >= 1.5
        return figures[batch] >= ratio and quality_ok and batch_one_ok

    passing = [name for name, figures in ratios.items() if meets(figures)]
    return {"family": family, "comparison": "export / eager", "ratios": ratios, "target": target,
            "met_by": passing, "target_met": bool(passing)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, required=True, help="Folder holding sst2/, conll2003/, tinyshakespeare/, multi30k/."
    )
    parser.add_argument("--models", type=Path, required=True, help="Where each family's trained folder is (or goes).")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument(
        "--train_minutes", type=float, help="CPU minutes of training for a missing model (default: per family)."
    )
    parser.add_argument("--train_only", action="store_true", help="Train the missing models, measure nothing.")
    parser.add_argument("--batch_one_limit", type=int, default=200, help="Texts timed at batch 1.")
    parser.add_argument("--log", type=Path, help="Append the workers' output to this file as they run.")
    parser.add_argument("--worker", nargs=2, metavar=("ACTION", "FAMILY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        action, family = args.worker
        if action == "train":
            train(family, args, args.models / family)
            report({"trained": family})
        else:
            report({"lines": measure(family, args)})
        return
    common = ["--data", str(args.data), "--models", str(args.models), "--batch_one_limit", str(args.batch_one_limit)]
    if args.train_minutes:
        common += ["--train_minutes", str(args.train_minutes)]
    for family in args.families:
        try:
            if not (args.models / family / "config.json").is_file():
                run_worker(__file__, [*common, "--worker", "train", family], log_file=args.log)
            if not args.train_only:
                for line in run_worker(__file__, [*common, "--worker", "measure", family], log_file=args.log)["lines"]:
                    print(json.dumps({"benchmark": "inference", **line}), flush=True)
        except WorkerFailed as error:
            print(error, file=sys.stderr)


if __name__ == "__main__":
    main()
