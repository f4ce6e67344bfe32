"""Fine-tuning a pretrained seq2seq model with the translation recipe: tiny randomly initialised Marian, T5 and M2M100
folders with locally trained tokenizers stand in for opus-mt, t5-small and NLLB (nothing is downloaded)."""

import json
import runpy

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    M2M100Config,
    M2M100ForConditionalGeneration,
    NllbTokenizer,
    T5Config,
    T5ForConditionalGeneration,
    T5Tokenizer,
)

from nlpkit.config import ConfigError, parse_args
from nlpkit.data.translation import load_translation_data
from nlpkit.tasks import translation
from nlpkit.tasks.translation import SAMPLES_FILE, pretrained
from nlpkit.training import Seq2SeqTrainingArguments
from tests.helpers import (
    REPO_ROOT,
    SAMPLE_PAIRS,
    TINY_SEQ2SEQ_SIZES,
    TRANSLATION_TINY_RUN,
    last_json_line,
    run_without_nlpkit,
    sample_sentences,
    save_tiny_marian,
)

RECIPE = str(REPO_ROOT / "recipes" / "translation.py")
CONFIGS = REPO_ROOT / "recipes" / "configs" / "translation"
PREFIX = "translate English to French: "


def t5_folder(folder):
    """A tiny T5 with a T5Tokenizer over a Unigram vocabulary of 300 pieces trained on the sample pairs."""
    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    unigram.train_from_iterator([PREFIX, *sample_sentences()], trainer)
    pieces = [tuple(piece) for piece in json.loads(unigram.to_str())["model"]["vocab"]]  # (piece, log probability)
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0)
    config = T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)  # fmt: skip
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def nllb_folder(folder):
    """A tiny M2M100 with a character-level NllbTokenizer, which knows NLLB's 200 language codes (eng_Latn...)."""
    characters = sorted({character for text in sample_sentences() for character in text if not character.isspace()})
    vocab = {token: index for index, token in enumerate(["<s>", "<pad>", "</s>", "<unk>", "▁", *characters])}
    tokenizer = NllbTokenizer(vocab=vocab, merges=[])
    special = {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 2}
    M2M100ForConditionalGeneration(
        M2M100Config(vocab_size=len(tokenizer), **TINY_SEQ2SEQ_SIZES, **special)
    ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def recipe_main():
    return runpy.run_path(RECIPE)["main"]


def test_a_pretrained_marian_is_fine_tuned_saved_and_reloads_to_translate(recipe_main, tmp_path):
    folder, output_dir = save_tiny_marian(tmp_path / "marian"), tmp_path / "out"
    results = recipe_main(["--model_name_or_path", str(folder), "--output_dir", str(output_dir), *TRANSLATION_TINY_RUN])
    assert {"eval_bleu", "eval_chrf", "train_loss"} <= results.keys() and results["train_steps"] == 2
    config = json.loads((output_dir / "config.json").read_text())
    assert config["model_type"] == "marian" and "auto_map" not in config and config.get("prefix") is None
    assert (output_dir / SAMPLES_FILE).read_text().splitlines()[0] == "source\treference\ttranslation"
    model = AutoModelForSeq2SeqLM.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    with torch.no_grad():
        generated = model.generate(**tokenizer(["It is raining again."], return_tensors="pt"), max_new_tokens=5)
    assert generated.shape[1] <= 6 and isinstance(tokenizer.decode(generated[0], skip_special_tokens=True), str)
    trained = AutoModelForSeq2SeqLM.from_pretrained(folder).state_dict()["model.shared.weight"]
    assert not torch.equal(model.state_dict()["model.shared.weight"], trained)  # fine-tuned, not copied


def test_a_t5_reads_its_prefix_in_training_and_saves_it_as_config_prefix(recipe_main, tmp_path):
    folder, output_dir = t5_folder(tmp_path / "t5"), tmp_path / "out"
    results = recipe_main(
        [
            "--model_name_or_path",
            str(folder),
            "--source_prefix",
            PREFIX,
            "--output_dir",
            str(output_dir),
            *TRANSLATION_TINY_RUN,
        ]
    )
    assert results["train_steps"] == 2
    config = json.loads((output_dir / "config.json").read_text())
    assert config["model_type"] == "t5" and config["prefix"] == PREFIX
    model = AutoModelForSeq2SeqLM.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    with torch.no_grad():
        generated = model.generate(**tokenizer([PREFIX + "She studies."], return_tensors="pt"), max_new_tokens=4)
    assert generated[0, 0].item() == config["decoder_start_token_id"] and generated.shape[1] <= 5


def test_the_ids_the_task_feeds_the_model_start_with_the_prefix(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(t5_folder(tmp_path / "t5"))
    args = translation.Arguments(train_file=str(SAMPLE_PAIRS), source_prefix=PREFIX, max_train_samples=4)
    raw = load_translation_data(args)
    encoded = translation.tokenize(raw, tokenizer, args)["train"]
    prefix_ids = tokenizer(PREFIX, add_special_tokens=False)["input_ids"]
    for row, source in zip(encoded, raw.splits["train"]["source"]):
        assert row["input_ids"][: len(prefix_ids)] == prefix_ids
        assert row["input_ids"] == tokenizer(PREFIX + source)["input_ids"]


def test_a_multilingual_tokenizer_gets_the_language_codes_and_generation_forces_the_target(recipe_main, tmp_path):
    folder, output_dir = nllb_folder(tmp_path / "nllb"), tmp_path / "out"
    recipe_main([
        "--model_name_or_path", str(folder), "--source_lang_code", "eng_Latn", "--target_lang_code", "fra_Latn",
        "--output_dir", str(output_dir), *TRANSLATION_TINY_RUN,
    ])  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    french = tokenizer.convert_tokens_to_ids("fra_Latn")
    assert (tokenizer.src_lang, tokenizer.tgt_lang) == ("eng_Latn", "fra_Latn")
    assert tokenizer(["Hi."])["input_ids"][0][0] == tokenizer.convert_tokens_to_ids("eng_Latn")
    assert json.loads((output_dir / "generation_config.json").read_text())["forced_bos_token_id"] == french
    model = AutoModelForSeq2SeqLM.from_pretrained(output_dir).eval()
    with torch.no_grad():
        generated = model.generate(**tokenizer(["Hi."], return_tensors="pt"), max_new_tokens=3)
    assert generated[0, :2].tolist() == [model.config.decoder_start_token_id, french]


def test_a_language_code_the_tokenizer_lacks_is_named(recipe_main, tmp_path):
    folder = nllb_folder(tmp_path / "nllb")
    with pytest.raises(ConfigError, match="source_lang_code: 'en' is not a language code"):
        recipe_main(["--model_name_or_path", str(folder), "--output_dir", str(tmp_path / "out"), *TRANSLATION_TINY_RUN])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hidden_size", "32"], "'hidden_size' is a setting of the models trained from scratch"),
        (["--model", "marian"], "'model' is a setting of the models trained from scratch"),
        (["--config", str(CONFIGS / "quickstart.yaml")], "is a setting of the models trained from scratch"),
    ],
)
def test_from_scratch_settings_beside_a_pretrained_model_are_refused(recipe_main, tmp_path, extra, message):
    folder = save_tiny_marian(tmp_path / "marian")
    with pytest.raises(ConfigError, match=message):
        recipe_main(["--model_name_or_path", str(folder), "--output_dir", str(tmp_path / "out"), *extra])


def test_fine_tuning_settings_without_a_pretrained_model_are_refused(recipe_main, tmp_path):
    with pytest.raises(ConfigError, match="'source_prefix' is for fine-tuning a pretrained model"):
        recipe_main(["--source_prefix", PREFIX, "--output_dir", str(tmp_path / "out")])


@pytest.mark.parametrize(
    ("name", "model", "prefix"),
    [
        ("opus_mt_en_fr", "Helsinki-NLP/opus-mt-en-fr", None),
        ("t5_small_en_de", "google-t5/t5-small", "translate English to German: "),
    ],
)
def test_the_pretrained_configs_parse_with_their_hub_ids(name, model, prefix):
    recipe = runpy.run_path(RECIPE)
    parsed = parse_args(recipe["ARGUMENTS"], ["--config", str(CONFIGS / f"{name}.yaml")], defaults=recipe["DEFAULTS"])
    pretrained_args, task_args = parsed.of(pretrained.Arguments), parsed.of(translation.Arguments)
    training_args = parsed.of(Seq2SeqTrainingArguments)
    assert pretrained_args.model_name_or_path == model and task_args.source_prefix == prefix
    assert task_args.train_file.startswith("$NLPKIT_SHARED_DATA/") and training_args.learning_rate < 1e-3
    assert not {"model", "vocab_size", "hidden_size", "embedding_size", "dropout"} & parsed.explicit.keys()


FINE_TUNED_PIPELINE = """
import json
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline

texts = ["She studies.", "It is raining again."]
translator = pipeline("translation", model=FOLDER, trust_remote_code=True)
model, tokenizer = AutoModelForSeq2SeqLM.from_pretrained(FOLDER), AutoTokenizer.from_pretrained(FOLDER)
prefixed = tokenizer([(model.config.prefix or "") + text for text in texts], return_tensors="pt", padding=True)
direct = tokenizer.batch_decode(model.generate(**prefixed), skip_special_tokens=True)
print(json.dumps({"pipeline": translator(texts), "direct": direct}))
"""


@pytest.mark.parametrize("kind", ["marian", "t5"])
def test_a_fine_tuned_model_loads_with_the_translation_pipeline_without_nlpkit(recipe_main, tmp_path, kind):
    folder = (save_tiny_marian if kind == "marian" else t5_folder)(tmp_path / kind)
    output_dir = tmp_path / "out"
    prefix = ["--source_prefix", PREFIX] if kind == "t5" else []
    recipe_main(["--model_name_or_path", str(folder), *prefix, "--output_dir", str(output_dir), *TRANSLATION_TINY_RUN])
    code = FINE_TUNED_PIPELINE.replace("FOLDER", repr(str(output_dir)))
    seen = last_json_line(run_without_nlpkit(code, tmp_path))
    assert seen["pipeline"] == [{"translation_text": text} for text in seen["direct"]]  # flat, prefix applied
