"""Fine-tuning a pretrained causal LM with the text-generation recipe: a tiny randomly initialised GPT-2 with a
byte-level BPE GPT2Tokenizer trained on the sample prose stands in for openai-community/gpt2 (nothing is downloaded)."""

import json
import runpy

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from nlpkit.config import ConfigError, parse_args
from nlpkit.data.language_modeling import LanguageModelingDataArguments, build_blocks, load_text
from nlpkit.tasks import language_modeling
from nlpkit.tasks.language_modeling import SAMPLES_FILE, pretrained
from nlpkit.training import TrainingArguments
from tests.helpers import REPO_ROOT, SAMPLE_PROSE, TEXT_GENERATION_TINY_RUN, TINY_GPT2_CONTEXT, save_tiny_gpt2

RECIPE = str(REPO_ROOT / "recipes" / "text_generation.py")


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    return save_tiny_gpt2(tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="module")
def recipe_main():
    return runpy.run_path(RECIPE)["main"]


@pytest.fixture(scope="module")
def fine_tuned(recipe_main, gpt2_folder, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("fine_tuned") / "out"
    results = recipe_main(
        ["--model_name_or_path", str(gpt2_folder), "--output_dir", str(output_dir), *TEXT_GENERATION_TINY_RUN]
    )
    return output_dir, results


def test_a_pretrained_gpt2_is_fine_tuned_on_the_quickstart_text_and_saved(fine_tuned):
    output_dir, results = fine_tuned
    assert results["train_steps"] == 3 and {"eval_loss", "eval_perplexity", "eval_bits_per_character"} <= results.keys()
    config = json.loads((output_dir / "config.json").read_text())
    assert config["model_type"] == "gpt2" and "auto_map" not in config
    samples = [json.loads(line) for line in (output_dir / SAMPLES_FILE).read_text().splitlines()]
    assert {(sample["step"], sample["temperature"]) for sample in samples} == {(3, 1.0)}  # after each evaluation
    assert "text-generation" in (output_dir / "README.md").read_text()


def test_the_saved_folder_reloads_and_generates_with_the_eos_as_padding(fine_tuned, gpt2_folder):
    output_dir, _ = fine_tuned
    model = AutoModelForCausalLM.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"  # GPT-2 has no pad token of its own
    generation = json.loads((output_dir / "generation_config.json").read_text())
    assert generation["max_new_tokens"] == 5 and generation["pad_token_id"] == tokenizer.eos_token_id
    inputs = tokenizer(["The sea", "It was a"], return_tensors="pt", padding=True)
    with torch.no_grad():
        generated = model.generate(**inputs, do_sample=False)
    assert generated.shape == (2, inputs["input_ids"].shape[1] + 5)
    base = AutoModelForCausalLM.from_pretrained(gpt2_folder).state_dict()["transformer.wte.weight"]
    assert not torch.equal(model.state_dict()["transformer.wte.weight"], base)  # fine-tuned, not copied


def test_the_text_is_concatenated_and_cut_into_blocks_of_block_size_tokens(gpt2_folder):
    tokenizer = AutoTokenizer.from_pretrained(gpt2_folder)
    args = LanguageModelingDataArguments(train_file=str(SAMPLE_PROSE), block_size=32)
    text = load_text(args)
    blocks = build_blocks(text, tokenizer, args)
    rows = blocks.train["input_ids"]
    assert {len(row) for row in rows} == {32} and blocks.train["labels"] == rows  # the model shifts the labels
    joined = [token for row in rows for token in row]
    assert tokenizer.decode(joined) == text.train[: len(tokenizer.decode(joined))]  # no text lost between blocks
    assert len(blocks.train) == len(tokenizer(text.train)["input_ids"]) // 32


def test_a_block_longer_than_the_models_context_is_refused(recipe_main, gpt2_folder, tmp_path):
    with pytest.raises(
        ConfigError, match=f"block_size: 128 tokens is more than .* sees at once \\({TINY_GPT2_CONTEXT}\\)"
    ):
        recipe_main(["--model_name_or_path", str(gpt2_folder), "--output_dir", str(tmp_path / "out"),
                     "--block_size", "128", "--max_train_samples", "4"])  # fmt: skip


@pytest.mark.parametrize("extra", [["--model", "lstm"], ["--num_hidden_layers", "2"], ["--tokenizer_kind", "char"]])
def test_from_scratch_settings_beside_a_pretrained_model_are_refused(recipe_main, gpt2_folder, tmp_path, extra):
    key = extra[0][2:]
    with pytest.raises(ConfigError, match=f"'{key}' is a setting of the models trained from scratch"):
        recipe_main(["--model_name_or_path", str(gpt2_folder), "--output_dir", str(tmp_path / "out"), *extra])


def test_freezing_embeddings_without_a_pretrained_model_is_refused(recipe_main, tmp_path):
    with pytest.raises(ConfigError, match="'freeze_embeddings' is for fine-tuning a pretrained model"):
        recipe_main(["--freeze_embeddings", "true", "--output_dir", str(tmp_path / "out")])


def test_the_gpt2_shakespeare_config_parses_with_its_hub_id():
    recipe = runpy.run_path(RECIPE)
    config = REPO_ROOT / "recipes" / "configs" / "text_generation" / "gpt2_shakespeare.yaml"
    parsed = parse_args(recipe["ARGUMENTS"], ["--config", str(config)], defaults=recipe["DEFAULTS"])
    pretrained_args, data_args = parsed.of(pretrained.Arguments), parsed.of(language_modeling.Arguments)
    training_args = parsed.of(TrainingArguments)
    assert pretrained_args.model_name_or_path == "openai-community/gpt2" and data_args.block_size == 256
    assert data_args.train_file.startswith("$NLPKIT_SHARED_DATA/") and training_args.learning_rate < 1e-4
    assert not {"model", "tokenizer_kind", "hidden_size", "num_hidden_layers"} & parsed.explicit.keys()
