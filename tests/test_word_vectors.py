"""The word-vector recipe end to end: the quickstart (skip-gram) under `accelerate launch` and GloVe write a whole
output folder whose vectors.txt is the model's vectors, loads in gensim and without nlpkit, answers `nlpkit similar`
and starts another model; the loss falls; a bad corpus is one line naming the file."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

import nlpkit  # noqa: F401  (registers the word-vector models with AutoModel)
from nlpkit.cli import main as cli_main
from nlpkit.word_vectors import WordVectors
from tests.helpers import REPO_ROOT, last_json_line, launch_recipe, run_without_nlpkit

RECIPE = str(REPO_ROOT / "recipes" / "word_vectors.py")
FAST = ["--num_train_epochs", "3", "--logging_steps", "5", "--save_strategy", "no", "--disable_tqdm", "true"]


@pytest.fixture(scope="module")
def skipgram(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("word_vectors") / "skipgram"
    launch_recipe(RECIPE, *FAST, "--output_dir", str(output_dir))
    return output_dir


@pytest.fixture(scope="module")
def glove(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("word_vectors") / "glove"
    args = [*FAST, "--model", "glove", "--embedding_size", "16", "--output_dir", str(output_dir)]
    result = subprocess.run([sys.executable, RECIPE, *args], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return output_dir


@pytest.mark.parametrize("kind", ["skipgram", "glove"])
def test_the_run_writes_model_vocabulary_vectors_card_and_results(kind, request):
    output_dir = request.getfixturevalue(kind)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "vocab.txt", "vectors.txt", "README.md",
                 "all_results.json", "loss_curves.png", "run_config.yaml"):  # fmt: skip
        assert (output_dir / name).is_file(), name
    model = AutoModel.from_pretrained(output_dir)
    vectors = WordVectors.load(output_dir)
    words = [line.rsplit(" ", 1)[0] for line in (output_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()]
    assert vectors.words == words  # frequency order, the vocabulary's ids
    header = (output_dir / "vectors.txt").read_text(encoding="utf-8").split("\n", 1)[0]
    assert header == f"{len(words)} {model.config.embedding_size}"
    np.testing.assert_allclose(vectors.vectors, model.word_vectors()[: len(words)].detach().numpy(), rtol=1e-6)
    card = (output_dir / "README.md").read_text(encoding="utf-8")
    assert "load_word2vec_format" in card and f"| vocabulary | {len(words)} |" in card


def test_the_loss_falls_and_the_evaluation_loss_is_reported(skipgram):
    log = json.loads((skipgram / "trainer_state_log.json").read_text())
    losses = [entry["loss"] for entry in log if "loss" in entry]
    assert losses[-1] < 0.9 * losses[0]
    assert json.loads((skipgram / "all_results.json").read_text())["eval_loss"] < 6 * np.log(
        2
    )  # (1 + K) log 2 at start


def test_gensim_reads_vectors_txt_and_finds_the_same_neighbours(skipgram):
    gensim_models = pytest.importorskip("gensim.models")
    theirs = gensim_models.KeyedVectors.load_word2vec_format(str(skipgram / "vectors.txt"))
    ours = WordVectors.load(skipgram)
    word = ours.words[5]
    assert [w for w, _ in theirs.most_similar(word, topn=5)] == [w for w, _ in ours.most_similar(word, topn=5)]


def test_the_cards_pipeline_snippet_gives_the_vectors_without_nlpkit(skipgram, tmp_path):
    code = f"""
import json
import runpy
from transformers import AutoModel, pipeline
pipe = pipeline("feature-extraction", model={str(skipgram)!r}, trust_remote_code=True)
model = AutoModel.from_pretrained({str(skipgram)!r}, trust_remote_code=True)
print(json.dumps({{"features": pipe("the old house")[0], "day": model.word_vectors()[0].tolist()}}))
"""
    found = last_json_line(run_without_nlpkit(code, tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(skipgram)
    ids = tokenizer("the old house")["input_ids"]
    expected = AutoModel.from_pretrained(skipgram).word_vectors()[ids].detach().numpy()
    np.testing.assert_allclose(np.array(found["features"]), expected, rtol=1e-5)


def test_nlpkit_similar_prints_the_neighbours_of_a_trained_folder(skipgram, capsys):
    word = WordVectors.load(skipgram).words[3]
    assert cli_main(["similar", str(skipgram), word, "--topn", "3", "--json"]) in (0, None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["rank"] for line in lines] == [1, 2, 3] and all(line["word"] != word for line in lines)


def test_the_folder_starts_an_lstm_classifier_s_embeddings(skipgram):
    from nlpkit.embeddings import load_word_vectors
    from nlpkit.tokenization import train_tokenizer

    vectors = WordVectors.load(skipgram)
    tokenizer = train_tokenizer([" ".join(vectors.words[:20])], kind="word", min_frequency=1)
    embedding = torch.nn.Embedding(len(tokenizer), vectors.dimension)
    assert load_word_vectors(skipgram, tokenizer, embedding) == 20
    row = tokenizer.convert_tokens_to_ids(vectors.words[7])
    np.testing.assert_allclose(embedding.weight[row].detach().numpy(), vectors[vectors.words[7]], rtol=1e-6)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"good words\n\xff\xfe bad bytes\n", "not UTF-8"),
        (b"once upon a time\n", "min_count"),
    ],
)
def test_a_bad_corpus_is_one_line_naming_the_file(content, message, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    args = ["--train_file", str(corpus), "--output_dir", str(tmp_path / "out"), "--min_count", "2"]
    result = subprocess.run([sys.executable, RECIPE, *args], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]  # not datasets' progress bars
    assert len(errors) == 1 and errors[0] == result.stderr.strip().splitlines()[-1], result.stderr[-2000:]
    assert str(corpus) in errors[0] and message in errors[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "config", sorted((REPO_ROOT / "recipes/configs/word_vectors").glob("*.yaml")), ids=lambda path: path.stem
)
def test_every_config_parses(config, tmp_path, monkeypatch):
    from nlpkit.config import parse_args
    from nlpkit.tasks import word_vectors
    from nlpkit.tasks.word_vectors import from_scratch
    from nlpkit.training import TrainingArguments

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("some words\n")
    (tmp_path / "shared" / "word_vectors").mkdir(parents=True)
    monkeypatch.setenv("NLPKIT_WORD_VECTOR_CORPUS", str(tmp_path / "corpus"))
    monkeypatch.setenv("NLPKIT_SHARED_DATA", str(tmp_path / "shared"))
    recipe = runpy.run_path(RECIPE)
    parsed = parse_args(
        [from_scratch.Arguments, word_vectors.Arguments, TrainingArguments], ["--config", str(config)],
        defaults=recipe["DEFAULTS"],
    )  # fmt: skip
    model, data, training = parsed.args
    assert model.model_type in ("word2vec", "glove") and model.make_config(vocab_size=10).model_type == model.model_type
    assert data.dataset_name or data.train_file
    assert training.optim == "adagrad"
