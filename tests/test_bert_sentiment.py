"""The main job end to end: `accelerate launch recipes/bert_sentiment.py` on the quickstart config, with few steps."""

import json
import runpy
import subprocess
import sys

import pytest
import transformers

from nlpkit.config import ConfigError
from tests.helpers import REPO_ROOT, last_json_line, launch_recipe, save_tiny_bert

RECIPE = str(REPO_ROOT / "recipes" / "bert_sentiment.py")
FAST = [
    "--max_train_samples", "64", "--max_eval_samples", "32", "--per_device_train_batch_size", "8",
    "--max_seq_length", "32", "--logging_steps", "1", "--sample_texts", "What a wonderful day!", "This is awful.",
]  # fmt: skip


def launch(*args, config_file="cpu.yaml", check=True):
    return launch_recipe(RECIPE, *args, config_file=config_file, check=check)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("bert") / "out"
    result = launch(*FAST, "--output_dir", str(output_dir), "--max_steps", "4", "--save_strategy", "steps",
                    "--save_steps", "2", "--eval_strategy", "steps", "--eval_steps", "2")  # fmt: skip
    return output_dir, result


def test_quickstart_writes_the_whole_output_folder(quickstart):
    output_dir, result = quickstart
    for name in ("model.safetensors", "config.json", "tokenizer.json", "all_results.json", "run_config.yaml",
                 "README.md", "loss_curves.png", "checkpoint-2", "checkpoint-4"):  # fmt: skip
        assert (output_dir / name).exists(), name
    config = json.loads((output_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    results = json.loads((output_dir / "all_results.json").read_text())
    assert {"eval_accuracy", "eval_f1", "eval_precision", "eval_recall", "train_loss"} <= results.keys()
    assert (output_dir / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (output_dir / "README.md").read_text()
    assert "library_name: transformers" in card and "model-index:" in card and "- nlpkit" in card
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card
    assert f"| accuracy | {results['eval_accuracy']:.4f} |" in card
    # The card's training record: an evaluation every 2 steps, the data, the labels and what the run trained with.
    table = card.split("### Results per evaluation\n\n")[1].split("\n\n")[0].splitlines()
    assert "| Step" in table[0] and "Validation Loss" in table[0] and "accuracy" in table[0]
    assert [row.split("|")[1].strip() for row in table[2:]] == ["2", "4"]
    assert "![loss curves](loss_curves.png)" in card and "- Labels (2, by id): `negative`, `positive`" in card
    assert "- Data sizes: train 64 rows, validation 32 rows" in card
    assert "- Epochs trained: " in card and "as configured (max_steps 4)" in card
    assert f"- Transformers {transformers.__version__}\n" in card and "- nlpkit " in card
    assert "Predictions:" in result.stdout and "What a wonderful day!" in result.stdout
    assert "eval_accuracy" in result.stdout
    # The run record only: no staging folder or temporary file left behind.
    assert [p.name for p in output_dir.glob(".*")] == [".nlpkit_run.json"]


def test_saved_model_agrees_with_pipeline_and_cli(quickstart, tmp_path):
    output_dir, _ = quickstart
    texts = ["We went to Bali for holiday. It was fantastic!", "My neighbour won the jackpot! not me.", "Meh."]
    code = f"""
import json, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
texts = {texts!r}
model = AutoModelForSequenceClassification.from_pretrained({str(output_dir)!r})
tokenizer = AutoTokenizer.from_pretrained({str(output_dir)!r})
with torch.no_grad():
    logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
direct = [model.config.id2label[i] for i in logits.argmax(-1).tolist()]
piped = [out["label"] for out in pipeline("text-classification", model={str(output_dir)!r})(texts)]
print(json.dumps({{"direct": direct, "pipeline": piped}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    loaded = last_json_line(result.stdout)
    cli = subprocess.run(
        [sys.executable, "-m", "nlpkit.cli", "predict", str(output_dir), *texts, "--json"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    predicted = [json.loads(line) for line in cli.stdout.splitlines() if line.startswith("{")]
    assert [p["label"] for p in predicted] == loaded["direct"] == loaded["pipeline"]
    assert all(0.5 <= p["score"] <= 1.0 for p in predicted)


def test_resume_auto_continues_from_last_checkpoint(quickstart):
    output_dir, _ = quickstart
    result = launch(*FAST, "--output_dir", str(output_dir), "--max_steps", "6", "--save_strategy", "steps",
                    "--save_steps", "2", "--eval_strategy", "no", "--resume_from_checkpoint", "auto")  # fmt: skip
    assert f"Resuming from {output_dir / 'checkpoint-4'}" in result.stdout
    state = json.loads((output_dir / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    steps_logged = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert steps_logged == [1, 2, 3, 4, 5, 6]  # the first four come from the resumed checkpoint's state


def test_existing_checkpoints_without_resume_stop_before_work(quickstart, monkeypatch):
    output_dir, _ = quickstart
    loaded = []
    monkeypatch.setattr("nlpkit.pretrained.resolve_model_path", lambda name: loaded.append(name) or name)
    main = runpy.run_path(RECIPE)["main"]  # imports the patched function
    with pytest.raises(ConfigError) as error:
        main([*FAST, "--output_dir", str(output_dir), "--resume_from_checkpoint", "none"])
    assert f"output_dir {output_dir} already holds checkpoint-" in str(error.value)
    assert "--resume_from_checkpoint auto" in str(error.value)
    assert not loaded


def test_bad_key_exits_with_one_line_before_loading(tmp_path):
    result = subprocess.run(
        [sys.executable, RECIPE, "--output_dir", str(tmp_path / "o"), "--learnig_rate", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: command line: unknown argument '--learnig_rate' (did you mean 'learning_rate'?)"
    )
    assert "Using the copy" not in result.stdout  # nothing was loaded


def test_two_cpu_ranks_train_with_the_loss_of_one_process(tmp_path):
    encoder = str(save_tiny_bert(tmp_path / "tiny_bert"))  # DDP's loss scaling does not depend on the encoder's size
    common = [*FAST, "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no", "--sample_texts", "ok",
              "--model_name_or_path", encoder]  # fmt: skip
    two = launch(*common, "--output_dir", str(tmp_path / "two"), "--per_device_train_batch_size", "4",
                 config_file="multi_cpu.yaml")  # fmt: skip
    launch(*common, "--output_dir", str(tmp_path / "one"), "--per_device_train_batch_size", "8")
    assert "[rank 0/2] trained 2 steps on 8 batches per epoch" in two.stdout
    assert "[rank 1/2] trained 2 steps on 8 batches per epoch" in two.stdout

    def first_loss(run_dir):
        history = json.loads((run_dir / "trainer_state_log.json").read_text())
        return next(entry for entry in history if "loss" in entry)

    two_ranks, one_process = first_loss(tmp_path / "two"), first_loss(tmp_path / "one")
    assert two_ranks["epoch"] == one_process["epoch"] == 1 / 8  # same global batch: 64 rows in 8 steps
    # Same weights, same 8 rows: only dropout differs. A doubled DDP loss would be ~1.39 against ~0.69.
    assert two_ranks["loss"] == pytest.approx(one_process["loss"], rel=0.03)
