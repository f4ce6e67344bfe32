"""Word-vector data: corpus reading, vocabulary, encoding, the word2vec batch maker and GloVe co-occurrence counts,
checked exactly on tiny hand-written corpora (and statistically, with fixed seeds, where sampling is involved)."""

import gzip
from collections import Counter

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from nlpkit.data.loading import DataError
from nlpkit.data.word_vectors import (
    Vocabulary,
    Word2VecCollator,
    WordVectorDataArguments,
    cooccurrence_counts,
    encode_corpus,
    keep_probabilities,
    load_corpus,
    tokenize_words,
)

TEXT = "The cat sat on the mat.\n\nThe dog sat.\nA cat, a dog!\n"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def corpus_of(tmp_path, text=TEXT, **options):
    args = WordVectorDataArguments(train_file=[str(write(tmp_path / "corpus.txt", text))], **options)
    return load_corpus(args)


def vocabulary_of(corpus, min_count=1, max_size=None):
    return Vocabulary.from_corpus(corpus, min_count, max_size, source="corpus.txt")


def rows_of(sentences):
    """One encoded row holding ``sentences`` (lists of word ids)."""
    return [{"input_ids": [i for s in sentences for i in s], "sentence_lengths": [len(s) for s in sentences]}]


def as_pairs(batch):
    return Counter(zip(batch["input_ids"].tolist(), batch["output_ids"].tolist(), strict=True))


def test_words_split_off_punctuation_but_keep_contractions_hyphens_and_numbers():
    assert tokenize_words("Don't stop: well-made 3.5 kg... NOW", lowercase=True) == [
        "don't",
        "stop",
        ":",
        "well-made",
        "3.5",
        "kg",
        ".",
        ".",
        ".",
        "now",
    ]
    assert tokenize_words("Hello World", lowercase=False) == ["Hello", "World"]


def test_corpus_has_one_row_of_words_per_non_blank_line(tmp_path):
    corpus = corpus_of(tmp_path)
    assert corpus["words"] == [
        ["the", "cat", "sat", "on", "the", "mat", "."],
        ["the", "dog", "sat", "."],
        ["a", "cat", ",", "a", "dog", "!"],
    ]


def test_max_train_lines_keeps_the_first_lines(tmp_path):
    assert len(corpus_of(tmp_path, max_train_lines=2)) == 2


def test_vocabulary_counts_are_exact_and_sorted_by_count_then_word(tmp_path):
    vocabulary = vocabulary_of(corpus_of(tmp_path))
    expected = Counter(word for line in corpus_of(tmp_path)["words"] for word in line)
    assert dict(zip(vocabulary.words, vocabulary.counts.tolist(), strict=True)) == dict(expected)
    assert vocabulary.words[:6] == ["the", ".", "a", "cat", "dog", "sat"]  # 3, 2, 2, 2, 2, 2: ties by word
    assert vocabulary.counts.dtype == np.int64
    assert vocabulary.index["the"] == 0


def test_min_count_and_max_size_cut_the_vocabulary(tmp_path):
    corpus = corpus_of(tmp_path)
    assert vocabulary_of(corpus, min_count=2).words == ["the", ".", "a", "cat", "dog", "sat"]
    assert vocabulary_of(corpus, min_count=2, max_size=3).words == ["the", ".", "a"]


def test_vocabulary_saves_and_loads_back(tmp_path):
    vocabulary = vocabulary_of(corpus_of(tmp_path))
    vocabulary.save(tmp_path / "out")
    assert (tmp_path / "out" / "vocab.txt").read_text().splitlines()[0] == "the 3"
    loaded = Vocabulary.load(tmp_path / "out")
    assert loaded.words == vocabulary.words
    assert loaded.counts.tolist() == vocabulary.counts.tolist()
    assert loaded.lowercase is True


def test_saved_tokenizer_reloads_with_auto_tokenizer_and_maps_unknown_words_to_unk(tmp_path):
    vocabulary = vocabulary_of(corpus_of(tmp_path))
    vocabulary.tokenizer().save_pretrained(tmp_path / "out")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    ids = tokenizer("The CAT sat, on a zebra!")["input_ids"]
    unk = len(vocabulary)
    assert tokenizer.unk_token_id == unk
    expected = [vocabulary.index.get(word, unk) for word in tokenize_words("The CAT sat, on a zebra!", True)]
    assert ids == expected
    assert ids[-2] == unk  # "zebra"


def test_encoding_keeps_sentence_lengths_and_drops_out_of_vocabulary_words(tmp_path):
    corpus = corpus_of(tmp_path)
    vocabulary = vocabulary_of(corpus, min_count=2)  # the, ., a, cat, dog, sat
    encoded = encode_corpus(corpus, vocabulary, chunk_tokens=1000)
    ids = {word: index for index, word in enumerate(vocabulary.words)}
    assert encoded["input_ids"] == [
        [ids[w] for w in ["the", "cat", "sat", "the", "."]]  # "on", "mat" dropped
        + [ids[w] for w in ["the", "dog", "sat", "."]]
        + [ids[w] for w in ["a", "cat", "a", "dog"]]  # ",", "!" dropped
    ]
    assert encoded["sentence_lengths"] == [[5, 4, 4]]


def test_rows_hold_whole_sentences_and_long_sentences_are_cut(tmp_path):
    corpus = corpus_of(tmp_path, text="a b c d e f g\na b\na b c\n")
    vocabulary = vocabulary_of(corpus)
    encoded = encode_corpus(corpus, vocabulary, chunk_tokens=3)
    assert encoded["sentence_lengths"] == [[3], [3], [1, 2], [3]]
    assert [len(row) for row in encoded["input_ids"]] == [3, 3, 3, 3]
    assert sum(encoded["input_ids"], []) == [vocabulary.index[w] for w in "a b c d e f g a b a b c".split()]


def test_skipgram_pairs_with_window_one_are_exactly_the_neighbours_within_sentences():
    collator = Word2VecCollator(np.ones(10), "skipgram", window=1, negative=2, sample=0)
    batch = collator(rows_of([[0, 1, 2], [3, 4], [5]]) + rows_of([[6, 7]]))
    expected = Counter([(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3), (6, 7), (7, 6)])
    assert as_pairs(batch) == expected  # no (2, 3), (4, 5) or (5, 6): pairs never cross a sentence or row
    assert batch["negative_ids"].shape == (8, 2)
    assert all(tensor.dtype == torch.int64 for tensor in batch.values())


def test_shared_negatives_come_one_row_per_block_of_shuffled_examples():
    plain = Word2VecCollator(np.ones(20), "skipgram", window=2, negative=2, sample=0, seed=1)
    shared = Word2VecCollator(np.ones(20), "skipgram", window=2, negative=2, sample=0, seed=1, negative_block_size=4,
                              shared_negatives=3)  # fmt: skip
    rows = rows_of([list(range(10)), list(range(10, 20))])
    ordered, blocked = plain(rows), shared(rows)
    count = len(ordered["input_ids"])
    assert blocked["negative_ids"].shape == (-(-count // 4), 3)
    assert as_pairs(blocked) == as_pairs(ordered) and not torch.equal(blocked["input_ids"], ordered["input_ids"])


def test_dynamic_window_never_exceeds_window_and_covers_every_distance_symmetrically():
    # Every position holds its own word id, so a pair names the two positions.
    window, length = 3, 400
    collator = Word2VecCollator(np.ones(length), "skipgram", window=window, negative=1, sample=0, seed=3)
    batch = collator(rows_of([list(range(length))]))
    contexts: dict[int, set[int]] = {}
    for centre, context in zip(batch["input_ids"].tolist(), batch["output_ids"].tolist(), strict=True):
        contexts.setdefault(centre, set()).add(context - centre)
    distances = Counter(abs(offset) for offsets in contexts.values() for offset in offsets)
    assert set(distances) == {1, 2, 3}  # every reach drawn, none beyond the window
    for centre, offsets in contexts.items():  # a centre's window b: all of -b..-1, 1..b inside the sentence
        reach = max(abs(offset) for offset in offsets)
        assert offsets == {o for o in range(-reach, reach + 1) if o and 0 <= centre + o < length}


def test_cbow_contexts_and_masks_are_exact_on_a_tiny_case():
    collator = Word2VecCollator(np.ones(5), "cbow", window=1, negative=3, sample=0, pad_token_id=0)
    batch = collator(rows_of([[1, 2, 3], [4]]))  # word 4 alone has no context: no example
    assert batch["output_ids"].tolist() == [1, 2, 3]
    assert batch["input_ids"].tolist() == [[2, 0], [1, 3], [2, 0]]
    assert batch["attention_mask"].tolist() == [[1, 0], [1, 1], [1, 0]]
    assert batch["negative_ids"].shape == (3, 3)


def test_cbow_windows_stay_within_the_window_and_the_sentence():
    window = 2
    collator = Word2VecCollator(np.ones(12), "cbow", window=window, negative=1, sample=0, seed=1)
    batch = collator(rows_of([list(range(6)), list(range(6, 12))]))
    for centre, context, mask in zip(
        batch["output_ids"].tolist(), batch["input_ids"].tolist(), batch["attention_mask"].tolist(), strict=True
    ):
        words = [word for word, on in zip(context, mask, strict=True) if on]
        assert words and all(0 < abs(word - centre) <= window and word // 6 == centre // 6 for word in words)
        assert mask == sorted(mask, reverse=True)  # packed left


def test_negatives_follow_the_unigram_to_the_three_quarters_distribution():
    counts = np.array([1000, 300, 100, 10, 1])
    collator = Word2VecCollator(counts, negative=10, sample=0, seed=0)
    draws = collator.draw_negatives(np.random.default_rng(0), (200_000,))
    expected = counts**0.75 / (counts**0.75).sum()
    observed = np.bincount(draws, minlength=len(counts)) / len(draws)
    np.testing.assert_allclose(observed, expected, atol=0.004)
    assert observed[-1] > 0  # the rarest word is drawn too


def test_subsampling_keeps_a_frequent_word_at_the_formula_rate():
    counts = np.array([1000, 1])
    sample = 0.054
    threshold = sample * counts.sum()
    expected = (np.sqrt(1000 / threshold) + 1) * threshold / 1000  # about 0.3
    assert keep_probabilities(counts, sample)[0] == pytest.approx(expected)
    assert keep_probabilities(counts, sample)[1] == 1.0
    # Sentences [0, 1]: word 1 is always kept, so centre 0 gives a pair exactly when word 0 is kept.
    collator = Word2VecCollator(counts, window=1, negative=1, sample=sample, seed=0)
    sentences = 20_000
    batch = collator(rows_of([[0, 1]] * sentences))
    assert (batch["input_ids"] == 0).sum().item() / sentences == pytest.approx(expected, abs=0.015)


def test_collator_repeats_with_a_seed_and_varies_from_call_to_call():
    rows = rows_of([list(range(50))])
    first, second = (Word2VecCollator(np.ones(50), sample=0, seed=7) for _ in range(2))
    one, again = first(rows), second(rows)
    assert all(torch.equal(one[key], again[key]) for key in one)
    assert not torch.equal(first(rows)["negative_ids"], one["negative_ids"])  # the second call draws anew


def test_cooccurrence_counts_are_exact_with_and_without_distance_weighting(tmp_path):
    corpus = corpus_of(tmp_path, text="a b c\nb a\n")
    vocabulary = vocabulary_of(corpus)
    assert vocabulary.words == ["a", "b", "c"]
    encoded = encode_corpus(corpus, vocabulary, chunk_tokens=1000)  # one row: the boundary is inside it

    def counts(**options):
        table = cooccurrence_counts(encoded, len(vocabulary), window=2, **options)
        return {
            (vocabulary.words[i], vocabulary.words[j]): x
            for i, j, x in zip(table["input_ids"], table["output_ids"], table["cooccurrence"], strict=True)
        }

    left = {("a", "b"): 1.0, ("b", "c"): 1.0, ("a", "c"): 0.5, ("b", "a"): 1.0}  # no ("c", "b"): not across lines
    assert counts(symmetric=False) == left
    assert counts(symmetric=False, distance_weighting=False) == {**left, ("a", "c"): 1.0}
    assert counts() == {
        ("a", "b"): 2.0,
        ("b", "a"): 2.0,
        ("b", "c"): 1.0,
        ("c", "b"): 1.0,
        ("a", "c"): 0.5,
        ("c", "a"): 0.5,
    }
    assert (
        cooccurrence_counts(encoded, 3, window=2, shard_tokens=1).to_dict()
        == cooccurrence_counts(encoded, 3, window=2).to_dict()
    )


def test_cooccurrence_counts_of_a_file_corpus_are_cached_on_disk(tmp_path):
    corpus = corpus_of(tmp_path, text="x y z\n" * 5)
    encoded = encode_corpus(corpus, vocabulary_of(corpus), chunk_tokens=100)
    table = cooccurrence_counts(encoded, 3, window=1)
    assert table.cache_files and table.cache_files[0]["filename"].endswith(".arrow")
    assert cooccurrence_counts(encoded, 3, window=1).cache_files == table.cache_files
    assert sorted(table["cooccurrence"]) == [5.0] * 4


def test_gzip_files_and_folders_are_read(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    write(folder / "b.txt", "second file\n")
    with gzip.open(folder / "a.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("first file\n")
    write(folder / "notes.md", "ignored\n")
    assert load_corpus(WordVectorDataArguments(train_file=[str(folder)]))["words"] == [
        ["first", "file"],
        ["second", "file"],
    ]
    only_gz = load_corpus(WordVectorDataArguments(train_file=[str(folder / "*.gz")]))
    assert only_gz["words"] == [["first", "file"]]


def test_an_empty_file_is_a_one_line_error_naming_it(tmp_path):
    empty = write(tmp_path / "empty.txt", "")
    with pytest.raises(DataError, match=r"empty\.txt: the file is empty$"):
        load_corpus(WordVectorDataArguments(train_file=[str(empty)]))
    blank = write(tmp_path / "blank.txt", "\n  \n")
    with pytest.raises(DataError, match=r"blank\.txt: no words"):
        load_corpus(WordVectorDataArguments(train_file=[str(blank)]))


@pytest.mark.parametrize("compressed", [False, True])
def test_bytes_that_are_not_utf8_are_an_error_naming_file_and_line(tmp_path, compressed):
    data = b"good line\nanother\nbad \xff byte\n"
    path = tmp_path / ("bad.txt.gz" if compressed else "bad.txt")
    path.write_bytes(gzip.compress(data) if compressed else data)
    with pytest.raises(DataError, match=r"bad\.txt(\.gz)?: not UTF-8 text \(line 3") as error:
        load_corpus(WordVectorDataArguments(train_file=[str(path)]))
    assert "\n" not in str(error.value)


def test_min_count_leaving_no_word_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(DataError) as error:
        Vocabulary.from_corpus(corpus_of(tmp_path), 10, source="corpus.txt")
    assert str(error.value) == (
        "min_count 10 leaves no word in the vocabulary of corpus.txt (the most frequent word occurs 3 times)"
    )


def test_a_missing_text_column_is_an_error_naming_the_column_and_the_columns_present(tmp_path):
    folder = tmp_path / "hub_like"
    folder.mkdir()
    write(folder / "train.csv", "sentence,label\nhello there,1\n")
    with pytest.raises(DataError, match=r"hub_like\[train\]: no column 'text' \(columns: sentence, label\)"):
        load_corpus(WordVectorDataArguments(dataset_name=str(folder)))
    corpus = load_corpus(WordVectorDataArguments(dataset_name=str(folder), text_column="sentence"))
    assert corpus["words"] == [["hello", "there"]]


def test_arguments_are_checked_before_loading(tmp_path):
    with pytest.raises(ValueError, match="exactly one of 'train_file'"):
        WordVectorDataArguments()
    with pytest.raises(ValueError, match="exactly one of 'train_file'"):
        WordVectorDataArguments(train_file=["x.txt"], dataset_name="some/dataset")
    with pytest.raises(ValueError, match="'min_count' must be at least 1, got 0"):
        WordVectorDataArguments(dataset_name="some/dataset", min_count=0)
    with pytest.raises(DataError, match=r"missing\.txt: file not found"):
        WordVectorDataArguments(train_file=[str(tmp_path / "missing.txt")])
    with pytest.raises(DataError, match=r"\*\.gz: no file matches"):
        WordVectorDataArguments(train_file=[str(tmp_path / "*.gz")])
    assert WordVectorDataArguments(train_file=str(write(tmp_path / "one.txt", "a\n"))).train_file == [
        str(tmp_path / "one.txt")
    ]
