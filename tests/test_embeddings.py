"""Loading GloVe / word2vec text vectors (or an nlpkit word-vector folder) into an embedding matrix."""

from __future__ import annotations

import gzip
import logging

import pytest
import torch
from torch import nn

from nlpkit.embeddings import (
    check_word_vector_dimension,
    load_word_vectors,
    resolve_word_vectors,
    vocabulary_words,
    word_vector_dimension,
)
from nlpkit.tokenization import train_tokenizer

DIM = 3


@pytest.fixture
def tokenizer():
    return train_tokenizer(["the film is great", "the story is dull"], kind="word", min_frequency=1)


def fresh_embedding(tokenizer) -> nn.Embedding:
    torch.manual_seed(0)
    return nn.Embedding(len(tokenizer), DIM, padding_idx=tokenizer.pad_token_id)


def write(path, lines: list[str]):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_glove_rows_fill_the_vocabulary_words(tokenizer, tmp_path, caplog):
    path = write(
        tmp_path / "glove.txt",
        [
            "the 0.1 0.2 0.3",
            "zebra 9 9 9",  # not in the vocabulary: skipped
            "film -1 0 1.5e-1",
            "<pad> 7 7 7",  # special tokens keep their rows
            "great 1 2 3 ",  # a trailing space is tolerated
        ],
    )
    embedding = fresh_embedding(tokenizer)
    before = embedding.weight.detach().clone()
    with caplog.at_level(logging.INFO, logger="nlpkit.embeddings"):
        found = load_word_vectors(path, tokenizer, embedding)
    assert found == 3
    assert "Loaded 3 word vectors" in caplog.text
    row = tokenizer.convert_tokens_to_ids
    torch.testing.assert_close(embedding.weight[row("the")], torch.tensor([0.1, 0.2, 0.3]))
    torch.testing.assert_close(embedding.weight[row("film")], torch.tensor([-1.0, 0.0, 0.15]))
    torch.testing.assert_close(embedding.weight[row("great")], torch.tensor([1.0, 2.0, 3.0]))
    untouched = [i for i in range(len(tokenizer)) if i not in {row("the"), row("film"), row("great")}]
    torch.testing.assert_close(embedding.weight[untouched], before[untouched])
    assert embedding.weight[tokenizer.pad_token_id].abs().sum() == 0


def test_word2vec_header_and_gzip(tokenizer, tmp_path):
    path = tmp_path / "vectors.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("2 3\nstory 1 1 1\ndull 2 2 2\n")
    embedding = fresh_embedding(tokenizer)
    assert load_word_vectors(path, tokenizer, embedding) == 2
    torch.testing.assert_close(embedding.weight[tokenizer.convert_tokens_to_ids("dull")], torch.full((3,), 2.0))


def test_lowercase_matching_keeps_the_first_form(tokenizer, tmp_path):
    path = write(tmp_path / "cased.txt", ["The 1 1 1", "the 2 2 2", "FILM 3 3 3"])
    embedding = fresh_embedding(tokenizer)
    assert load_word_vectors(path, tokenizer, embedding) == 1  # case-sensitive by default: only "the" matches
    torch.testing.assert_close(embedding.weight[tokenizer.convert_tokens_to_ids("the")], torch.full((3,), 2.0))
    embedding = fresh_embedding(tokenizer)
    assert load_word_vectors(path, tokenizer, embedding, lowercase=True) == 2
    torch.testing.assert_close(embedding.weight[tokenizer.convert_tokens_to_ids("the")], torch.ones(3))
    torch.testing.assert_close(embedding.weight[tokenizer.convert_tokens_to_ids("film")], torch.full((3,), 3.0))


def test_row_of_wrong_dimension_names_file_and_line(tokenizer, tmp_path):
    path = write(tmp_path / "bad.txt", ["the 1 2 3", "film 1 2 3", "great 1 2"])
    with pytest.raises(ValueError, match=r"bad\.txt:3: expected a word and 3 values, found 2"):
        load_word_vectors(path, tokenizer, fresh_embedding(tokenizer))


def test_header_of_wrong_dimension_is_an_error(tokenizer, tmp_path):
    path = write(tmp_path / "w2v.txt", ["1 50", "the " + " ".join(["0"] * 50)])
    with pytest.raises(ValueError, match=r"w2v\.txt:1: the header gives dimension 50"):
        load_word_vectors(path, tokenizer, fresh_embedding(tokenizer))


def test_value_that_is_not_a_number_names_the_line(tokenizer, tmp_path):
    path = write(tmp_path / "nan.txt", ["the 1 2 x"])
    with pytest.raises(ValueError, match=r"nan\.txt:1"):
        load_word_vectors(path, tokenizer, fresh_embedding(tokenizer))


def test_embedding_smaller_than_the_vocabulary_is_an_error(tokenizer, tmp_path):
    path = write(tmp_path / "glove.txt", ["the 1 2 3"])
    with pytest.raises(ValueError, match="resize"):
        load_word_vectors(path, tokenizer, nn.Embedding(3, DIM))


def test_loads_into_a_model_and_survives_save(tokenizer, tmp_path):
    from nlpkit.models.lstm_classifier import LSTMClassifierConfig, LSTMClassifierForSequenceClassification

    config = LSTMClassifierConfig(vocab_size=len(tokenizer), embedding_size=DIM, hidden_size=4, pad_token_id=0)
    model = LSTMClassifierForSequenceClassification(config)
    path = write(tmp_path / "glove.txt", ["great 4 5 6"])
    assert load_word_vectors(path, tokenizer, model.get_input_embeddings()) == 1
    model.save_pretrained(tmp_path / "model")
    reloaded = LSTMClassifierForSequenceClassification.from_pretrained(tmp_path / "model")
    row = tokenizer.convert_tokens_to_ids("great")
    torch.testing.assert_close(reloaded.get_input_embeddings().weight[row], torch.tensor([4.0, 5.0, 6.0]))


def test_a_cased_word_takes_its_lowercased_vector_unless_the_file_has_its_own(tmp_path):
    cased = train_tokenizer(["Paris and Rome and The end", "the end"], kind="word", min_frequency=1)
    path = write(tmp_path / "lower.txt", ["the 1 1 1", "paris 2 2 2", "rome 3 3 3", "Rome 4 4 4"])
    embedding = fresh_embedding(cased)
    assert load_word_vectors(path, cased, embedding) == 4  # the, The (from "the"), Paris (from "paris"), Rome
    row = cased.convert_tokens_to_ids
    torch.testing.assert_close(embedding.weight[row("The")], torch.ones(3))
    torch.testing.assert_close(embedding.weight[row("Paris")], torch.full((3,), 2.0))
    torch.testing.assert_close(embedding.weight[row("Rome")], torch.full((3,), 4.0))  # its own row wins, though later


def test_a_bpe_vocabulary_matches_the_pieces_that_are_whole_words(tmp_path):
    bpe = train_tokenizer(["the cat sat on the mat, bathing"] * 4, kind="bpe", vocab_size=60, min_frequency=1)
    vocab = bpe.get_vocab()
    words = vocabulary_words(bpe)
    assert words["the"] == [vocab["▁the"]] and words["cat"] == [vocab["▁cat"]] and words[","] == [vocab[","]]
    pieces = sorted(vocab, key=vocab.get)
    continuation = next(p for p in pieces if p[0] not in "▁<" and len(p) > 1 and p not in words)  # "hing", "ng"...
    assert all(vocab[continuation] not in rows for rows in words.values())  # a piece inside a word is no word
    path = write(tmp_path / "glove.txt", ["the 1 1 1", f"{continuation} 2 2 2"])
    embedding = fresh_embedding(bpe)
    assert load_word_vectors(path, bpe, embedding) == 1
    torch.testing.assert_close(embedding.weight[vocab["▁the"]], torch.ones(3))


def test_word_vectors_name_a_file_or_an_nlpkit_folder_with_vectors_txt(tokenizer, tmp_path):
    folder = tmp_path / "word2vec_run"
    folder.mkdir()
    write(folder / "vectors.txt", ["1 3", "film 5 5 5"])
    assert resolve_word_vectors(folder) == folder / "vectors.txt"
    assert resolve_word_vectors(folder / "vectors.txt") == folder / "vectors.txt"
    embedding = fresh_embedding(tokenizer)
    assert load_word_vectors(folder, tokenizer, embedding) == 1
    torch.testing.assert_close(embedding.weight[tokenizer.convert_tokens_to_ids("film")], torch.full((3,), 5.0))
    with pytest.raises(ValueError, match=r"^word_vectors: no file at .*missing\.txt$"):
        resolve_word_vectors(tmp_path / "missing.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"^word_vectors: .*empty is a folder without vectors\.txt"):
        resolve_word_vectors(tmp_path / "empty")


def test_the_dimension_comes_from_the_first_line_only(tmp_path):
    assert word_vector_dimension(write(tmp_path / "w2v.txt", ["2 4", "the 1 2"])) == 4  # the header says so
    assert word_vector_dimension(write(tmp_path / "glove.txt", ["", "the 1 2 3 4 5", "film 1"])) == 5
    with gzip.open(tmp_path / "v.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("the 1 2\n")
    assert word_vector_dimension(tmp_path / "v.txt.gz") == 2
    with pytest.raises(ValueError, match="word_vectors: .*blank.txt holds no vectors"):
        word_vector_dimension(write(tmp_path / "blank.txt", ["", ""]))


def test_a_dimension_that_is_not_the_embedding_size_is_one_line_naming_both(tmp_path):
    check_word_vector_dimension(write(tmp_path / "ok.txt", ["the 1 2 3"]), 3)
    with pytest.raises(ValueError, match=r"w2v\.txt:1: the header gives dimension 300: .* embedding_size is 100") as e:
        check_word_vector_dimension(write(tmp_path / "w2v.txt", ["1 300", "the 1"]), 100)
    assert str(e.value).startswith("word_vectors: ") and "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"glove\.txt:1: expected a word and 100 values, found 2: .*embedding_size"):
        check_word_vector_dimension(write(tmp_path / "glove.txt", ["the 1 2"]), 100)
