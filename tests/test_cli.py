"""The `nlpkit` command: help without torch, models registered when a subcommand runs, user errors in one line.

The console script (pyproject: `nlpkit = "nlpkit.cli:main"`) is run as installed next to this Python, or through
runpy in a Python that then reports what it imported. No timings are asserted (the machine is noisy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from nlpkit import cli
from nlpkit.models import MODEL_FAMILIES
from tests.helpers import REPO_ROOT, console_script, last_json_line, saved_classifier

SUBCOMMANDS = ("predict", "generate", "push", "similar")

# Runs the console script as `nlpkit ARGS...` would (sys.argv[0] names the script), then reports on this process.
RUN_CONSOLE_SCRIPT = """
import json, runpy, sys
sys.argv = sys.argv[1:]  # [script, *args], as the console command sees them
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
    status = 0
except SystemExit as exit:
    status = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
registered = None
if "transformers" in sys.modules:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from nlpkit.models import MODEL_FAMILIES
    registered = [family.model_type for family in MODEL_FAMILIES if family.model_type in CONFIG_MAPPING]
print(json.dumps({"status": status, "torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
                  "registered": registered}))
"""


def child_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


def run_console_script(*args: str) -> tuple[dict, subprocess.CompletedProcess]:
    """Run `nlpkit ARGS` through runpy; return the report on the process, and the process."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_CONSOLE_SCRIPT, str(console_script()), *args],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return last_json_line(result.stdout), result


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], ["usage: nlpkit", *SUBCOMMANDS]),
        (["predict", "--help"], ["usage: nlpkit predict", "model_dir", "--json", "--batch-size"]),
        (["push", "--help"], ["usage: nlpkit push", "repo_id", "--commit-message"]),
    ],
    ids=["nlpkit", "predict", "push"],
)
def test_help_imports_neither_torch_nor_transformers(args, expected):
    report, result = run_console_script(*args)
    assert report["status"] == 0
    for text in expected:
        assert text in result.stdout
    assert not report["torch"] and not report["transformers"], report


def test_the_installed_command_prints_its_usage():
    result = subprocess.run(
        [str(console_script()), "--help"], env=child_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: nlpkit")
    assert all(command in result.stdout for command in SUBCOMMANDS)


def test_a_user_error_ends_the_command_with_one_line_and_status_2(tmp_path):
    missing = tmp_path / "no-such-model"
    result = subprocess.run(
        [str(console_script()), "predict", str(missing), "some text"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"nlpkit predict: error: model folder not found: {missing}"]


def test_a_subcommand_registers_the_models_before_it_loads_one(tmp_path):
    """`nlpkit predict` loads an nlpkit model without trust_remote_code: the command registered the families."""
    model, tokenizer = saved_classifier(tmp_path / "model")
    report, result = run_console_script("predict", str(tmp_path / "model"), "a great film", "--json")
    assert report["status"] == 0, result.stderr
    assert report["registered"] == [family.model_type for family in MODEL_FAMILIES]
    with torch.no_grad():
        probabilities = model(**tokenizer("a great film", return_tensors="pt")).logits.softmax(-1)[0]
    (prediction,) = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"text"')]
    assert prediction["label"] == model.config.id2label[int(probabilities.argmax())]
    assert prediction["score"] == pytest.approx(probabilities.max().item(), abs=1e-5)


LIBRARY_PROCESS = """
import json, sys
import nlpkit
import transformers
from nlpkit.models import MODEL_FAMILIES
loaded = {}
for family in MODEL_FAMILIES:
    resolved = family.resolve()
    config = transformers.AutoConfig.for_model(family.model_type)  # raises if the model type is unknown
    for model_class, auto_classes in resolved.model_classes.items():
        for auto_class in auto_classes:
            try:
                found = auto_class._model_mapping[type(config)]
            except KeyError:
                found = None
            loaded[auto_class.__name__ + "/" + model_class.__name__] = found is model_class
model = transformers.AutoModelForSequenceClassification.from_pretrained(sys.argv[1])  # no trust_remote_code
print(json.dumps({"registered": loaded, "module": type(model).__module__, "torch": "torch" in sys.modules}))
"""


def test_import_nlpkit_in_a_library_process_registers_every_model_with_its_auto_classes(tmp_path):
    saved_classifier(tmp_path / "model")
    result = subprocess.run(
        [sys.executable, "-c", LIBRARY_PROCESS, str(tmp_path / "model")],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = last_json_line(result.stdout)
    expected = {
        f"{auto_name}/{model_name}"
        for family in MODEL_FAMILIES
        for model_name, auto_names in family.model_classes.items()
        for auto_name in auto_names
    }
    assert set(report["registered"]) == expected
    assert all(report["registered"].values()), report["registered"]
    assert report["module"].startswith("nlpkit.models.lstm_classifier")


@pytest.mark.parametrize(
    ("module", "name"),
    [("nlpkit.config", "ConfigError"), ("nlpkit.data.loading", "DataError"), ("nlpkit.hub", "HubError")],
)
def test_recipe_main_ends_a_user_error_with_one_line_and_status_2(module, name, capsys):
    """The errors keep their old import paths (the recipes and the library raise them from there)."""
    error_class = getattr(__import__(module, fromlist=[name]), name)

    def recipe():
        raise error_class("bad thing in train.yaml")

    with pytest.raises(SystemExit) as exit:
        cli.recipe_main(recipe)
    assert exit.value.code == 2
    assert capsys.readouterr().err == "error: bad thing in train.yaml\n"


def test_recipe_main_lets_other_errors_through():
    def recipe():
        raise KeyError("a bug, with its traceback")

    with pytest.raises(KeyError):
        cli.recipe_main(recipe)


def test_launch_help_imports_neither_torch_nor_transformers():
    report, result = run_console_script("launch", "--help")
    assert report["status"] == 0
    assert result.stdout.startswith("usage: nlpkit launch [accelerate launch options] RECIPE [recipe options]")
    assert not report["torch"] and not report["transformers"], report
    report, result = run_console_script("--help")
    assert "launch" in result.stdout


def test_launch_ends_with_the_status_of_the_failed_process_and_one_line_for_a_crash(tmp_path):
    """A recipe's user error (status 2) keeps its own line; a crash or a signal gets one line saying so."""
    script = tmp_path / "crash.py"
    script.write_text("import sys\nsys.exit(3)\n")
    result = subprocess.run(
        [str(console_script()), "launch", "--config_file", str(REPO_ROOT / "accelerate_configs" / "cpu.yaml"),
         str(script)],
        env=child_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1] == "nlpkit launch: the recipe ended with exit status 3"
    assert "Traceback" not in result.stderr
