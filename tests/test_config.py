"""Config parsing: dataclass defaults < recipe defaults < YAML < command line; every mistake names key and file."""

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import pytest
from transformers import PreTrainedConfig, TrainingArguments

from nlpkit.config import ConfigError, model_arguments, parse_args


@dataclass
class RecipeArgs:
    model_name_or_path: str = field(metadata={"help": "required"})
    hidden_size: int = 128
    dropout: float = 0.1
    cell: str = field(default="lstm", metadata={"choices": ["lstm", "gru"]})
    sample_texts: list[str] = field(default_factory=lambda: ["a"])


TYPES = [RecipeArgs, TrainingArguments]


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_precedence_defaults_file_cli(tmp_path):
    config = write(tmp_path, "model_name_or_path: m\nhidden_size: 64\nlearning_rate: 1.0e-3\nnum_train_epochs: 2\n")
    parsed = parse_args(
        TYPES,
        ["--config", str(config), "--hidden_size", "32", "--output_dir", str(tmp_path / "out")],
        defaults={"learning_rate": 5e-5, "weight_decay": 0.01},
    )
    recipe, training = parsed.args
    assert recipe.hidden_size == 32  # command line beats the file
    assert training.learning_rate == 1e-3  # the file beats recipe defaults
    assert training.weight_decay == 0.01  # recipe defaults beat dataclass defaults
    assert recipe.dropout == 0.1  # dataclass default
    assert training.report_to == []  # nlpkit default "none"
    assert training.num_train_epochs == 2
    assert parsed.explicit["hidden_size"] == 32


def test_default_config_used_without_flag(tmp_path):
    config = write(tmp_path, "model_name_or_path: from-default-file\n")
    parsed = parse_args(TYPES, [], default_config=config)
    assert parsed.args[0].model_name_or_path == "from-default-file"
    assert parsed.config_file == config


def test_lists_and_v5_names(tmp_path):
    config = write(
        tmp_path,
        "model_name_or_path: m\nsample_texts: [one, two]\neval_strategy: steps\nreport_to: [none]\nuse_cpu: true\n"
        "lr_scheduler_kwargs: {num_cycles: 2}\n",
    )
    recipe, training = parse_args(TYPES, ["--config", str(config)]).args
    assert recipe.sample_texts == ["one", "two"]
    assert training.eval_strategy.value == "steps"
    assert training.use_cpu is True
    assert training.lr_scheduler_kwargs == {"num_cycles": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_name_or_path: m\nlearning_rat: 0.1\n", "unknown key 'learning_rat' (did you mean 'learning_rate'?)"),
        ("model_name_or_path: m\nlogging_dir: logs\n", "unknown key 'logging_dir' (removed in transformers v5"),
        ("model_name_or_path: m\nhidden_size: 3.5\n", "key 'hidden_size': expected an integer, got 3.5"),
        ("model_name_or_path: m\nhidden_size: big\n", "key 'hidden_size': expected an integer, got 'big'"),
        ("model_name_or_path: m\nlearning_rate: fast\n", "key 'learning_rate': expected a number, got 'fast'"),
        ("model_name_or_path: m\ncell: transformer\n", "key 'cell': expected one of lstm, gru, got 'transformer'"),
        ("model_name_or_path: m\neval_strategy: sometimes\n", "key 'eval_strategy': expected one of no, steps, epoch"),
        ("model_name_or_path: m\nuse_cpu: maybe\n", "key 'use_cpu'"),
        ("model_name_or_path: m\nsample_texts: one\n", "key 'sample_texts': expected a list"),
        ("model_name_or_path: [a, b]\n", "key 'model_name_or_path': expected a single value"),
        ("hidden_size: 3\n", "missing required key 'model_name_or_path'"),
        ("- a\n- b\n", "expected a mapping of keys to values"),
        ("model_name_or_path: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_file(tmp_path, text, message):
    config = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        parse_args(TYPES, ["--config", str(config)])
    assert str(config) in str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--model_name_or_path", "m", "--hiden_size", "3"],
            "unknown argument '--hiden_size' (did you mean 'hidden_size'?)",
        ),
        (["--model_name_or_path", "m", "--hidden_size", "x"], "argument --hidden_size"),
        (["--model_name_or_path", "m", "--cell", "rnn"], "invalid choice: 'rnn'"),
        ([], "missing required key 'model_name_or_path'"),
        (["--config"], "--config needs a file path"),
        (["--config", "no/such/file.yaml"], "config file not found: no/such/file.yaml"),
    ],
)
def test_bad_command_line(argv, message):
    with pytest.raises(ConfigError) as error:
        parse_args(TYPES, argv)
    assert message in str(error.value)


def test_invalid_combination_is_reported_with_file(tmp_path):
    config = write(tmp_path, "model_name_or_path: m\nbf16: true\nfp16: true\n")
    with pytest.raises(ConfigError, match=str(config)):
        parse_args(TYPES, ["--config", str(config)])


# --- model settings read from config classes ---


class TinyConfig(PreTrainedConfig):
    """A config with nlpkit's docstring layout.

    Args:
        vocab_size: Rows of the embedding matrix.
        hidden_size: Width of the recurrent state. A second sentence
            continued on the next line.
        rnn_type: Recurrent cell.
        dropout: Dropout everywhere.
    """

    model_type = "tiny_for_config_tests"

    vocab_size: int = 100
    hidden_size: int = 64
    rnn_type: Literal["lstm", "gru"] = "lstm"
    dropout: float = 0.1

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.hidden_size % 2:
            raise ValueError(f"hidden_size must be even, got {self.hidden_size}")


class OtherConfig(PreTrainedConfig):
    """Another model.

    Args:
        hidden_size: Width of the residual stream.
        num_attention_heads: Attention heads.
    """

    model_type = "other_for_config_tests"

    hidden_size: int = 384
    num_attention_heads: int = 6


def settings_parser(*argv: str, **kwargs):
    Settings = model_arguments("Settings", {"tiny": TinyConfig}, exclude=("vocab_size",), **kwargs)
    return parse_args([Settings, TrainingArguments], ["--output_dir", "out", *argv]).args[0]


def test_model_settings_are_the_config_fields_with_their_types_choices_and_help():
    Settings = model_arguments("Settings", {"tiny": TinyConfig}, exclude=("vocab_size",))
    fields = {item.name: item for item in dataclasses.fields(Settings)}
    assert set(fields) == {"hidden_size", "rnn_type", "dropout"}  # not PreTrainedConfig's, not the excluded one
    assert fields["hidden_size"].metadata["help"] == (
        "Width of the recurrent state. A second sentence continued on the next line. Config default: 64."
    )
    settings = settings_parser("--hidden_size", "32", "--rnn_type", "gru")
    config = settings.make_config(vocab_size=7)
    assert (config.hidden_size, config.rnn_type, config.dropout, config.vocab_size) == (32, "gru", 0.1, 7)
    with pytest.raises(ConfigError, match=r"key 'rnn_type': expected one of (lstm, gru|gru, lstm), got 'rnn'"):
        parse_args([Settings, TrainingArguments], ["--output_dir", "out"], defaults={"rnn_type": "rnn"})


def test_unset_model_settings_take_the_config_default_or_the_recipes():
    assert settings_parser().make_config().hidden_size == 64
    assert settings_parser(defaults={"tiny": {"hidden_size": 16}}).make_config().hidden_size == 16
    assert settings_parser("--hidden_size", "8", defaults={"tiny": {"hidden_size": 16}}).make_config().hidden_size == 8
    with pytest.raises(TypeError, match="its config does not have"):
        model_arguments("Settings", {"tiny": TinyConfig}, defaults={"tiny": {"hiden_size": 16}})


def test_a_typo_in_a_model_setting_is_an_unknown_key_with_a_suggestion(tmp_path):
    config = write(tmp_path, "hiden_size: 32\n")
    Settings = model_arguments("Settings", {"tiny": TinyConfig})
    with pytest.raises(ConfigError, match=r"unknown key 'hiden_size' \(did you mean 'hidden_size'\?\)"):
        parse_args([Settings, TrainingArguments], ["--config", str(config), "--output_dir", "out"])


def test_a_bad_combination_of_settings_names_the_model():
    with pytest.raises(ConfigError, match="tiny settings: hidden_size must be even, got 33"):
        settings_parser("--hidden_size", "33").make_config()


def test_a_choice_of_models_shares_keys_and_knows_who_reads_which():
    Settings = model_arguments("Settings", {"tiny": TinyConfig, "other": OtherConfig}, exclude=("vocab_size",))
    fields = {item.name: item for item in dataclasses.fields(Settings)}
    assert fields["model"].default == "tiny"
    assert fields["hidden_size"].metadata["help"].endswith("Config default: tiny 64, other 384.")
    assert "(other only)" in fields["num_attention_heads"].metadata["help"]
    parsed = parse_args([Settings, TrainingArguments], ["--output_dir", "o", "--model", "other", "--dropout", "0.5"])
    other = parsed.args[0]
    assert type(other.make_config()) is OtherConfig and other.make_config().hidden_size == 384
    assert other.unused(parsed.explicit) == ["dropout"]


# --- negative numbers on the command line, value checks, where a value came from ---


@pytest.mark.parametrize("value", ["-1e-3", "-0.001", "-1E-3", "-5.", "-inf"])
def test_a_negative_number_after_a_key_is_its_value(value):
    recipe, _ = parse_args(TYPES, ["--model_name_or_path", "m", "--dropout", value]).args
    assert recipe.dropout == float(value)


def test_a_negative_number_reaches_the_value_checks_not_the_option_parser():
    with pytest.raises(ConfigError) as error:
        parse_args(TYPES, ["--model_name_or_path", "m", "--learning_rate", "-1e-3"])
    assert str(error.value) == (
        "command line: argument --learning_rate: must be a finite number greater than 0, got -0.001"
    )
    with pytest.raises(ConfigError, match=r"^command line: argument --seed: must be at least 0 and below 2\*\*32"):
        parse_args(TYPES, ["--model_name_or_path", "m", "--seed", "-1"])


def test_negative_numbers_are_kept_as_list_items_and_words_stay_options():
    recipe, training = parse_args(
        TYPES, ["--model_name_or_path", "-1", "--sample_texts", "-1", "two", "--hidden_size", "-3"]
    ).args
    assert (recipe.model_name_or_path, recipe.sample_texts, recipe.hidden_size) == ("-1", ["-1", "two"], -3)
    with pytest.raises(ConfigError, match="unknown argument '--hiden_size'"):
        parse_args(TYPES, ["--model_name_or_path", "m", "--hiden_size", "-1e-3"])


def test_every_key_knows_where_it_was_set(tmp_path):
    config = write(tmp_path, "model_name_or_path: m\nhidden_size: 64\n")
    parsed = parse_args(TYPES, ["--config", str(config), "--dropout", "0.2"], defaults={"weight_decay": 0.01})
    assert parsed.sources["model_name_or_path"] == parsed.sources["hidden_size"] == str(config)
    assert parsed.sources["dropout"] == "command line"
    assert parsed.sources["weight_decay"] == "recipe defaults"
    assert parsed.sources["seed"] == "nlpkit defaults"
    assert "learning_rate" not in parsed.sources  # the dataclass default


def test_a_value_a_dataclass_refuses_is_reported_where_it_was_set(tmp_path):
    config = write(tmp_path, "model_name_or_path: m\nbf16: true\n")
    with pytest.raises(ConfigError, match=r"^command line: At most one of fp16 and bf16"):
        parse_args(TYPES, ["--config", str(config), "--fp16", "true"])


def test_a_bad_value_in_the_file_names_the_file_and_the_key(tmp_path):
    config = write(tmp_path, "model_name_or_path: m\nwarmup_steps: -10\n")
    with pytest.raises(ConfigError) as error:
        parse_args(TYPES, ["--config", str(config)])
    assert str(error.value) == f"{config}: key 'warmup_steps': must be at least 0, got -10.0"


def test_a_bad_combination_of_model_settings_stops_the_run_before_the_data_loads(monkeypatch):
    from nlpkit.tasks import language_modeling
    from recipes.text_generation import main

    monkeypatch.setattr(language_modeling, "load_data", lambda run: pytest.fail("the data must not load"))
    with pytest.raises(ConfigError, match=r"gpt settings: hidden_size \(30\) must be divisible by"):
        main(["--output_dir", "unused", "--hidden_size", "30", "--num_attention_heads", "4"])


# ---- transformers v4 names ----


def test_a_v4_name_with_an_exact_v5_key_is_read_as_that_key_with_a_warning(tmp_path, caplog):
    config = write(
        tmp_path, "model_name_or_path: m\ngroup_by_length: true\nevaluation_strategy: steps\nwarmup_ratio: 0.1\n"
    )
    parsed = parse_args(TYPES, ["--config", str(config), "--no_cuda", "--per_gpu_train_batch_size", "4"])
    training = parsed.args[1]
    assert training.train_sampling_strategy == "group_by_length"
    assert training.eval_strategy == "steps" and training.warmup_steps == 0.1
    assert training.use_cpu is True and training.per_device_train_batch_size == 4
    assert parsed.explicit["train_sampling_strategy"] == "group_by_length"  # run_config.yaml records the v5 name
    assert "group_by_length" not in parsed.explicit
    warned = [record.getMessage() for record in caplog.records]
    assert (
        f"{config}: 'group_by_length' is the transformers v4 name: read as 'train_sampling_strategy: "
        "group_by_length' (write that instead)" in warned
    )
    assert any("'no_cuda' is the transformers v4 name: read as 'use_cpu: true'" in line for line in warned)


def test_a_v4_switch_turned_off_leaves_the_v5_default(tmp_path):
    config = write(tmp_path, "model_name_or_path: m\ngroup_by_length: false\n")
    training = parse_args(TYPES, ["--config", str(config), "--group_by_length", "false"]).args[1]
    assert training.train_sampling_strategy == "random"


def test_a_v4_name_beside_its_v5_key_is_refused(tmp_path):
    config = write(tmp_path, "model_name_or_path: m\nevaluation_strategy: steps\neval_strategy: epoch\n")
    with pytest.raises(ConfigError) as error:
        parse_args(TYPES, ["--config", str(config)])
    assert str(error.value) == (
        f"{config}: key 'evaluation_strategy' is the transformers v4 name of 'eval_strategy': set only 'eval_strategy'"
    )


def test_a_v4_switch_with_a_bad_value_names_the_key(tmp_path):
    config = write(tmp_path, "model_name_or_path: m\nno_cuda: maybe\n")
    with pytest.raises(ConfigError, match=rf"^{config}: key 'no_cuda': expected true or false, got 'maybe'$"):
        parse_args(TYPES, ["--config", str(config)])


def test_a_removed_v4_name_says_what_replaced_it(tmp_path):
    config = write(tmp_path, "model_name_or_path: m\nlogging_dir: logs\n")
    with pytest.raises(ConfigError) as error:
        parse_args(TYPES, ["--config", str(config)])
    assert str(error.value) == (
        f"{config}: unknown key 'logging_dir' (removed in transformers v5: tensorboard writes to output_dir/runs/; "
        "set TENSORBOARD_LOGGING_DIR to move it)"
    )
    with pytest.raises(ConfigError, match=r"^command line: unknown argument '--push_to_hub_organization' \(removed in"
                       r" transformers v5: set hub_model_id: ORGANIZATION/NAME\)$"):  # fmt: skip
        parse_args(TYPES, ["--model_name_or_path", "m", "--push_to_hub_organization", "org"])


def test_the_v4_tables_name_keys_v5_lacks_and_map_to_keys_it_has():
    import transformers

    from nlpkit.config import V4_REMOVED, V4_RENAMED

    v5_keys = {item.name for item in dataclasses.fields(transformers.Seq2SeqTrainingArguments)}
    assert not (set(V4_RENAMED) | set(V4_REMOVED)) & v5_keys
    assert {new_key for new_key, _ in V4_RENAMED.values()} - v5_keys == {"dtype"}  # a model argument of some recipes


def test_a_recipe_field_with_a_v4_name_is_the_recipes_own(tmp_path):
    @dataclass
    class Own:
        group_by_length: bool = False

    own, training = parse_args([Own, TrainingArguments], ["--group_by_length", "true"]).args
    assert own.group_by_length is True and training.train_sampling_strategy == "random"
