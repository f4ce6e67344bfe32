"""LoRA fine-tuning (`--use_peft`): only adapters and head train; the adapter or the merged weights are saved and
load back to the same logits; a LoRA run resumes from its checkpoints; bad settings are one-line errors."""

import json
import runpy
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nlpkit.config import ConfigError
from tests.helpers import (
    REPO_ROOT,
    TEXT_GENERATION_TINY_RUN,
    TRANSLATION_TINY_RUN,
    save_tiny_bert,
    save_tiny_gpt2,
    save_tiny_marian,
)

peft = pytest.importorskip("peft", reason="peft is not installed (pip install 'nlpkit[peft]')")

BERT_SENTIMENT = str(REPO_ROOT / "recipes" / "bert_sentiment.py")
NER = str(REPO_ROOT / "recipes" / "ner.py")
TEXT_GENERATION = str(REPO_ROOT / "recipes" / "text_generation.py")
TRANSLATION = str(REPO_ROOT / "recipes" / "translation.py")
FAST = [
    "--use_peft", "true", "--lora_r", "4", "--max_train_samples", "32", "--per_device_train_batch_size", "8",
    "--max_seq_length", "32", "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2",
    "--eval_strategy", "no", "--logging_steps", "1", "--learning_rate", "1e-2",
    "--sample_texts", "What a wonderful day!",
]  # fmt: skip
TEXTS = ["What a wonderful day!", "This is awful.", "The film was not bad at all."]


def recipe_main(recipe: str, argv: list[str]) -> dict:
    return runpy.run_path(recipe)["main"](argv)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def adapter_run(tiny_bert, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("lora") / "adapter"
    args = [*FAST, "--model_name_or_path", str(tiny_bert), "--output_dir", str(output_dir)]
    results = recipe_main(BERT_SENTIMENT, [*args, "--save_adapter_only", "true"])
    return output_dir, results, args


@pytest.fixture(scope="module")
def merged_run(tiny_bert, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("lora") / "merged"
    results = recipe_main(
        BERT_SENTIMENT, [*FAST, "--model_name_or_path", str(tiny_bert), "--output_dir", str(output_dir)]
    )
    return output_dir, results


def logits_of(model, tokenizer) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits


def test_an_adapter_folder_names_its_base_model_and_holds_only_adapters_and_head(adapter_run, tiny_bert):
    output_dir, results, _ = adapter_run
    adapter_config = json.loads((output_dir / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(tiny_bert)
    assert not (output_dir / "model.safetensors").exists()
    saved = load_file(output_dir / "adapter_model.safetensors")
    assert {name.split(".")[-2] for name in saved if "lora_" in name} == {"lora_A", "lora_B"}
    assert all("lora_" in name or ".classifier." in name for name in saved)
    assert (
        0
        < results["trainable_parameters"]
        < sum(tensor.numel() for tensor in load_file(tiny_bert / "model.safetensors").values()) / 10
    )
    card = (output_dir / "README.md").read_text()
    assert f"A LoRA adapter (peft) for `{tiny_bert}`" in card
    assert f"- Base model: fine-tuned from a local folder, `{tiny_bert.name}`" in card
    assert "AutoPeftModelForSequenceClassification" in card and "- lora" in card


def test_lora_trains_the_adapted_layers_and_the_head_and_leaves_the_rest_of_the_base_unchanged(merged_run, tiny_bert):
    output_dir, _ = merged_run
    base = load_file(tiny_bert / "model.safetensors")
    merged = load_file(output_dir / "model.safetensors")
    assert "classifier.weight" in merged and not any("lora_" in name for name in merged)
    changed = {name for name, tensor in base.items() if not torch.equal(tensor, merged["bert." + name])}
    assert changed == {
        "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.0.attention.self.value.weight",
    }  # LoRA's low-rank updates, folded in; embeddings, keys, feed-forward, norms and pooler stay as loaded


def test_the_adapter_and_the_merged_weights_reload_to_the_same_logits(adapter_run, merged_run):
    from peft import AutoPeftModelForSequenceClassification, PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    adapter_dir, _, _ = adapter_run
    merged_dir, _ = merged_run
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    merged = logits_of(AutoModelForSequenceClassification.from_pretrained(merged_dir), tokenizer)  # plain transformers
    adapter = logits_of(AutoPeftModelForSequenceClassification.from_pretrained(adapter_dir), tokenizer)
    torch.testing.assert_close(adapter, merged)  # the same training (seeded), saved two ways
    base = AutoModelForSequenceClassification.from_pretrained(
        json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"], num_labels=2
    )
    torch.testing.assert_close(logits_of(PeftModel.from_pretrained(base, adapter_dir), tokenizer), merged)
    assert merged.argmax(-1).tolist() != [-1] and not torch.allclose(merged[0], merged[1])  # inputs tell apart


def test_the_merged_folder_serves_nlpkit_predict_with_the_same_probabilities(merged_run):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from nlpkit.predict import load_predictor

    output_dir, _ = merged_run
    model = AutoModelForSequenceClassification.from_pretrained(output_dir)
    expected = logits_of(model, AutoTokenizer.from_pretrained(output_dir)).softmax(-1)
    predictions = load_predictor(output_dir)(TEXTS)
    found = torch.tensor([list(prediction["probabilities"].values()) for prediction in predictions])
    torch.testing.assert_close(found, expected)


def test_nlpkit_predict_on_an_adapter_folder_says_in_one_line_how_to_load_it(adapter_run, tiny_bert):
    from nlpkit.predict import load_predictor

    output_dir, _, _ = adapter_run
    with pytest.raises(ConfigError) as refused:
        load_predictor(output_dir)
    assert str(refused.value).startswith(f"{output_dir}: a LoRA adapter for {tiny_bert}, not a whole model")
    assert "save_adapter_only false" in str(refused.value) and "\n" not in str(refused.value)


def test_a_lora_run_resumed_from_a_checkpoint_ends_with_the_adapter_of_an_uninterrupted_run(
    adapter_run, tmp_path, monkeypatch
):
    from transformers import Trainer

    uninterrupted_dir, _, args = adapter_run
    output_dir = tmp_path / "resumed"
    args = [*args, "--save_adapter_only", "true", "--output_dir", str(output_dir)]  # the later --output_dir wins
    training_step = Trainer.training_step

    def crash_at_step_three(self, *step_args, **kwargs):
        if self.state.global_step == 2:
            raise RuntimeError("crash after the checkpoint of step 2")
        return training_step(self, *step_args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "training_step", crash_at_step_three)
        with pytest.raises(RuntimeError, match="crash after the checkpoint of step 2"):
            recipe_main(BERT_SENTIMENT, args)
    assert (output_dir / "checkpoint-2" / "adapter_model.safetensors").is_file()
    results = recipe_main(BERT_SENTIMENT, [*args, "--resume_from_checkpoint", "auto"])
    state = json.loads((output_dir / "checkpoint-4" / "trainer_state.json").read_text())
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3, 4]
    assert results["train_steps"] == 4
    uninterrupted = load_file(uninterrupted_dir / "adapter_model.safetensors")
    resumed = load_file(output_dir / "adapter_model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    for name, tensor in uninterrupted.items():
        torch.testing.assert_close(resumed[name], tensor, msg=name)


def test_ner_fine_tunes_a_pretrained_encoder_with_lora(tiny_bert, tmp_path):
    output_dir = tmp_path / "ner"
    results = recipe_main(NER, [
        "--model", "pretrained", "--model_name_or_path", str(tiny_bert), "--use_peft", "true",
        "--lora_target_modules", "all-linear",
        "--max_train_samples", "16", "--max_eval_samples", "8", "--per_device_train_batch_size", "8",
        "--max_steps", "2", "--save_strategy", "no", "--eval_strategy", "no", "--output_dir", str(output_dir),
    ])  # fmt: skip
    assert 0 < results["trainable_parameters"] < 100_000
    config = json.loads((output_dir / "config.json").read_text())  # merged: a plain token classifier
    assert config["architectures"] == ["BertForTokenClassification"]
    assert not any("lora_" in name for name in load_file(output_dir / "model.safetensors"))


def test_a_causal_lm_and_a_translation_model_fine_tune_with_lora_and_save_their_adapters(tmp_path):
    from peft import AutoPeftModelForCausalLM, AutoPeftModelForSeq2SeqLM

    runs = [
        (TEXT_GENERATION, save_tiny_gpt2(tmp_path / "gpt2"), TEXT_GENERATION_TINY_RUN, AutoPeftModelForCausalLM),
        (TRANSLATION, save_tiny_marian(tmp_path / "marian"), TRANSLATION_TINY_RUN, AutoPeftModelForSeq2SeqLM),
    ]
    for recipe, base, run_args, auto_class in runs:
        output_dir = tmp_path / Path(recipe).stem
        results = recipe_main(recipe, [
            "--model_name_or_path", str(base), "--use_peft", "true", "--save_adapter_only", "true",
            "--output_dir", str(output_dir), *run_args,
        ])  # fmt: skip
        assert results["train_steps"] > 0 and 0 < results["trainable_parameters"] < 10_000
        saved = load_file(output_dir / "adapter_model.safetensors")
        assert saved and all("lora_" in name for name in saved)  # a language model's own head stays as it was
        assert auto_class.from_pretrained(output_dir).peft_config["default"].base_model_name_or_path == str(base)


@pytest.mark.parametrize(
    ("recipe", "args", "message"),
    [
        (BERT_SENTIMENT, ["--lora_r", "0"], "lora_r: the LoRA rank must be a positive integer, got 0"),
        (BERT_SENTIMENT, ["--lora_target_modules", "all-linear", "query"], "lora_target_modules: 'all-linear' stands"),
        (NER, ["--model", "bilstm-crf"], "use_peft: LoRA adapts a pretrained model; this run trains one from scratch"),
        (TEXT_GENERATION, [], "use_peft: LoRA adapts a pretrained model; this run trains one from scratch"),
        (TRANSLATION, [], "use_peft: LoRA adapts a pretrained model; this run trains one from scratch"),
    ],
)
def test_a_bad_lora_setting_is_one_line_before_anything_loads(recipe, args, message, tmp_path, monkeypatch):
    loaded = []
    monkeypatch.setattr("nlpkit.pretrained.resolve_model_path", lambda name: loaded.append(name) or name)
    with pytest.raises(ConfigError, match=message) as error:
        recipe_main(recipe, ["--use_peft", "true", *args, "--output_dir", str(tmp_path / "out")])
    assert "\n" not in str(error.value)
    assert not loaded and not (tmp_path / "out" / "checkpoint-1").exists()


def test_use_peft_without_peft_installed_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else find_spec(name, *a))
    with pytest.raises(ConfigError, match=r"use_peft: peft is not installed: pip install 'nlpkit\[peft\]'$"):
        recipe_main(BERT_SENTIMENT, ["--use_peft", "true", "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
