"""The translation recipe end to end, its data sources and errors, and the saved folder used without nlpkit."""

import json

import datasets
import pytest
import sacrebleu
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

import nlpkit  # noqa: F401  (registers rnn_seq2seq with the Auto classes)
from nlpkit.data.loading import DataError
from nlpkit.data.translation import TranslationDataArguments, load_translation_data, pairs_from_hub_split
from nlpkit.metrics import load_metric
from nlpkit.tasks import translation
from nlpkit.tasks.translation import HEATMAP_FILE, SAMPLES_FILE, from_scratch
from nlpkit.training import Run, Seq2SeqTrainingArguments
from tests.helpers import REPO_ROOT, build_char_tokenizer, last_json_line, launch_recipe, run_without_nlpkit

RECIPE = str(REPO_ROOT / "recipes" / "translation.py")
TINY = [
    "--max_train_samples", "64", "--max_eval_samples", "8", "--per_device_train_batch_size", "16",
    "--embedding_size", "32", "--hidden_size", "32", "--vocab_size", "300", "--max_target_length", "12",
    "--num_sample_translations", "3", "--logging_steps", "1",
]  # fmt: skip
SENTENCES = ["They have never seen the sea.", "She studies medicine.", "The park is very big."]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("translation") / "out"
    result = launch_recipe(
        RECIPE, *TINY, "--output_dir", str(output_dir), "--max_steps", "4", "--save_strategy", "steps",
        "--save_steps", "4", "--eval_strategy", "steps", "--eval_steps", "2", "--generation_num_beams", "2",
        "--length_penalty", "0.8",
    )  # fmt: skip
    return output_dir, result


def test_quickstart_writes_the_whole_output_folder(quickstart):
    output_dir, result = quickstart
    for name in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "all_results.json",
                 "modeling_rnn_seq2seq.py", "translation_pipeline.py", "README.md", "loss_curves.png", "checkpoint-4",
                 SAMPLES_FILE, HEATMAP_FILE):  # fmt: skip
        assert (output_dir / name).exists(), name
    assert not (output_dir / "checkpoint-4" / "translation_pipeline.py").exists()  # the final model ships it
    assert not (output_dir / "tokenizer").exists()  # the run's tokenizer lives at the top level only
    results = json.loads((output_dir / "all_results.json").read_text())
    assert {"eval_bleu", "eval_chrf", "eval_loss", "train_loss"} <= results.keys()
    assert 0 <= results["eval_bleu"] <= 100 and 0 <= results["eval_chrf"] <= 100
    generation = json.loads((output_dir / "generation_config.json").read_text())
    assert (generation["num_beams"], generation["length_penalty"], generation["max_length"]) == (2, 0.8, 12)
    config = json.loads((output_dir / "config.json").read_text())
    assert config["model_type"] == "rnn_seq2seq" and config["embedding_size"] == 32
    samples = (output_dir / SAMPLES_FILE).read_text().splitlines()
    assert samples[0] == "source\treference\ttranslation" and len(samples) == 4
    assert samples[1].split("\t")[:2] == ["They have never seen the sea.", "Ils n'ont jamais vu la mer."]
    assert (output_dir / HEATMAP_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Sample translations:" in result.stdout
    card = (output_dir / "README.md").read_text()
    assert "language:\n- en\n- fr\n" in card  # source_lang, target_lang


def test_saved_tokenizer_encodes_pairs_and_decodes(quickstart):
    output_dir, _ = quickstart
    tokenizer = AutoTokenizer.from_pretrained(output_dir, trust_remote_code=True)
    encoded = tokenizer(["She studies medicine."], text_target=["Elle fait des études de médecine."])
    assert encoded["input_ids"][0][-1] == encoded["labels"][0][-1] == tokenizer.eos_token_id
    assert tokenizer.decode(encoded["labels"][0], skip_special_tokens=True) == "Elle fait des études de médecine."


def test_pipeline_and_remote_code_give_nlpkits_greedy_translation(quickstart, tmp_path):
    output_dir, _ = quickstart
    model = AutoModelForSeq2SeqLM.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir, trust_remote_code=True)
    with torch.no_grad():
        generated = model.generate(**tokenizer(SENTENCES, return_tensors="pt", padding=True), num_beams=1)
    expected = [text for text in tokenizer.batch_decode(generated, skip_special_tokens=True)]
    code = f"""
import json, torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline
folder, sentences = {str(output_dir)!r}, {SENTENCES!r}
model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
with torch.no_grad():
    ids = model.generate(**tokenizer(sentences, return_tensors="pt", padding=True), num_beams=1)
translator = pipeline("translation", model=folder, trust_remote_code=True)
piped = [translator(text, num_beams=1)[0]["translation_text"] for text in sentences]
print(json.dumps({{"direct": tokenizer.batch_decode(ids, skip_special_tokens=True), "pipeline": piped,
                  "module": type(model).__module__}}))
"""
    loaded = last_json_line(run_without_nlpkit(code, tmp_path))
    assert not loaded["module"].startswith("nlpkit")
    assert loaded["direct"] == loaded["pipeline"] == expected


def test_the_transformer_marian_and_bart_from_scratch_train_a_few_steps(tmp_path):
    from recipes.translation import main  # in-process: one more launch would only repeat the quickstart's

    for model, model_type in (("transformer", "m2m_100"), ("marian", "marian"), ("bart", "bart")):
        output_dir = tmp_path / model
        results = main([*TINY, "--model", model, "--d_model", "32", "--encoder_layers", "1", "--decoder_layers",
                        "1", "--encoder_attention_heads", "2", "--decoder_attention_heads", "2", "--encoder_ffn_dim",
                        "32", "--decoder_ffn_dim", "32", "--max_steps", "2", "--output_dir", str(output_dir),
                        "--save_strategy", "no", "--eval_strategy", "no"])  # fmt: skip
        assert "eval_bleu" in results
        config = json.loads((output_dir / "config.json").read_text())
        assert (config["model_type"], config["d_model"], config["encoder_layers"]) == (model_type, 32, 1)
        assert (output_dir / HEATMAP_FILE).is_file() and (output_dir / SAMPLES_FILE).is_file()


def test_the_collator_gives_decoder_inputs_to_models_that_cannot_shift_labels_themselves():
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    from nlpkit.tasks.translation import Seq2SeqCollator

    tokenizer = build_char_tokenizer()
    tokenizer.padding_side = "right"
    config = M2M100Config(vocab_size=len(tokenizer), d_model=8, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=1, decoder_attention_heads=1, encoder_ffn_dim=8, decoder_ffn_dim=8,
                          pad_token_id=tokenizer.pad_token_id, decoder_start_token_id=5)  # fmt: skip
    model = M2M100ForConditionalGeneration(config)
    assert not hasattr(model, "prepare_decoder_input_ids_from_labels")  # label smoothing pops the labels: no shift
    batch = Seq2SeqCollator(tokenizer, model=model, label_pad_token_id=-100)(
        [{"input_ids": [7, 8], "labels": [9, 10, 11]}, {"input_ids": [7], "labels": [12]}]
    )
    pad = tokenizer.pad_token_id
    assert batch["labels"].tolist() == [[9, 10, 11], [12, -100, -100]]
    assert batch["decoder_input_ids"].tolist() == [[5, 9, 10], [5, 12, pad]]


# --- data ---


def test_aligned_files_and_pair_files_in_either_direction(tmp_path):
    (tmp_path / "train.de").write_text("ein Hund\nzwei Katzen\n")
    (tmp_path / "train.en").write_text("a dog\ntwo cats\n")
    de_en = load_translation_data(
        TranslationDataArguments(
            train_file=str(tmp_path / "train"), source_lang="de", target_lang="en", validation_split_percentage=50
        )  # fmt: skip
    )
    assert sorted(list(de_en.splits["train"]["source"]) + list(de_en.splits["validation"]["source"])) == [
        "ein Hund",
        "zwei Katzen",
    ]
    pairs = tmp_path / "eng-fra.txt"
    pairs.write_text("Go.\tVa !\nRun, run now!\tCours, cours maintenant !\nHi.\tSalut.\n")
    fr_en = load_translation_data(
        TranslationDataArguments(
            train_file=str(pairs),
            validation_file=str(pairs),
            source_lang="fr",
            target_lang="en",
            pair_languages=["en", "fr"],
            max_words=2,
        )  # fmt: skip
    )
    assert fr_en.splits["train"].to_list() == [
        {"source": "Va !", "target": "Go."},
        {"source": "Salut.", "target": "Hi."},
    ]
    assert len(fr_en.splits["validation"]) == 3  # length filtering applies to training pairs only


def test_hub_translation_column_and_language_columns():
    args = TranslationDataArguments(dataset_name="wmt16", source_lang="de", target_lang="en")
    wmt = datasets.Dataset.from_dict({"translation": [{"de": "Hallo", "en": "Hello"}]})
    assert pairs_from_hub_split(wmt, "hub:wmt16", args).to_list() == [{"source": "Hallo", "target": "Hello"}]
    multi30k = datasets.Dataset.from_dict({"en": ["Hello"], "de": ["Hallo"]})
    assert pairs_from_hub_split(multi30k, "hub:x", args)[0] == {"source": "Hallo", "target": "Hello"}
    with pytest.raises(DataError, match="needs a 'translation' column or columns 'de' and 'en'"):
        pairs_from_hub_split(datasets.Dataset.from_dict({"text": ["x"]}), "hub:x", args)


def test_line_count_mismatch_names_both_files_and_counts(tmp_path):
    (tmp_path / "train.de").write_text("a\nb\nc\n")
    (tmp_path / "train.en").write_text("a\nb\n")
    args = TranslationDataArguments(train_file=str(tmp_path / "train"), source_lang="de", target_lang="en")
    with pytest.raises(DataError) as error:
        load_translation_data(args)
    assert f"{tmp_path / 'train.de'} has 3 lines, {tmp_path / 'train.en'} has 2" in str(error.value)


@pytest.mark.parametrize("bad_line", ["no tab here", "one\ttwo\tthree"])
def test_pair_line_without_exactly_one_tab_names_file_and_line(tmp_path, bad_line):
    path = tmp_path / "pairs.tsv"
    path.write_text(f"Go.\tVa !\n{bad_line}\nHi.\tSalut.\n")
    with pytest.raises(DataError, match=rf"{path}:2: expected one TAB"):
        load_translation_data(TranslationDataArguments(train_file=str(path)))


def test_missing_file_names_the_aligned_candidates(tmp_path):
    with pytest.raises(DataError, match=r"train: file not found \(nor the line-aligned pair .*train\.en, .*train\.fr"):
        load_translation_data(TranslationDataArguments(train_file=str(tmp_path / "train")))


def test_the_joint_tokenizer_is_trained_on_both_sides_and_a_resumed_run_reuses_the_checkpoints(tmp_path):
    def setup_for(source, target, resume=None):
        model_args = from_scratch.Arguments(vocab_size=200, embedding_size=16, hidden_size=16)
        task_args = translation.Arguments(train_file="unused")
        training_args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
        run = Run((model_args, task_args, training_args), training_args, None, {}, resume_checkpoint=resume)
        data = type("Raw", (), {"splits": {"train": datasets.Dataset.from_dict({"source": source, "target": target})}})
        return from_scratch.build(run, data)

    first = setup_for(["die Katze saß auf der Matte"] * 5, ["the cat sat on the mat"] * 5)
    assert {"▁Katze", "▁cat"} <= first.tokenizer.get_vocab().keys()
    assert first.model.config.vocab_size == len(first.tokenizer) and first.model.config.share_embeddings
    first.tokenizer.save_pretrained(tmp_path / "checkpoint-1")
    resumed = setup_for(["ganz andere Wörter"] * 5, ["other words"] * 5, resume=str(tmp_path / "checkpoint-1"))
    assert resumed.tokenizer.get_vocab() == first.tokenizer.get_vocab()


def test_sacrebleu_module_matches_sacrebleu():
    predictions = ["the cat sat on the mat", "a dog barked at night"]
    references = ["the cat sat on a mat", "the dog barked all night"]
    scores = load_metric("sacrebleu").compute(predictions=predictions, references=references)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(predictions, [references]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(predictions, [references]).score)
    perfect = load_metric("sacrebleu").compute(predictions=predictions, references=[[r] for r in predictions])
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)


@pytest.mark.parametrize("config", sorted((REPO_ROOT / "recipes" / "configs" / "translation").glob("*.yaml")))
def test_every_config_parses(config, monkeypatch):
    from nlpkit.config import parse_args
    from recipes.translation import ARGUMENTS, DEFAULTS, QUICKSTART

    monkeypatch.setenv("NLPKIT_SHARED_DATA", "/data")
    parsed = parse_args(ARGUMENTS, ["--config", str(config)], default_config=QUICKSTART, defaults=DEFAULTS)
    data_args = parsed.args[ARGUMENTS.index(translation.Arguments)]
    assert data_args.source_lang != data_args.target_lang
