"""The LSTM recipe end to end: `accelerate launch recipes/lstm_sentiment.py` on the quickstart config, tiny sizes."""

import json
import runpy
import shutil

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from nlpkit import cli
from nlpkit.config import ConfigError
from nlpkit.output_folder import release_all
from tests.helpers import REPO_ROOT, last_json_line, launch_recipe, run_without_nlpkit

RECIPE = str(REPO_ROOT / "recipes" / "lstm_sentiment.py")
TINY = [
    "--max_train_samples", "64", "--max_eval_samples", "32", "--per_device_train_batch_size", "8",
    "--embedding_size", "16", "--hidden_size", "16", "--logging_steps", "1", "--disable_tqdm", "true",
    "--sample_texts", "What a wonderful day!", "This is awful.",
]  # fmt: skip
TEXTS = ["We went to Bali for holiday. It was fantastic!", "My neighbour won the jackpot! not me.", "Meh."]
# Words of the sample data with vectors in the test's word-vector file, and words that are in no vocabulary.
KNOWN_WORDS, UNKNOWN_WORDS = ["the", "film", "great", "terrible", "food"], ["zyzzyva", "quokkas"]


def launch(*args, config_file="cpu.yaml"):
    return launch_recipe(RECIPE, *args, config_file=config_file)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lstm")
    vectors = folder / "vectors.txt"  # GloVe text format, width 16 like the tiny model's embeddings
    vectors.write_text(
        "".join(f"{word} {' '.join(['0.25'] * 16)}\n" for word in [*KNOWN_WORDS, *UNKNOWN_WORDS]), encoding="utf-8"
    )
    output_dir = folder / "out"
    result = launch(*TINY, "--output_dir", str(output_dir), "--word_vectors", str(vectors), "--max_steps", "4",
                    "--save_strategy", "steps", "--save_steps", "2",
                    "--eval_strategy", "steps", "--eval_steps", "2")  # fmt: skip
    return output_dir, result


def test_quickstart_writes_the_whole_output_folder(quickstart):
    output_dir, result = quickstart
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "all_results.json",
                 "run_config.yaml", "README.md", "loss_curves.png", "configuration_lstm_classifier.py",
                 "modeling_lstm_classifier.py", "checkpoint-2/tokenizer.json", "checkpoint-4"):  # fmt: skip
        assert (output_dir / name).exists(), name
    config = json.loads((output_dir / "config.json").read_text())
    assert config["model_type"] == "lstm_classifier"
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert (config["embedding_size"], config["hidden_size"]) == (16, 16)
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    assert config["vocab_size"] == len(tokenizer) and config["pad_token_id"] == tokenizer.pad_token_id == 0
    # The tokenizer was trained on the 64 training rows only (min_frequency 1, lowercase): their words and no others.
    rows = [json.loads(line)["text"] for line in (REPO_ROOT / "nlpkit/resources/sentiment/train.jsonl").open()]
    seen, unseen = (sum(tokenizer(texts)["input_ids"], []) for texts in (rows[:64], rows[64:]))
    assert tokenizer.unk_token_id not in seen and tokenizer.unk_token_id in unseen

    in_vocabulary = [word for word in KNOWN_WORDS if word in tokenizer.get_vocab()]
    assert len(in_vocabulary) >= 3
    assert f"Loaded {len(in_vocabulary)} word vectors from" in result.stdout

    results = json.loads((output_dir / "all_results.json").read_text())
    assert {"eval_accuracy", "eval_f1", "train_loss"} <= results.keys()
    card = (output_dir / "README.md").read_text()
    assert "trained from scratch" in card and "- nlpkit" in card and "base_model" not in card
    assert 'pipeline("text-classification", model="path/to/this/folder", trust_remote_code=True)' in card
    assert f"| word_vectors | vectors.txt ({len(in_vocabulary)} of {len(tokenizer)} words found) |" in card
    assert "Predictions:" in result.stdout and "What a wonderful day!" in result.stdout
    assert [p.name for p in output_dir.glob(".*")] == [".nlpkit_run.json"]


def test_saved_folder_works_without_nlpkit(quickstart, tmp_path):
    output_dir, _ = quickstart
    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    with torch.no_grad():
        expected = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits
    output = run_without_nlpkit(
        f"""
        import json, torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
        folder, texts = {str(output_dir)!r}, {TEXTS!r}
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        with torch.no_grad():
            logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
        classify = pipeline("text-classification", model=folder, trust_remote_code=True)
        print(json.dumps({{"module": type(model).__module__, "logits": logits.tolist(), "pipeline": classify(texts)}}))
        """,
        tmp_path,
    )
    loaded = last_json_line(output)
    assert not loaded["module"].startswith("nlpkit")
    torch.testing.assert_close(torch.tensor(loaded["logits"]), expected)
    probabilities = expected.softmax(-1)
    for prediction, row in zip(loaded["pipeline"], probabilities):
        assert prediction["label"] == model.config.id2label[row.argmax().item()]
        assert prediction["score"] == pytest.approx(row.max().item(), abs=1e-5)


def test_nlpkit_predict_labels_with_the_saved_folder(quickstart, capsys):
    output_dir, _ = quickstart
    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    with torch.no_grad():
        probabilities = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits.softmax(-1)
    cli.main(["predict", str(output_dir), *TEXTS, "--json"])
    predicted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [p["text"] for p in predicted] == TEXTS
    assert [p["label"] for p in predicted] == [model.config.id2label[i] for i in probabilities.argmax(-1).tolist()]
    assert [p["score"] for p in predicted] == pytest.approx(probabilities.max(-1).values.tolist(), abs=1e-5)


def test_resume_keeps_the_checkpoint_tokenizer(quickstart, tmp_path):
    output_dir = tmp_path / "out"
    shutil.copytree(quickstart[0], output_dir)
    checkpoint_vocab = AutoTokenizer.from_pretrained(output_dir / "checkpoint-4").get_vocab()
    main = runpy.run_path(RECIPE)["main"]
    # A new tokenizer of 50 tokens would not fit the checkpoint's embeddings: the run must reuse the saved one.
    results = main([*TINY, "--output_dir", str(output_dir), "--vocab_size", "50", "--max_steps", "6",
                    "--save_strategy", "no", "--eval_strategy", "no", "--resume_from_checkpoint", "auto"])  # fmt: skip
    assert results["epoch"] == 0.75  # steps 5 and 6 of 8 per epoch
    assert AutoTokenizer.from_pretrained(output_dir).get_vocab() == checkpoint_vocab


def test_word_vectors_problems_are_config_errors(tmp_path):
    main = runpy.run_path(RECIPE)["main"]
    args = [*TINY, "--output_dir", str(tmp_path / "out")]
    with pytest.raises(ConfigError, match="word_vectors: no file at .*missing.txt"):
        main([*args, "--word_vectors", str(tmp_path / "missing.txt")])
    (tmp_path / "wide.txt").write_text("the " + " ".join(["0.5"] * 50) + "\n")
    with pytest.raises(ConfigError, match=r"word_vectors: .*wide.txt:1: expected a word and 16 values, found 50"):
        main([*args, "--word_vectors", str(tmp_path / "wide.txt")])
    release_all()  # what the end of a recipe's process does: a run that did nothing leaves no folder
    assert not (tmp_path / "out").exists()  # both stop before any training


def test_two_cpu_ranks_train_with_the_loss_of_one_process(tmp_path):
    # No dropout: the two ranks' 4 rows each then give exactly the loss of one process's 8 rows.
    common = [*TINY, "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no", "--sample_texts", "ok",
              "--embedding_dropout", "0", "--classifier_dropout", "0"]  # fmt: skip
    two = launch(*common, "--output_dir", str(tmp_path / "two"), "--per_device_train_batch_size", "4",
                 config_file="multi_cpu.yaml")  # fmt: skip
    main = runpy.run_path(RECIPE)["main"]
    main([*common, "--output_dir", str(tmp_path / "one"), "--per_device_train_batch_size", "8"])
    assert "[rank 0/2] trained 2 steps on 8 batches per epoch" in two.stdout
    assert "[rank 1/2] trained 2 steps on 8 batches per epoch" in two.stdout
    assert "unused" not in two.stdout + two.stderr  # DDP's find_unused_parameters warning

    def losses(run_dir):
        history = json.loads((run_dir / "trainer_state_log.json").read_text())
        return [(entry["epoch"], entry["loss"]) for entry in history if "loss" in entry]

    two_ranks, one_process = losses(tmp_path / "two"), losses(tmp_path / "one")
    assert [epoch for epoch, _ in two_ranks] == [epoch for epoch, _ in one_process] == [1 / 8, 2 / 8]
    # Step 1: same weights, same 8 rows (a doubled DDP loss would be ~1.39 against ~0.69). Step 2: same update.
    assert [loss for _, loss in two_ranks] == pytest.approx([loss for _, loss in one_process], rel=1e-3)
