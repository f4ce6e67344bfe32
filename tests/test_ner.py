"""NER: CoNLL/Hub data, the seqeval module, sub-word label alignment, entity pipelines for both model kinds, and the
recipe end to end (`accelerate launch recipes/ner.py`, then `nlpkit predict`)."""

from __future__ import annotations

import json
import re
import runpy

import datasets
import pytest
import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForTokenClassification,
    DataCollatorForTokenClassification,
    pipeline,
)

from nlpkit.cli import main as cli_main
from nlpkit.config import parse_args
from nlpkit.data.loading import DataError
from nlpkit.data.token_classification import (
    TokenClassificationDataArguments,
    iob1_to_iob2,
    load_token_classification_data,
    read_conll,
)
from nlpkit.metrics import load_metric
from nlpkit.predict import tag_entities, token_classification_pipeline
from nlpkit.pretrained import resolve_model_path
from nlpkit.tasks import token_classification
from nlpkit.tasks.token_classification import bilstm_crf, entity_metrics, pretrained
from nlpkit.tasks.token_classification.bilstm_crf import WordCharCollator, encode_words
from nlpkit.tasks.token_classification.pretrained import align_labels, begin_to_inside, tokenize_subwords
from nlpkit.training import Run, TrainingArguments
from tests.helpers import NER_SENTENCES, REPO_ROOT, launch_recipe, write_conll

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def data_args(**kwargs) -> TokenClassificationDataArguments:
    return TokenClassificationDataArguments(**kwargs)


# ---------------------------------------------------------------------------------------------------------------------
# CoNLL files


def test_conll_sentence_breaks_docstart_and_tab_columns(tmp_path):
    text = (
        "-DOCSTART-\tO\n\n"
        "@paulwalk\tO\nEmpire\tB-location\nState\tI-location\n\t\n"  # a lone TAB ends a sentence (WNUT-17)
        "From\tO\nGreen\tB-person\n   \n"  # so does a line of spaces
        "-DOCSTART-\tO\n"  # a document start ends a sentence too, even without a blank line before it
        "Ok\tO\n"  # the last sentence needs no blank line after it
    )
    sentences = read_conll(write(tmp_path, "train.conll", text))
    assert sentences.tokens == [["@paulwalk", "Empire", "State"], ["From", "Green"], ["Ok"]]
    assert sentences.tags == [["O", "B-location", "I-location"], ["O", "B-person"], ["O"]]
    assert sentences.lines == [3, 7, 11]


def test_conll_space_columns_and_tag_column_index(tmp_path):
    text = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\r\n"
    path = write(tmp_path, "train.txt", text)
    assert read_conll(path).tags == [["B-ORG", "O"], ["B-PER"]]
    assert read_conll(path, tag_column_index=2).tags == [["B-NP", "B-VP"], ["B-NP"]]  # chunk tags


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("lonely\n", "expected a token and a tag"),
        ("Paris NNP B-LOC\n", "3 columns where the file's first token line has 2"),
        ("Paris X-LOC\n", "tag 'X-LOC' is not an IOB tag"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path, "bad.txt", f"John B-PER\nlives O\n\n{line}")
    with pytest.raises(DataError) as error:
        read_conll(path)
    assert str(error.value).startswith(f"{path}, line 4: ") and message in str(error.value)


def test_iob1_is_converted_to_iob2():
    iob1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG", "I-LOC"]
    assert iob1_to_iob2(iob1) == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG", "B-LOC"]
    assert iob1_to_iob2(["B-PER", "I-PER", "O"]) == ["B-PER", "I-PER", "O"]  # IOB2 is left alone


def test_tag_scheme_option(tmp_path):
    train = write(tmp_path, "train.iob", "John I-PER\nSmith I-PER\nsaw O\nParis I-LOC\n\nRome I-LOC\n")
    for scheme in ("auto", "iob1"):
        data = load_token_classification_data(data_args(train_file=str(train), tag_scheme=scheme))
        names = data.label_names
        all_tags = [[names[i] for i in row] for row in datasets.concatenate_datasets(list(data.raw.splits.values()))[
            "ner_tags"]]  # fmt: skip
        assert sorted(all_tags) == [["B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]]
        assert names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    with pytest.raises(DataError, match=rf"^{train}, line 1: 'I-PER' does not continue an entity"):
        load_token_classification_data(data_args(train_file=str(train), tag_scheme="iob2"))


def test_validation_tag_unseen_in_training_names_its_line(tmp_path):
    train = write(tmp_path, "train.txt", "John B-PER\nruns O\n")
    valid = write(tmp_path, "valid.txt", "Paris B-PER\n\nin O\nRome B-LOC\n")
    with pytest.raises(DataError, match=rf"^{valid}, line 4: tag 'B-LOC' does not occur in the training data"):
        load_token_classification_data(data_args(train_file=str(train), validation_file=str(valid)))


def test_hub_dataset_keeps_class_label_order(tmp_path):
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "words": datasets.List(datasets.Value("string")),
            "tags": datasets.List(datasets.ClassLabel(names=names)),
        }
    )
    rows = {
        "id": ["0", "1", "2"],
        "words": [["John", "Smith"], [], ["Paris", "is", "big"]],
        "tags": [[1, 2], [], [3, 0, 0]],
    }
    dataset = datasets.Dataset.from_dict(rows, features=features)
    for split in ("train", "validation"):
        dataset.to_parquet(str(tmp_path / f"{split}.parquet"))
    data = load_token_classification_data(
        data_args(dataset_name=str(tmp_path), tokens_column="words", tags_column="tags")
    )
    assert data.label_names == names
    assert data.raw.splits["train"].column_names == ["tokens", "ner_tags"]
    assert data.raw.splits["validation"]["ner_tags"] == [[1, 2], [3, 0, 0]]  # the empty sentence is dropped


def test_mismatched_tags_in_a_json_row_are_reported(tmp_path):
    train = write(tmp_path, "train.jsonl", '{"tokens": ["a", "b"], "ner_tags": ["B-X", "O"]}\n'
                  '{"tokens": ["c"], "ner_tags": ["O", "O"]}\n')  # fmt: skip
    with pytest.raises(DataError, match=rf"^{train}, line 2: 1 tokens but 2 tags"):
        load_token_classification_data(data_args(train_file=str(train)))


# ---------------------------------------------------------------------------------------------------------------------
# Metric and label alignment


def test_seqeval_module_scores_entities():
    seqeval = load_metric("seqeval")
    predictions = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    references = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    scores = seqeval.compute(predictions=predictions, references=references)
    assert scores["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "number": 1}  # wrong span: no credit
    assert scores["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "number": 1}
    assert (scores["overall_precision"], scores["overall_recall"], scores["overall_f1"]) == (0.5, 0.5, 0.5)
    assert scores["overall_accuracy"] == pytest.approx(0.8)
    # conlleval reads an I- after O as an entity start; strict IOB2 mode does not.
    lenient = seqeval.compute(predictions=[["I-PER", "O"]], references=[["B-PER", "O"]])
    strict = seqeval.compute(predictions=[["I-PER", "O"]], references=[["B-PER", "O"]], scheme="IOB2")
    assert (lenient["overall_f1"], strict["overall_f1"]) == (1.0, 0.0)


def test_align_labels_first_sub_token_or_all():
    names = ["O", "B-PER", "I-PER"]
    inside = begin_to_inside(names)
    word_ids = [None, 0, 0, 0, 1, None]  # [CLS] ko ##vac ##s runs [SEP]
    assert align_labels(word_ids, [1, 0]) == [-100, 1, -100, -100, 0, -100]
    assert align_labels(word_ids, [1, 0], label_all_tokens=True, inside=inside) == [-100, 1, 2, 2, 0, -100]


def test_subword_tokenization_aligns_and_scores_words(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(MINILM))
    train = write(tmp_path, "train.txt", "Maria B-PER\nKovacs I-PER\n\u200d O\nwon O\n")
    args = data_args(train_file=str(train), validation_file=str(train), label_all_tokens=True)
    data = load_token_classification_data(args)  # labels: O B-PER I-PER
    tokenized = tokenize_subwords(data, tokenizer, args)
    train_row, eval_row = tokenized["train"][0], tokenized["validation"][0]
    tokens = tokenizer.convert_ids_to_tokens(eval_row["input_ids"])
    assert tokens == ["[CLS]", "maria", "ko", "##vac", "##s", "[UNK]", "won", "[SEP]"]  # the invisible word -> [UNK]
    assert train_row["labels"] == [-100, 1, 2, 2, 2, 0, 0, -100]  # label_all_tokens: training only
    assert eval_row["labels"] == [-100, 1, 2, -100, -100, 0, 0, -100]
    # Predictions are read at each word's first sub-token; the others (wrong here) do not count.
    predicted = [[0, 1, 2, 1, 1, 0, 0, 0]]
    logits = torch.nn.functional.one_hot(torch.tensor(predicted), 3).float().numpy()
    metrics = entity_metrics(data.label_names)(
        type("Prediction", (), {"predictions": logits, "label_ids": torch.tensor([eval_row["labels"]]).numpy()})
    )
    assert metrics["f1"] == 1.0 and metrics["f1_PER"] == 1.0 and metrics["accuracy"] == 1.0


# ---------------------------------------------------------------------------------------------------------------------
# Entities from tiny trained models, through pipelines

EXPECTED = [  # the entities of NER_SENTENCES
    [("PER", 0, 10, "John Smith"), ("LOC", 20, 25, "Paris")],
    [("PER", 0, 4, "Mary"), ("LOC", 14, 20, "London")],
    [("LOC", 0, 5, "Paris"), ("PER", 15, 26, "Mary Kovacs")],
]


def overfit(model, batches, steps=80, lr=0.02):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(**batches).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def found(results):
    return [[(e["label"], e["start"], e["end"], e["text"]) for e in result["entities"]] for result in results]


def test_bilstm_crf_pipeline_groups_entities_with_offsets(tmp_path):
    args = data_args(train_file=str(write_conll(tmp_path)))
    data = load_token_classification_data(args)
    data.raw.splits["train"] = datasets.concatenate_datasets([data.raw.splits["train"], data.raw.splits["validation"]])
    crf_args = bilstm_crf.Arguments(embedding_size=16, hidden_size=16, char_embedding_size=8,
                                    char_hidden_size=8, min_word_frequency=1)  # fmt: skip
    training_args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    run = Run(args=(crf_args, args, training_args), training_args=training_args, config_file=None, explicit={},
              resume_checkpoint=None)  # fmt: skip
    torch.manual_seed(0)
    setup = bilstm_crf.build(run, data)
    model, tokenizer = setup.model, setup.tokenizer
    encoded = encode_words(data, tokenizer, model.config, args, with_chars=True)["train"]
    batch = WordCharCollator(tokenizer)([encoded[i] for i in range(len(encoded))])
    assert batch["char_ids"].shape == (3, 6, 8)  # character columns trimmed to the longest word, "welcomes"
    overfit(model, batch)
    texts = [text for text, _ in NER_SENTENCES]
    results = tag_entities(token_classification_pipeline(model, tokenizer), texts, batch_size=2)
    assert found(results) == [[(*entity,) for entity in expected] for expected in EXPECTED]
    plain = tag_entities(pipeline("token-classification", model=model, tokenizer=tokenizer), texts)
    assert found(plain) == found(results)  # known words: the vocabulary table gives the same characters


def test_bert_pipeline_groups_sub_words_into_entities(tmp_path):
    args = data_args(train_file=str(write_conll(tmp_path)), validation_file=str(write_conll(tmp_path)))
    data = load_token_classification_data(args)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(MINILM))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, id2label=data.id2label, label2id=data.label2id)  # fmt: skip
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    tokenized = tokenize_subwords(data, tokenizer, args)["train"]
    batch = DataCollatorForTokenClassification(tokenizer)([tokenized[i] for i in range(len(tokenized))])
    overfit(model, batch, steps=60, lr=0.005)
    texts = [text for text, _ in NER_SENTENCES]
    assert found(tag_entities(token_classification_pipeline(model, tokenizer), texts)) == [
        [(*entity,) for entity in expected] for expected in EXPECTED
    ]


# ---------------------------------------------------------------------------------------------------------------------
# The recipe end to end

RECIPE = str(REPO_ROOT / "recipes" / "ner.py")


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("ner") / "out"
    result = launch_recipe(
        RECIPE, "--output_dir", str(output_dir), "--max_steps", "60", "--eval_strategy", "no",
        "--save_strategy", "no", "--sample_texts", "Maria Kovacs flew to Paris.",
    )  # fmt: skip
    return output_dir, result


def test_quickstart_trains_a_bilstm_crf_and_predict_prints_entities(quickstart, capsys):
    output_dir, result = quickstart
    for name in ("model.safetensors", "config.json", "tokenizer.json", "all_results.json", "README.md",
                 "modeling_bilstm_crf.py"):  # fmt: skip
        assert (output_dir / name).exists(), name
    results = json.loads((output_dir / "all_results.json").read_text())
    assert {"eval_f1", "eval_precision", "eval_recall", "eval_f1_PER", "eval_f1_LOC"} <= results.keys()
    assert "Entities:\nMaria Kovacs flew to Paris." in result.stdout
    text = "Maria Kovacs flew to Paris."
    capsys.readouterr()
    cli_main(["predict", str(output_dir), text])  # in this process: a subprocess would import torch again
    printed = capsys.readouterr().out
    lines = printed.strip().splitlines()
    assert lines[0] == text and len(lines) > 1, printed
    for line in lines[1:]:  # "  LOC  0.984   21-26   Paris": label, score, character span, the text there
        label, score, span, entity = re.fullmatch(r"  (\S+) +([\d.]+) +(\d+-\d+) +(.+)", line).groups()
        start, end = map(int, span.split("-"))
        assert label in {"PER", "LOC", "ORG", "MISC"} and 0 < float(score) <= 1 and text[start:end] == entity


def test_recipe_fine_tunes_minilm(tmp_path):
    main = runpy.run_path(RECIPE)["main"]
    results = main([
        "--config", str(REPO_ROOT / "recipes" / "configs" / "ner" / "quickstart_minilm.yaml"),
        "--output_dir", str(tmp_path / "out"), "--max_steps", "2", "--max_train_samples", "16",
        "--max_eval_samples", "8", "--eval_strategy", "no", "--save_strategy", "no", "--sample_texts", "Hi Bob.",
    ])  # fmt: skip
    assert {"eval_f1", "eval_accuracy", "train_loss"} <= results.keys()
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_type"] == "bert" and config["id2label"]["1"] == "B-LOC"


@pytest.mark.parametrize("config", sorted((REPO_ROOT / "recipes/configs/ner").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config_parses(config):
    recipe = runpy.run_path(RECIPE)
    parsed = parse_args(
        [recipe["ModelChoice"], pretrained.Arguments, bilstm_crf.Arguments, token_classification.Arguments,
         TrainingArguments],
        ["--config", str(config)],
        defaults=recipe["DEFAULTS"],
    )  # fmt: skip
    choice, _, _, data_args, _ = parsed.args
    assert choice.model == (
        "bilstm-crf" if "bilstm_crf" in config.stem or config.stem == "quickstart" else "pretrained"
    )
    assert data_args.dataset_name or data_args.train_file.startswith(("nlpkit:", "$NLPKIT_SHARED_DATA/"))


def test_bilstm_crf_settings_come_from_its_config_and_none_turns_the_char_encoder_off():
    parsed = parse_args([bilstm_crf.Arguments, TrainingArguments], ["--output_dir", "o", "--char_encoder", "none"])
    config = parsed.args[0].make_config(vocab_size=10, char_alphabet="abc")
    assert config.char_encoder is None
    default = bilstm_crf.Arguments().make_config()
    assert (default.char_encoder, default.char_hidden_size, default.constrain_bio_transitions) == ("cnn", 50, True)
