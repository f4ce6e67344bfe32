"""A user's mistake ends a run or a command with one line, before anything loads, and exit status 2.

Bad values (out of range, negative numbers on the command line, an output_dir that is a file), truncated or corrupt
weights, a model folder of the wrong task, and all of it under `nlpkit launch` (accelerate's launcher, quietly).
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nlpkit import cli
from nlpkit.config import ConfigError
from nlpkit.pretrained import check_weights
from tests.helpers import REPO_ROOT, console_script, rendezvous_options, saved_classifier

LSTM_RECIPE = str(REPO_ROOT / "recipes" / "lstm_sentiment.py")
BERT_RECIPE = str(REPO_ROOT / "recipes" / "bert_sentiment.py")
SECRET = "hf_secret123"


class LoadingStarted(AssertionError):
    """Raised by the data loader in these tests: a check came too late (or never)."""


@pytest.fixture
def recipe_main(monkeypatch):
    """The LSTM recipe's main(), whose data loading fails the test: a bad value must stop it before any load."""

    def refuse(run):
        raise LoadingStarted("data loading started")

    monkeypatch.setattr("nlpkit.tasks.classification.load_data", refuse)
    return runpy.run_path(LSTM_RECIPE)["main"]


# ---------------------------------------------------------------------------------------------------------------------
# Bad values stop a recipe before any data loads, naming the key and where it came from.

BAD_VALUES = [
    (["--learning_rate", "-1e-3"], "argument --learning_rate: must be a finite number greater than 0, got -0.001"),
    (["--learning_rate", "0"], "argument --learning_rate: must be a finite number greater than 0, got 0.0"),
    (["--per_device_train_batch_size", "0"], "argument --per_device_train_batch_size: must be at least 1, got 0"),
    (["--per_device_eval_batch_size", "0"], "argument --per_device_eval_batch_size: must be at least 1, got 0"),
    (["--gradient_accumulation_steps", "0"], "argument --gradient_accumulation_steps: must be at least 1, got 0"),
    (["--num_train_epochs", "-2"], "argument --num_train_epochs: must be greater than 0 (or set max_steps), got -2.0"),
    (["--max_steps", "0"], "argument --max_steps: must be -1 (no limit) or greater than 0, got 0"),
    (["--max_steps", "-5"], "argument --max_steps: must be -1 (no limit) or greater than 0, got -5"),
    (["--max_train_minutes", "0"], "argument --max_train_minutes: must be greater than 0, got 0.0"),
    (["--max_train_minutes", "-1"], "argument --max_train_minutes: must be greater than 0, got -1.0"),
    (["--warmup_steps", "-5"], "argument --warmup_steps: must be at least 0, got -5.0"),
    (["--weight_decay", "-0.01"], "argument --weight_decay: must be at least 0, got -0.01"),
    (["--max_grad_norm", "-1"], "argument --max_grad_norm: must be at least 0, got -1.0"),
    (["--logging_steps", "0"], "argument --logging_steps: must be greater than 0 when logging_strategy is 'steps'"),
    (["--eval_strategy", "steps", "--eval_steps", "0"], "argument --eval_steps: must be greater than 0 when eval_"),
    (["--save_strategy", "steps", "--save_steps", "-1"], "argument --save_steps: must be greater than 0 when save_"),
    (["--save_total_limit", "0"], "argument --save_total_limit: must be at least 1, got 0"),
    (["--seed", "-1"], "argument --seed: must be at least 0 and below 2**32 (numpy's seeds), got -1"),
    (["--label_smoothing_factor", "1"], "argument --label_smoothing_factor: must be at least 0 and below 1, got 1.0"),
    (["--dataloader_num_workers", "-1"], "argument --dataloader_num_workers: must be at least 0, got -1"),
    (["--max_seq_length", "0"], "argument --max_seq_length: must be at least 1, got 0"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_VALUES, ids=[" ".join(argv) for argv, _ in BAD_VALUES])
def test_a_bad_value_on_the_command_line_stops_the_recipe_before_any_data_loads(recipe_main, tmp_path, argv, message):
    with pytest.raises(ConfigError) as error:
        recipe_main([*argv, "--output_dir", str(tmp_path / "out")])
    assert str(error.value).startswith(f"command line: {message}")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_good_values_pass_the_checks_and_reach_the_data_loader(recipe_main, tmp_path):
    with pytest.raises(LoadingStarted):
        recipe_main(["--learning_rate", "1e-3", "--max_train_minutes", "0.5", "--output_dir", str(tmp_path / "out")])


def test_epochs_may_be_anything_when_max_steps_decides(recipe_main, tmp_path):
    with pytest.raises(LoadingStarted):
        recipe_main(["--num_train_epochs", "0", "--max_steps", "10", "--output_dir", str(tmp_path / "out")])


def test_a_bad_value_in_the_config_file_is_reported_with_the_file(recipe_main, tmp_path):
    quickstart = REPO_ROOT / "recipes" / "configs" / "lstm_sentiment" / "quickstart.yaml"
    config = tmp_path / "mine.yaml"
    config.write_text(quickstart.read_text() + "\nper_device_train_batch_size: 0\n")
    with pytest.raises(ConfigError) as error:
        recipe_main(["--config", str(config), "--output_dir", str(tmp_path / "out")])
    assert str(error.value) == f"{config}: key 'per_device_train_batch_size': must be at least 1, got 0"


def test_the_command_line_overrides_a_bad_file_value_and_is_named_when_it_is_the_bad_one(recipe_main, tmp_path):
    quickstart = REPO_ROOT / "recipes" / "configs" / "lstm_sentiment" / "quickstart.yaml"
    config = tmp_path / "mine.yaml"
    config.write_text(quickstart.read_text() + "\nlearning_rate: -1.0\nweight_decay: 0.01\n")
    with pytest.raises(LoadingStarted):  # the command line's value replaces the file's
        recipe_main(["--config", str(config), "--learning_rate", "1e-3", "--output_dir", str(tmp_path / "out")])
    with pytest.raises(ConfigError, match=r"^command line: argument --weight_decay: must be at least 0, got -1.0$"):
        recipe_main(["--config", str(config), "--learning_rate", "1e-3", "--weight_decay", "-1",
                     "--output_dir", str(tmp_path / "out")])  # fmt: skip


def test_an_output_dir_that_is_a_file_stops_the_recipe(recipe_main, tmp_path):
    file = tmp_path / "results.txt"
    file.write_text("not a folder")
    with pytest.raises(ConfigError) as error:
        recipe_main(["--output_dir", str(file)])
    assert str(error.value) == (
        f"command line: argument --output_dir: {file} is a file, not a folder (choose a folder; it is created if "
        "missing)"
    )
    with pytest.raises(ConfigError, match=f"cannot create {file / 'run'}: {file} is a file$"):
        recipe_main(["--output_dir", str(file / "run")])
    assert file.read_text() == "not a folder"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions that bind (not root)")
def test_an_output_dir_that_cannot_be_created_stops_the_recipe(recipe_main, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(ConfigError, match=f"cannot create {locked / 'out'}: no permission to write in {locked}$"):
            recipe_main(["--output_dir", str(locked / "out")])
    finally:
        locked.chmod(0o700)


# ---------------------------------------------------------------------------------------------------------------------
# Truncated and corrupt weights: one line naming the file, in every command and when a recipe loads a folder.


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def saved_causal_lm(folder: Path) -> None:
    """A tiny nlpkit GPT saved with its character tokenizer, as recipes/text_generation.py leaves it."""
    from nlpkit.models.gpt import GPTConfig, GPTForCausalLM
    from nlpkit.tokenization import train_tokenizer

    tokenizer = train_tokenizer(["to be or not to be"], kind="char", padding_side="left")
    config = GPTConfig(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, hidden_size=8, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=16,
    )  # fmt: skip
    torch.manual_seed(0)
    GPTForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def saved_translator(folder: Path) -> None:
    """A tiny nlpkit RNN encoder-decoder saved with its tokenizer, as recipes/translation.py leaves it."""
    from nlpkit.models.rnn_seq2seq import RNNSeq2SeqConfig, RNNSeq2SeqForConditionalGeneration
    from nlpkit.tokenization import train_tokenizer

    tokenizer = train_tokenizer(
        ["a cat", "un chat"], kind="word", min_frequency=1, bos_token="<s>", eos_token="</s>", add_eos_token=True
    )
    config = RNNSeq2SeqConfig(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, embedding_size=4, encoder_hidden_size=4, hidden_size=4,
    )  # fmt: skip
    RNNSeq2SeqForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


SAVERS = {
    "classifier": lambda folder: saved_classifier(folder),
    "causal_lm": saved_causal_lm,
    "translator": saved_translator,
}


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory):
    """One real saved folder of each kind (copied by the tests that break one)."""
    root = tmp_path_factory.mktemp("models")
    for name, save in SAVERS.items():
        save(root / name)
    return root


@pytest.fixture
def folder_of(model_folders, tmp_path):
    import shutil

    def copy(kind: str) -> Path:
        target = tmp_path / kind
        shutil.copytree(model_folders / kind, target)
        return target

    return copy


def command_error(capsys, *argv: str) -> str:
    """Run `nlpkit ARGV` in this process; it must end with status 2 and exactly one line on stderr: that line."""
    capsys.readouterr()  # what the test printed before (a progress bar of save_pretrained)
    with pytest.raises(SystemExit) as exit:
        cli.main(list(argv))
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err.strip()


def test_an_intact_folder_passes_the_weights_check(model_folders):
    for kind in SAVERS:
        assert check_weights(model_folders / kind) is None


@pytest.mark.parametrize(
    ("command", "kind"),
    [("predict", "classifier"), ("generate", "causal_lm"), ("push", "classifier")],
)
def test_truncated_safetensors_is_one_line_naming_the_file(folder_of, capsys, monkeypatch, command, kind):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = folder_of(kind)
    size = (folder / "model.safetensors").stat().st_size
    truncate(folder / "model.safetensors")
    argv = {"predict": [str(folder), "a great film"], "generate": [str(folder)], "push": [str(folder), "user/name"]}
    line = command_error(capsys, command, *argv[command])
    assert line.startswith(f"nlpkit {command}: error: {folder / 'model.safetensors'}: truncated weights file ")
    assert f"({size // 2} bytes; its header describes {size})" in line


def test_a_file_that_is_not_safetensors_is_one_line_naming_the_file(folder_of, capsys):
    folder = folder_of("classifier")
    (folder / "model.safetensors").write_bytes(b"<html>502 Bad Gateway</html>" * 10)
    line = command_error(capsys, "predict", str(folder), "a great film")
    assert line.startswith(f"nlpkit predict: error: {folder / 'model.safetensors'}: ")
    assert "corrupt weights file" in line or "truncated or corrupt weights file" in line


def test_a_sharded_index_naming_a_missing_shard_is_one_line_naming_it(tmp_path, capsys):
    from nlpkit.models.gpt import GPTConfig, GPTForCausalLM

    folder = tmp_path / "sharded"
    model = GPTForCausalLM(GPTConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2))
    model.save_pretrained(folder, max_shard_size="20KB")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and not (folder / "model.safetensors").exists()
    assert check_weights(folder) is None
    (folder / shards[-1]).unlink()
    line = command_error(capsys, "generate", str(folder))
    assert line == (
        f"nlpkit generate: error: {folder / 'model.safetensors.index.json'} names {folder / shards[-1]}, "
        "which is missing"
    )
    model.save_pretrained(folder, max_shard_size="20KB")  # every shard back
    truncate(folder / shards[0], keep=0.9)
    with pytest.raises(ConfigError, match=f"^{folder / shards[0]}: truncated weights file"):
        check_weights(folder)


def test_a_truncated_checkpoint_is_found_before_resuming(folder_of):
    """What start_run checks in the checkpoint it resumes from (the Trainer's own error names no file)."""
    checkpoint = folder_of("classifier")
    truncate(checkpoint / "model.safetensors", keep=0.99)
    with pytest.raises(ConfigError, match=f"^{checkpoint / 'model.safetensors'}: truncated weights file"):
        check_weights(checkpoint)


def test_a_recipe_given_a_truncated_local_model_stops_before_any_data_loads(folder_of, monkeypatch, tmp_path):
    def refuse(run):
        raise LoadingStarted("data loading started")

    monkeypatch.setattr("nlpkit.tasks.classification.load_data", refuse)
    main = runpy.run_path(BERT_RECIPE)["main"]
    folder = folder_of("classifier")
    truncate(folder / "model.safetensors")
    with pytest.raises(ConfigError) as error:
        main(["--model_name_or_path", str(folder), "--output_dir", str(tmp_path / "out")])
    assert str(error.value).startswith(
        f"command line: model_name_or_path: {folder / 'model.safetensors'}: truncated weights file"
    )


def test_weights_that_break_while_loading_are_one_line_naming_the_model(folder_of):
    """A Hub download's cached files are not checked before loading: from_pretrained's error becomes one line."""
    from transformers import AutoModelForSequenceClassification

    from nlpkit.pretrained import from_pretrained

    folder = folder_of("classifier")
    truncate(folder / "model.safetensors")
    with pytest.raises(ConfigError, match=f"^could not load the weights of '{folder}': .*incomplete metadata"):
        from_pretrained(AutoModelForSequenceClassification, str(folder))


# ---------------------------------------------------------------------------------------------------------------------
# A folder of the wrong task says which command (or what) serves it.

WRONG_TASKS = [
    ("generate", "classifier", "holds a text classifier (LSTMClassifierForSequenceClassification), which `nlpkit "
     'generate` does not serve: label texts with `nlpkit predict {folder} "some text"`'),
    ("generate", "translator", "holds a sequence-to-sequence (translation) model (RNNSeq2SeqForConditionalGeneration), "
     'which `nlpkit generate` does not serve: translate with `nlpkit predict {folder} "some text"`'),
]  # fmt: skip


@pytest.mark.parametrize(("command", "kind", "message"), WRONG_TASKS, ids=[f"{c}-{k}" for c, k, _ in WRONG_TASKS])
def test_a_folder_of_the_wrong_task_names_what_serves_it(model_folders, capsys, command, kind, message):
    folder = model_folders / kind
    line = command_error(capsys, command, str(folder), *(["some text"] if command == "predict" else []))
    assert line.startswith(f"nlpkit {command}: error: {folder} {message.format(folder=folder)}")


def test_the_right_folder_for_each_command_still_works(model_folders, capsys):
    cli.main(["predict", str(model_folders / "classifier"), "a great film", "--json"])
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["text"] == "a great film"
    cli.main(["generate", str(model_folders / "causal_lm"), "--prompt", "to", "--max-new-tokens", "3", "--json"])
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["generated_text"].startswith("to")
    cli.main(["predict", str(model_folders / "causal_lm"), "to", "--max-new-tokens", "3", "--json"])
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["generated_text"].startswith("to")
    cli.main(["predict", str(model_folders / "translator"), "a cat", "--max-new-tokens", "3", "--json"])
    assert "translation_text" in json.loads(capsys.readouterr().out.splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------------------
# Under a launcher: `nlpkit launch` ends as the recipe ended, with its one line and status 2, and no secret.


def launch(*args: str, config_file: str = "cpu.yaml", launcher: tuple[str, ...] | None = None):
    command = [*(launcher or (str(console_script()), "launch")),
               "--config_file", str(REPO_ROOT / "accelerate_configs" / config_file), *rendezvous_options(config_file),
               LSTM_RECIPE, *args]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_nlpkit_launch_ends_with_the_recipes_line_and_status_2_and_shows_no_secret(tmp_path):
    result = launch("--hub_token", SECRET, "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: 'hub_token' must not be set in a config")
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_nlpkit_launch_of_two_ranks_ends_with_the_recipes_line_and_status_2(tmp_path):
    result = launch("--learning_rate", "-1e-3", "--hub_token", SECRET, "--output_dir", str(tmp_path / "out"),
                    config_file="multi_cpu.yaml")  # fmt: skip
    assert result.returncode == 2, result.stderr
    line = "error: command line: argument --learning_rate: must be a finite number greater than 0, got -0.001"
    assert set(result.stderr.strip().splitlines()) == {line}  # each rank's line; no traceback, no elastic report
    assert SECRET not in result.stdout + result.stderr


def test_plain_accelerate_launch_loses_the_status_and_prints_the_command_line(tmp_path):
    """Why `nlpkit launch` exists: accelerate's own launcher turns status 2 into 1 and, without --quiet, raises
    CalledProcessError, whose message is the whole command line, secrets included."""
    accelerate = (sys.executable, "-m", "accelerate.commands.launch")
    result = launch("--hub_token", SECRET, "--output_dir", str(tmp_path / "out"), launcher=accelerate)
    assert result.returncode == 1
    assert "CalledProcessError" in result.stderr and SECRET in result.stderr
    quiet = launch("--hub_token", SECRET, "--output_dir", str(tmp_path / "out"), launcher=(*accelerate, "--quiet"))
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr and SECRET not in quiet.stderr
