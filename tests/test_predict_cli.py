"""`nlpkit predict`: texts from arguments, files (csv, tsv, jsonl, txt) or standard input; JSON lines out, with the
input's fields; every task nlpkit saves (text and pair classifiers, NER taggers, translators, language models); and
one line for what it cannot do. The models are tiny and random, saved to tmp folders once per module, and each test
checks the command's predictions against the model run by hand."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertTokenizerFast,
    GPT2Config,
    GPT2LMHeadModel,
    MarianConfig,
    MarianMTModel,
)

from nlpkit import cli
from nlpkit.errors import ConfigError, DataError
from nlpkit.models.bilstm_crf import BiLSTMCRFConfig, BiLSTMCRFForTokenClassification
from nlpkit.models.gpt import GPTConfig, GPTForCausalLM
from nlpkit.models.lstm_lm import LSTMForCausalLM, LSTMLMConfig
from nlpkit.models.rnn_seq2seq import RNNSeq2SeqConfig, RNNSeq2SeqForConditionalGeneration
from nlpkit.predict import load_predictor, predict_records, predictor_for_model, write_predictions
from nlpkit.tokenization import train_tokenizer
from tests.helpers import build_char_tokenizer, saved_classifier

WORDS = ["a", "great", "dull", "film", "john", "lives", "in", "paris", "the", "sea", "is", "calm"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
PROMPTS = ["to be", "a", "the sea is calm"]  # of different lengths: a batch of them is padded


def run_predict(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> str:
    """Run `nlpkit predict ARGV` in this process; its standard output."""
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsys.readouterr()
    cli.main(["predict", *argv])
    return capsys.readouterr().out


def predict_error(capsys, *argv: str) -> str:
    """Run `nlpkit predict ARGV`; it must end with status 2 and one line on standard error: that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        cli.main(["predict", *argv])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err.strip()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def word_spans(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in re.finditer(r"\S+", text)]


def bert_tokenizer(folder: Path) -> BertTokenizerFast:
    """A WordPiece tokenizer over WORDS (lowercasing, splitting words it lacks into known pieces or [UNK])."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))


def tiny_bert(**extra) -> BertConfig:
    return BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=64, **extra)  # fmt: skip


def tiny_marian(vocab_size: int, **extra) -> MarianConfig:
    return MarianConfig(vocab_size=vocab_size, d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                        max_position_embeddings=64, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                        forced_eos_token_id=None, **extra)  # fmt: skip


def every_word_a_person(classifier: torch.nn.Linear, label2id: dict[str, int]) -> None:
    """Make a tagger's emission layer say B-PER for every token, whatever it reads: each word is an entity."""
    with torch.no_grad():
        classifier.weight.zero_()
        classifier.bias.zero_()
        classifier.bias[label2id["B-PER"]] = 5.0


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """One saved folder per kind of model nlpkit predicts with."""
    root = tmp_path_factory.mktemp("predict_models")
    torch.manual_seed(0)
    saved_classifier(root / "lstm_classifier")

    tokenizer = bert_tokenizer(root / "bert_pair_classifier")
    labels = {0: "contradiction", 1: "neutral", 2: "entailment"}
    model = BertForSequenceClassification(tiny_bert(id2label=labels, label2id={v: k for k, v in labels.items()}))
    model.save_pretrained(root / "bert_pair_classifier")
    tokenizer.save_pretrained(root / "bert_pair_classifier")

    ner_labels = {"id2label": dict(enumerate(NER_LABELS)), "label2id": {label: i for i, label in enumerate(NER_LABELS)}}
    tokenizer = bert_tokenizer(root / "bert_tagger")
    model = BertForTokenClassification(tiny_bert(**ner_labels))
    every_word_a_person(model.classifier, model.config.label2id)
    model.save_pretrained(root / "bert_tagger")
    tokenizer.save_pretrained(root / "bert_tagger")

    tokenizer = train_tokenizer([" ".join(WORDS)], kind="word", min_frequency=1)
    config = BiLSTMCRFConfig(vocab_size=len(tokenizer), embedding_size=8, hidden_size=8, char_encoder="cnn",
                             char_alphabet="abcdefghijklmnopqrstuvwxyz", char_embedding_size=4, char_hidden_size=4,
                             max_word_length=8, pad_token_id=tokenizer.pad_token_id, **ner_labels)  # fmt: skip
    model = BiLSTMCRFForTokenClassification(config)
    every_word_a_person(model.classifier, config.label2id)
    with torch.no_grad():  # and no preference between tags from the CRF
        for transitions in (model.crf.transitions, model.crf.start_transitions, model.crf.end_transitions):
            transitions.zero_()
    model.set_word_vocabulary(tokenizer.get_vocab(), tokenizer.all_special_tokens)
    model.save_pretrained(root / "bilstm_crf")
    tokenizer.save_pretrained(root / "bilstm_crf")

    tokenizer = train_tokenizer([" ".join(WORDS)], kind="word", min_frequency=1, bos_token="<s>", eos_token="</s>",
                                add_eos_token=True)  # fmt: skip
    config = RNNSeq2SeqConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              embedding_size=8, encoder_hidden_size=8, hidden_size=8)  # fmt: skip
    RNNSeq2SeqForConditionalGeneration(config).save_pretrained(root / "rnn_seq2seq")
    tokenizer.save_pretrained(root / "rnn_seq2seq")

    tokenizer = build_char_tokenizer()
    MarianMTModel(tiny_marian(len(tokenizer), prefix="to french, ")).save_pretrained(root / "marian")
    tokenizer.save_pretrained(root / "marian")

    for name, model in {
        "gpt": GPTForCausalLM(GPTConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, max_position_embeddings=64, pad_token_id=0)),
        "lstm_lm": LSTMForCausalLM(LSTMLMConfig(vocab_size=len(tokenizer), embedding_size=16, hidden_size=16,
                                                num_hidden_layers=1, initializer_range=0.8, pad_token_id=0)),
    }.items():  # fmt: skip
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)

    # GPT-2 as from the Hub: no padding token, so a batch is padded with its end-of-text token.
    tokenizer = build_char_tokenizer()
    tokenizer.pad_token = None
    tokenizer.eos_token = "."
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=1, n_head=2,
                               eos_token_id=tokenizer.eos_token_id)).save_pretrained(root / "gpt2")  # fmt: skip
    tokenizer.save_pretrained(root / "gpt2")

    BertModel(tiny_bert()).save_pretrained(root / "bert_without_head")
    return {folder.name: folder for folder in root.iterdir()}


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path


# ---------------------------------------------------------------------------------------------------------------------
# Files in, JSON lines out: each input record with its prediction's fields.


def test_a_csv_file_is_classified_row_by_row_keeping_its_columns_and_its_gold_label(folders, data, capsys):
    folder = folders["lstm_classifier"]
    texts = ["a great film", "a dull film", "film"]
    rows = "".join(f"{i},{text},positive\n" for i, text in enumerate(texts))
    (data / "test.csv").write_text("id,text,label\n" + rows)
    run_predict(capsys, str(folder), "--input", str(data / "test.csv"), "--output", str(data / "out.jsonl"))
    predictions = read_jsonl(data / "out.jsonl")

    model, tokenizer = load_lstm_classifier(folder)
    for i, (text, prediction) in enumerate(zip(texts, predictions, strict=True)):
        with torch.no_grad():
            probabilities = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0]
        assert (prediction["id"], prediction["text"], prediction["input_label"]) == (str(i), text, "positive")
        assert prediction["label"] == model.config.id2label[int(probabilities.argmax())]
        assert prediction["score"] == pytest.approx(probabilities.max().item(), abs=1e-5)
        assert list(prediction["probabilities"]) == ["negative", "positive"]  # the model's label order
        assert list(prediction["probabilities"].values()) == pytest.approx(probabilities.tolist(), abs=1e-5)
    assert {path.name for path in data.iterdir()} == {"test.csv", "out.jsonl"}  # no temporary file left beside it


def load_lstm_classifier(folder: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def test_a_pair_classifier_reads_both_columns_of_a_tsv_file(folders, data, capsys):
    folder = folders["bert_pair_classifier"]
    pairs = [("john lives in paris", "john is calm"), ("the sea is calm", "a dull film")]
    (data / "pairs.tsv").write_text("premise\thypothesis\n" + "".join(f"{a}\t{b}\n" for a, b in pairs))
    run_predict(capsys, str(folder), "--input", str(data / "pairs.tsv"), "--text_column", "premise",
                "--text-pair-column", "hypothesis", "--output", str(data / "out.jsonl"))  # fmt: skip
    predictions = read_jsonl(data / "out.jsonl")

    model = BertForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    for (premise, hypothesis), prediction in zip(pairs, predictions, strict=True):
        with torch.no_grad():
            probabilities = model(**tokenizer(premise, hypothesis, return_tensors="pt")).logits.softmax(-1)[0]
        assert (prediction["premise"], prediction["hypothesis"]) == (premise, hypothesis)
        assert prediction["label"] == model.config.id2label[int(probabilities.argmax())]
        assert list(prediction["probabilities"].values()) == pytest.approx(probabilities.tolist(), abs=1e-5)


@pytest.mark.parametrize("kind", ["bilstm_crf", "bert_tagger"])
def test_entities_of_a_jsonl_file_have_character_offsets_into_each_text(folders, data, capsys, kind):
    """The taggers call every word a person: each word of a text is one entity, at its own characters."""
    records = [{"text": "john lives in paris", "id": 1}, {"text": "the sea  is calm", "id": 2}, {"text": "", "id": 3}]
    (data / "test.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    run_predict(capsys, str(folders[kind]), "--input", str(data / "test.jsonl"), "--output", str(data / "out.jsonl"),
                "--batch_size", "2")  # fmt: skip
    predictions = read_jsonl(data / "out.jsonl")
    assert [prediction["id"] for prediction in predictions] == [1, 2, 3]
    for record, prediction in zip(records, predictions, strict=True):
        text = record["text"]
        assert [(e["label"], e["start"], e["end"], e["text"]) for e in prediction["entities"]] == [
            ("PER", start, end, text[start:end]) for start, end in word_spans(text)
        ]
        assert all(0.5 < entity["score"] <= 1 for entity in prediction["entities"])


def test_a_txt_file_is_translated_line_by_line_like_generate_does_it(folders, data, capsys):
    folder = folders["rnn_seq2seq"]
    texts = ["john lives in paris", "the sea", "a great film is calm"]
    (data / "sources.txt").write_text("\n".join(texts[:2]) + "\n\n" + texts[2] + "\n")  # a blank line is skipped
    run_predict(capsys, str(folder), "--input", str(data / "sources.txt"), "--output", str(data / "out.jsonl"),
                "--max_new_tokens", "5", "--batch_size", "2")  # fmt: skip
    predictions = read_jsonl(data / "out.jsonl")

    model = RNNSeq2SeqForConditionalGeneration.from_pretrained(folder).eval()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    expected = []
    for text in texts:
        with torch.no_grad():
            output = model.generate(**tokenizer(text, return_tensors="pt"), max_new_tokens=5)
        expected.append({"text": text, "translation_text": tokenizer.decode(output[0], skip_special_tokens=True)})
    assert predictions == expected


def test_a_translator_reads_each_text_behind_its_config_prefix(folders, data, capsys, monkeypatch):
    sources = []
    generate = MarianMTModel.generate

    def recording(self, **inputs):
        sources.extend(inputs["input_ids"].tolist())
        return generate(self, **inputs)

    monkeypatch.setattr(MarianMTModel, "generate", recording)
    output = run_predict(capsys, str(folders["marian"]), "the sea", "a film", "--json", "--max-new-tokens", "3")
    tokenizer = build_char_tokenizer()
    assert [tokenizer.decode(ids, skip_special_tokens=True) for ids in sources] == [
        "to french, the sea",
        "to french, a film",
    ]
    predictions = [json.loads(line) for line in output.splitlines()]
    assert [prediction["text"] for prediction in predictions] == ["the sea", "a film"]
    assert all(isinstance(prediction["translation_text"], str) for prediction in predictions)


@pytest.mark.parametrize("kind", ["gpt", "lstm_lm", "gpt2"])
def test_prompts_batched_with_left_padding_are_continued_as_each_alone(folders, data, capsys, kind):
    folder = folders[kind]
    (data / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    run_predict(capsys, str(folder), "--input", str(data / "prompts.jsonl"), "--text_column", "prompt",
                "--output", str(data / "out.jsonl"), "--greedy", "--max_new_tokens", "6")  # fmt: skip
    predictions = read_jsonl(data / "out.jsonl")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for prompt, prediction in zip(PROMPTS, predictions, strict=True):
        input_ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            alone = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                                   max_new_tokens=6, pad_token_id=pad)  # fmt: skip
        assert prediction == {"prompt": prompt, "generated_text": tokenizer.decode(alone[0], skip_special_tokens=True)}
        assert prediction["generated_text"].startswith(prompt)


def test_sampling_with_a_seed_gives_the_same_generations_each_run(folders, capsys):
    argv = [str(folders["gpt"]), *PROMPTS, "--json", "--do_sample", "--seed", "7", "--top_k", "10",
            "--temperature", "1.5", "--max_new_tokens", "8", "--batch_size", "2"]  # fmt: skip
    assert run_predict(capsys, *argv) == run_predict(capsys, *argv)


# ---------------------------------------------------------------------------------------------------------------------
# Arguments and standard input; what the terminal shows.


def test_standard_input_lines_are_the_texts_and_blank_lines_are_skipped(folders, capsys, monkeypatch):
    folder = folders["lstm_classifier"]
    output = run_predict(capsys, str(folder), "--json", stdin="a great film\n\na dull film\n", monkeypatch=monkeypatch)
    predictions = [json.loads(line) for line in output.splitlines()]
    assert [prediction["text"] for prediction in predictions] == ["a great film", "a dull film"]
    by_argument = run_predict(capsys, str(folder), "a great film", "a dull film", "--json")
    assert [json.loads(line) for line in by_argument.splitlines()] == predictions


def test_the_terminal_shows_each_translation_under_its_source_and_generations_apart(folders, capsys):
    output = run_predict(capsys, str(folders["rnn_seq2seq"]), "the sea", "a film", "--max_new_tokens", "3")
    lines = output.splitlines()
    assert lines[0] == "the sea" and lines[1].startswith("  -> ") and lines[2] == "a film"
    output = run_predict(capsys, str(folders["gpt"]), "to be", "a", "--greedy", "--max_new_tokens", "3")
    first, second = output.rstrip("\n").split("\n\n")
    assert first.startswith("to be") and second.startswith("a")


def test_the_progress_bar_goes_to_standard_error_when_writing_a_file(folders, data, capsys):
    (data / "texts.txt").write_text("a great film\na dull film\n")
    capsys.readouterr()
    cli.main(["predict", str(folders["lstm_classifier"]), "--input", str(data / "texts.txt"), "--output",
              str(data / "out.jsonl")])  # fmt: skip
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Predicting" in captured.err and "2/2" in captured.err
    assert captured.err.rstrip().endswith(f"nlpkit predict: 2 predictions written to {data / 'out.jsonl'}")


# ---------------------------------------------------------------------------------------------------------------------
# One line for what cannot be done, before any model loads where the input is at fault.


@pytest.fixture
def no_model_loads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("nlpkit.predict.load_predictor", refuse)


def test_a_missing_column_names_the_file_and_the_column(folders, data, capsys, no_model_loads):
    (data / "test.csv").write_text("sentence,label\na great film,1\n")
    line = predict_error(capsys, str(folders["lstm_classifier"]), "--input", str(data / "test.csv"))
    assert line == f"nlpkit predict: error: {data / 'test.csv'}: no column 'text' (columns: sentence, label)"
    (data / "test.jsonl").write_text('{"text": "a film"}\n{"sentence": "a dull film"}\n')
    line = predict_error(capsys, str(folders["lstm_classifier"]), "--input", str(data / "test.jsonl"))
    assert line == f"nlpkit predict: error: {data / 'test.jsonl'}, line 2: no 'text' field (fields: sentence)"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "\n\n", "{path}: no texts"),
        ("broken.jsonl", '{"text": "a"}\n{"text": \n', "{path}, line 2: not valid JSON (Expecting value)"),
        ("numbers.jsonl", '{"text": 3}\n', "{path}, line 1: 'text' is not a text (int)"),
        ("missing.csv", None, "{path}: no such file"),
        ("texts.xlsx", "", "{path}: unknown input format '.xlsx' (read: .csv, .tsv, .jsonl, .json, .txt)"),
    ],
    ids=["empty", "bad-json", "not-a-text", "missing", "unknown-format"],
)
def test_an_unusable_input_file_is_one_line_naming_it(folders, data, capsys, no_model_loads, name, content, message):
    path = data / name
    if content is not None:
        path.write_text(content)
    line = predict_error(capsys, str(folders["lstm_classifier"]), "--input", str(path))
    assert line == f"nlpkit predict: error: {message.format(path=path)}"


def test_a_data_file_given_as_a_text_says_to_pass_it_with_input(folders, data, capsys, no_model_loads, monkeypatch):
    (data / "unlabeled.jsonl").write_text('{"text": "a great film"}\n')
    monkeypatch.chdir(data)
    line = predict_error(capsys, str(folders["lstm_classifier"]), "unlabeled.jsonl")
    assert line == (
        "nlpkit predict: error: 'unlabeled.jsonl' is a file, and arguments are texts: to predict its rows, "
        "pass --input unlabeled.jsonl"
    )


def test_a_folder_without_a_head_is_one_line_saying_what_predict_serves(folders, capsys):
    folder = folders["bert_without_head"]
    line = predict_error(capsys, str(folder), "a great film")
    assert line == (
        f"nlpkit predict: error: {folder} holds a model without a classification, translation or language-model "
        "head (BertModel), which `nlpkit predict` does not serve: nlpkit predict serves text and token classifiers, "
        "translation and causal language models"
    )


def test_an_unknown_model_type_is_one_line_naming_the_folder(folders, tmp_path, capsys):
    import shutil

    folder = tmp_path / "mystery"
    shutil.copytree(folders["lstm_classifier"], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "mystery"}))
    line = predict_error(capsys, str(folder), "a great film")
    assert line.startswith(f"nlpkit predict: error: {folder}: cannot load the text-classification model (")


@pytest.mark.parametrize(
    ("kind", "argv", "message"),
    [
        ("lstm_classifier", ["--num_beams", "2"],
         "--num_beams is for translation and generation models; {folder} holds a text-classification model"),
        ("gpt", ["--tgt_lang", "fr"], "--tgt_lang is for translation models; {folder} holds a text-generation model"),
        ("lstm_classifier", ["--text_pair_column", "b"],
         "--text_pair_column needs --input FILE (a csv, tsv or jsonl file with both columns)"),
    ],
    ids=["beams-for-a-classifier", "language-for-a-language-model", "pairs-without-a-file"],
)  # fmt: skip
def test_an_option_the_folder_or_the_input_cannot_take_is_one_line(folders, capsys, no_model_loads, kind, argv,
                                                                   message):  # fmt: skip
    line = predict_error(capsys, str(folders[kind]), "a film", *argv)
    assert line == f"nlpkit predict: error: {message.format(folder=folders[kind])}"


# ---------------------------------------------------------------------------------------------------------------------
# The library API that recipes use.


def test_write_predictions_leaves_the_old_file_whole_when_predicting_fails(folders, data):
    path = data / "predictions.jsonl"
    path.write_text('{"old": true}\n')
    predictor = load_predictor(folders["lstm_classifier"])
    records = [{"text": "a great film"}] * 3 + [{"sentence": "no text field"}]
    with pytest.raises(DataError, match=r"^record 4: no 'text' field \(fields: sentence\)$"):
        write_predictions(path, predict_records(predictor, records, batch_size=2))
    assert path.read_text() == '{"old": true}\n'
    assert [p.name for p in data.iterdir()] == ["predictions.jsonl"]
    assert write_predictions(path, predict_records(predictor, records[:3], batch_size=2)) == 3
    assert [record["text"] for record in read_jsonl(path)] == ["a great film"] * 3


def test_a_translators_language_codes_reach_generation_and_an_unknown_one_is_one_line():
    tokenizer = build_char_tokenizer()
    tokenizer.add_tokens(["en_XX", "fr_XX"], special_tokens=True)
    tokenizer.src_lang = None  # a multilingual tokenizer has one (its setter switches the language tokens)
    model = MarianMTModel(tiny_marian(len(tokenizer)))
    predictor = predictor_for_model(model, tokenizer)
    assert predictor.task == "translation" and not model.training
    with pytest.raises(ConfigError, match=r"^tgt_lang 'xx_XX' is not a language code of the model's tokenizer"):
        predictor(["the sea"], tgt_lang="xx_XX")
    (french,) = predictor(["the sea"], src_lang="en_XX", tgt_lang="fr_XX", max_new_tokens=1)
    assert french == {"translation_text": ""}  # the one new token is the forced (special) language code
    assert tokenizer.src_lang == "en_XX"


EXPORTED_PREDICTION = {"label": "positive", "score": 0.75, "probabilities": {"negative": 0.25, "positive": 0.75}}


class FakeExport:
    """What an exporter's load() gives: a task and a call with the records of nlpkit.predict."""

    task = "text-classification"
    calls: list[tuple[list[str], dict]] = []

    def __call__(self, texts, *, batch_size=32, **options):
        self.calls.append((list(texts), {"batch_size": batch_size, **options}))
        return [EXPORTED_PREDICTION] * len(texts)


def test_an_exported_folder_is_served_by_its_runtime(tmp_path, capsys, monkeypatch):
    from nlpkit.export import MANIFEST

    (tmp_path / MANIFEST).write_text(json.dumps({"format": "onnx", "task": "text-classification"}))
    loaded = []
    monkeypatch.setattr("nlpkit.export.load_exported", lambda folder: loaded.append(Path(folder)) or FakeExport())
    output = run_predict(capsys, str(tmp_path), "a great film", "a dull film", "--json", "--batch_size", "1")
    assert loaded == [tmp_path]
    assert FakeExport.calls == [(["a great film"], {"batch_size": 1}), (["a dull film"], {"batch_size": 1})]
    assert [json.loads(line) for line in output.splitlines()] == [
        {"text": text, **EXPORTED_PREDICTION} for text in ("a great film", "a dull film")
    ]
    line = predict_error(capsys, str(tmp_path), "a film", "--max_new_tokens", "3")  # the manifest's task decides
    assert line.endswith(f"{tmp_path} holds a text-classification model")
