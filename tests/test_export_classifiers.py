"""`nlpkit export` of text and token classifiers (BERT family, nlpkit's LSTM classifier and BiLSTM-CRF) to ONNX:
the exported graphs against PyTorch on padded batches of mixed lengths, the runtime's records against the PyTorch
pipeline's, int8, the folder as ONNX Runtime's own loader sees it, and the CLI. Each tiny model is exported once.

Tolerances. Float32 (measured: ~1e-7 for the LSTMs, ~1e-6 for BERT): logits within 1e-4 (1e-6 relative for the
CRF's scores of forbidden moves, near -1e4), identical labels, Viterbi paths and entity spans. Dynamic int8 (weights
rounded per tensor, activations per batch): the largest logit error within 0.3 of the largest logit (measured up to
~0.2 for the 16-wide BERT, ~0.05 for the LSTMs). Layers this narrow quantize far worse than real ones, so these tests
check that int8 runs and stays close; whether it keeps the accuracy is benchmarks/inference.py's check, on real
models and data (MiniLM on SST-2 dev: 83.94% float, 83.0-83.4% int8).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertTokenizerFast,
    PreTrainedTokenizerFast,
)

from nlpkit import cli
from nlpkit.errors import ConfigError
from nlpkit.export import MANIFEST, export_model, load_exported
from nlpkit.export.onnx import quantize_int8
from nlpkit.export.token_classification import crf_logits
from nlpkit.models.bilstm_crf import BiLSTMCRFConfig, BiLSTMCRFForTokenClassification
from nlpkit.models.bilstm_crf.modeling_bilstm_crf import viterbi_logits
from nlpkit.models.lstm_classifier import LSTMClassifierConfig, LSTMClassifierForSequenceClassification
from nlpkit.predict import load_predictor
from nlpkit.tokenization import train_tokenizer

FAMILIES = ["bert_classifier", "lstm_classifier", "bert_tagger", "bilstm_crf"]
FLOAT_TOLERANCE = 1e-4
INT8_RELATIVE_TOLERANCE = 0.3
WORDS = ["a", "great", "dull", "film", "john", "lives", "in", "paris", "the", "sea", "is", "calm", "."]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
# Mixed lengths, so every batch is padded; words the vocabularies lack ("zorbulak", "lisbon") test unknown words
# and, for WordPiece, several pieces to a word.
TEXTS = [
    "a great film",
    "john lives in paris .",
    "the sea is calm and john lives by the sea in lisbon .",
    "dull",
    "zorbulak is a dull film",
]


def bert_tokenizer(folder: Path) -> BertTokenizerFast:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))


def word_tokenizer() -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}, "[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()  # keeps character offsets
    backend.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")


def tiny_bert(**extra) -> BertConfig:
    """A tiny BERT; weights drawn wide enough (initializer_range) that texts get visibly different features."""
    return BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=64, initializer_range=0.5, **extra)  # fmt: skip


def ner_labels() -> dict:
    return {"id2label": dict(enumerate(NER_LABELS)), "label2id": {label: i for i, label in enumerate(NER_LABELS)}}


def spread_predictions(model, head: torch.nn.Linear, tokenizer) -> None:
    """Centre the random output layer on what it reads for TEXTS, and scale it to logits of a few units: with the
    random weights as they are, every text (and token) would get the same label."""
    features = []
    hook = head.register_forward_hook(lambda module, inputs, output: features.append(inputs[0].flatten(0, -2)))
    with torch.no_grad():
        model.eval()(**tokenizer(TEXTS, padding=True, return_tensors="pt"))
        hook.remove()
        centred = features[0] - features[0].mean(dim=0)
        scale = 3.0 / (centred @ head.weight.T).std()
        head.weight.mul_(scale)
        head.bias.copy_(-(features[0].mean(dim=0) @ head.weight.T))


def save(model, tokenizer, folder: Path) -> Path:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """One saved folder per exported family, random weights (the output layers spread over the labels)."""
    root = tmp_path_factory.mktemp("export_sources")
    torch.manual_seed(0)
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    bert = BertForSequenceClassification(tiny_bert(id2label=labels, label2id={v: k for k, v in labels.items()}))
    tokenizer = bert_tokenizer(root / "bert_classifier")
    spread_predictions(bert, bert.classifier, tokenizer)
    folders = {"bert_classifier": save(bert, tokenizer, root / "bert_classifier")}

    tokenizer = train_tokenizer(TEXTS, kind="word", min_frequency=1)
    config = LSTMClassifierConfig(
        vocab_size=len(tokenizer), embedding_size=16, hidden_size=16, num_labels=3,
        embedding_init_std=1.0, pad_token_id=tokenizer.pad_token_id, id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )  # fmt: skip
    lstm = LSTMClassifierForSequenceClassification(config)
    spread_predictions(lstm, lstm.classifier, tokenizer)
    folders["lstm_classifier"] = save(lstm, tokenizer, root / "lstm")

    tagger = BertForTokenClassification(tiny_bert(**ner_labels()))
    tokenizer = bert_tokenizer(root / "bert_tagger")
    spread_predictions(tagger, tagger.classifier, tokenizer)
    folders["bert_tagger"] = save(tagger, tokenizer, root / "bert_tagger")

    tokenizer = word_tokenizer()
    config = BiLSTMCRFConfig(
        vocab_size=len(tokenizer), embedding_size=16, hidden_size=16, char_encoder="cnn", char_hidden_size=8,
        char_embedding_size=8, char_alphabet="".join(sorted(set("".join(WORDS)))), max_word_length=8,
        initializer_range=1.0, **ner_labels(),
    )  # fmt: skip
    crf = BiLSTMCRFForTokenClassification(config)
    crf.set_word_vocabulary(tokenizer.get_vocab(), tokenizer.all_special_tokens)
    spread_predictions(crf, crf.classifier, tokenizer)
    folders["bilstm_crf"] = save(crf, tokenizer, root / "bilstm_crf")
    return folders


@pytest.fixture(scope="module")
def exported(sources, tmp_path_factory) -> dict[str, Path]:
    """Each source exported once; the LSTM classifier through `nlpkit export` itself."""
    root = tmp_path_factory.mktemp("exported")
    folders = {}
    for name, source in sources.items():
        if name == "lstm_classifier":
            cli.main(["export", str(source), "--output", str(root / name)])
            folders[name] = root / name
        else:
            folders[name] = export_model(source, root / name)
    return folders


def int8_copy(folder: Path, destination: Path) -> Path:
    """The export quantized as `--quantize` does it (same helper), without exporting again."""
    shutil.copytree(folder, destination)
    manifest = json.loads((destination / MANIFEST).read_text())
    quantize_int8(destination / manifest["onnx"])
    (destination / MANIFEST).write_text(json.dumps({**manifest, "quantized": "int8"}))
    return destination


def session_outputs(folder: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run the exported graph with ONNX Runtime's standard loader, as the card shows."""
    manifest = json.loads((folder / MANIFEST).read_text())
    session = onnxruntime.InferenceSession(str(folder / manifest["onnx"]), providers=["CPUExecutionProvider"])
    names = {node.name for node in session.get_inputs()}
    return session.run(None, {name: array for name, array in feeds.items() if name in names})


def pytorch_batch(tokenizer, texts: list[str]) -> dict[str, torch.Tensor]:
    return dict(tokenizer(texts, padding=True, return_tensors="pt"))


def graph_inputs(family: str, source: Path) -> dict[str, np.ndarray]:
    """TEXTS as the exported graph of ``family`` reads them (the BiLSTM-CRF with its words' characters)."""
    pipe = load_predictor(source).pipe
    batch = pytorch_batch(pipe.tokenizer, TEXTS)
    if family == "bilstm_crf":
        batch["char_ids"] = pipe.model.word_char_ids[batch["input_ids"]]
    return {name: tensor.numpy() for name, tensor in batch.items()}


# ---------------------------------------------------------------------------------------------------------------------
# Text classifiers


@pytest.mark.parametrize("family", ["bert_classifier", "lstm_classifier"])
def test_exported_text_classifier_matches_pytorch_on_a_padded_batch(family, sources, exported):
    predictor = load_predictor(sources[family])
    model = predictor.pipe.model
    for side in ("right", "left"):  # the LSTM classifier reads either padding
        tokenizer = predictor.pipe.tokenizer
        tokenizer.padding_side = side
        batch = pytorch_batch(tokenizer, TEXTS)
        assert batch["attention_mask"].sum(dim=1).unique().numel() > 1  # really padded
        with torch.no_grad():
            expected = model(**batch).logits.numpy()
        (logits,) = session_outputs(exported[family], {k: v.numpy() for k, v in batch.items()})
        np.testing.assert_allclose(logits, expected, atol=FLOAT_TOLERANCE, rtol=0)
    tokenizer.padding_side = "right"

    predicted = load_exported(exported[family])(TEXTS, batch_size=3)
    pytorch = predictor(TEXTS, batch_size=3)
    assert [p["label"] for p in predicted] == [p["label"] for p in pytorch]
    assert len({p["label"] for p in pytorch}) > 1  # the labels differ, so the comparison means something
    for ours, theirs in zip(predicted, pytorch):
        assert list(ours["probabilities"]) == list(theirs["probabilities"])
        assert ours["score"] == pytest.approx(theirs["score"], abs=FLOAT_TOLERANCE)
    if family == "bert_classifier":  # a pair classifier reads both texts of each pair
        pairs = TEXTS[::-1]
        predicted = load_exported(exported[family])(TEXTS, text_pairs=pairs, batch_size=2)
        pytorch = predictor(TEXTS, text_pairs=pairs, batch_size=2)
        assert [p["probabilities"] for p in predicted] == [
            pytest.approx(p["probabilities"], abs=FLOAT_TOLERANCE) for p in pytorch
        ]


def test_exported_text_classifier_is_the_same_alone_and_in_any_batch(exported):
    classifier = load_exported(exported["lstm_classifier"])
    alone = [classifier([text])[0]["probabilities"] for text in TEXTS]
    for batch_size in (2, 5):
        batched = [p["probabilities"] for p in classifier(TEXTS, batch_size=batch_size)]
        for one, other in zip(alone, batched):
            assert list(one.values()) == pytest.approx(list(other.values()), abs=1e-6)


def test_lstm_classifier_export_path_equals_the_packed_forward_for_every_setting():
    """The unpacked forward that torch.export traces, against the packed one, on left and right padding, holes
    and an empty row, for every cell, direction, pooling and depth."""
    ids = torch.tensor([[5, 17, 3, 22, 9, 0, 0], [0, 0, 7, 1, 30, 2, 11], [12, 0, 4, 0, 0, 0, 0], [0] * 7])
    mask = ids.ne(0)
    for rnn_type in ("lstm", "gru"):
        for bidirectional in (False, True):
            for pooling in ("last", "max", "mean"):
                for layers in (1, 2):
                    torch.manual_seed(0)
                    settings = dict(rnn_type=rnn_type, bidirectional=bidirectional, pooling=pooling)
                    config = LSTMClassifierConfig(
                        vocab_size=40, embedding_size=8, hidden_size=6, num_hidden_layers=layers, **settings
                    )
                    encoder = LSTMClassifierForSequenceClassification(config).eval().model
                    with torch.no_grad():
                        packed, unpacked = encoder(ids, attention_mask=mask), encoder._forward_unpacked(ids, mask)
                    torch.testing.assert_close(unpacked.last_hidden_state, packed.last_hidden_state)
                    torch.testing.assert_close(unpacked.pooler_output, packed.pooler_output)


# ---------------------------------------------------------------------------------------------------------------------
# Token classifiers


def test_bilstm_crf_export_path_equals_the_packed_emissions_with_either_character_encoder(monkeypatch):
    """The emissions torch.export traces (LSTMs without packing, no padding check) against the packed ones, on a
    right-padded batch with an empty row and words without characters."""
    ids = torch.tensor([[5, 17, 3, 22, 9], [7, 1, 0, 0, 0], [0, 0, 0, 0, 0], [12, 4, 30, 0, 0]])
    mask = ids.ne(0)
    for char_encoder in ("lstm", "cnn", None):
        torch.manual_seed(0)
        config = BiLSTMCRFConfig(
            vocab_size=40, embedding_size=8, hidden_size=6, num_hidden_layers=2, char_encoder=char_encoder,
            char_alphabet="abcdefgh", char_hidden_size=6, max_word_length=5, **ner_labels(),
        )  # fmt: skip
        model = BiLSTMCRFForTokenClassification(config).eval()
        if char_encoder:
            model.set_word_vocabulary({"".join("abcdefgh"[i % 8] for i in range(n % 6)): n for n in range(40)})
        with torch.no_grad():
            packed = model.emissions(ids, mask)
            monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
            unpacked = model.emissions(ids, mask)
            monkeypatch.undo()
        torch.testing.assert_close(unpacked, packed)


def test_exported_bert_tagger_matches_pytorch_logits_and_entities(sources, exported):
    predictor = load_predictor(sources["bert_tagger"])
    batch = pytorch_batch(predictor.pipe.tokenizer, TEXTS)
    with torch.no_grad():
        expected = predictor.pipe.model(**batch).logits.numpy()
    (logits,) = session_outputs(exported["bert_tagger"], {k: v.numpy() for k, v in batch.items()})
    np.testing.assert_allclose(logits, expected, atol=FLOAT_TOLERANCE, rtol=0)
    assert_same_entities(load_exported(exported["bert_tagger"]), predictor)


def test_exported_bilstm_crf_matches_pytorch_emissions_logits_and_entities(sources, exported):
    predictor = load_predictor(sources["bilstm_crf"])
    model, tokenizer = predictor.pipe.model, predictor.pipe.tokenizer
    batch = pytorch_batch(tokenizer, TEXTS)
    # The characters the pipeline gives each word (the vocabulary's spelling; the unknown words have none here).
    batch["char_ids"] = model.word_char_ids[batch["input_ids"]]
    with torch.no_grad():
        expected_emissions = model.emissions(batch["input_ids"], batch["attention_mask"].bool(), batch["char_ids"])
        expected_logits = model(**batch).logits.numpy()
    emissions, *crf = session_outputs(exported["bilstm_crf"], {k: v.numpy() for k, v in batch.items()})
    mask = batch["attention_mask"].numpy()
    np.testing.assert_allclose(emissions, expected_emissions.numpy(), atol=FLOAT_TOLERANCE, rtol=0)
    logits = crf_logits(emissions, mask, *crf)
    # Scores of forbidden moves sit near -1e4, where a float32 step is 1e-3: relative there.
    np.testing.assert_allclose(logits, expected_logits, atol=FLOAT_TOLERANCE, rtol=1e-6)
    assert (logits.argmax(-1) == expected_logits.argmax(-1))[mask == 1].all()  # the Viterbi paths
    assert_same_entities(load_exported(exported["bilstm_crf"]), predictor)
    assert any(" " in e["text"] for p in predictor(TEXTS) for e in p["entities"])  # B- I- words grouped


def assert_same_entities(exported_predictor, pytorch_predictor) -> None:
    """Identical entity spans and labels for TEXTS, in one padded batch and one text at a time; close scores."""
    pytorch = pytorch_predictor(TEXTS, batch_size=len(TEXTS))
    assert sum(len(p["entities"]) for p in pytorch) >= 3  # entities to compare
    for batch_size in (len(TEXTS), 1):
        predicted = exported_predictor(TEXTS, batch_size=batch_size)
        spans = [[(e["label"], e["start"], e["end"], e["text"]) for e in p["entities"]] for p in predicted]
        assert spans == [[(e["label"], e["start"], e["end"], e["text"]) for e in p["entities"]] for p in pytorch]
        scores = [e["score"] for p in predicted for e in p["entities"]]
        assert scores == pytest.approx([e["score"] for p in pytorch for e in p["entities"]], abs=FLOAT_TOLERANCE)


def test_numpy_viterbi_gives_the_pytorch_crf_logits_exactly(sources):
    """`crf_logits` is the separate decoding step of the export: on the same emissions it must give the very logits
    (bit for bit) of the model's PyTorch Viterbi, ties and padding included."""
    model = load_predictor(sources["bilstm_crf"]).pipe.model
    torch.manual_seed(0)
    emissions = torch.randn(4, 6, len(NER_LABELS)) * 3
    emissions[1, 2] = emissions[1, 2, 0]  # a tie between every tag at one position
    mask = torch.arange(6) < torch.tensor([6, 4, 1, 5]).unsqueeze(1)
    with torch.no_grad():
        path, max_marginals = model.crf.viterbi(emissions, mask)
        expected = viterbi_logits(path, max_marginals, mask).numpy()
        scores = [score.numpy() for score in model.crf.scores()]
    np.testing.assert_array_equal(crf_logits(emissions.numpy(), mask.numpy(), *scores), expected)


@pytest.mark.parametrize("family", FAMILIES)
def test_int8_export_stays_close_to_float(family, sources, exported, tmp_path):
    quantized = int8_copy(exported[family], tmp_path / "int8")
    feeds = graph_inputs(family, sources[family])
    float_output, int8_output = session_outputs(exported[family], feeds)[0], session_outputs(quantized, feeds)[0]
    graph = onnx.load(str(quantized / "model.onnx"))
    assert {node.op_type for node in graph.graph.node} & {"MatMulInteger", "DynamicQuantizeLSTM"}  # int8 weights
    error = np.abs(int8_output - float_output).max() / np.abs(float_output).max()
    assert 0 < error < INT8_RELATIVE_TOLERANCE
    predictions = load_exported(quantized)(TEXTS)
    assert len(predictions) == len(TEXTS) and all(set(p) & {"label", "entities"} for p in predictions)


# ---------------------------------------------------------------------------------------------------------------------
# The exported folder and the command


@pytest.mark.parametrize("family", FAMILIES)
def test_exported_folder_has_a_manifest_a_card_the_tokenizer_and_dynamic_axes(family, exported):
    folder = exported[family]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["format"] == "onnx" and manifest["quantized"] is None
    card = (folder / "README.md").read_text()
    assert "onnxruntime.InferenceSession" in card and manifest["task"] in card
    assert (folder / "tokenizer.json").is_file() and (folder / "config.json").is_file()
    assert not list(folder.glob("*.safetensors"))  # the runtime needs no PyTorch weights
    session = onnxruntime.InferenceSession(str(folder / manifest["onnx"]), providers=["CPUExecutionProvider"])
    for node in session.get_inputs():
        assert node.shape[:2] == ["batch", "sequence"], (node.name, node.shape)
    output = session.get_outputs()[0]  # logits or emissions: no axis fixed to the example's sizes
    assert all(isinstance(size, str) for size in output.shape[: 2 if "token" in manifest["task"] else 1]), output.shape


def test_nlpkit_predict_runs_an_exported_folder(exported, capsys, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    output = tmp_path / "predictions.jsonl"
    cli.main(["predict", str(exported["lstm_classifier"]), "--input", str(texts), "--output", str(output)])
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["text"] for r in records] == TEXTS
    assert [r["label"] for r in records] == [p["label"] for p in load_exported(exported["lstm_classifier"])(TEXTS)]


def test_export_of_a_folder_without_an_exporter_is_one_line(tmp_path, capsys):
    from transformers import BertModel

    save(BertModel(tiny_bert()), bert_tokenizer(tmp_path / "encoder"), tmp_path / "encoder")
    with pytest.raises(ConfigError, match="no exporter for BertModel"):
        export_model(tmp_path / "encoder", tmp_path / "out")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        cli.main(["export", str(tmp_path / "encoder"), "--output", str(tmp_path / "out")])
    assert exit.value.code == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and "no exporter" in error
    assert not (tmp_path / "out").exists()


def test_a_missing_runtime_is_one_line_naming_the_extra_before_the_model_loads(sources, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # what `import onnxscript` sees uninstalled
    monkeypatch.setattr(
        "transformers.AutoModelForSequenceClassification.from_pretrained",
        lambda *args, **kwargs: pytest.fail("the model loaded before the missing extra was reported"),
    )
    with pytest.raises(ConfigError, match=r"needs onnxscript: pip install 'nlpkit\[export\]'"):
        export_model(sources["bert_classifier"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
