"""recipes/multitask.py end to end: the tasks' config checked before anything loads, a tiny BERT-family encoder and a
BiLSTM trained with two heads, every head scored, and each head served and exported on its own. (The model itself:
test_multitask_model.py; PCGrad, uncertainty weighting, sampling: test_multitask_training.py.)"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from nlpkit.cli import main as cli_main
from nlpkit.config import ConfigError
from tests.helpers import save_tiny_bert

REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPE = REPO_ROOT / "recipes" / "multitask.py"

SENTIMENT = {"kind": "sequence_classification", "train_file": "nlpkit:sentiment/train.jsonl",
             "validation_file": "nlpkit:sentiment/test.jsonl", "text_column": "text", "label_column": "label",
             "max_train_samples": 48, "max_eval_samples": 16}  # fmt: skip
ENTITIES = {"kind": "token_classification", "train_file": "nlpkit:ner/train.txt",
            "validation_file": "nlpkit:ner/valid.txt", "max_train_samples": 48, "max_eval_samples": 16}  # fmt: skip
FAST = ["--max_steps", "6", "--eval_strategy", "no", "--save_strategy", "no", "--logging_steps", "2",
        "--per_device_train_batch_size", "8", "--disable_tqdm", "true", "--report_to", "none"]  # fmt: skip


def recipe_main(argv: list[str]) -> dict:
    return runpy.run_path(str(RECIPE))["main"](argv)


def tasks(**changes: dict) -> str:
    return json.dumps({"sentiment": SENTIMENT, "entities": ENTITIES, **changes})


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def trained(tiny_encoder, tmp_path_factory) -> tuple[Path, dict]:
    output_dir = tmp_path_factory.mktemp("multitask") / "out"
    results = recipe_main(["--model_name_or_path", str(tiny_encoder), "--tasks", tasks(),
                           "--output_dir", str(output_dir), "--loss_combination", "uncertainty", *FAST])  # fmt: skip
    return output_dir, results


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sentiment": {**SENTIMENT, "kind": "summary"}}, "tasks.sentiment: 'kind' must be one of"),
        ({"sentiment": {**SENTIMENT, "text_colum": "text"}}, "unknown key 'text_colum'.*did you mean 'text_column'"),
        ({"sentiment": {**SENTIMENT, "crf": True}}, "tasks.sentiment: 'crf' is true or false, for token_class"),
        ({"entities": {**ENTITIES, "max_train_samples": 0}}, "tasks.entities: 'max_train_samples' must be at least"),
    ],
)
def test_a_bad_task_setting_is_one_line_naming_the_task_before_anything_loads(changes, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        recipe_main(["--tasks", tasks(**changes), "--output_dir", str(tmp_path / "out"), "--model", "bilstm"])
    assert not (tmp_path / "out").exists()  # refused before the output folder is made


def test_loss_weights_must_name_every_task_and_pcgrad_needs_mixed_batches(tmp_path):
    common = ["--tasks", tasks(), "--output_dir", str(tmp_path / "out"), "--model", "bilstm"]
    with pytest.raises(ConfigError, match="'loss_weights' must give a weight to each task: sentiment, entities"):
        recipe_main([*common, "--loss_combination", "weights", "--loss_weights", '{"sentiment": 1}'])
    with pytest.raises(ConfigError, match="pcgrad needs several tasks in a batch"):
        recipe_main([*common, "--loss_combination", "pcgrad", "--task_sampling", "round_robin"])


def test_a_multitask_run_scores_every_head_and_their_mean(trained):
    output_dir, results = trained
    assert {"eval_sentiment_accuracy", "eval_entities_f1", "eval_mean_score", "train_loss"} <= results.keys()
    mean = (results["eval_sentiment_accuracy"] + results["eval_entities_f1"]) / 2
    assert results["eval_mean_score"] == pytest.approx(mean)
    config = json.loads((output_dir / "config.json").read_text())
    assert config["model_type"] == "multitask"
    assert [head["name"] for head in config["heads"]] == ["sentiment", "entities"]
    card = (output_dir / "README.md").read_text()
    assert "uncertainty" in card and "sentiment (sequence_classification)" in card
    # every head's scores, not the speed of its evaluation
    assert f"| sentiment_accuracy | {results['eval_sentiment_accuracy']:.4f} |" in card and "_runtime |" not in card


def test_predict_with_task_runs_that_head_as_the_model_does(trained, capsys):
    output_dir, _ = trained
    text = "A wonderful, warm film."
    capsys.readouterr()
    cli_main(["predict", str(output_dir), text, "--task", "sentiment", "--json"])
    predicted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    from transformers import AutoModel

    model = AutoModel.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    with torch.no_grad():
        logits = model(**tokenizer(text, return_tensors="pt"), task="sentiment").logits
    assert predicted["label"] == model.config.head("sentiment")["labels"][int(logits.argmax())]

    with pytest.raises(SystemExit):
        cli_main(["predict", str(output_dir), text])  # several heads: --task is needed
    assert "pass --task NAME, one of sentiment, entities" in capsys.readouterr().err


def test_an_exported_head_is_a_stock_transformers_classifier_with_the_same_outputs(trained, tmp_path):
    output_dir, _ = trained
    cli_main(["export-head", str(output_dir), "--task", "sentiment", "--output", str(tmp_path / "sentiment")])
    stock = AutoModelForSequenceClassification.from_pretrained(tmp_path / "sentiment").eval()
    assert type(stock).__name__ == "BertForSequenceClassification"
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "sentiment")
    from transformers import AutoModel

    model = AutoModel.from_pretrained(output_dir).eval()
    inputs = tokenizer(["Dull and long.", "A joy."], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(stock(**inputs).logits, model(**inputs, task="sentiment").logits)
    classify = pipeline("text-classification", model=stock, tokenizer=tokenizer)
    assert classify("A joy.")[0]["label"] in model.config.head("sentiment")["labels"]


def test_a_bilstm_encoder_with_a_crf_head_trains_and_its_tagger_exports_alone(tmp_path, capsys):
    output_dir = tmp_path / "out"
    config = REPO_ROOT / "recipes" / "configs" / "multitask" / "quickstart_bilstm.yaml"
    results = recipe_main(["--config", str(config), "--hidden_size", "16", "--embedding_size", "16",
                           "--tasks", tasks(entities={**ENTITIES, "crf": True}), "--output_dir", str(output_dir),
                           "--loss_combination", "pcgrad", *FAST])  # fmt: skip
    assert results["train_steps"] == 6
    cli_main(["export-head", str(output_dir), "--task", "entities", "--output", str(tmp_path / "tagger")])
    capsys.readouterr()
    cli_main(["predict", str(tmp_path / "tagger"), "Maria Kovacs flew to Paris .", "--json"])  # no --task needed
    prediction = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "entities" in prediction


CONFIGS = sorted((REPO_ROOT / "recipes" / "configs" / "multitask").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_every_config_parses_with_local_or_packaged_data(config):
    from nlpkit.config import parse_args
    from nlpkit.tasks import multitask
    from nlpkit.tasks.multitask import bilstm, pretrained
    from nlpkit.training import TrainingArguments

    recipe = runpy.run_path(str(RECIPE))
    parsed = parse_args(
        [recipe["ModelChoice"], pretrained.Arguments, bilstm.Arguments, multitask.Arguments, TrainingArguments],
        ["--config", str(config)],
        defaults=recipe["DEFAULTS"],
    )
    choice, _, _, task_args, _ = parsed.args
    assert choice.model == ("bilstm" if "bilstm" in config.stem else "pretrained")
    assert set(task_args.specs) == {"sentiment", "entities"}
    for spec in task_args.specs.values():
        assert spec.data.train_file.startswith(("nlpkit:", "$NLPKIT_SHARED_DATA/"))
