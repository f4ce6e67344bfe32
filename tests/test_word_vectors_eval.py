"""Word vectors as data (`nlpkit.word_vectors`): the word2vec and GloVe text formats read and written, neighbours and
analogies by cosine (gensim's 3CosAdd), the analogy and word-pair evaluations counted as gensim counts them, and
`nlpkit similar`. The vectors are made by hand, so that each answer, count and correlation is known beforehand."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from nlpkit import cli
from nlpkit.errors import DataError
from nlpkit.word_vectors import (
    UnknownWordError,
    WordVectors,
    evaluate_analogies,
    evaluate_similarity,
    evaluate_word_vectors,
    group_queries,
    most_similar,
    parse_query,
)

# king = 2 royal + male, queen = 2 royal + female, ...: king - man + woman points at queen. Cosines from king:
# prince 0.99, queen 0.8, palace 0.63, man 0.45, then woman, paris and bread 0.
ROYAL, MALE, FEMALE, PLACE, FOOD = np.eye(5, dtype=np.float32)
ROYAL_VECTORS = {
    "king": 2 * ROYAL + MALE,
    "queen": 2 * ROYAL + FEMALE,
    "man": MALE,
    "woman": FEMALE,
    "prince": 2 * ROYAL + 0.9 * MALE + 0.1 * PLACE,
    "paris": PLACE,
    "bread": FOOD,
    "palace": ROYAL + PLACE,
}


def royal_vectors() -> WordVectors:
    return WordVectors(list(ROYAL_VECTORS), np.stack(list(ROYAL_VECTORS.values())))


def random_vectors(count: int, dimension: int = 8, seed: int = 0) -> WordVectors:
    rng = np.random.default_rng(seed)
    return WordVectors([f"w{i}" for i in range(count)], rng.standard_normal((count, dimension)).astype(np.float32))


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def cosine(first: np.ndarray, second: np.ndarray) -> float:
    return float(unit(first) @ unit(second))


# ---- Reading and writing ----


def test_saved_vectors_read_back_as_the_same_words_and_exactly_the_same_values(tmp_path):
    vectors = random_vectors(50, dimension=7)
    vectors.save_word2vec_format(tmp_path / "vectors.txt")
    lines = (tmp_path / "vectors.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "50 7"
    assert lines[1].split(" ")[0] == "w0" and len(lines[1].split(" ")) == 8
    loaded = WordVectors.load(tmp_path / "vectors.txt")
    assert loaded.words == vectors.words
    assert loaded.vectors.dtype == np.float32
    np.testing.assert_array_equal(loaded.vectors, vectors.vectors)  # 9 significant digits: float32 exactly
    assert loaded.index["w3"] == 3


def test_fewer_digits_read_back_to_the_printed_precision(tmp_path):
    vectors = random_vectors(20, dimension=5)
    vectors.save_word2vec_format(tmp_path / "short.txt", significant_digits=4)
    first_value = (tmp_path / "short.txt").read_text().splitlines()[1].split(" ")[1]
    assert len(first_value.lstrip("-").replace(".", "").lstrip("0").split("e")[0]) <= 4
    loaded = WordVectors.load(tmp_path / "short.txt")
    np.testing.assert_allclose(loaded.vectors, vectors.vectors, rtol=5e-4)
    assert not np.array_equal(loaded.vectors, vectors.vectors)


def test_a_gzipped_file_is_written_and_read_like_the_plain_one(tmp_path):
    vectors = random_vectors(30)
    vectors.save_word2vec_format(tmp_path / "vectors.txt.gz")
    with gzip.open(tmp_path / "vectors.txt.gz", "rt", encoding="utf-8") as handle:
        assert handle.readline() == "30 8\n"
    loaded = WordVectors.load(tmp_path / "vectors.txt.gz")
    assert loaded.words == vectors.words
    np.testing.assert_array_equal(loaded.vectors, vectors.vectors)


def test_a_glove_file_without_a_header_is_read_in_its_order(tmp_path):
    (tmp_path / "glove.txt").write_text("the 0.5 -1 2\n\nof 1e-3 0 3.25 \r\nand -0.125 4 0\n", encoding="utf-8")
    loaded = WordVectors.load(tmp_path / "glove.txt")
    assert loaded.words == ["the", "of", "and"]
    expected = np.array([[0.5, -1, 2], [0.001, 0, 3.25], [-0.125, 4, 0]], dtype=np.float32)
    np.testing.assert_array_equal(loaded.vectors, expected)


def test_a_folder_means_its_vectors_txt_and_a_folder_without_one_is_one_line(tmp_path):
    vectors = random_vectors(10)
    vectors.save_word2vec_format(tmp_path / "run" / "vectors.txt")
    assert WordVectors.load(tmp_path / "run").words == vectors.words
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no vectors.txt in this folder"):
        WordVectors.load(tmp_path / "empty")
    with pytest.raises(DataError, match=r"missing: no such file or folder"):
        WordVectors.load(tmp_path / "missing")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2 3\na 1 2 3\nb 1 2\n", r"bad.txt:3: expected a word and 3 values, found 2 values"),
        ("a 1 2 3\nb 1 2 3 4\n", r"bad.txt:2: expected a word and 3 values, found 4 values"),
        ("2 3\na 1 2 3\nb 1 x 3\n", r"bad.txt:3: 'x' is not a number"),
        ("3 3\na 1 2 3\nb 1 2 3\n", r"bad.txt: the header announces 3 vectors, the file holds 2"),
        ("a\n", r"bad.txt:1: expected a word and its values"),
        ("", r"bad.txt: no word vectors in the file"),
    ],
)
def test_a_malformed_file_is_one_line_naming_the_file_and_line(tmp_path, text, message):
    (tmp_path / "bad.txt").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as error:
        WordVectors.load(tmp_path / "bad.txt")
    assert "\n" not in str(error.value)


def test_a_word_given_twice_keeps_its_first_row(tmp_path):
    (tmp_path / "twice.txt").write_text("3 2\nthe 1 2\nof 3 4\nthe 5 6\n", encoding="utf-8")
    loaded = WordVectors.load(tmp_path / "twice.txt")
    assert loaded.words == ["the", "of"]
    np.testing.assert_array_equal(loaded["the"], [1, 2])


def test_a_word_with_a_space_cannot_be_written(tmp_path):
    with pytest.raises(ValueError, match="'new york'"):
        WordVectors(["new york"], np.ones((1, 2))).save_word2vec_format(tmp_path / "v.txt")
    assert not (tmp_path / "v.txt").exists()


def test_gensim_reads_the_saved_file_and_finds_the_same_neighbours(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    vectors = random_vectors(200, dimension=16)
    vectors.save_word2vec_format(tmp_path / "vectors.txt")
    keyed = gensim_models.KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.txt"), binary=False)
    assert list(keyed.index_to_key) == vectors.words
    np.testing.assert_array_equal(keyed.vectors, vectors.vectors)
    for positive, negative in ((["w5"], []), (["w1", "w2"], ["w3"])):
        theirs = keyed.most_similar(positive=positive, negative=negative, topn=10)
        ours = vectors.most_similar(positive, negative, topn=10)
        assert [word for word, _ in ours] == [word for word, _ in theirs]
        np.testing.assert_allclose([score for _, score in ours], [score for _, score in theirs], atol=1e-5)


# ---- Neighbours and queries ----


def test_the_nearest_words_come_by_cosine_best_first_without_the_query_word():
    vectors = royal_vectors()
    neighbours = vectors.most_similar("king", topn=3)
    assert [word for word, _ in neighbours] == ["prince", "queen", "palace"]
    assert neighbours[0][1] == pytest.approx(cosine(ROYAL_VECTORS["king"], ROYAL_VECTORS["prince"]), abs=1e-6)
    assert neighbours[1][1] == pytest.approx(0.8, abs=1e-6)  # (2r+m).(2r+f) / 5
    assert most_similar(vectors, ["king"], topn=3) == neighbours


def test_king_minus_man_plus_woman_is_queen_with_gensims_cosine():
    vectors = royal_vectors()
    (answer, score), *_ = vectors.most_similar(["king", "woman"], ["man"], topn=1)
    assert answer == "queen"
    query = unit(unit(2 * ROYAL + MALE) + FEMALE - MALE)  # the mean of the unit vectors, normalised
    assert score == pytest.approx(float(query @ unit(2 * ROYAL + FEMALE)), abs=1e-6)


def test_restrict_vocab_keeps_the_neighbours_among_the_first_words():
    vectors = royal_vectors()
    assert [word for word, _ in vectors.most_similar("king", topn=10, restrict_vocab=4)] == ["queen", "man", "woman"]
    assert len(vectors.most_similar("king", topn=100)) == len(vectors) - 1


def test_an_unknown_word_is_a_key_error_naming_it():
    with pytest.raises(KeyError, match="'emperor' is not in the vocabulary") as error:
        royal_vectors().most_similar(["king", "emperor"])
    assert isinstance(error.value, UnknownWordError) and error.value.word == "emperor"


@pytest.mark.parametrize(
    ("text", "positive", "negative"),
    [
        ("king", ["king"], []),
        ("king - man + woman", ["king", "woman"], ["man"]),
        ("  paris   -  france + italy ", ["paris", "italy"], ["france"]),
        ("- man", [], ["man"]),
        ("x-ray + bone", ["x-ray", "bone"], []),
        ("king queen", ["king", "queen"], []),
    ],
)
def test_a_query_reads_as_positive_and_negative_words(text, positive, negative):
    assert parse_query(text) == (positive, negative)


@pytest.mark.parametrize("text", ["", "king - - man", "king +", "king - + man"])
def test_a_malformed_query_is_a_value_error(text):
    with pytest.raises(ValueError):
        parse_query(text)


def test_lone_operator_arguments_join_their_neighbours_into_one_query():
    assert group_queries(["king", "-", "man", "+", "woman", "paris"]) == ["king - man + woman", "paris"]
    assert group_queries(["king - man + woman", "paris", "bread"]) == ["king - man + woman", "paris", "bread"]
    assert group_queries(["king -", "man"]) == ["king - man"]
    with pytest.raises(ValueError):
        group_queries(["king", "-"])


# ---- Analogies ----

ANALOGIES = """\
: capital-common-countries
athens greece paris france
Athens Greece Berlin Germany
athens greece rome italy
athens greece tokyo japan
: gram1-adjective-to-adverb
calm calmly quick quickly
calm calmly slow slowly
a line that is not a question
"""


def analogy_vectors() -> WordVectors:
    """Vectors where (case-insensitively) the first, second and fifth questions of ANALOGIES are answered right.

    france lies close to greece - athens + paris, but a second case form, "PARIS", lies exactly on it: gensim's
    evaluation passes over it (it is the question's own word, upper-cased) and answers france; compared with case,
    PARIS is another word and the answer is wrong. italy and slowly lie opposite their queries (always wrong), and
    germany is the last word (outside restrict_vocab=len-1)."""
    rng = np.random.default_rng(3)
    base = {word: unit(rng.standard_normal(32)) for word in ("athens", "greece", "paris", "berlin", "rome")}
    base.update({word: unit(rng.standard_normal(32)) for word in ("calm", "calmly", "quick", "slow", "bread")})

    def query(a: str, b: str, c: str) -> np.ndarray:
        return unit(base[b] - base[a] + base[c])

    rows = dict(base)
    rows["france"] = unit(query("athens", "greece", "paris") + 0.1 * unit(rng.standard_normal(32)))
    rows["PARIS"] = query("athens", "greece", "paris")
    rows["italy"] = -query("athens", "greece", "rome")
    rows["quickly"] = query("calm", "calmly", "quick")
    rows["slowly"] = -query("calm", "calmly", "slow")
    rows["germany"] = query("athens", "greece", "berlin")
    return WordVectors(list(rows), np.stack(list(rows.values())))


def test_analogies_count_right_answers_among_the_questions_covered(tmp_path):
    (tmp_path / "questions.txt").write_text(ANALOGIES, encoding="utf-8")
    metrics = evaluate_analogies(analogy_vectors(), tmp_path / "questions.txt")
    # 6 questions; tokyo/japan are unknown (skipped); athens..france, Athens..Germany and calm..quickly are right.
    assert metrics == {
        "analogy_accuracy": pytest.approx(3 / 5),
        "analogy_coverage": pytest.approx(5 / 6),
        "analogy_semantic_accuracy": pytest.approx(2 / 3),
        "analogy_syntactic_accuracy": pytest.approx(1 / 2),
    }


def test_analogies_compared_with_case_skip_capitalised_questions_and_take_other_case_forms(tmp_path):
    (tmp_path / "questions.txt").write_text(ANALOGIES, encoding="utf-8")
    metrics = evaluate_analogies(analogy_vectors(), tmp_path / "questions.txt", case_insensitive=False)
    # Athens..Germany is now unknown too, and PARIS (a word of its own) beats france: only calm..quickly is right.
    assert metrics["analogy_coverage"] == pytest.approx(4 / 6)
    assert metrics["analogy_accuracy"] == pytest.approx(1 / 4)
    assert metrics["analogy_semantic_accuracy"] == 0.0


def test_analogies_outside_restrict_vocab_are_skipped(tmp_path):
    (tmp_path / "questions.txt").write_text(ANALOGIES, encoding="utf-8")
    vectors = analogy_vectors()
    metrics = evaluate_analogies(vectors, tmp_path / "questions.txt", restrict_vocab=len(vectors) - 1)
    assert metrics["analogy_coverage"] == pytest.approx(4 / 6)  # germany is the last word
    assert metrics["analogy_accuracy"] == pytest.approx(2 / 4)


def gensims_analogy_counts(vectors: WordVectors, path: Path, restrict_vocab: int) -> tuple[int, int, int]:
    """(correct, covered, questions) computed question by question, as gensim's evaluate_word_analogies does."""
    ok_vocab = {word.upper(): row for row, word in reversed(list(enumerate(vectors.words[:restrict_vocab])))}
    correct = covered = questions = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        words = [word.upper() for word in line.split()]
        if line.startswith(": ") or len(words) != 4:
            continue
        questions += 1
        a, b, c, expected = words
        if not all(word in ok_vocab for word in words):
            continue
        covered += 1
        rows = [ok_vocab[b], ok_vocab[c], ok_vocab[a]]
        units = vectors.unit_vectors
        dists = units[:restrict_vocab] @ unit(units[rows[0]] + units[rows[1]] - units[rows[2]])
        sims = [row for row in np.argsort(-dists, kind="stable")[:8] if row not in rows][:5]
        predicted = None
        for row in sims:
            predicted = vectors.words[row].upper()
            if predicted not in {a, b, c}:
                break
        correct += predicted == expected
    return correct, covered, questions


def test_analogy_counts_equal_gensims_question_by_question_loop(tmp_path):
    """Many questions with planted answers (some right, some drowned by noise, some behind case forms of the
    question's words, some outside restrict_vocab): the batched counts equal the question-by-question ones."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(300)]
    vectors = {word: unit(rng.standard_normal(16)) for word in words}
    lines = [": family"]
    for number in range(120):
        a, b, c = rng.choice(words[:250], size=3, replace=False)
        target = unit(vectors[b] - vectors[a] + vectors[c])
        answer = f"answer{number}"
        vectors[answer] = unit(target + rng.uniform(0, 1.5) * unit(rng.standard_normal(16)))
        if number % 4 == 0:  # a case form of b, nearer than the answer: passed over
            vectors.setdefault(b.upper(), unit(target + 0.01 * unit(rng.standard_normal(16))))
        lines.append(f"{a} {b} {c} {answer.upper() if number % 3 == 0 else answer}")
        if number == 60:
            lines.append(": gram2-opposite")
    (tmp_path / "questions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    word_vectors = WordVectors(list(vectors), np.stack(list(vectors.values())))
    restrict_vocab = len(word_vectors) - 15
    correct, covered, questions = gensims_analogy_counts(word_vectors, tmp_path / "questions.txt", restrict_vocab)
    assert 0 < correct < covered < questions == 120
    metrics = evaluate_analogies(word_vectors, tmp_path / "questions.txt", restrict_vocab=restrict_vocab)
    assert metrics["analogy_accuracy"] == pytest.approx(correct / covered)
    assert metrics["analogy_coverage"] == pytest.approx(covered / questions)


def keyed_vectors(vectors: WordVectors):
    """The same vectors as gensim's KeyedVectors (skipped where gensim is not installed)."""
    gensim_models = pytest.importorskip("gensim.models")
    keyed = gensim_models.KeyedVectors(vectors.dimension)
    keyed.add_vectors(vectors.words, vectors.vectors)
    return keyed


@pytest.mark.parametrize("case_insensitive", [True, False])
def test_analogy_scores_equal_gensims_evaluate_word_analogies(tmp_path, case_insensitive):
    (tmp_path / "questions.txt").write_text(ANALOGIES, encoding="utf-8")
    vectors = analogy_vectors()
    keyed = keyed_vectors(vectors)
    for restrict_vocab in (len(vectors), len(vectors) - 1):
        score, sections = keyed.evaluate_word_analogies(
            str(tmp_path / "questions.txt"), restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
        )
        total = sections[-1]
        metrics = evaluate_analogies(
            vectors, tmp_path / "questions.txt", restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
        )
        assert metrics["analogy_accuracy"] == pytest.approx(score)
        assert metrics["analogy_coverage"] == pytest.approx((len(total["correct"]) + len(total["incorrect"])) / 6)


def test_pair_scores_equal_gensims_evaluate_word_pairs(tmp_path):
    (tmp_path / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    vectors = royal_vectors()
    _, spearman, oov_percent = keyed_vectors(vectors).evaluate_word_pairs(str(tmp_path / "pairs.tsv"))
    metrics = evaluate_similarity(vectors, tmp_path / "pairs.tsv", "toy")
    assert metrics["toy_spearman"] == pytest.approx(spearman[0])
    assert metrics["toy_coverage"] == pytest.approx(1 - oov_percent / 100)


def test_a_question_before_any_section_is_one_line_naming_the_file_and_line(tmp_path):
    (tmp_path / "questions.txt").write_text("athens greece paris france\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"questions.txt:1: a question before the first ': section' line"):
        evaluate_analogies(analogy_vectors(), tmp_path / "questions.txt")


# ---- Word pairs ----

PAIRS = """\
# A hand-made similarity set
# Word 1\tWord 2\tHuman (mean)
king\tqueen\t8.5
King\tprince\t9.1
man\twoman\t6.0
bread\tpalace\t0.5
king\temperor\t9.0
paris\tpalace\t4.25
not a pair
"""


def test_pair_similarity_is_spearman_over_the_known_pairs_with_exact_coverage(tmp_path):
    (tmp_path / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    metrics = evaluate_similarity(royal_vectors(), tmp_path / "pairs.tsv", "toy")
    known = [("king", "queen", 8.5), ("king", "prince", 9.1), ("man", "woman", 6.0), ("bread", "palace", 0.5),
             ("paris", "palace", 4.25)]  # fmt: skip
    cosines = [cosine(ROYAL_VECTORS[first], ROYAL_VECTORS[second]) for first, second, _ in known]
    expected = spearmanr([score for _, _, score in known], cosines)[0]
    assert set(metrics) == {"toy_spearman", "toy_coverage"}
    assert metrics["toy_spearman"] == pytest.approx(expected)
    assert not math.isnan(expected) and expected != pytest.approx(1.0)
    assert metrics["toy_coverage"] == pytest.approx(5 / 6)  # emperor is unknown; the line that is no pair is skipped


def test_pairs_compared_with_case_lose_the_capitalised_pair(tmp_path):
    (tmp_path / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    metrics = evaluate_similarity(royal_vectors(), tmp_path / "pairs.tsv", "toy", case_insensitive=False)
    assert metrics["toy_coverage"] == pytest.approx(4 / 6)


def test_the_evaluation_folder_runs_the_files_it_holds(tmp_path):
    (tmp_path / "wordsim353.tsv").write_text(PAIRS, encoding="utf-8")
    (tmp_path / "questions-words.txt").write_text(ANALOGIES, encoding="utf-8")
    metrics = evaluate_word_vectors(royal_vectors(), tmp_path)
    assert set(metrics) == {
        "analogy_accuracy",
        "analogy_coverage",
        "analogy_semantic_accuracy",
        "analogy_syntactic_accuracy",
        "wordsim353_spearman",
        "wordsim353_coverage",
    }
    with pytest.raises(DataError, match="no such folder"):
        evaluate_word_vectors(royal_vectors(), tmp_path / "missing")


def test_the_real_evaluation_sets_score_random_vectors_of_their_words(shared_data):
    folder = shared_data / "word_vectors"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    words: dict[str, None] = {}
    for line in (folder / "questions-words.txt").read_text(encoding="utf-8").splitlines()[:3000]:
        if not line.startswith(":"):
            words.update(dict.fromkeys(word.lower() for word in line.split()))
    for name in ("wordsim353.tsv", "simlex999.txt"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines()[2:200]:
            words.update(dict.fromkeys(word.lower() for word in line.split("\t")[:2]))
    rng = np.random.default_rng(0)
    vectors = WordVectors(list(words), rng.standard_normal((len(words), 20)).astype(np.float32))
    metrics = evaluate_word_vectors(vectors, folder)
    for name in ("analogy", "wordsim353", "simlex999"):
        assert 0 < metrics[f"{name}_coverage"] <= 1, name
    for key in ("analogy_accuracy", "wordsim353_spearman", "simlex999_spearman"):
        assert not math.isnan(metrics[key]) and -1 <= metrics[key] <= 1, key
    assert metrics["analogy_coverage"] < 1  # the later sections' words were left out of the vocabulary
    try:
        import gensim.models
    except ImportError:
        return
    keyed = gensim.models.KeyedVectors(vectors.dimension)
    keyed.add_vectors(vectors.words, vectors.vectors)
    score, _ = keyed.evaluate_word_analogies(str(folder / "questions-words.txt"))
    assert metrics["analogy_accuracy"] == pytest.approx(score)
    _, spearman, _ = keyed.evaluate_word_pairs(str(folder / "simlex999.txt"))
    assert metrics["simlex999_spearman"] == pytest.approx(spearman[0])


# ---- `nlpkit similar` ----


@pytest.fixture
def vectors_folder(tmp_path) -> Path:
    royal_vectors().save_word2vec_format(tmp_path / "run" / "vectors.txt")
    return tmp_path / "run"


def run_similar(capsys, *argv: str) -> str:
    capsys.readouterr()
    cli.main(["similar", *argv])
    return capsys.readouterr().out


def similar_error(capsys, *argv: str, status: int) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        cli.main(["similar", *argv])
    assert exit.value.code == status
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    return captured.err.strip()


def test_similar_prints_a_words_neighbours_with_their_cosines(capsys, vectors_folder):
    out = run_similar(capsys, str(vectors_folder), "king", "--topn", "3")
    expected = [(word, f"{score:.4f}") for word, score in royal_vectors().most_similar("king", topn=3)]
    assert out.splitlines()[0] == "king"
    assert [tuple(line.split()) for line in out.splitlines()[1:]] == expected


def test_similar_answers_an_analogy_given_as_separate_arguments_or_one(capsys, vectors_folder):
    out = run_similar(capsys, str(vectors_folder), "king", "-", "man", "+", "woman", "--topn", "2")
    lines = out.splitlines()
    assert lines[0] == "king - man + woman" and lines[1].split()[0] == "queen" and len(lines) == 3
    assert run_similar(capsys, str(vectors_folder), "king - man + woman", "--topn", "2") == out


def test_similar_json_gives_one_object_per_neighbour(capsys, vectors_folder):
    out = run_similar(capsys, str(vectors_folder / "vectors.txt"), "king - man + woman", "paris", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == (len(ROYAL_VECTORS) - 3) + (len(ROYAL_VECTORS) - 1)  # all words but the query's
    assert records[0] == {"query": "king - man + woman", "rank": 1, "word": "queen", "cosine": pytest.approx(
        royal_vectors().most_similar(["king", "woman"], ["man"], topn=1)[0][1], abs=1e-6)}  # fmt: skip
    assert {record["query"] for record in records[5:]} == {"paris"}


def test_similar_with_an_unknown_word_is_one_line_naming_it_and_the_folder(capsys, vectors_folder):
    error = similar_error(capsys, str(vectors_folder), "king", "-", "emperor", status=1)
    assert error == f"nlpkit similar: error: 'emperor' is not in the vectors of {vectors_folder}"
    assert "(but 'king' is)" in similar_error(capsys, str(vectors_folder), "King", status=1)


def test_similar_on_a_folder_without_vectors_is_one_line(capsys, tmp_path):
    (tmp_path / "model").mkdir()
    error = similar_error(capsys, str(tmp_path / "model"), "king", status=2)
    folder = tmp_path / "model"
    assert error == f"nlpkit similar: error: {folder}: no vectors.txt in this folder (not an nlpkit word-vector folder)"


def test_similar_with_a_dangling_operator_is_one_line(capsys, vectors_folder):
    assert "ends with '-'" in similar_error(capsys, str(vectors_folder), "king", "-", status=2)
    assert "--topn must be at least 1" in similar_error(capsys, str(vectors_folder), "king", "--topn", "0", status=2)
