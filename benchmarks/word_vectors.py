"""Word vectors on the English text of ../shared/datasets: nlpkit's skip-gram against gensim's, nlpkit's GloVe, and
what nlpkit's vectors do for the LSTM classifier and the BiLSTM-CRF.

    pip install -e ".[benchmark]"          # gensim (a benchmark extra, never a runtime dependency of nlpkit)
    python benchmarks/word_vectors.py --data ../shared/datasets [--work DIR] [--only SYSTEM ...] [--log FILE]

Systems, each in its own process, one after the other (benchmarks/workers.py):

- `corpus`: writes the corpus, one sentence per line, into `--work`/corpus: SST-2 train+dev sentences, the English
  side of eng-fra, Multi30k train+val English, tiny Shakespeare's lines, CoNLL-2003 and WNUT-17 tokens (their
  sentences joined by spaces). About 3M words after nlpkit's word split (`nlpkit.data.word_vectors.tokenize_words`,
  lowercased), which both trainers read.
- `nlpkit_skipgram`: `recipes/word_vectors.py --config english_local.yaml` (dimension 100, window 5, 5 negatives,
  min_count 5, sample 1e-3, 5 epochs), on the whole corpus (`--validation_split_percentage 0`), no checkpoints.
- `gensim_skipgram`: gensim's `Word2Vec` with the same settings (`sg=1`, `workers=--gensim_workers`) on the same
  sentences, split by the same tokenizer.
- `nlpkit_glove`: `english_local_glove.yaml` (window 10, x_max 100, alpha 0.75, AdaGrad 0.05).
- `lstm_sst2` / `bilstm_crf_conll2003` / `bilstm_crf_wnut17`: the downstream recipes with their configs as they
  stand, once with random embeddings and once with `--word_vectors` set to nlpkit's skip-gram folder.

Figures: `words_per_second` = the corpus' in-vocabulary words x epochs / training seconds (the Trainer's
`train_runtime`; gensim's `train()` wall time; neither counts vocabulary building; GloVe, whose epochs go over the
co-occurrence entries, gives `seconds_per_epoch`); analogy accuracy (with the share
of the 19,544 questions covered), WordSim-353 and SimLex-999 Spearman (with coverage), all from the same evaluator
(`nlpkit.word_vectors.evaluate_word_vectors`) on each system's vectors. The comparison line gives nlpkit minus
gensim in points and the words/s ratio against the targets (scores within 2 points, >= 0.5x words/s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from workers import WorkerFailed, report, run_worker  # benchmarks/ is on sys.path: scripts run from it

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

SYSTEMS = ("corpus", "nlpkit_skipgram", "gensim_skipgram", "nlpkit_glove", "lstm_sst2", "bilstm_crf_conll2003",
           "bilstm_crf_wnut17")  # fmt: skip
SETTINGS = {"vector_size": 100, "window": 5, "negative": 5, "min_count": 5, "epochs": 5, "sample": 1e-3}
DOWNSTREAM = {
    "lstm_sst2": ("lstm_sentiment.py", "lstm_sentiment/sst2_local.yaml", "eval_accuracy"),
    "bilstm_crf_conll2003": ("ner.py", "ner/conll2003_bilstm_crf.yaml", "eval_f1"),
    "bilstm_crf_wnut17": ("ner.py", "ner/wnut17_bilstm_crf.yaml", "eval_f1"),
}
SCORE_TARGET_POINTS, SPEED_TARGET = 2.0, 0.5


def conll_sentences(path: Path, separator: str | None) -> list[str]:
    """The sentences of a CoNLL-style file (token first on each line; blank or lone-TAB lines end a sentence)."""
    sentences, words = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        token = line.split(separator)[0].strip() if line.strip() else ""
        if not token or token == "-DOCSTART-":
            if words:
                sentences.append(" ".join(words))
            words = []
        else:
            words.append(token)
    return sentences + ([" ".join(words)] if words else [])


def write_corpus(data: Path, corpus: Path) -> dict:
    """One file per source, one sentence per line."""
    sources = {
        "sst2": [line.split("\t")[0] for name in ("train.tsv", "dev.tsv")
                 for line in (data / "sst2" / name).read_text(encoding="utf-8").splitlines()[1:]],
        "eng_fra": [line.split("\t")[0] for line in (data / "eng-fra" / "eng-fra.txt").read_text(encoding="utf-8")
                    .splitlines()],
        "multi30k": [line for name in ("train.en", "val.en")
                     for line in (data / "multi30k" / name).read_text(encoding="utf-8").splitlines()],
        "shakespeare": (data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").splitlines(),
        "conll2003": [s for name in ("train.txt", "valid.txt")
                      for s in conll_sentences(data / "conll2003" / name, " ")],
        "wnut17": [s for name in ("wnut17train.conll", "emerging.dev.conll")
                   for s in conll_sentences(data / "wnut17" / name, "\t")],
    }  # fmt: skip
    corpus.mkdir(parents=True, exist_ok=True)
    for name, lines in sources.items():
        (corpus / f"{name}.txt").write_text("".join(line.strip() + "\n" for line in lines if line.strip()), "utf-8")
    return {name: len(lines) for name, lines in sources.items()}


def sentences_of(corpus: Path) -> list[list[str]]:
    from nlpkit.data.word_vectors import tokenize_words

    return [
        words
        for path in sorted(corpus.glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if (words := tokenize_words(line, lowercase=True))
    ]


def scores(vectors, data: Path) -> dict:
    from nlpkit.word_vectors import evaluate_word_vectors

    return {
        name: round(value * 100, 2) for name, value in evaluate_word_vectors(vectors, data / "word_vectors").items()
    }


def run_recipe(recipe: str, argv: list[str]) -> dict:
    import runpy

    main = runpy.run_path(str(REPO_ROOT / "recipes" / recipe))["main"]
    return main(argv)


def nlpkit_vectors(args: argparse.Namespace, config: str, name: str) -> dict:
    from nlpkit.word_vectors import WordVectors

    output_dir = args.work / name
    os.environ["NLPKIT_WORD_VECTOR_CORPUS"] = str(args.work / "corpus")
    os.environ.setdefault("NLPKIT_SHARED_DATA", str(args.data))
    argv = [
        "--config", str(REPO_ROOT / "recipes" / "configs" / "word_vectors" / config), "--output_dir", str(output_dir),
        "--overwrite_output_dir", "true", "--resume_from_checkpoint", "none", "--save_strategy", "no",
        "--eval_strategy", "no", "--validation_split_percentage", "0", "--disable_tqdm", "true",
    ]  # fmt: skip
    results = run_recipe("word_vectors.py", argv)
    vocabulary = (output_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    corpus_words = sum(int(line.rsplit(" ", 1)[1]) for line in vocabulary)
    vectors = WordVectors.load(output_dir)
    speed = {"words_per_second": round(corpus_words * results["epoch"] / results["train_runtime"])}
    if "glove" in config:  # GloVe's epochs go over the co-occurrence entries, not the text
        speed = {"seconds_per_epoch": round(results["train_runtime"] / results["epoch"], 2)}
    return {
        "vocabulary": len(vectors.words),
        "corpus_words": corpus_words,
        "epochs": round(results["epoch"], 2),
        "train_seconds": round(results["train_runtime"], 1),
        **speed,
        "train_loss": round(results["train_loss"], 4),
        **scores(vectors, args.data),
    }


def gensim_skipgram(args: argparse.Namespace) -> dict:
    from gensim.models import Word2Vec

    from nlpkit.word_vectors import WordVectors

    sentences = sentences_of(args.work / "corpus")
    model = Word2Vec(sg=1, workers=args.gensim_workers, seed=0, **{k: v for k, v in SETTINGS.items() if k != "epochs"})
    model.build_vocab(sentences)
    corpus_words = int(sum(model.wv.get_vecattr(word, "count") for word in model.wv.index_to_key))
    started = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=SETTINGS["epochs"])
    seconds = time.perf_counter() - started
    vectors = WordVectors(list(model.wv.index_to_key), model.wv.vectors)
    return {
        "gensim": __import__("gensim").__version__,
        "workers": args.gensim_workers,
        "vocabulary": len(vectors.words),
        "corpus_words": corpus_words,
        "epochs": SETTINGS["epochs"],
        "train_seconds": round(seconds, 1),
        "words_per_second": round(corpus_words * SETTINGS["epochs"] / seconds),
        **scores(vectors, args.data),
    }


def downstream(args: argparse.Namespace, name: str) -> dict:
    recipe, config, metric = DOWNSTREAM[name]
    os.environ.setdefault("NLPKIT_SHARED_DATA", str(args.data))
    line = {"metric": metric}
    for label, extra in (("random", []), ("nlpkit_vectors", ["--word_vectors", str(args.work / "nlpkit_skipgram")])):
        argv = [
            "--config", str(REPO_ROOT / "recipes" / "configs" / config), "--output_dir", str(args.work / name / label),
            "--overwrite_output_dir", "true", "--resume_from_checkpoint", "none", "--save_strategy", "no",
            "--disable_tqdm", "true", *extra,
        ]  # fmt: skip
        if args.downstream_minutes:
            argv += ["--max_train_minutes", str(args.downstream_minutes)]
        started = time.perf_counter()
        results = run_recipe(recipe, argv)
        line[label] = round(results[metric] * 100, 2)
        line[f"{label}_minutes"] = round((time.perf_counter() - started) / 60, 2)
    line["gain_points"] = round(line["nlpkit_vectors"] - line["random"], 2)
    return line


def worker(kind: str, args: argparse.Namespace) -> None:
    import torch

    started = time.perf_counter()
    if kind == "corpus":
        line = {"lines": write_corpus(args.data, args.work / "corpus")}
        line["words"] = sum(map(len, sentences_of(args.work / "corpus")))
    elif kind == "nlpkit_skipgram":
        line = nlpkit_vectors(args, "english_local.yaml", kind)
    elif kind == "nlpkit_glove":
        line = nlpkit_vectors(args, "english_local_glove.yaml", kind)
    elif kind == "gensim_skipgram":
        line = gensim_skipgram(args)
    else:
        line = downstream(args, kind)
    line["total_minutes"] = round((time.perf_counter() - started) / 60, 2)
    line["threads"] = torch.get_num_threads()
    line["load_average"] = round(os.getloadavg()[0], 2)
    report(line)


def comparison(lines: dict[str, dict]) -> dict:
    ours, theirs = lines["nlpkit_skipgram"], lines["gensim_skipgram"]
    metrics = [key for key in ours if key.endswith(("_accuracy", "_spearman")) and key in theirs]
    differences = {key: round(ours[key] - theirs[key], 2) for key in metrics}
    speed = round(ours["words_per_second"] / theirs["words_per_second"], 3)
    return {
        "benchmark": "word_vectors",
        "comparison": "nlpkit skip-gram minus gensim skip-gram (points), words/s ratio",
        "score_differences": differences,
        "words_per_second_ratio": speed,
        "targets": {
            f"scores within {SCORE_TARGET_POINTS:g} points": all(
                d >= -SCORE_TARGET_POINTS for d in differences.values()
            ),
            f"words/s >= {SPEED_TARGET:g}x gensim": speed >= SPEED_TARGET,
            "words/s >= 1x gensim (stretch)": speed >= 1.0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="The shared datasets folder.")
    parser.add_argument("--work", type=Path, default=None, help="Corpus and output folders (default: a temp dir).")
    parser.add_argument("--only", choices=SYSTEMS, nargs="+", help="Run these systems, in this order.")
    parser.add_argument("--gensim_workers", type=int, default=os.cpu_count() or 1, help="gensim's worker threads.")
    parser.add_argument("--downstream_minutes", type=float, default=None, help="Cap each downstream run's training.")
    parser.add_argument("--log", type=Path, help="Append each system's output to this file as it runs.")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for folder in ("sst2", "eng-fra", "multi30k", "tinyshakespeare", "conll2003", "wnut17", "word_vectors"):
        if not (args.data / folder).is_dir():
            parser.error(f"{args.data / folder} not found: --data must be the shared datasets folder")
    if args.worker:
        worker(args.worker, args)
        return
    temporary = None
    if args.work is None:
        temporary = tempfile.TemporaryDirectory()
        args.work = Path(temporary.name)
    systems = list(args.only or SYSTEMS)
    if not (args.work / "corpus").is_dir() and "corpus" not in systems:
        systems.insert(0, "corpus")
    lines = {}
    for kind in systems:
        argv = ["--worker", kind, "--data", str(args.data), "--work", str(args.work)]
        argv += ["--gensim_workers", str(args.gensim_workers)]
        if args.downstream_minutes:
            argv += ["--downstream_minutes", str(args.downstream_minutes)]
        try:
            lines[kind] = run_worker(__file__, argv, log_file=args.log)
        except WorkerFailed as error:
            print(error)
            continue
        print(json.dumps({"benchmark": "word_vectors", "name": kind, **lines[kind]}), flush=True)
    if "nlpkit_skipgram" in lines and "gensim_skipgram" in lines:
        print(json.dumps(comparison(lines)), flush=True)


if __name__ == "__main__":
    main()
