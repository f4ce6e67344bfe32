"""Crash-proof runs: a run killed anywhere (even inside a checkpoint or the final save) and rerun with the same command
ends with the weights and train_loss of an uninterrupted run; SIGTERM/SIGINT save a checkpoint and exit 128 + signal;
incomplete checkpoints are never resumed from."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nlpkit.checkpoints import (
    MARKER,
    SET_ASIDE,
    EpochSeededLengthGroupedSampler,
    checkpoint_problem,
    rotate_checkpoints,
)
from nlpkit.config import ConfigError
from nlpkit.training import TrainingArguments, start_run
from tests.helpers import REPO_ROOT, run_recipe

LSTM = REPO_ROOT / "recipes" / "lstm_sentiment.py"  # length-grouped batches (classification's default sampler)
TEXT_GENERATION = REPO_ROOT / "recipes" / "text_generation.py"  # random batches, a 5-minute time budget
# 40 rows in batches of 8: 5 steps an epoch, so checkpoints 4, 8 and 12 all fall mid-epoch (8 and 12 in epochs 1
# and 2, where a sampler drawing from the global random state would shuffle differently after a resume).
RESUMABLE = ["--max_train_samples", "40", "--per_device_train_batch_size", "8", "--max_steps", "12",
             "--save_strategy", "steps", "--save_steps", "4", "--eval_strategy", "no", "--resume_from_checkpoint",
             "auto", "--logging_steps", "1", "--disable_tqdm", "true"]  # fmt: skip
LSTM_ARGS = ["--max_eval_samples", "16", "--embedding_size", "16", "--hidden_size", "16", "--sample_texts", "ok",
             *RESUMABLE]  # fmt: skip
TEXT_GENERATION_ARGS = ["--hidden_size", "32", "--num_hidden_layers", "1", "--num_attention_heads", "2",
                        "--embedding_size", "16", "--block_size", "32", "--max_eval_samples", "8",
                        "--sample_max_new_tokens", "8", "--sample_temperatures", "1.0", *RESUMABLE]  # fmt: skip


def train(recipe, output_dir, tmp_path, fault=None, args=LSTM_ARGS):
    return run_recipe(recipe, *args, "--output_dir", str(output_dir), fault=fault, tmp_path=tmp_path)


def ended(result, returncode):
    assert result.returncode == returncode, f"{result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def finished(result):
    return ended(result, 0)


def killed(result):
    return ended(result, -signal.SIGKILL)


def complete_steps(output_dir):
    return sorted(int(p.name.split("-")[1]) for p in output_dir.glob("checkpoint-*") if checkpoint_problem(p) is None)


def assert_same_run(output_dir, reference):
    """Bitwise the same weights, and the same train_loss, as the uninterrupted run."""
    weights, expected = load_file(output_dir / "model.safetensors"), load_file(reference / "model.safetensors")
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[name], expected[name]) for name in expected)
    results = json.loads((output_dir / "all_results.json").read_text())
    assert results["train_loss"] == json.loads((reference / "all_results.json").read_text())["train_loss"]
    assert results["train_steps"] == 12


@pytest.fixture(scope="module")
def lstm_reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lstm_reference")
    finished(train(LSTM, folder / "out", folder))
    return folder / "out"


@pytest.fixture(scope="module")
def text_generation_reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text_generation_reference")
    finished(train(TEXT_GENERATION, folder / "out", folder, args=TEXT_GENERATION_ARGS))
    return folder / "out"


def test_lstm_run_killed_at_three_points_ends_as_if_never_killed(lstm_reference, tmp_path):
    output_dir = tmp_path / "out"
    killed(train(LSTM, output_dir, tmp_path, fault="step 10 SIGKILL"))  # between checkpoints
    assert complete_steps(output_dir) == [4, 8]

    killed(train(LSTM, output_dir, tmp_path, fault="write checkpoint-12/optimizer.pt 1"))  # inside a checkpoint
    assert checkpoint_problem(output_dir / "checkpoint-12") == "optimizer.pt is cut short"

    third = killed(train(LSTM, output_dir, tmp_path, fault="write .saving/model.safetensors 1"))  # the final save
    assert "Skipped incomplete checkpoint-12 (optimizer.pt is cut short)" in third.stdout
    assert f"Resuming from {output_dir / 'checkpoint-8'}" in third.stdout
    assert (output_dir / SET_ASIDE / "checkpoint-12").is_dir()
    assert complete_steps(output_dir) == [8, 12]
    assert not (output_dir / "model.safetensors").exists()

    last = finished(train(LSTM, output_dir, tmp_path))  # from the last step's checkpoint: nothing left to train
    assert f"Resuming from {output_dir / 'checkpoint-12'}" in last.stdout
    assert_same_run(output_dir, lstm_reference)


def test_sigterm_saves_the_current_step_and_exits_143(lstm_reference, tmp_path):
    output_dir = tmp_path / "out"
    stopped = train(LSTM, output_dir, tmp_path, fault="step 7 SIGTERM")

    ended(stopped, 128 + signal.SIGTERM)
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"stopped by SIGTERM at step 7: {output_dir / 'checkpoint-7'} saved; rerun the same command to continue"
    )
    assert (output_dir / "checkpoint-7" / MARKER).is_file() and checkpoint_problem(output_dir / "checkpoint-7") is None
    assert not (output_dir / "model.safetensors").exists() and not (output_dir / "all_results.json").exists()

    resumed = finished(train(LSTM, output_dir, tmp_path))
    assert f"Resuming from {output_dir / 'checkpoint-7'}" in resumed.stdout
    assert_same_run(output_dir, lstm_reference)


def test_text_generation_interrupted_three_ways_ends_as_if_never_interrupted(text_generation_reference, tmp_path):
    output_dir, args = tmp_path / "out", TEXT_GENERATION_ARGS
    stopped = train(TEXT_GENERATION, output_dir, tmp_path, fault="step 7 SIGINT", args=args)  # Ctrl-C
    ended(stopped, 128 + signal.SIGINT)
    assert stopped.stderr.strip().splitlines()[-1].startswith("stopped by SIGINT at step 7: ")
    assert complete_steps(output_dir) == [4, 7]

    killed(train(TEXT_GENERATION, output_dir, tmp_path, fault="write checkpoint-12/model.safetensors 1", args=args))
    assert checkpoint_problem(output_dir / "checkpoint-12") == "model.safetensors is cut short"
    killed(train(TEXT_GENERATION, output_dir, tmp_path, fault="write .saving/model.safetensors 1", args=args))
    assert complete_steps(output_dir) == [8, 12]

    last = finished(train(TEXT_GENERATION, output_dir, tmp_path, args=args))
    assert f"Resuming from {output_dir / 'checkpoint-12'}" in last.stdout
    assert_same_run(output_dir, text_generation_reference)


def test_a_checkpoint_from_before_the_markers_resumes_exactly(lstm_reference, tmp_path):
    checkpoint = tmp_path / "out" / "checkpoint-8"
    shutil.copytree(lstm_reference / "checkpoint-8", checkpoint)
    (checkpoint / MARKER).unlink()
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    del state["stateful_callbacks"]["RunTotals"]  # nor did nlpkit keep whole-run totals then
    (checkpoint / "trainer_state.json").write_text(json.dumps(state))

    resumed = finished(train(LSTM, checkpoint.parent, tmp_path))

    assert f"Resuming from {checkpoint}" in resumed.stdout
    assert "train_loss of the steps before the resume is estimated from the logged losses" in resumed.stdout
    weights, expected = (
        load_file(checkpoint.parent / "model.safetensors"),
        load_file(lstm_reference / "model.safetensors"),
    )
    assert all(torch.equal(weights[name], expected[name]) for name in expected)
    results, reference = (
        json.loads((folder / "all_results.json").read_text()) for folder in (checkpoint.parent, lstm_reference)
    )
    assert results["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-4)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_the_worker_saves_and_stops_when_its_launcher_is_killed(tmp_path):
    output_dir = tmp_path / "out"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(REPO_ROOT / "accelerate_configs" / "cpu.yaml"), str(LSTM), *LSTM_ARGS,
               "--max_steps", "100000", "--output_dir", str(output_dir)]  # fmt: skip
    launcher = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = None
    try:
        deadline = time.monotonic() + 120
        while not complete_steps(output_dir) and time.monotonic() < deadline and launcher.poll() is None:
            time.sleep(0.2)
        assert complete_steps(output_dir), "no checkpoint before the deadline"
        (worker,) = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()

        os.kill(launcher.pid, signal.SIGKILL)
        stdout, stderr = launcher.communicate(timeout=60)  # the pipes close when the worker, which shares them, exits
    finally:
        for pid in (launcher.pid, worker):
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(int(pid), signal.SIGKILL)

    # On stderr when the worker shares the launcher's; on stdout when the launcher tees the worker's stderr through a
    # pipe (accelerate 1.16+), which died with it.
    (message,) = [line for line in (stdout + stderr).splitlines() if line.startswith("stopped by SIGTERM at step ")]
    assert message.endswith("rerun the same command to continue")
    step = int(message.split()[5].rstrip(":"))
    assert checkpoint_problem(output_dir / f"checkpoint-{step}") is None


def test_a_folder_of_incomplete_checkpoints_starts_over_with_a_warning(tmp_path, capsys):
    output_dir = tmp_path / "out"
    (output_dir / "checkpoint-5").mkdir(parents=True)  # empty: killed as the folder was made
    (output_dir / "checkpoint-10").mkdir()  # killed after the weights
    save_file({"weight": torch.zeros(2)}, output_dir / "checkpoint-10" / "model.safetensors")

    run = start_run([TrainingArguments], ["--output_dir", str(output_dir), "--resume_from_checkpoint", "auto"])

    assert run.resume_checkpoint is None
    logged = capsys.readouterr().out
    assert "Skipped incomplete checkpoint-5 (it is empty)" in logged
    assert "Skipped incomplete checkpoint-10 (trainer_state.json is missing)" in logged
    assert f"No complete checkpoint in {output_dir}: starting from scratch" in logged
    assert not list(output_dir.glob("checkpoint-*"))  # aside, where rotation and later runs never look
    assert sorted(p.name for p in (output_dir / SET_ASIDE).iterdir()) == ["checkpoint-10", "checkpoint-5"]
    # Without --resume_from_checkpoint too: incomplete checkpoints are no reason to refuse the folder.
    (output_dir / "checkpoint-15").mkdir()
    assert start_run([TrainingArguments], ["--output_dir", str(output_dir)]).resume_checkpoint is None


def test_an_incomplete_checkpoint_named_explicitly_is_a_one_line_error(lstm_reference, tmp_path):
    checkpoint = tmp_path / "checkpoint-12"
    shutil.copytree(lstm_reference / "checkpoint-12", checkpoint)
    (checkpoint / "rng_state.pth").write_bytes(b"")
    with pytest.raises(ConfigError) as error:
        start_run([TrainingArguments], ["--output_dir", str(tmp_path), "--resume_from_checkpoint", str(checkpoint)])
    assert str(error.value) == (
        f"resume_from_checkpoint: {checkpoint} is incomplete (rng_state.pth has 0 of its "
        f"{(lstm_reference / 'checkpoint-12' / 'rng_state.pth').stat().st_size} bytes): pass an earlier checkpoint, "
        "or --resume_from_checkpoint auto for the newest complete one"
    )


def test_an_unmarked_checkpoint_counts_when_its_files_check_out(lstm_reference, tmp_path):
    def problem_after(damage):
        checkpoint = tmp_path / f"case{len(list(tmp_path.iterdir()))}" / "checkpoint-12"
        shutil.copytree(lstm_reference / "checkpoint-12", checkpoint)
        (checkpoint / MARKER).unlink()  # as written before nlpkit marked checkpoints
        damage(checkpoint)
        return checkpoint_problem(checkpoint)

    def cut(name):
        return lambda folder: os.truncate(folder / name, (folder / name).stat().st_size // 2)

    assert problem_after(lambda folder: None) is None
    assert problem_after(lambda folder: (folder / "trainer_state.json").unlink()) == "trainer_state.json is missing"
    assert problem_after(cut("trainer_state.json")) == "trainer_state.json is cut short"
    assert problem_after(cut("optimizer.pt")) == "optimizer.pt is cut short"
    assert problem_after(cut("model.safetensors")) == "model.safetensors is cut short"
    assert problem_after(lambda folder: (folder / "rng_state.pth").write_bytes(b"")) == "rng_state.pth is empty"
    assert problem_after(lambda folder: (folder / "model.safetensors").unlink()) == (
        "it holds no model weights (model.safetensors)"
    )


def test_rotation_keeps_the_newest_complete_checkpoint_and_ignores_incomplete_ones(lstm_reference, tmp_path):
    for step in (4, 8, 12):
        shutil.copytree(lstm_reference / "checkpoint-12", tmp_path / f"checkpoint-{step}")
    (tmp_path / "checkpoint-12" / "trainer_state.json").unlink()
    (tmp_path / "checkpoint-12" / MARKER).unlink()  # incomplete, and the newest

    rotate_checkpoints(tmp_path, 1, keep=[tmp_path / "checkpoint-8"])

    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-12", "checkpoint-8"]


def test_length_grouped_batches_follow_the_seed_and_epoch_not_the_global_random_state():
    lengths = [(7 * i) % 23 + 1 for i in range(64)]
    sampler = EpochSeededLengthGroupedSampler(8, lengths, seed=42)
    torch.manual_seed(0)
    first = list(sampler)
    torch.manual_seed(1)
    assert list(sampler) == first
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and sorted(second) == sorted(first) == list(range(64))
