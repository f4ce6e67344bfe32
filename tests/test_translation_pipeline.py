"""The translation pipeline that every translation model nlpkit saves ships with it (transformers 5 has none): the
folder loads with `pipeline("translation", trust_remote_code=True)` without nlpkit, the output follows transformers
4's translation pipeline, generation settings pass through, and the card's usage example runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    M2M100Config,
    M2M100ForConditionalGeneration,
    MarianConfig,
    MarianMTModel,
)

import nlpkit  # noqa: F401  (registers rnn_seq2seq with the Auto classes)
from nlpkit.cards import LOCAL_FOLDER_ID
from nlpkit.pipelines import TRANSLATION_PIPELINE_FILE, BeamSearchCache, TranslationPipeline, beam_search_cache
from nlpkit.pipelines.translation_pipeline import CACHE_ARGUMENT
from nlpkit.tasks.translation import from_scratch
from tests.helpers import build_char_tokenizer, last_json_line, run_without_nlpkit

KINDS = tuple(from_scratch.Arguments._configs)  # every architecture the recipe trains from scratch
TINY = [
    "--max_train_samples", "32", "--max_eval_samples", "4", "--per_device_train_batch_size", "16",
    "--vocab_size", "200", "--max_source_length", "24", "--max_target_length", "10", "--num_sample_translations",
    "1", "--max_steps", "2", "--save_strategy", "no", "--eval_strategy", "no", "--report_to", "none",
]  # fmt: skip
SIZES = {"rnn_seq2seq": ["--embedding_size", "16", "--hidden_size", "16"]}
TRANSFORMER_SIZES = [
    "--d_model", "16", "--encoder_layers", "1", "--decoder_layers", "1", "--encoder_attention_heads", "2",
    "--decoder_attention_heads", "2", "--encoder_ffn_dim", "32", "--decoder_ffn_dim", "32",
]  # fmt: skip
SENTENCES = ["They have never seen the sea.", "She studies medicine."]
PREFIX = "translate english to french, "


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """One output folder per kind, each saved by a two-step run of the recipe on the quickstart's pairs."""
    from recipes.translation import main  # in-process: a launch per kind would only add start-up time

    root = tmp_path_factory.mktemp("translation_pipeline")
    for kind in KINDS:
        main([*TINY, *SIZES.get(kind, TRANSFORMER_SIZES), "--model", kind, "--output_dir", str(root / kind)])
    return {kind: root / kind for kind in KINDS}


LOAD_WITHOUT_NLPKIT = """
import contextlib, io, json, re
from transformers import pipeline

results = {}
for kind, folder in FOLDERS.items():
    translator = pipeline("translation", model=folder, trust_remote_code=True)
    card = open(f"{folder}/README.md").read()
    snippet = re.search(r"```python\\n(.*?)```", card, re.S).group(1).replace(LOCAL_FOLDER_ID, folder)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet, {})
    results[kind] = {
        "pipeline_module": type(translator).__module__,
        "one": translator(SENTENCES[0]),
        "two": translator(SENTENCES),
        "two_batched": translator(SENTENCES, batch_size=2),
        "two_each_twice": translator(SENTENCES, num_beams=2, num_return_sequences=2),
        "generated": pipeline("text2text-generation", model=folder, trust_remote_code=True)(SENTENCES[0]),
        "card_printed": printed.getvalue(),
    }
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def loaded(folders, tmp_path_factory) -> dict[str, dict]:
    """What the pipelines of every folder (and each card's example) give in one Python where nlpkit is blocked."""
    paths = {kind: str(folder) for kind, folder in folders.items()}
    setup = f"FOLDERS = {paths!r}\n"
    setup += f"SENTENCES = {SENTENCES!r}\nLOCAL_FOLDER_ID = {LOCAL_FOLDER_ID!r}\n"
    return last_json_line(run_without_nlpkit(setup + LOAD_WITHOUT_NLPKIT, tmp_path_factory.mktemp("no_nlpkit")))


def greedy_translations(folder: Path, texts: list[str]) -> list[str]:
    """Each text translated alone by generate() with the folder's saved generation config."""
    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        return [tokenizer.decode(model.generate(**tokenizer(text, return_tensors="pt"))[0], skip_special_tokens=True)
                for text in texts]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Folders saved by the recipe, loaded without nlpkit.


@pytest.mark.parametrize("kind", KINDS)
def test_the_saved_folder_ships_the_pipeline_and_names_it_for_both_tasks(folders, kind):
    folder = folders[kind]
    assert (folder / TRANSLATION_PIPELINE_FILE.name).read_text() == TRANSLATION_PIPELINE_FILE.read_text()
    pipelines = json.loads((folder / "config.json").read_text())["custom_pipelines"]
    entry = {"impl": "translation_pipeline.TranslationPipeline", "pt": ["AutoModelForSeq2SeqLM"], "tf": [],
             "type": "text"}  # fmt: skip
    assert pipelines == {"translation": entry, "text2text-generation": entry}


@pytest.mark.parametrize("kind", KINDS)
def test_a_list_of_two_texts_gives_a_flat_list_of_two_translations(folders, loaded, kind):
    result = loaded[kind]
    assert result["pipeline_module"].startswith("transformers_modules.")  # the folder's copy, not nlpkit's
    expected = [{"translation_text": text} for text in greedy_translations(folders[kind], SENTENCES)]
    assert result["two"] == expected  # the model's saved generation config decides, as generate() does
    assert len(result["two_batched"]) == 2 and all(out.keys() == {"translation_text"} for out in result["two_batched"])


@pytest.mark.parametrize("kind", KINDS)
def test_a_single_string_gives_a_list_of_one_translation(loaded, kind):
    assert loaded[kind]["one"] == loaded[kind]["two"][:1]


@pytest.mark.parametrize("kind", KINDS)
def test_several_returned_sequences_give_a_list_per_input(loaded, kind):
    outputs = loaded[kind]["two_each_twice"]
    assert [len(output) for output in outputs] == [2, 2]
    assert all(list(sequence) == ["translation_text"] for output in outputs for sequence in output)


@pytest.mark.parametrize("kind", KINDS)
def test_text2text_generation_gives_generated_text(loaded, kind):
    assert loaded[kind]["generated"] == [{"generated_text": loaded[kind]["one"][0]["translation_text"]}]


@pytest.mark.parametrize("kind", KINDS)
def test_the_cards_usage_example_runs_without_nlpkit_and_prints_the_translation(folders, loaded, kind):
    card = (folders[kind] / "README.md").read_text()
    assert f'pipeline("translation", model="{LOCAL_FOLDER_ID}", trust_remote_code=True)' in card
    assert "`translation_pipeline.py`" in card  # the card names the code that trust_remote_code runs
    assert loaded[kind]["card_printed"].strip() == str(loaded[kind]["one"])


# ---------------------------------------------------------------------------------------------------------------------
# The pipeline class on a model in memory: what reaches the tokenizer and generate().


@pytest.fixture
def marian() -> tuple[MarianMTModel, object]:
    tokenizer = build_char_tokenizer()  # left-padding, as for decoder-only generation
    tokenizer.add_tokens(["en_XX", "fr_XX"], special_tokens=True)
    torch.manual_seed(0)
    config = MarianConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=None,
    )  # fmt: skip
    return MarianMTModel(config).eval(), tokenizer


def spy_on_generate(model) -> list[tuple[dict, torch.Tensor]]:
    """Record the keywords and the output of each generate() call of ``model``."""
    calls, generate = [], model.generate

    def recorded(**kwargs):
        output = generate(**kwargs)
        calls.append((kwargs, output))
        return output

    model.generate = recorded
    return calls


def test_config_prefix_is_put_before_each_text(marian):
    model, tokenizer = marian
    model.config.prefix = PREFIX
    pipe = TranslationPipeline(model=model, tokenizer=tokenizer, task="translation")
    calls = spy_on_generate(model)
    pipe(["hello", "the sea"], max_new_tokens=2, batch_size=2)
    (kwargs, _), expected = calls[0], tokenizer([PREFIX + "hello", PREFIX + "the sea"], padding="longest")
    assert kwargs["input_ids"].tolist() == expected["input_ids"]
    assert kwargs["input_ids"][0, -1] == tokenizer.pad_token_id  # batches are right-padded for the encoder
    assert pipe.preprocess("hello")["input_ids"].tolist() == [tokenizer(PREFIX + "hello")["input_ids"]]
    model.config.prefix = None
    assert pipe.preprocess("hello")["input_ids"].tolist() == [tokenizer("hello")["input_ids"]]


def test_generation_keywords_of_the_call_and_of_the_pipeline_reach_generate(marian):
    model, tokenizer = marian
    pipe = TranslationPipeline(model=model, tokenizer=tokenizer, task="translation", num_beams=2)
    calls = spy_on_generate(model)
    pipe("hello", max_new_tokens=3, min_new_tokens=3)
    kwargs, output = calls[0]
    assert (kwargs["num_beams"], kwargs["max_new_tokens"], kwargs["min_new_tokens"]) == (2, 3, 3)
    assert output.shape[-1] == 1 + 3  # the decoder start, then the new tokens
    pipe("hello", max_new_tokens=2)  # a call's keywords are for that call, the pipeline's for every call
    assert calls[1][0].keys() == {"input_ids", "attention_mask", "num_beams", "max_new_tokens", CACHE_ARGUMENT}


def test_src_lang_and_tgt_lang_set_the_tokenizer_and_force_the_target_language_code(marian):
    model, tokenizer = marian
    tokenizer.src_lang = None  # a multilingual tokenizer has one (its setter switches the language tokens)
    pipe = TranslationPipeline(model=model, tokenizer=tokenizer, task="translation")
    calls = spy_on_generate(model)
    pipe("hello", src_lang="en_XX", tgt_lang="fr_XX", max_new_tokens=3)
    kwargs, output = calls[0]
    french = tokenizer.convert_tokens_to_ids("fr_XX")
    assert tokenizer.src_lang == "en_XX" and kwargs["forced_bos_token_id"] == french and output[0, 1] == french
    with pytest.raises(ValueError, match=re.escape("tgt_lang='xx_XX' is not a language code")):
        pipe("hello", tgt_lang="xx_XX")


def test_languages_are_ignored_by_a_tokenizer_without_language_codes(marian):
    model, tokenizer = marian
    pipe = TranslationPipeline(model=model, tokenizer=tokenizer, task="translation")
    calls = spy_on_generate(model)
    pipe("hello", src_lang="en_XX", tgt_lang="fr_XX", max_new_tokens=2)
    assert "forced_bos_token_id" not in calls[0][0] and not hasattr(tokenizer, "src_lang")


@pytest.mark.parametrize(
    "config_class, model_class", [(MarianConfig, MarianMTModel), (M2M100Config, M2M100ForConditionalGeneration)]
)
def test_beam_search_with_the_beam_search_cache_finds_the_same_beams_and_scores(config_class, model_class):
    torch.manual_seed(0)
    config = config_class(
        vocab_size=64, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=2, dropout=0.0,
    )  # fmt: skip
    model = model_class(config).eval()
    lengths = torch.tensor([9, 4, 7])  # padded sources: beams of one source must keep their own encoder rows
    input_ids = torch.randint(3, 64, (3, 9)) * (torch.arange(9) < lengths[:, None])
    options = dict(input_ids=input_ids, attention_mask=(input_ids != 0).long(), num_beams=4, max_new_tokens=12,
                   num_return_sequences=2, return_dict_in_generate=True, output_scores=True)  # fmt: skip
    with torch.no_grad():
        reference = model.generate(**options)
        cache = beam_search_cache(model)
        assert isinstance(cache[CACHE_ARGUMENT], BeamSearchCache)
        faster = model.generate(**options, **cache)
    assert torch.equal(faster.sequences, reference.sequences)
    assert torch.equal(faster.sequences_scores, reference.sequences_scores)


def test_only_transformers_encoder_decoders_that_choose_no_cache_get_the_beam_search_cache(marian, folders):
    model, _ = marian
    assert set(beam_search_cache(model)) == {CACHE_ARGUMENT}
    assert beam_search_cache(model, use_cache=False) == {}
    assert beam_search_cache(model, cache_implementation="static") == {}
    rnn = AutoModelForSeq2SeqLM.from_pretrained(folders["rnn_seq2seq"])
    assert beam_search_cache(rnn) == {}  # nlpkit's RNN keeps its own decoder state
