"""`optim`: pytorch-optimizer's optimizers (lamb, novograd, ...) beside transformers' own, in any recipe."""

import pytest
import transformers
import yaml
from pytorch_optimizer import Lamb, NovoGrad

from nlpkit import optimizers
from nlpkit.config import ConfigError, parse_args
from nlpkit.output_folder import release_all
from nlpkit.training import TrainingArguments

TINY = [
    "--max_train_samples", "32", "--per_device_train_batch_size", "8", "--embedding_size", "8", "--hidden_size", "8",
    "--vocab_size", "50", "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no",
    "--logging_steps", "1", "--disable_tqdm", "true", "--learning_rate", "0.02", "--weight_decay", "0.1",
]  # fmt: skip


@pytest.fixture
def created_optimizers(monkeypatch):
    """The optimizers the Trainer creates (unwrapped: before accelerate wraps them)."""
    made = []
    create = transformers.Trainer.create_optimizer

    def spy(self, model=None):
        made.append(create(self, model))
        return made[-1]

    monkeypatch.setattr(transformers.Trainer, "create_optimizer", spy)
    return made


def train_lstm_sentiment(tmp_path, *args: str) -> dict:
    from recipes.lstm_sentiment import main

    try:
        return main([*TINY, "--output_dir", str(tmp_path / "out"), *args])
    finally:
        release_all()


@pytest.mark.parametrize("name, cls", [("lamb", Lamb), ("novograd", NovoGrad)])
def test_a_pytorch_optimizer_name_trains_with_that_class_at_the_configured_lr_keeping_the_no_decay_groups(
    tmp_path, created_optimizers, name, cls
):
    train_lstm_sentiment(tmp_path, "--optim", name)
    (optimizer,) = created_optimizers
    assert type(optimizer) is cls
    decay, no_decay = optimizer.param_groups
    assert {decay["initial_lr"], no_decay["initial_lr"]} == {0.02}  # lr itself has followed the schedule since
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    assert no_decay["params"]  # the LSTM's and the head's biases
    run_config = yaml.safe_load((tmp_path / "out" / "run_config.yaml").read_text())
    assert run_config["optim"] == name
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"| optim | {name} |" in card


def test_optim_args_reach_the_pytorch_optimizer_class_and_show_on_the_card(tmp_path, created_optimizers):
    train_lstm_sentiment(tmp_path, "--optim", "lamb", "--optim_args", "weight_decouple=False, max_grad_norm=0.5")
    (optimizer,) = created_optimizers
    assert optimizer.defaults["weight_decouple"] is False
    assert optimizer.defaults["max_grad_norm"] == 0.5
    assert "| optim_args | weight_decouple=False, max_grad_norm=0.5 |" in (tmp_path / "out" / "README.md").read_text()


def test_a_transformers_name_still_gives_the_trainers_own_optimizer(tmp_path, created_optimizers):
    import torch

    train_lstm_sentiment(tmp_path, "--optim", "adagrad")
    (optimizer,) = created_optimizers
    assert type(optimizer) is torch.optim.Adagrad
    assert "| optim | adagrad |" in (tmp_path / "out" / "README.md").read_text()
    args = parse_args([TrainingArguments], ["--output_dir", "x", "--optim", "sgd"]).args[0]
    assert args.optim == transformers.training_args.OptimizerNames.SGD  # transformers' enum, as before
    assert optimizers.trainer_optimizer(args) is None  # the Trainer resolves it itself


def test_a_misspelt_optim_stops_the_recipe_before_the_data_loads_naming_the_allowed_names(tmp_path, monkeypatch):
    from nlpkit.tasks import classification
    from recipes.lstm_sentiment import main

    monkeypatch.setattr(classification, "load_data", lambda run: pytest.fail("the data must not load"))
    with pytest.raises(ConfigError) as error:
        main([*TINY, "--output_dir", str(tmp_path / "out"), "--optim", "lamd"])
    message = str(error.value)
    assert message.startswith("command line: optim: unknown optimizer 'lamd' (did you mean 'lamb'?)")
    assert "\n" not in message
    assert "adamw_torch, " in message and "any pytorch-optimizer name such as lamb, novograd" in message


def test_a_bad_optim_in_the_config_file_names_the_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("output_dir: x\noptim: novogard\n")
    with pytest.raises(ConfigError, match=rf"^{config}: optim: unknown optimizer 'novogard' \(did you mean 'novograd'"):
        parse_args([TrainingArguments], ["--config", str(config)])


def test_optim_args_the_class_does_not_take_are_refused_at_parse_time():
    with pytest.raises(ConfigError, match=r"optim_args: Lamb takes no 'beta' \(it takes adam, betas, "):
        parse_args([TrainingArguments], ["--output_dir", "x", "--optim", "lamb", "--optim_args", "beta=0.9"])


def test_without_pytorch_optimizer_its_names_say_how_to_install_it(monkeypatch):
    monkeypatch.setattr(optimizers, "pytorch_optimizer_names", lambda: None)
    with pytest.raises(ConfigError, match=r"pytorch-optimizer: pip install \"nlpkit\[optimizers\]\"$"):
        optimizers.check_optim("lamb")


def test_the_trainers_betas_eps_and_weight_decay_go_to_the_classes_that_take_them():
    args = parse_args(
        [TrainingArguments],
        ["--output_dir", "x", "--optim", "novograd", "--adam_beta1", "0.95", "--adam_beta2", "0.98",
         "--adam_epsilon", "1e-6", "--weight_decay", "0.01", "--optim_args", "grad_averaging=true"],
    ).args[0]  # fmt: skip
    cls, kwargs = optimizers.trainer_optimizer(args)
    assert cls is NovoGrad
    assert kwargs == {"lr": 5e-5, "weight_decay": 0.01, "betas": (0.95, 0.98), "eps": 1e-6, "grad_averaging": True}


def test_a_seq2seq_recipe_trains_with_a_pytorch_optimizer_too(tmp_path, created_optimizers):
    """Seq2SeqTrainer's __init__ does not take `optimizer_cls_and_kwargs`: nlpkit sets it on the trainer instead."""
    from recipes.translation import main

    try:
        main(["--max_train_samples", "32", "--max_eval_samples", "4", "--per_device_train_batch_size", "16",
              "--embedding_size", "16", "--hidden_size", "16", "--vocab_size", "200", "--max_target_length", "8",
              "--num_sample_translations", "1", "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no",
              "--optim", "novograd", "--output_dir", str(tmp_path / "out")])  # fmt: skip
    finally:
        release_all()
    (optimizer,) = created_optimizers
    assert type(optimizer) is NovoGrad
