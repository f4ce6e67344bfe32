"""Data loading: every format, label handling, and a one-line error naming file and row for each bad input."""

import json

import pandas as pd
import pytest

from nlpkit.data import ClassificationDataArguments, DataError, load_classification_data
from nlpkit.data.loading import RESOURCES_DIR

ROWS = [("a lovely day", "pos"), ("a dreadful day", "neg"), ("great food", "pos"), ("cold soup", "neg")] * 5


def write_rows(path, rows=ROWS, text="text", label="label"):
    suffix = path.suffix
    frame = pd.DataFrame(rows, columns=[text, label])
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps({text: t, label: lab}) + "\n" for t, lab in rows))
    elif suffix == ".json":
        path.write_text(json.dumps([{text: t, label: lab} for t, lab in rows]))
    elif suffix == ".parquet":
        frame.to_parquet(path)
    return path


def load(train, validation=None, **kwargs):
    args = ClassificationDataArguments(
        train_file=str(train), validation_file=str(validation) if validation else None, **kwargs
    )
    return load_classification_data(args, seed=0)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_formats(tmp_path, suffix):
    train = write_rows(tmp_path / f"train{suffix}")
    valid = write_rows(tmp_path / f"valid{suffix}", ROWS[:4])
    data = load(train, valid)
    assert data.label_names == ["neg", "pos"]  # sorted distinct values
    assert list(data.raw.splits["train"]["label"])[:2] == [1, 0]
    assert len(data.raw.splits["validation"]) == 4
    assert data.id2label == {0: "neg", 1: "pos"}


def test_seeded_validation_split_and_limits(tmp_path):
    train = write_rows(tmp_path / "train.csv")
    first = load(train, validation_split_percentage=20)
    again = load(train, validation_split_percentage=20)
    assert len(first.raw.splits["validation"]) == 4 and len(first.raw.splits["train"]) == 16
    assert list(first.raw.splits["validation"]["text"]) == list(again.raw.splits["validation"]["text"])
    limited = load(train, max_train_samples=5, max_eval_samples=2)
    assert len(limited.raw.splits["train"]) == 5 and len(limited.raw.splits["validation"]) == 2


def test_integer_labels_with_class_names(tmp_path):
    rows = [("good", 1), ("bad", 0)] * 4
    train = write_rows(tmp_path / "train.tsv", rows, text="sentence")
    data = load(train, text_column="sentence", class_names=["negative", "positive"])
    assert data.label_names == ["negative", "positive"]
    assert data.raw.splits["train"].features["label"].names == ["negative", "positive"]
    assert sorted(set(data.raw.splits["train"]["label"])) == [0, 1]


def test_text_that_looks_like_a_number_stays_text(tmp_path):
    train = write_rows(tmp_path / "train.csv", [("10", "pos"), ("NaN", "neg"), ("ok", "pos"), ("no", "neg")] * 3)
    data = load(train)
    assert "10" in list(data.raw.splits["train"]["text"]) + list(data.raw.splits["validation"]["text"])


def test_packaged_sample_data():
    assert (RESOURCES_DIR / "sentiment" / "train.jsonl").is_file()
    data = load("nlpkit:sentiment/train.jsonl", "nlpkit:sentiment/test.jsonl")
    labels = list(data.raw.splits["train"]["label"])
    assert data.label_names == ["negative", "positive"]
    assert len(labels) >= 400 and abs(sum(labels) * 2 - len(labels)) <= 2  # balanced


def test_missing_column_lists_existing(tmp_path):
    train = write_rows(tmp_path / "train.csv", text="sentence")
    with pytest.raises(DataError) as error:
        load(train)
    assert str(error.value) == f"{train}: no column 'text' (columns: sentence, label)"


def test_empty_split(tmp_path):
    train = write_rows(tmp_path / "train.csv")
    valid = tmp_path / "valid.jsonl"
    valid.write_text("")
    with pytest.raises(DataError, match=rf"{valid}: .*empty"):
        load(train, valid)


def test_label_outside_label_set(tmp_path):
    train = write_rows(tmp_path / "train.csv")
    valid = write_rows(tmp_path / "valid.csv", [("fine", "pos"), ("meh", "neutral")])
    with pytest.raises(DataError) as error:
        load(train, valid)
    assert str(error.value) == f"{valid}, line 3: label 'neutral' is outside the label set ['neg', 'pos']"


def test_integer_label_outside_class_names(tmp_path):
    train = write_rows(tmp_path / "train.tsv", [("good", 1), ("bad", 0), ("odd", 2)] * 2)
    with pytest.raises(DataError, match=r"train.tsv, line 4: label 2 is outside the label set"):
        load(train, class_names=["negative", "positive"])


def test_not_utf8(tmp_path):
    train = tmp_path / "train.csv"
    train.write_bytes(b"text,label\ngood,pos\ncaf\xe9 au lait,neg\n")
    with pytest.raises(DataError) as error:
        load(train)
    assert str(error.value).startswith(f"{train}: not UTF-8 text (line 3:")


def test_empty_text_names_row(tmp_path):
    train = tmp_path / "train.jsonl"
    rows = [{"text": "fine", "label": "pos"}, {"text": "bad", "label": "neg"}, {"text": "   ", "label": "pos"}]
    train.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataError) as error:
        load(train)
    assert str(error.value) == f"{train}, line 3: empty text in column 'text'"


def test_missing_file_and_bad_extension_and_unset_variable(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="file not found"):
        load(tmp_path / "nope.csv")
    odd = tmp_path / "train.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'"):
        load(odd)
    monkeypatch.delenv("NLPKIT_TEST_DATA", raising=False)
    with pytest.raises(DataError, match=r"\$NLPKIT_TEST_DATA is not set"):
        load("$NLPKIT_TEST_DATA/train.csv")


def test_malformed_csv_names_file(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text('text,label\n"unclosed quote,pos\n')
    with pytest.raises(DataError, match=rf"{train}: could not be read as csv"):
        load(train)


def test_no_data_source_is_a_config_error():
    with pytest.raises(ValueError, match="no data: set 'dataset_name'"):
        ClassificationDataArguments()


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_padding_collator_matches_data_collator_with_padding(padding_side):
    import torch
    from transformers import AutoTokenizer, DataCollatorWithPadding

    from nlpkit.data.classification import PaddingCollator
    from nlpkit.pretrained import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("sentence-transformers/all-MiniLM-L6-v2"))
    tokenizer.padding_side = padding_side
    texts = ["a lovely day", "a dreadful, dreadful day with cold soup", "ok"]
    for encoded in (tokenizer(texts), tokenizer(texts, ["great food", "no", "cold soup again"])):  # single, pairs
        features = [{key: values[i] for key, values in encoded.items()} | {"labels": i % 2} for i in range(3)]
        expected = DataCollatorWithPadding(tokenizer)(features)
        batch = PaddingCollator.for_tokenizer(tokenizer)(features)
        assert batch.keys() == expected.keys()
        for key in batch:
            assert torch.equal(batch[key], expected[key]) and batch[key].dtype == expected[key].dtype, key
    with pytest.raises(ValueError, match="special_tokens_mask"):
        PaddingCollator(0)([{"input_ids": [5], "special_tokens_mask": [1]}])
