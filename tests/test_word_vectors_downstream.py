"""`word_vectors:` for the three models that train embeddings from scratch (LSTM classifier, BiLSTM-CRF, RNN
encoder-decoder): their embeddings start from a word2vec/GloVe file or an nlpkit word-vector folder, the card says how
many words were found, and every mistake is one line naming word_vectors, before anything loads.

Each recipe runs for real up to its model (arguments, data, tokenizer, model, vectors), with the task's `train`
replaced by a stub that hands back what it was given: the model as training would receive it."""

from __future__ import annotations

import dataclasses
import re
import runpy
from collections.abc import Iterator

import pytest
import torch

from nlpkit.cards import card_hyperparameters, render_model_card
from nlpkit.config import ConfigError
from nlpkit.output_folder import release_all
from nlpkit.tasks import classification, model_card, token_classification, translation
from nlpkit.tasks.token_classification import bilstm_crf
from tests.helpers import REPO_ROOT

DIM = 8
# Per model: its recipe, its task (whose `train` the stub replaces), tiny settings, how to reach its word embedding.
MODELS = {
    "lstm_classifier": (
        "lstm_sentiment.py", classification,
        ["--max_train_samples", "64", "--max_eval_samples", "8", "--hidden_size", "8"],
        lambda model: model.get_input_embeddings(),
    ),
    "bilstm_crf": (
        "ner.py", token_classification, ["--hidden_size", "8", "--char_hidden_size", "8"],
        lambda model: model.word_embeddings,
    ),
    "rnn_seq2seq": (
        "translation.py", translation, ["--max_train_samples", "64", "--hidden_size", "8", "--vocab_size", "300"],
        lambda model: model.get_input_embeddings(),
    ),
}  # fmt: skip
# Lowercase words of each model's sample data (the file holds them lowercased, as nlpkit's vectors are), and one
# that is in no vocabulary.
WORDS = {
    "lstm_classifier": ["the", "film", "great", "terrible", "food", "zyzzyva"],
    "bilstm_crf": ["the", "bank", "tuesday", "saturday", "of", "zyzzyva"],
    "rnn_seq2seq": ["the", "is", "we", "le", "il", "zyzzyva"],
}


def vector(index: int) -> list[float]:
    """A vector no random initialisation gives, different for every word."""
    return [index + 1 + column / 10 for column in range(DIM)]


def write_vectors(path, words: list[str], header: bool = True, dim: int = DIM):
    lines = [f"{len(words)} {dim}"] if header else []
    lines += [f"{word} {' '.join(f'{value:g}' for value in vector(i)[:dim] + [0.5] * (dim - DIM))}" for i, word in
              enumerate(words)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def released() -> Iterator[None]:
    yield
    release_all()  # what the end of a recipe's process does: the output folder locked by start_run is let go


def build(monkeypatch, model: str, output_dir, *args: str):
    """Run `model`'s recipe up to the model: returns (run, setup) as the task's `train` would receive them."""
    recipe, task, tiny, _ = MODELS[model]
    monkeypatch.setattr(task, "train", lambda run, data, setup: (run, setup))
    main = runpy.run_path(str(REPO_ROOT / "recipes" / recipe))["main"]
    return main([*tiny, "--embedding_size", str(DIM), "--output_dir", str(output_dir), *args])


def expected_rows(model: str, tokenizer, words: list[str]) -> dict[int, int]:
    """Row -> index of the word whose vector it should get: the row of the word itself, else of a cased form
    (the BiLSTM-CRF's "The", "Bank"...), for a BPE vocabulary the piece that is the whole word ("▁the")."""
    vocab = tokenizer.get_vocab()
    marker = "▁" if model == "rnn_seq2seq" else ""
    rows = {}
    for index, word in enumerate(words):
        for form in (word, word.capitalize(), word.upper()):
            if f"{marker}{form}" in vocab and (form == word or form not in words):
                rows[vocab[f"{marker}{form}"]] = index
    return rows


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("where", ["word2vec_file", "nlpkit_folder"])
def test_embeddings_start_from_the_vectors_of_the_words_found_and_the_card_counts_them(
    model, where, tmp_path, monkeypatch
):
    words = WORDS[model]
    if where == "word2vec_file":
        value = write_vectors(tmp_path / "tiny.w2v.txt", words)
    else:  # what recipes/word_vectors.py saves: a folder with vectors.txt (word2vec text format)
        value = tmp_path / "word2vec_run"
        value.mkdir()
        write_vectors(value / "vectors.txt", words)
    run, setup = build(monkeypatch, model, tmp_path / "out", "--word_vectors", str(value))
    _, plain = build(monkeypatch, model, tmp_path / "plain")  # same seed, no vectors: the random start
    embedding = MODELS[model][3](setup.model).weight.detach()
    random_start = MODELS[model][3](plain.model).weight.detach()
    assert plain.tokenizer.get_vocab() == setup.tokenizer.get_vocab()

    rows = expected_rows(model, setup.tokenizer, words)
    assert len(rows) >= 3, rows  # the check below has words to look at
    for row, index in rows.items():
        torch.testing.assert_close(embedding[row], torch.tensor(vector(index)), msg=f"row {row}: {words[index]}")
    others = [row for row in range(len(embedding)) if row not in rows]
    torch.testing.assert_close(embedding[others], random_start[others])  # every other row keeps its random start

    total = len(setup.tokenizer) if model != "rnn_seq2seq" else r"\d+"
    line = setup.hyperparameters["word_vectors"]
    assert re.fullmatch(rf"{value.name} \({len(rows)} of {total} words found.*\)", line), line
    info = model_card(MODELS[model][1].CARD, run, setup, [])
    card = render_model_card(
        info,
        model_name="out",
        results={},
        hyperparameters=card_hyperparameters(run.training_args, info.hyperparameters),
    )
    assert f"| word_vectors | {line} |" in card
    if model == "rnn_seq2seq":  # shared embeddings: one matrix for source, target and the tied output projection
        assert setup.model.model.get_decoder_input_embeddings().weight.data_ptr() == embedding.data_ptr()
        assert setup.model.get_output_embeddings().weight.data_ptr() == embedding.data_ptr()


def test_a_cased_bilstm_crf_word_takes_the_lowercased_vector_unless_the_file_has_its_own(tmp_path, monkeypatch):
    vectors = write_vectors(tmp_path / "cased.txt", ["the", "paris", "Paris"], header=False)  # GloVe: no header
    _, setup = build(monkeypatch, "bilstm_crf", tmp_path / "out", "--word_vectors", str(vectors))
    vocab, embedding = setup.tokenizer.get_vocab(), setup.model.word_embeddings.weight.detach()
    assert {"the", "The", "Paris"} <= vocab.keys() and "paris" not in vocab
    torch.testing.assert_close(embedding[vocab["the"]], torch.tensor(vector(0)))
    torch.testing.assert_close(embedding[vocab["The"]], torch.tensor(vector(0)))  # from "the"
    torch.testing.assert_close(embedding[vocab["Paris"]], torch.tensor(vector(2)))  # its own row, later in the file


def test_a_resumed_bilstm_crf_keeps_its_checkpoint_embeddings(tmp_path, monkeypatch):
    vectors = write_vectors(tmp_path / "v.txt", WORDS["bilstm_crf"])
    run, setup = build(monkeypatch, "bilstm_crf", tmp_path / "out", "--word_vectors", str(vectors))
    checkpoint = tmp_path / "checkpoint-1"
    setup.tokenizer.save_pretrained(checkpoint)
    setup.model.config.save_pretrained(checkpoint)
    resumed_run = dataclasses.replace(run, resume_checkpoint=str(checkpoint))
    resumed = bilstm_crf.build(resumed_run, token_classification.load_data(resumed_run))
    row = resumed.tokenizer.get_vocab()["the"]
    assert not torch.equal(resumed.model.word_embeddings.weight[row].detach(), torch.tensor(vector(0)))
    assert resumed.hyperparameters["word_vectors"] == "v.txt (loaded by the run this one resumes)"


@pytest.mark.parametrize("model", MODELS)
def test_word_vectors_mistakes_are_one_line_naming_the_key_before_anything_loads(model, tmp_path, monkeypatch):
    folder = tmp_path / "empty_folder"
    folder.mkdir()
    wide = write_vectors(tmp_path / "wide.txt", ["the"], dim=DIM + 2)
    glove = write_vectors(tmp_path / "glove.txt", ["the"], header=False, dim=DIM + 2)
    mistakes = {
        tmp_path / "missing.txt": "no file at",
        folder: "is a folder without vectors.txt",
        wide: rf"wide\.txt:1: the header gives dimension {DIM + 2}.* embedding_size is {DIM}",
        glove: rf"glove\.txt:1: expected a word and {DIM} values, found {DIM + 2}.* embedding_size is {DIM}",
    }
    for path, message in mistakes.items():
        with pytest.raises(ConfigError, match=rf"word_vectors: .*{message}") as error:
            build(monkeypatch, model, tmp_path / "out", "--word_vectors", str(path))
        assert "\n" not in str(error.value) and str(path) in str(error.value)
    release_all()
    assert not (tmp_path / "out").exists()  # each stopped before the run started


def test_word_vectors_with_a_transformer_is_one_line_saying_rnn_seq2seq_only(tmp_path, monkeypatch):
    vectors = write_vectors(tmp_path / "v.txt", ["the"])
    with pytest.raises(ConfigError, match="word_vectors applies to model rnn_seq2seq only, not transformer") as error:
        build(monkeypatch, "rnn_seq2seq", tmp_path / "out", "--model", "transformer", "--word_vectors", str(vectors))
    assert "\n" not in str(error.value)
