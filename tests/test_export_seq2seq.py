"""`nlpkit export` of translation models: nlpkit's RNN seq2seq and a transformers M2M100 to ONNX (encoder graph and
decoder-step graph, searched in numpy), M2M100 and Marian to CTranslate2. The exported runtimes must translate as
model.generate() does: the same greedy tokens, the same beam-4 tokens where the search is the same (transformers'
beam search, which the ONNX runtime reproduces; CTranslate2's beam search stops differently, so only its greedy
search is compared), on padded batches of sentences of different lengths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from transformers import M2M100Config, M2M100ForConditionalGeneration, MarianConfig, MarianMTModel

from nlpkit.errors import ConfigError
from nlpkit.export import MANIFEST, export_model, load_exported
from nlpkit.export.onnx import quantize_int8
from nlpkit.export.seq2seq import Generation, beam_search, greedy_search
from nlpkit.models.rnn_seq2seq import RNNSeq2SeqConfig, RNNSeq2SeqForConditionalGeneration
from nlpkit.pipelines import TranslationPipeline
from nlpkit.tokenization import train_tokenizer

PAIRS = [
    "a man rides a red bike .", "ein mann fährt ein rotes fahrrad .", "two dogs play in the snow .",
    "zwei hunde spielen im schnee .", "a girl is reading a book in the park .", "ein mädchen liest ein buch .",
]  # fmt: skip
# Different lengths, so every batch is padded; the first is long enough to be cut by max_length.
SENTENCES = ["a girl is reading a red book in the snow .", "two dogs .", "ein mann fährt fahrrad .", "a man ."]
PREFIX = "zwei "  # a T5-style config.prefix, which the pipeline and the exports put before every text
LOG_PROB_TOLERANCE = 1e-4  # fp32 graphs against PyTorch (measured: 1e-6 RNN, 7e-6 M2M100)
INT8_LOG_PROB_TOLERANCE = 0.1  # dynamic int8 weights, tiny RNN (measured 0.016; 0.05 on the Multi30k M2M100)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(
        PAIRS * 2, kind="bpe", vocab_size=90, bos_token="<s>", eos_token="</s>", add_eos_token=True,
        model_max_length=32,
    )  # fmt: skip


def special_ids(tokenizer) -> dict[str, int]:
    return {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.bos_token_id,
    }


TRANSFORMER = {
    "d_model": 16, "encoder_layers": 1, "decoder_layers": 2, "encoder_attention_heads": 2, "decoder_attention_heads": 2,
    "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "max_position_embeddings": 40, "forced_eos_token_id": None,
    "init_std": 0.5, "scale_embedding": True,
}  # fmt: skip


def build(kind: str, tokenizer):
    """A tiny random model of ``kind`` as nlpkit's translation recipe sets it up (one joint vocabulary, padding id 0,
    the decoder starting from <s>); peaked weights keep greedy choices away from ties."""
    torch.manual_seed(0)
    special = special_ids(tokenizer)
    if kind == "rnn_seq2seq":
        config = RNNSeq2SeqConfig(
            embedding_size=16, hidden_size=24, encoder_hidden_size=12, share_embeddings=True, initializer_range=0.5,
            **special,
        )  # fmt: skip
        model = RNNSeq2SeqForConditionalGeneration(config)
    elif kind == "m2m_100":
        config = M2M100Config(encoder_layerdrop=0.0, decoder_layerdrop=0.0, **TRANSFORMER, **special)
        config.prefix = PREFIX
        model = M2M100ForConditionalGeneration(config)
        # as a multilingual recipe sets it: the target starts with a forced token (here a word of the vocabulary)
        model.generation_config.forced_bos_token_id = tokenizer.convert_tokens_to_ids("ein")
    else:
        model = MarianMTModel(MarianConfig(**TRANSFORMER, **special))
    model.generation_config.max_length = 12
    model.generation_config.num_beams = 4
    return model.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory, tokenizer) -> dict[str, tuple[object, Path]]:
    root = tmp_path_factory.mktemp("seq2seq_models")
    saved = {}
    for kind in ("rnn_seq2seq", "m2m_100", "marian"):
        model = build(kind, tokenizer)
        model.save_pretrained(root / kind)
        tokenizer.save_pretrained(root / kind)
        saved[kind] = (model, root / kind)
    return saved


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory) -> dict[str, Path]:
    """Each model exported once: "<kind>/<format>" -> folder. The RNN seq2seq gets the module's default format."""
    root = tmp_path_factory.mktemp("seq2seq_exports")
    folders = {
        "rnn_seq2seq/onnx": export_model(models["rnn_seq2seq"][1], root / "rnn"),  # no --format: onnx
        "m2m_100/onnx": export_model(models["m2m_100"][1], root / "m2m_onnx", format="onnx"),
        "m2m_100/ctranslate2": export_model(models["m2m_100"][1], root / "m2m_ct2"),  # the default format
        "m2m_100/ctranslate2-int8": export_model(models["m2m_100"][1], root / "m2m_ct2_int8", quantize=True),
        "marian/ctranslate2": export_model(models["marian"][1], root / "marian_ct2"),
    }
    # int8 ONNX: the fp32 graphs quantized by the function `nlpkit export --quantize` calls (a second export of
    # the same model would only repeat the slow torch.export)
    int8 = root / "rnn_int8"
    shutil.copytree(folders["rnn_seq2seq/onnx"], int8)
    for name in ("encoder.onnx", "decoder_step.onnx"):
        quantize_int8(int8 / name)
    folders["rnn_seq2seq/onnx-int8"] = int8
    return folders


def generated_ids(model, tokenizer, texts: list[str], **options) -> list[list[int]]:
    """model.generate() on one right-padded batch of ``texts`` (behind config.prefix): the ids after the decoder
    start, up to and with the first EOS."""
    prefix = getattr(model.config, "prefix", None) or ""
    tokenizer.padding_side = "right"
    batch = tokenizer([prefix + text for text in texts], return_tensors="pt", padding=True)
    with torch.no_grad():
        output = model.generate(**batch, **options)
    rows = []
    for row in output[:, 1:].tolist():
        end = row.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in row else len(row)
        rows.append(row[:end])
    return rows


def exported_ids(folder: Path, texts: list[str], **options) -> list[list[int]]:
    """The exported runtime's search on the same batch."""
    translator = load_exported(folder)
    sources = translator.tokenizer([translator.prefix + text for text in texts])["input_ids"]
    return translator.generate(sources, Generation.from_settings(translator.settings, options))


EXPORTS = ["rnn_seq2seq/onnx", "m2m_100/onnx", "m2m_100/ctranslate2", "marian/ctranslate2"]
ONNX_EXPORTS = ["rnn_seq2seq/onnx", "m2m_100/onnx"]


# ---------------------------------------------------------------------------------------------------------------------
# Translations against model.generate() and the PyTorch pipeline.


@pytest.mark.parametrize("export", EXPORTS)
def test_exported_greedy_tokens_equal_generate_on_a_padded_batch(models, exports, tokenizer, export):
    model, _ = models[export.split("/")[0]]
    expected = generated_ids(model, tokenizer, SENTENCES, num_beams=1)
    assert max(map(len, expected)) == model.generation_config.max_length - 1  # a row ran to max_length
    assert exported_ids(exports[export], SENTENCES, num_beams=1) == expected


@pytest.mark.parametrize("export", ONNX_EXPORTS)
def test_exported_onnx_beam_search_gives_generates_beam_4_tokens(models, exports, tokenizer, export):
    model, _ = models[export.split("/")[0]]
    expected = generated_ids(model, tokenizer, SENTENCES, num_beams=4)
    assert expected != generated_ids(model, tokenizer, SENTENCES, num_beams=1)  # the beams change something
    assert exported_ids(exports[export], SENTENCES, num_beams=4) == expected


@pytest.mark.parametrize("export", ONNX_EXPORTS)
def test_length_penalty_and_early_stopping_are_searched_as_generate_does(models, exports, tokenizer, export):
    model, _ = models[export.split("/")[0]]
    for options in (
        {"length_penalty": 0.0, "early_stopping": "never"},
        {"length_penalty": 2.0, "early_stopping": True},
    ):
        options = {"num_beams": 3, "max_new_tokens": 9, **options}
        assert exported_ids(exports[export], SENTENCES, **options) == generated_ids(
            model, tokenizer, SENTENCES, **options
        )


@pytest.mark.parametrize("export", EXPORTS)
def test_exported_folder_translates_as_the_pytorch_pipeline(models, exports, tokenizer, export):
    model, _ = models[export.split("/")[0]]
    pipeline = TranslationPipeline(model=model, tokenizer=tokenizer, task="translation")
    translator = load_exported(exports[export])
    assert translator.task == "translation"
    expected = pipeline(SENTENCES, batch_size=4)  # the saved generation config: 4 beams, max_length 12
    if export.endswith("ctranslate2"):  # CTranslate2's own beam search: compare its greedy search
        expected = pipeline(SENTENCES, num_beams=1)
        assert translator(SENTENCES, batch_size=3, num_beams=1) == expected
    else:
        assert translator(SENTENCES, batch_size=3) == expected  # batches of 3 and 1, sorted by length inside
    assert all(record.keys() == {"translation_text"} for record in expected)


def test_the_forced_target_token_and_the_prefix_reach_the_exported_models(models, exports, tokenizer):
    forced = models["m2m_100"][0].generation_config.forced_bos_token_id
    for export in ("m2m_100/onnx", "m2m_100/ctranslate2"):
        assert {ids[0] for ids in exported_ids(exports[export], SENTENCES, num_beams=1)} == {forced}
        assert json.loads((exports[export] / MANIFEST).read_text())["prefix"] == PREFIX


# ---------------------------------------------------------------------------------------------------------------------
# The graphs themselves, opened with onnxruntime.InferenceSession.


def run_graphs(folder: Path, input_ids: np.ndarray, attention_mask: np.ndarray, targets: np.ndarray):
    """Encoder graph, then one decoder step per target token: encoder states and the log-probs of every position."""
    manifest = json.loads((folder / MANIFEST).read_text())
    encoder = onnxruntime.InferenceSession(str(folder / manifest["encoder"]))
    decoder = onnxruntime.InferenceSession(str(folder / manifest["decoder_step"]))
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "decoder_input_ids": targets[:, :1]}
    outputs = dict(zip([o.name for o in encoder.get_outputs()], encoder.run(None, inputs)))
    static = {"attention_mask": attention_mask, **{name: outputs[name] for name in manifest["static_inputs"]}}
    state = [outputs[f"present_{name}"] for name in manifest["state"]]
    log_probs = [outputs["log_probs"]]
    for position in range(1, targets.shape[1]):
        past = {f"past_{name}": value for name, value in zip(manifest["state"], state)}
        step_log_probs, *state = decoder.run(
            None, {"decoder_input_ids": targets[:, position : position + 1], **static, **past}
        )
        log_probs.append(step_log_probs)
    return outputs["encoder_hidden_states"], np.stack(log_probs, axis=1)


def padded_batch(tokenizer, model):
    prefix = getattr(model.config, "prefix", None) or ""
    tokenizer.padding_side = "right"
    batch = tokenizer([prefix + text for text in SENTENCES], return_tensors="pt", padding=True)
    torch.manual_seed(1)
    targets = torch.randint(3, len(tokenizer), (len(SENTENCES), 6))
    targets[:, 0] = model.config.decoder_start_token_id
    return batch, targets


@pytest.mark.parametrize("export", [*ONNX_EXPORTS, "rnn_seq2seq/onnx-int8"])
def test_encoder_states_and_step_log_probs_match_pytorch_on_a_padded_batch(models, exports, tokenizer, export):
    model, _ = models[export.split("/")[0]]
    batch, targets = padded_batch(tokenizer, model)
    with torch.no_grad():
        expected_states = model.get_encoder()(**batch)[0]
        expected = model(**batch, decoder_input_ids=targets).logits.log_softmax(-1)
    states, log_probs = run_graphs(exports[export], batch["input_ids"].numpy(), batch["attention_mask"].numpy(),
                                   targets.numpy())  # fmt: skip
    tolerance = INT8_LOG_PROB_TOLERANCE if export.endswith("int8") else LOG_PROB_TOLERANCE
    real = batch["attention_mask"].bool()
    np.testing.assert_allclose(states[real.numpy()], expected_states[real].numpy(), atol=tolerance * 10)
    np.testing.assert_allclose(log_probs, expected.numpy(), atol=tolerance)
    if export.endswith("int8"):  # quantized, so not the fp32 graph again
        assert np.abs(log_probs - expected.numpy()).max() > LOG_PROB_TOLERANCE


def test_the_int8_exports_still_translate_greedily_as_generate_on_most_sentences(models, exports, tokenizer):
    for kind, export in (("rnn_seq2seq", "rnn_seq2seq/onnx-int8"), ("m2m_100", "m2m_100/ctranslate2-int8")):
        expected = generated_ids(models[kind][0], tokenizer, SENTENCES, num_beams=1)
        quantized = exported_ids(exports[export], SENTENCES, num_beams=1)
        same = sum(a == b for a, b in zip(quantized, expected))
        assert same >= len(SENTENCES) - 1, (export, quantized, expected)


# ---------------------------------------------------------------------------------------------------------------------
# The folder: standard loaders, manifest, card, errors.


def test_the_exported_folders_open_with_the_runtimes_own_loaders_and_have_a_card(exports):
    import ctranslate2

    for export, folder in exports.items():
        manifest = json.loads((folder / MANIFEST).read_text())
        card = (folder / "README.md").read_text()
        assert manifest["task"] == "translation" and "```python" in card
        if manifest["format"] == "onnx":
            for name in ("encoder", "decoder_step"):
                session = onnxruntime.InferenceSession(str(folder / manifest[name]))
                assert {"attention_mask", "log_probs"} <= {i.name for i in session.get_inputs() + session.get_outputs()}
            assert "onnxruntime.InferenceSession" in card
        else:
            assert ctranslate2.Translator(str(folder / manifest["ctranslate2"])).model_is_loaded
            assert "ctranslate2.Translator" in card
        assert manifest["quantized"] == ("int8" if "int8" in export and "ctranslate2" in export else None)


def test_the_rnn_seq2seq_exports_to_onnx_when_no_format_is_given(exports):
    manifest = json.loads((exports["rnn_seq2seq/onnx"] / MANIFEST).read_text())
    assert manifest["format"] == "onnx" and manifest["state"] == ["hidden"]


def test_a_generation_setting_the_onnx_search_does_not_reproduce_is_a_config_error(models, tmp_path):
    model, folder = models["m2m_100"]
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    generation = json.loads((copy / "generation_config.json").read_text())
    (copy / "generation_config.json").write_text(json.dumps({**generation, "no_repeat_ngram_size": 3}))
    with pytest.raises(ConfigError, match=r"generation_config.json: no_repeat_ngram_size=3"):
        export_model(copy, tmp_path / "out", format="onnx")
    assert not (tmp_path / "out").exists()


def test_ctranslate2_asked_for_the_rnn_seq2seq_is_a_config_error_naming_onnx(models, tmp_path):
    with pytest.raises(ConfigError, match="--format onnx"):
        export_model(models["rnn_seq2seq"][1], tmp_path / "out", format="ctranslate2")


def test_an_option_the_runtime_does_not_know_is_a_config_error(exports):
    with pytest.raises(ConfigError, match="num_return_sequences"):
        load_exported(exports["m2m_100/ctranslate2"])(SENTENCES, num_return_sequences=2)


# ---------------------------------------------------------------------------------------------------------------------
# Part 3: the RNN encoder's exportable path gives the packed path's states.


@pytest.mark.parametrize("rnn", [{}, {"rnn_type": "lstm", "num_hidden_layers": 2, "dropout": 0.0}])
def test_the_rnn_encoder_without_packing_gives_the_packed_states_on_a_padded_batch(rnn):
    torch.manual_seed(0)
    model = RNNSeq2SeqForConditionalGeneration(RNNSeq2SeqConfig(vocab_size=30, embedding_size=8, hidden_size=12, **rnn))
    encoder = model.eval().get_encoder()
    input_ids = torch.tensor([[5, 6, 7, 8, 2], [9, 10, 2, 0, 0], [11, 2, 0, 0, 0]])
    mask = (input_ids != 0).long()
    with torch.no_grad():
        packed = encoder(input_ids, mask).last_hidden_state
        unpacked = encoder.rnn_without_packing(encoder.embed_tokens(input_ids), mask.sum(-1))
    assert packed[2, 2:].abs().sum() == 0  # padding positions are zero in both
    torch.testing.assert_close(unpacked, packed, atol=1e-6, rtol=1e-6)


def test_greedy_and_beam_search_treat_the_session_as_a_black_box():
    """The searches need only `start` and `step`: a fake session whose next token is always (last + 1) % 5."""

    class Counting:
        def start(self, input_ids, attention_mask, start_token):
            return self.scores(np.full(len(input_ids), start_token)), {}, {"last": np.full(len(input_ids), start_token)}

        def step(self, tokens, static, state):
            return self.scores(tokens), {"last": tokens}

        @staticmethod
        def scores(last):
            log_probs = np.full((len(last), 5), -5.0, dtype=np.float32)
            log_probs[np.arange(len(last)), (last + 1) % 5] = -0.1
            return log_probs

    generation = Generation(max_length=6, decoder_start_token_id=0, eos_token_ids=(3,), num_beams=2)
    ids, mask = np.zeros((2, 3), dtype=np.int64), np.ones((2, 3), dtype=np.int64)
    assert greedy_search(Counting(), ids, mask, generation) == [[1, 2, 3], [1, 2, 3]]
    assert beam_search(Counting(), ids, mask, generation) == [[1, 2, 3], [1, 2, 3]]
