"""Best checkpoint and early stopping: every task keeps its best evaluation's checkpoint and ends with its weights,
``early_stopping_patience`` stops a run whose metric no longer improves, and both survive resumes, rotation and
runs that do not evaluate.

The tiny runs train one weight ``w`` by SGD on the loss ``-w`` (learning rate 1, constant): ``w`` is exactly the
step number after each step, and the model's score ``-|w - peak|`` is best at the step nearest ``peak``. So which
evaluation is best, and when the score stops improving, is known in advance.
"""

import json
import os
import runpy
import signal
from pathlib import Path

import datasets
import pytest
import torch
from safetensors.torch import load_file
from transformers import PretrainedConfig, PreTrainedModel, TrainerCallback
from transformers.modeling_outputs import SequenceClassifierOutput

import nlpkit.training
from nlpkit.cards import ModelCardInfo
from nlpkit.config import ConfigError
from nlpkit.output_folder import release_all
from nlpkit.training import TrainingArguments, start_run, train_and_save
from tests.helpers import REPO_ROOT


class StepConfig(PretrainedConfig):
    model_type = "nlpkit_test_step"


class StepModel(PreTrainedModel):
    """One weight that SGD at learning rate 1 moves by exactly 1 a step (the loss is ``-w``); its logits are ``w``."""

    config_class = StepConfig

    def __init__(self, config):
        super().__init__(config)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.post_init()

    def _init_weights(self, module):
        pass  # w starts at 0

    def forward(self, x, labels=None):
        logits = self.w * x
        return SequenceClassifierOutput(loss=-logits.mean(), logits=logits)


def score_peaking_at(peak: float):
    """compute_metrics: ``score`` is ``-|w - peak|``, best at the step nearest ``peak``."""

    def compute_metrics(prediction):
        return {"score": -abs(float(prediction.predictions.mean()) - peak)}

    return compute_metrics


RUN = [
    "--optim", "sgd", "--learning_rate", "1", "--lr_scheduler_type", "constant", "--max_grad_norm", "0",
    "--per_device_train_batch_size", "2", "--eval_strategy", "steps", "--eval_steps", "1", "--save_strategy",
    "steps", "--save_steps", "1", "--logging_steps", "1", "--disable_tqdm", "true",
]  # fmt: skip
DEFAULTS = {"metric_for_best_model": "score", "load_best_model_at_end": True}  # as the tasks' defaults do
CARD = ModelCardInfo(pipeline_tag="text-classification", auto_class="AutoModel", task_name="Test")


def train_steps(output_dir: Path, *args: str, peak: float, callbacks=()) -> dict:
    """Train StepModel through nlpkit's scaffold (start_run, train_and_save); returns all_results.json."""
    run = start_run([TrainingArguments], ["--output_dir", str(output_dir), *RUN, *args], defaults=DEFAULTS)
    rows = datasets.Dataset.from_dict({"x": [[1.0], [1.0]], "labels": [0, 0]})
    train_and_save(
        run, model=StepModel(StepConfig()), processing_class=None, train_dataset=rows, eval_dataset=rows,
        data_collator=None, compute_metrics=score_peaking_at(peak), card=CARD, callbacks=callbacks,
    )  # fmt: skip
    return json.loads((output_dir / "all_results.json").read_text())


def weight(folder: Path) -> float:
    return float(load_file(folder / "model.safetensors")["w"])


def test_the_run_ends_with_the_weights_and_score_of_its_best_evaluation(tmp_path):
    output_dir = tmp_path / "out"
    results = train_steps(output_dir, "--max_steps", "4", "--save_total_limit", "1", peak=2.2)

    assert results["train_steps"] == 4
    assert results["best_checkpoint_step"] == 2
    assert results["best_metric"] == pytest.approx(-0.2)
    assert results["eval_score"] == pytest.approx(-0.2)  # the final evaluation scores the loaded best weights
    assert weight(output_dir) == weight(output_dir / "checkpoint-2") == 2.0
    # save_total_limit 1 deleted the other checkpoints, never the best one
    assert [path.name for path in output_dir.glob("checkpoint-*")] == ["checkpoint-2"]


class StopAtStep(TrainerCallback):
    """Ends training after a step, as the time budget (TimeBudgetCallback) does when the time is spent."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_a_run_stopped_mid_epoch_by_its_time_budget_ends_with_its_best_epoch(tmp_path):
    output_dir = tmp_path / "out"
    epochs = ["--eval_strategy", "epoch", "--save_strategy", "epoch", "--per_device_train_batch_size", "1"]
    results = train_steps(output_dir, "--num_train_epochs", "5", *epochs, peak=2.2, callbacks=[StopAtStep(3)])

    # Two steps an epoch: evaluated and saved at step 2 (epoch 1) and at step 3, where the budget ended epoch 2.
    assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert results["train_steps"] == 3 and results["best_checkpoint_step"] == 2
    assert weight(output_dir) == 2.0


def test_early_stopping_ends_the_run_once_the_score_stops_improving(tmp_path):
    output_dir = tmp_path / "out"
    results = train_steps(output_dir, "--max_steps", "10", "--early_stopping_patience", "1", peak=1.2)

    assert results["train_steps"] == 2  # step 2 scored worse than step 1: patience 1 is spent
    assert results["best_checkpoint_step"] == 1
    assert weight(output_dir) == 1.0


class SigtermAtStep(TrainerCallback):
    """SIGTERM to this process at the end of a step: nlpkit saves a checkpoint there and exits with 143."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def train_until_sigterm(output_dir: Path, *args: str, step: int, peak: float) -> int:
    """Train as :func:`train_steps` until a SIGTERM at ``step``; returns the exit status the run asked for."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as stopped:
            train_steps(output_dir, *args, peak=peak, callbacks=[SigtermAtStep(step)])
    finally:
        signal.signal(signal.SIGTERM, handler)  # exiting, nlpkit ignores further SIGTERMs: this process goes on
        release_all()  # the folder lock of the run that exited
    return stopped.value.code


def test_a_resumed_run_counts_evaluations_without_gain_as_an_uninterrupted_one(tmp_path):
    output_dir = tmp_path / "out"
    # Steps 1 (best) and 2 (worse: one evaluation without gain) are saved.
    train_until_sigterm(output_dir, "--max_steps", "10", "--early_stopping_patience", "2", step=2, peak=1.2)

    results = train_steps(
        output_dir, "--max_steps", "10", "--early_stopping_patience", "2", "--resume_from_checkpoint", "auto", peak=1.2
    )

    assert results["train_steps"] == 3  # step 3 is the second evaluation in a row without gain
    assert results["best_checkpoint_step"] == 1
    assert weight(output_dir) == 1.0


def test_a_moved_folder_resumed_after_its_last_step_ends_with_its_best_checkpoint(tmp_path):
    first = tmp_path / "first"
    train_until_sigterm(first, "--max_steps", "3", step=3, peak=1.2)  # stopped at the last step, before the final save
    moved = tmp_path / "moved"
    os.replace(first, moved)  # the checkpoints recorded the best as first/checkpoint-1

    results = train_steps(moved, "--max_steps", "3", "--resume_from_checkpoint", "auto", peak=1.2)

    assert results["train_steps"] == 3 and results["best_checkpoint_step"] == 1
    assert weight(moved) == weight(moved / "checkpoint-1") == 1.0


def test_a_run_stopped_by_a_signal_keeps_its_newest_checkpoint_to_resume_from(tmp_path):
    output_dir = tmp_path / "out"
    status = train_until_sigterm(output_dir, "--max_steps", "10", "--save_total_limit", "1", step=3, peak=1.2)

    assert status == 128 + signal.SIGTERM
    # Not the best alone, as at the end of a run with save_total_limit 1: the run goes on from checkpoint-3.
    assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-3"]
    assert weight(output_dir / "checkpoint-3") == 3.0


def test_early_stopping_without_evaluation_is_a_one_line_error_before_loading(tmp_path):
    argv = ["--output_dir", str(tmp_path / "out"), "--early_stopping_patience", "1", "--eval_strategy", "no"]
    with pytest.raises(ConfigError) as error:
        start_run([TrainingArguments], argv, defaults=DEFAULTS)
    assert str(error.value) == (
        "early_stopping_patience: the run does not evaluate while it trains (eval_strategy 'no'): set "
        "--eval_strategy epoch or steps, or remove early_stopping_patience"
    )
    assert not (tmp_path / "out").exists()


def test_early_stopping_without_validation_data_is_a_one_line_error_before_loading(tmp_path):
    main = runpy.run_path(str(REPO_ROOT / "recipes" / "word_vectors.py"))["main"]
    with pytest.raises(ConfigError, match=r"^early_stopping_patience: no validation data \(validation_split_perc"):
        main(["--output_dir", str(tmp_path / "out"), "--validation_split_percentage", "0",
              "--early_stopping_patience", "2"])  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--early_stopping_patience", "0"], "command line: argument --early_stopping_patience: must be at least 1"),
        (
            ["--eval_strategy", "steps", "--eval_steps", "10"],
            "command line: load_best_model_at_end: save_strategy 'epoch' must match eval_strategy 'steps' so that "
            "the best evaluation has a checkpoint to load: set save_strategy 'steps', or set "
            "--load_best_model_at_end false",
        ),
        (
            ["--eval_strategy", "steps", "--save_strategy", "steps", "--eval_steps", "30", "--save_steps", "100"],
            "command line: load_best_model_at_end: save_steps 100 must be a multiple of eval_steps 30 so that",
        ),
    ],
    ids=["patience", "strategies", "steps"],
)
def test_settings_that_cannot_keep_the_best_checkpoint_are_one_line_errors(tmp_path, args, message):
    with pytest.raises(ConfigError) as error:
        start_run([TrainingArguments], ["--output_dir", str(tmp_path), *args], defaults=DEFAULTS)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_run_that_does_not_evaluate_or_save_trains_without_loading_a_best_checkpoint(tmp_path):
    for args in (["--eval_strategy", "no"], ["--save_strategy", "no"]):
        run = start_run([TrainingArguments], ["--output_dir", str(tmp_path / args[1]), *args], defaults=DEFAULTS)
        assert run.training_args.load_best_model_at_end is False
        release_all()


CONFIGS = sorted((REPO_ROOT / "recipes" / "configs").glob("*/*.yaml"))


class Parsed(Exception):
    """Raised by the patched check once the recipe's arguments are parsed: nothing loads."""


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_every_config_keeps_its_best_checkpoint_where_it_evaluates_and_saves(config, tmp_path, monkeypatch):
    check = nlpkit.training.check_early_stopping

    def check_then_stop(args, explicit, training_args):
        check(args, explicit, training_args)
        raise Parsed(training_args)

    monkeypatch.setattr(nlpkit.training, "check_early_stopping", check_then_stop)
    (tmp_path / "corpus").mkdir()  # the word-vector configs' corpus folder is checked as they parse
    (tmp_path / "corpus" / "a.txt").write_text("some words\n")
    monkeypatch.setenv("NLPKIT_WORD_VECTOR_CORPUS", str(tmp_path / "corpus"))
    (tmp_path / "word_vectors").mkdir()  # their evaluation_dir, in the shared data
    monkeypatch.setenv("NLPKIT_SHARED_DATA", str(tmp_path))
    main = runpy.run_path(str(REPO_ROOT / "recipes" / f"{config.parent.name}.py"))["main"]
    with pytest.raises(Parsed) as parsed:
        main(["--config", str(config), "--output_dir", str(tmp_path / "out")])
    args = parsed.value.args[0]
    evaluates_and_saves = args.eval_strategy.value != "no" and args.save_strategy.value != "no"
    assert args.load_best_model_at_end is evaluates_and_saves
    assert args.metric_for_best_model
    assert args.greater_is_better is not args.metric_for_best_model.endswith(("loss", "nll_bound"))
