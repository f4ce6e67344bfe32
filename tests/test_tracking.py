"""Experiment trackers (report_to) on a tiny recipe run: tensorboard's event files in the output folder, trackio's
local database, both named after the folder; a tracker that is not installed stops the run before anything loads.
The same run (under umask 022) shows that every file nlpkit writes into an output folder gets the usual mode."""

import importlib.util
import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from nlpkit import tracking
from nlpkit.config import ConfigError
from nlpkit.hub import publishable_files
from nlpkit.output_folder import release_all
from tests.helpers import REPO_ROOT

RECIPE = REPO_ROOT / "recipes" / "lstm_sentiment.py"
QUICKSTART = REPO_ROOT / "recipes" / "configs" / "lstm_sentiment" / "quickstart.yaml"
TINY = [
    "--max_train_samples", "64", "--max_eval_samples", "32", "--per_device_train_batch_size", "8",
    "--embedding_size", "16", "--hidden_size", "16", "--logging_steps", "1", "--disable_tqdm", "true",
    "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2",
    "--eval_strategy", "steps", "--eval_steps", "2",
]  # fmt: skip
INSTALLED = [name for name in ("tensorboard", "trackio") if importlib.util.find_spec(name) is not None]


def needs(name):
    return pytest.mark.skipif(name not in INSTALLED, reason=f"{name} is not installed (pip install 'nlpkit[{name}]')")


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """One tiny run that reports to every installed tracker (trackio's database in the test's folder), written
    under umask 022."""
    folder = tmp_path_factory.mktemp("tracked")
    config = folder / "tracked.yaml"
    config.write_text(f"{QUICKSTART.read_text()}\nreport_to: {json.dumps(INSTALLED or ['none'])}\n")
    output_dir = folder / "tiny-sentiment"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRACKIO_DIR": str(folder / "trackio")}
    env.pop("TENSORBOARD_LOGGING_DIR", None)
    previous = os.umask(0o022)
    try:
        result = subprocess.run(
            [sys.executable, str(RECIPE), "--config", str(config), *TINY, "--output_dir", str(output_dir)],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        os.umask(previous)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    logged = json.loads((output_dir / "trainer_state_log.json").read_text())
    train_losses = {entry["step"]: entry["loss"] for entry in logged if "loss" in entry}
    assert sorted(train_losses) == [1, 2, 3, 4]
    return output_dir, folder / "trackio", train_losses


@needs("tensorboard")
def test_tensorboard_writes_the_train_loss_into_the_output_folder(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    output_dir, _, train_losses = tracked_run
    logged = {}
    for events in (output_dir / "runs").glob("*/events.out.tfevents.*"):  # carried into the finished folder
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        if "train/loss" in accumulator.Tags()["scalars"]:
            logged.update({event.step: event.value for event in accumulator.Scalars("train/loss")})
    assert logged == pytest.approx(train_losses)
    pushed = publishable_files(output_dir)  # what push_to_hub uploads: the Hub's metrics tab reads runs/
    assert any(name.startswith("runs/") and ".tfevents." in name for name in pushed)


@needs("trackio")
def test_trackio_logs_the_train_loss_under_the_output_folders_name(tracked_run):
    output_dir, trackio_dir, train_losses = tracked_run
    # trackio keeps one SQLite database per project; each logged row is a JSON object of metrics.
    with sqlite3.connect(trackio_dir / f"{output_dir.name}.db") as database:
        rows = database.execute("SELECT run_name, metrics FROM metrics").fetchall()
    assert {run_name for run_name, _ in rows} == {output_dir.name}
    metrics = [json.loads(text) for _, text in rows]
    logged = {entry["train/global_step"]: entry["train/loss"] for entry in metrics if "train/loss" in entry}
    assert logged == pytest.approx(train_losses)


def test_every_file_of_a_finished_run_and_its_checkpoints_gets_the_usual_mode(tracked_run):
    output_dir, _, _ = tracked_run
    entries = [output_dir, *output_dir.rglob("*")]
    # save_pretrained writes model.safetensors 0600: the final model's and the two checkpoints' are here.
    assert sum(path.name == "model.safetensors" for path in entries) == 3
    modes = {str(path.relative_to(output_dir)): oct(stat.S_IMODE(path.stat().st_mode)) for path in entries}
    expected = {
        str(path.relative_to(output_dir)): "0o755" if path.is_dir() else "0o644" for path in entries
    }  # 0666 / 0777 less umask 022
    assert modes == expected


def test_a_tracker_that_is_not_installed_stops_the_run_before_anything_loads(tmp_path, monkeypatch):
    from nlpkit.tasks import classification
    from recipes.lstm_sentiment import main

    monkeypatch.setattr(tracking, "tracker_available", lambda name: name != "tensorboard")
    monkeypatch.setattr(classification, "load_data", lambda run: pytest.fail("the data must not load"))
    output_dir = tmp_path / "out"
    with pytest.raises(ConfigError) as error:
        main(["--train_file", str(tmp_path / "missing.jsonl"), "--output_dir", str(output_dir),
              "--report_to", "tensorboard"])  # fmt: skip
    release_all()
    assert str(error.value) == "report_to: tensorboard is not installed: pip install 'nlpkit[tensorboard]'"
    assert not output_dir.exists()  # the output folder was not even claimed


def test_an_unknown_tracker_is_refused_with_the_closest_name(tmp_path):
    with pytest.raises(ConfigError, match=r"^report_to: unknown tracker 'tensorbord' \(did you mean 'tensorboard'\?"):
        tracking.check_trackers(["tensorbord"])
    assert tracking.check_trackers("none") == tracking.check_trackers([]) == []
    assert tracking.install_command("wandb") == "pip install wandb"
