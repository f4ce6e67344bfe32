"""Word vectors as data: read and write them (word2vec and GloVe text formats), look up neighbours and analogies,
and score them on the standard evaluation sets the way gensim does, so that nlpkit's numbers and gensim's can be
compared on the same vectors.

Only numpy is imported here (scipy when a similarity set is scored): the ``nlpkit similar`` command and a benchmark
can use word vectors without torch. The definitions follow gensim's ``KeyedVectors``:

- :meth:`WordVectors.most_similar` is gensim's ``most_similar`` (3CosAdd): the mean of the unit vectors of the
  positive words minus those of the negative words, normalised, against every unit vector; the query words are left
  out of the answer.
- :func:`evaluate_analogies` is ``evaluate_word_analogies`` and :func:`evaluate_similarity` is
  ``evaluate_word_pairs``: only the first ``restrict_vocab`` words count (a file in frequency order: the most
  frequent ones), words are compared case-insensitively (upper-cased, as gensim does; where a word has several case
  forms the first, most frequent one stands for them), and a question or pair with a word outside that vocabulary is
  skipped, which the coverage reports.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit.errors import DataError
from nlpkit.io import atomic_write_bytes

VECTORS_FILE = "vectors.txt"  # the vectors of an nlpkit word-vector output folder
ANALOGY_FILE = "questions-words.txt"
SIMILARITY_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
OPERATORS = ("+", "-")
_WHITESPACE = re.compile(r"\s")
_ANALOGY_CHUNK = 256  # questions scored per matrix product: 256 x 30k float32 scores (31 MB) stay in cache better


class UnknownWordError(KeyError):
    """A query word that the vectors do not have; ``word`` names it. Its message is plain text (a KeyError's
    ``str`` would add quotes), and it is a KeyError so that ``word in vectors`` style code catches it as usual."""

    def __init__(self, word: str, message: str) -> None:
        super().__init__(message)
        self.word = word

    def __str__(self) -> str:
        return str(self.args[0])


class WordVectors:
    """Words and their vectors, in the order of the file they came from (a word2vec file lists the most frequent
    words first, which is what ``restrict_vocab`` relies on).

    Attributes:
        words: the words, row by row.
        vectors: float32 array of shape (len(words), dimension); treat it as read-only (the unit vectors used for
            cosines are computed once, on first use).
        index: word -> its row.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray | Sequence[Sequence[float]]) -> None:
        """Raises ValueError when the words and the rows do not match one to one (a count or a repeated word)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        words = list(words)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"{len(words)} words need a ({len(words)}, dimension) array, not shape {vectors.shape}")
        index: dict[str, int] = {}
        for row, word in enumerate(words):
            if index.setdefault(word, row) != row:
                raise ValueError(f"the word {word!r} is given twice (rows {index[word]} and {row})")
        self.words = words
        self.vectors = vectors
        self.index = index
        self._unit: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.row(word)]

    def __repr__(self) -> str:
        return f"WordVectors({len(self.words)} words, dimension {self.dimension})"

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def unit_vectors(self) -> np.ndarray:
        """The vectors scaled to length 1 (a zero vector stays zero), so that a dot product is a cosine."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.where(norms > 0, norms, 1).astype(np.float32)
        return self._unit

    def row(self, word: str) -> int:
        """The row of ``word``; UnknownWordError naming it when the vectors do not have it."""
        try:
            return self.index[word]
        except KeyError:
            raise UnknownWordError(word, f"{word!r} is not in the vocabulary ({len(self.words):,} words)") from None

    # ---- Reading and writing ----

    @classmethod
    def load(cls, path: str | Path) -> WordVectors:
        """Read a word-vector text file: word2vec's (a first line "<count> <dimension>"), GloVe's (no header), either
        gzipped (``.gz``), or the ``vectors.txt`` of a folder (an nlpkit word-vector output folder).

        Each line is a word and its values, separated by single spaces (trailing spaces are ignored). A word given
        twice keeps its first row (the more frequent one, in a file in frequency order).

        Raises:
            DataError: one line naming the file (and line): nothing at ``path``, a folder without vectors.txt, a
                row with the wrong number of values or a value that is not a number, text that is not UTF-8, a
                header whose count does not match the rows.
        """
        file = vectors_file(path)
        words: list[str] = []
        values: list[str] = []
        seen: set[str] = set()
        dimension: int | None = None
        announced: int | None = None
        rows = 0
        with _open_binary(file) as handle:
            for line_number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8").rstrip()
                except UnicodeDecodeError as error:
                    raise DataError(f"{file}:{line_number}: not UTF-8 text ({error.reason})") from None
                if not line:
                    continue
                word, _, rest = line.partition(" ")
                if line_number == 1 and word.isdigit() and rest.isdigit():
                    announced, dimension = int(word), int(rest)
                    continue
                count = rest.count(" ") + 1 if rest else 0
                if dimension is None:
                    dimension = count
                    if dimension == 0:
                        raise DataError(f"{file}:{line_number}: expected a word and its values, found {line[:40]!r}")
                if count != dimension:
                    raise DataError(
                        f"{file}:{line_number}: expected a word and {dimension} values, found {count} values"
                    )
                rows += 1
                if word in seen:
                    continue
                seen.add(word)
                words.append(word)
                values.append(rest)
        if announced is not None and rows != announced:
            raise DataError(f"{file}: the header announces {announced} vectors, the file holds {rows}")
        if not words:
            raise DataError(f"{file}: no word vectors in the file")
        assert dimension is not None
        return cls(words, _parse_values(file, values, dimension))

    def save_word2vec_format(self, path: str | Path, significant_digits: int = 9) -> None:
        """Write the vectors in word2vec text format ("<count> <dimension>", then "word v1 ... vd" per line, in
        row order), atomically: a crash leaves the old file or the new one. gensim reads it with
        ``KeyedVectors.load_word2vec_format(path, binary=False)``; a path ending in ``.gz`` is gzipped.

        Args:
            path: the file to write.
            significant_digits: digits per value; 9 (the default) reads back as exactly the same float32 values,
                fewer makes a smaller file.

        Raises:
            ValueError: a word that is empty or holds whitespace (the format separates fields with spaces).
        """
        for word in self.words:
            if not word or _WHITESPACE.search(word):
                raise ValueError(f"cannot write the word {word!r} in word2vec text format: it is empty or has a space")
        row_format = " ".join([f"%.{significant_digits}g"] * self.dimension)
        lines = [f"{len(self.words)} {self.dimension}\n"]
        lines.extend(f"{word} {row_format % tuple(row)}\n" for word, row in zip(self.words, self.vectors.tolist()))
        data = "".join(lines).encode("utf-8")
        if str(path).endswith(".gz"):
            data = gzip.compress(data, compresslevel=6, mtime=0)
        atomic_write_bytes(path, data)

    # ---- Neighbours ----

    def similarity(self, first: str, second: str) -> float:
        """The cosine of two words' vectors."""
        unit = self.unit_vectors
        return float(unit[self.row(first)] @ unit[self.row(second)])

    def most_similar(
        self,
        positive: str | Sequence[str] = (),
        negative: str | Sequence[str] = (),
        topn: int = 10,
        restrict_vocab: int | None = None,
    ) -> list[tuple[str, float]]:
        """The ``topn`` words closest by cosine to the mean of the positive words' unit vectors minus the negative
        words' (gensim's 3CosAdd: ``most_similar(["king", "woman"], ["man"])`` answers king - man + woman), best
        first, leaving out the query words.

        Args:
            positive: words that pull (a single word may be given as a string).
            negative: words that push away.
            topn: how many neighbours.
            restrict_vocab: look for neighbours among the first this many words only (the most frequent ones).

        Raises:
            UnknownWordError: a query word the vectors do not have (a KeyError; the message names it).
            ValueError: no query word at all.
        """
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive and not negative:
            raise ValueError("most_similar needs at least one positive or negative word")
        rows = [self.row(word) for word in (*positive, *negative)]
        weights = np.array([1.0] * len(positive) + [-1.0] * len(negative), dtype=np.float32)
        unit = self.unit_vectors
        query = _normalise(weights @ unit[rows] / len(rows))
        candidates = unit[:restrict_vocab] if restrict_vocab is not None else unit
        if topn < 1 or len(candidates) == 0:
            return []
        scores = candidates @ query
        excluded = set(rows)
        wanted = min(len(scores), topn + len(excluded))
        best = np.argpartition(-scores, wanted - 1)[:wanted]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.words[row], float(scores[row])) for row in best if row not in excluded][:topn]


def most_similar(
    vectors: WordVectors,
    positive: str | Sequence[str],
    negative: str | Sequence[str] = (),
    topn: int = 10,
    restrict_vocab: int | None = None,
) -> list[tuple[str, float]]:
    """:meth:`WordVectors.most_similar` as a function: the ``topn`` neighbours of positive - negative, by cosine."""
    return vectors.most_similar(positive, negative, topn=topn, restrict_vocab=restrict_vocab)


def vectors_file(path: str | Path) -> Path:
    """The vector file ``path`` names: the file itself, or the ``vectors.txt`` of a folder; DataError (one line)
    when there is nothing there, or a folder without vectors.txt."""
    path = Path(path)
    if path.is_dir():
        if not (path / VECTORS_FILE).is_file():
            raise DataError(f"{path}: no {VECTORS_FILE} in this folder (not an nlpkit word-vector folder)")
        return path / VECTORS_FILE
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder")
    return path


# ---- Queries ----


def parse_query(text: str) -> tuple[list[str], list[str]]:
    """The positive and negative words of a query: ``"king - man + woman"`` -> (["king", "woman"], ["man"]),
    ``"king"`` -> (["king"], []). Operators stand apart, with spaces around them (words may hold hyphens: "x-ray");
    words side by side with no operator are all positive, and a leading "-" makes the first word negative.

    Raises:
        ValueError: an empty query, two operators in a row, or an operator with no word after it.
    """
    tokens = text.split()
    if not tokens:
        raise ValueError("an empty query: give a word, or an analogy such as 'king - man + woman'")
    positive: list[str] = []
    negative: list[str] = []
    operator: str | None = None
    for token in tokens:
        if token in OPERATORS:
            if operator is not None:
                raise ValueError(f"two operators in a row in the query {text!r}")
            operator = token
            continue
        (negative if operator == "-" else positive).append(token)
        operator = None
    if operator is not None:
        raise ValueError(f"the query {text!r} ends with {operator!r}: a word must follow it")
    return positive, negative


def group_queries(arguments: Iterable[str]) -> list[str]:
    """The queries that command-line arguments make: each argument is a query (a word, or a quoted analogy such as
    "king - man + woman"), and a lone "+" or "-" argument joins its neighbours into one query, so that
    ``king - man + woman paris`` is two queries, "king - man + woman" and "paris". Each is returned with single
    spaces; a malformed one raises ValueError (see :func:`parse_query`)."""
    queries: list[list[str]] = []
    joining = False
    for argument in arguments:
        tokens = argument.split()
        if not tokens:
            continue
        if tokens == [tokens[0]] and tokens[0] in OPERATORS:
            if not queries:
                queries.append([])
            queries[-1].append(tokens[0])
            joining = True
        elif joining:
            queries[-1].extend(tokens)
            joining = tokens[-1] in OPERATORS
        else:
            queries.append(tokens)
            joining = tokens[-1] in OPERATORS
    texts = [" ".join(tokens) for tokens in queries]
    for text in texts:
        parse_query(text)
    if not texts:
        raise ValueError("no query: give a word, or an analogy such as king - man + woman")
    return texts


# ---- Evaluations ----


def evaluate_analogies(
    vectors: WordVectors | str | Path,
    path: str | Path,
    restrict_vocab: int | None = 300000,
    case_insensitive: bool = True,
) -> dict[str, float]:
    """Accuracy on an analogy file (Google's questions-words.txt: ": section" lines, then "a b c d" lines meaning
    a is to b as c is to d), as gensim's ``evaluate_word_analogies`` counts it: the answer to a question is the
    nearest word to b - a + c (3CosAdd, by cosine) among the first ``restrict_vocab`` words, other than a, b and c
    (looking at the five nearest, as gensim does), and a question with a word outside those words is skipped.

    All the questions of a chunk are answered by one matrix product (19,544 questions on a 30k vocabulary take
    seconds).

    Args:
        vectors: the vectors (or a path :meth:`WordVectors.load` reads).
        path: the analogy file.
        restrict_vocab: only the first this many words count (None: all).
        case_insensitive: compare words upper-cased, the first (most frequent) case form standing for them all.

    Returns:
        ``analogy_accuracy`` (correct / questions answered), ``analogy_coverage`` (questions answered / questions),
        and ``analogy_semantic_accuracy`` / ``analogy_syntactic_accuracy`` (the sections whose names start with
        "gram" are the syntactic ones). An accuracy with no question answered is 0.0, as in gensim.

    Raises:
        DataError: a question before the first section line (naming the file and line), or an unreadable file.
    """
    vectors = _as_word_vectors(vectors)
    fold, known = _restricted_vocabulary(vectors, restrict_vocab, case_insensitive)
    sections = _read_analogies(Path(path), fold)
    unit = vectors.unit_vectors[:restrict_vocab]
    folded_words = [fold(word) for word in vectors.words[: len(unit)]]
    totals = {"semantic": [0, 0], "syntactic": [0, 0]}  # correct, answered
    questions = 0
    for name, section in sections:
        questions += len(section)
        answerable = [question for question in section if all(word in known for word in question)]
        if not answerable:
            continue
        kind = "syntactic" if name.startswith("gram") else "semantic"
        totals[kind][0] += _count_correct(answerable, known, unit, folded_words)
        totals[kind][1] += len(answerable)
    correct = totals["semantic"][0] + totals["syntactic"][0]
    answered = totals["semantic"][1] + totals["syntactic"][1]
    return {
        "analogy_accuracy": _ratio(correct, answered),
        "analogy_coverage": _ratio(answered, questions),
        "analogy_semantic_accuracy": _ratio(*totals["semantic"]),
        "analogy_syntactic_accuracy": _ratio(*totals["syntactic"]),
    }


def evaluate_similarity(
    vectors: WordVectors | str | Path,
    path: str | Path,
    name: str,
    restrict_vocab: int | None = 300000,
    case_insensitive: bool = True,
) -> dict[str, float]:
    """How well the cosines of word pairs rank like people's similarity scores, as gensim's
    ``evaluate_word_pairs`` measures it: Spearman's rank correlation (``scipy.stats.spearmanr``) over the pairs
    whose two words are among the first ``restrict_vocab`` words; the other pairs are skipped.

    The file has one pair a line, "word1<TAB>word2<TAB>score", after '#' comment lines (wordsim353.tsv,
    simlex999.txt); a line that does not read so is skipped, as in gensim.

    Returns:
        ``{name}_spearman`` (NaN when fewer than two pairs are known) and ``{name}_coverage`` (pairs known / pairs).
    """
    from scipy.stats import spearmanr

    vectors = _as_word_vectors(vectors)
    fold, known = _restricted_vocabulary(vectors, restrict_vocab, case_insensitive)
    gold: list[float] = []
    model: list[float] = []
    pairs = 0
    unit = vectors.unit_vectors
    for line in _read_lines(Path(path)):
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        try:
            score = float(fields[2])
        except ValueError:
            continue
        pairs += 1
        first, second = fold(fields[0]), fold(fields[1])
        if first in known and second in known:
            gold.append(score)
            model.append(float(unit[known[first]] @ unit[known[second]]))
    spearman = float(spearmanr(gold, model)[0]) if len(gold) >= 2 else float("nan")
    return {f"{name}_spearman": spearman, f"{name}_coverage": _ratio(len(gold), pairs)}


def evaluate_word_vectors(
    vectors: WordVectors | str | Path,
    evaluation_dir: str | Path,
    restrict_vocab: int | None = 300000,
    case_insensitive: bool = True,
) -> dict[str, float]:
    """Every evaluation whose file is in ``evaluation_dir``: questions-words.txt (``analogy_*``), wordsim353.tsv
    (``wordsim353_*``) and simlex999.txt (``simlex999_*``); an absent file is skipped.

    Raises:
        DataError: ``evaluation_dir`` is not a folder.
    """
    folder = Path(evaluation_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (the word-vector evaluation sets)")
    vectors = _as_word_vectors(vectors)
    metrics: dict[str, float] = {}
    if (folder / ANALOGY_FILE).is_file():
        metrics.update(evaluate_analogies(vectors, folder / ANALOGY_FILE, restrict_vocab, case_insensitive))
    for name, file in SIMILARITY_FILES.items():
        if (folder / file).is_file():
            metrics.update(evaluate_similarity(vectors, folder / file, name, restrict_vocab, case_insensitive))
    return metrics


# ---- Helpers ----


def _as_word_vectors(vectors: WordVectors | str | Path) -> WordVectors:
    return vectors if isinstance(vectors, WordVectors) else WordVectors.load(vectors)


def _restricted_vocabulary(
    vectors: WordVectors, restrict_vocab: int | None, case_insensitive: bool
) -> tuple[Any, dict[str, int]]:
    """The case folding and gensim's ``ok_vocab``: folded word -> row of its first form among the first
    ``restrict_vocab`` words."""
    fold = str.upper if case_insensitive else _same
    known: dict[str, int] = {}
    for row, word in enumerate(vectors.words[:restrict_vocab]):
        known.setdefault(fold(word), row)
    return fold, known


def _same(word: str) -> str:
    return word


def _read_analogies(path: Path, fold: Any) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """The sections of an analogy file, each a name and its questions (folded); lines that are not four words
    are skipped, as in gensim."""
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    for line_number, line in enumerate(_read_lines(path), start=1):
        if line.startswith(": "):
            sections.append((line[2:].strip(), []))
            continue
        words = line.split()
        if len(words) != 4:
            continue
        if not sections:
            raise DataError(f"{path}:{line_number}: a question before the first ': section' line")
        a, b, c, expected = (fold(word) for word in words)
        sections[-1][1].append((a, b, c, expected))
    return sections


def _count_correct(
    questions: list[tuple[str, str, str, str]], known: dict[str, int], unit: np.ndarray, folded_words: list[str]
) -> int:
    """How many questions 3CosAdd answers right, a chunk of questions per matrix product.

    As in gensim, the answer is the nearest word other than the rows of a, b and c whose folded form is none of
    a, b and c, looked for among the five nearest (when all five are case forms of a, b or c, the fifth is the
    answer, and it is wrong). The nearest word almost always is the answer, so it is found by an argmax over each
    row of scores; the five nearest are sorted out only for the rare question whose nearest word is a case form of
    a query word (a full sort or partition of every row would take ten times longer).
    """
    correct = 0
    rows = np.array([[known[word] for word in question] for question in questions], dtype=np.int64)
    for start in range(0, len(rows), _ANALOGY_CHUNK):
        chunk = rows[start : start + _ANALOGY_CHUNK]
        queries = unit[chunk[:, 1]] - unit[chunk[:, 0]] + unit[chunk[:, 2]]
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        queries /= np.where(norms > 0, norms, 1)
        scores = queries @ unit.T
        scores[np.arange(len(chunk))[:, None], chunk[:, :3]] = -np.inf
        nearest = scores.argmax(axis=1).tolist()
        for line, (a, b, c, expected) in enumerate(questions[start : start + _ANALOGY_CHUNK]):
            predicted = folded_words[nearest[line]]
            if predicted in (a, b, c):
                predicted = _first_answer(scores[line], folded_words, (a, b, c))
            correct += predicted == expected
    return correct


def _first_answer(scores: np.ndarray, folded_words: list[str], ignored: tuple[str, str, str]) -> str:
    """gensim's answer among the five nearest rows: the first whose folded word is not ignored, else the fifth."""
    wanted = min(5, len(scores))
    best = np.argpartition(-scores, wanted - 1)[:wanted]
    predicted = ""
    for row in best[np.argsort(-scores[best], kind="stable")].tolist():
        predicted = folded_words[row]
        if predicted not in ignored:
            break
    return predicted


def _normalise(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _parse_values(file: Path, values: list[str], dimension: int) -> np.ndarray:
    """The rows' values as one (rows, dimension) float32 array, parsed by numpy in one call; a row holding
    something that is not a number is then found, and named, by parsing row by row."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # older numpy: a warning, and the values read so far
        try:
            flat = np.fromstring(" ".join(values), dtype=np.float32, sep=" ")
        except ValueError:  # numpy >= 2.3: "could not be read to its end"
            flat = None
    if flat is not None and flat.size == len(values) * dimension:
        return flat.reshape(len(values), dimension)
    for row, text in enumerate(values):
        for value in text.split(" "):
            try:
                float(value)
            except ValueError:
                raise DataError(f"{file}:{_line_of_row(file, row)}: {value!r} is not a number") from None
    raise DataError(f"{file}: the values could not be read as numbers")


def _line_of_row(file: Path, row: int) -> int:
    """The line number of the ``row``-th vector (counting from 0) of ``file``, past the header and blank lines and
    the later rows of repeated words (for an error message only)."""
    seen: set[str] = set()
    kept = -1
    with _open_binary(file) as handle:
        for line_number, raw in enumerate(handle, start=1):
            line = raw.decode("utf-8").rstrip()
            word, _, rest = line.partition(" ")
            if not line or (line_number == 1 and word.isdigit() and rest.isdigit()) or word in seen:
                continue
            seen.add(word)
            kept += 1
            if kept == row:
                return line_number
    return 0


def _open_binary(path: Path) -> Any:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 text file (``.gz`` too) without their line ends; DataError when it cannot be read."""
    try:
        with _open_binary(path) as handle:
            for line_number, raw in enumerate(handle, start=1):
                try:
                    yield raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as error:
                    raise DataError(f"{path}:{line_number}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read it ({error.strerror or error})") from None


__all__ = [
    "ANALOGY_FILE",
    "SIMILARITY_FILES",
    "VECTORS_FILE",
    "UnknownWordError",
    "WordVectors",
    "evaluate_analogies",
    "evaluate_similarity",
    "evaluate_word_vectors",
    "group_queries",
    "most_similar",
    "parse_query",
    "vectors_file",
]
