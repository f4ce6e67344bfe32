"""`nlpkit export` of causal LMs: nlpkit's GPT and LSTM LM to an ONNX step graph with its key/value or recurrent
state, GPT-2 to CTranslate2 (and ONNX), and the runtime that generates from the export as PyTorch's generate() does."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime
import pytest
import torch
from transformers import AutoTokenizer, GenerationConfig

import nlpkit  # noqa: F401  (registers the Auto classes)
from nlpkit.errors import ConfigError
from nlpkit.export import MANIFEST, export_model, load_exported
from nlpkit.export.onnx import quantize_int8
from nlpkit.models.gpt import GPTConfig, GPTForCausalLM
from nlpkit.models.lstm_lm import LSTMForCausalLM, LSTMLMConfig
from tests.helpers import CHARS, build_char_tokenizer

PROMPTS = ["to be", "what light through yonder", "a", "so fair and foul a day"]  # mixed lengths: left padding
NEW_TOKENS = 16
FP32_LOGITS_ATOL = 1e-4  # ONNX Runtime's fused kernels against PyTorch's; measured below 1e-5 on these models
INT8_NEXT_TOKEN_AGREEMENT = 0.9  # teacher-forced argmax agreement of int8 with fp32 (see the int8 test)


def tiny_gpt() -> GPTForCausalLM:
    """A 2-layer GPT with learned positions and weights large enough that greedy decoding does not collapse."""
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=len(CHARS) + 2,
        max_position_embeddings=48,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        initializer_range=0.3,
        pad_token_id=0,
    )
    return GPTForCausalLM(config).eval()


def tiny_lstm() -> LSTMForCausalLM:
    torch.manual_seed(0)
    config = LSTMLMConfig(
        vocab_size=len(CHARS) + 2,
        embedding_size=24,
        hidden_size=24,
        num_hidden_layers=2,
        initializer_range=0.8,
        pad_token_id=0,
    )
    return LSTMForCausalLM(config).eval()


def save(model, folder, *, generation: GenerationConfig | None = None):
    tokenizer = build_char_tokenizer()
    if generation is not None:
        model.generation_config = generation
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def gpt(tmp_path_factory):
    """The GPT, its saved folder (greedy, 7 new tokens by its generation_config.json) and its ONNX export."""
    model = tiny_gpt()
    source = save(model, tmp_path_factory.mktemp("gpt") / "model", generation=GenerationConfig(max_new_tokens=7))
    return model, source, export_model(source, source.parent / "onnx")


@pytest.fixture(scope="module")
def lstm(tmp_path_factory):
    model = tiny_lstm()
    source = save(model, tmp_path_factory.mktemp("lstm") / "model")
    return model, source, export_model(source, source.parent / "onnx")


def int8_copy(export_dir):
    """The export with its graph quantized as `nlpkit export --quantize` does (one torch export less per model)."""
    copy = export_dir.with_name(export_dir.name + "-int8")
    shutil.copytree(export_dir, copy)
    quantize_int8(copy / "model.onnx")
    return copy


def pytorch_greedy(model, prompts: list[str], max_new_tokens: int) -> list[list[int]]:
    """What generate() gives for the left-padded batch, as the text-generation pipeline batches prompts."""
    batch = build_char_tokenizer()(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=0)
    return output[:, batch["input_ids"].shape[1] :].tolist()


def prompt_ids(prompts: list[str]) -> list[list[int]]:
    tokenizer = build_char_tokenizer()
    return [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]


@pytest.mark.parametrize("family", ["gpt", "lstm"])
def test_exported_model_generates_pytorchs_greedy_tokens_for_prompts_of_mixed_lengths(family, request):
    model, _, export_dir = request.getfixturevalue(family)
    expected = pytorch_greedy(model, PROMPTS, NEW_TOKENS)
    generator = load_exported(export_dir)
    assert generator.generate_ids(prompt_ids(PROMPTS), max_new_tokens=NEW_TOKENS, do_sample=False) == expected
    assert len({token for tokens in expected for token in tokens}) > 3  # real continuations, not one repeated token
    # Batches of two mix prompt lengths differently: the same tokens.
    assert (
        generator.generate_ids(prompt_ids(PROMPTS), batch_size=2, max_new_tokens=NEW_TOKENS, do_sample=False)
        == expected
    )


def test_exported_gpt_records_are_the_prompt_followed_by_its_greedy_continuation(gpt):
    model, _, export_dir = gpt
    records = load_exported(export_dir)(PROMPTS, do_sample=False, max_new_tokens=5)
    tokenizer = build_char_tokenizer()
    continuations = [tokenizer.decode(tokens, skip_special_tokens=True) for tokens in pytorch_greedy(model, PROMPTS, 5)]
    assert records == [
        {"generated_text": prompt + continuation} for prompt, continuation in zip(PROMPTS, continuations, strict=True)
    ]


def test_gpt_step_graph_gives_pytorchs_logits_and_cache_on_a_padded_batch_and_a_cached_step(gpt):
    model, _, export_dir = gpt
    session = onnxruntime.InferenceSession(str(export_dir / "model.onnx"))  # the runtime's standard loader
    batch = build_char_tokenizer()(PROMPTS, return_tensors="pt", padding=True)
    manifest = json.loads((export_dir / MANIFEST).read_text())
    empty = np.zeros((manifest["num_layers"], len(PROMPTS), manifest["num_heads"], 0, manifest["head_dim"]), "float32")
    logits, keys, values = session.run(
        None,
        {"input_ids": batch.input_ids.numpy(), "attention_mask": batch.attention_mask.numpy(), "past_keys": empty,
         "past_values": empty},
    )  # fmt: skip
    next_ids = torch.tensor([[5], [9], [14], [3]])
    mask = torch.cat([batch.attention_mask, torch.ones(4, 1, dtype=torch.long)], dim=1)
    step_logits, step_keys, _ = session.run(
        None,
        {"input_ids": next_ids.numpy(), "attention_mask": mask.numpy(), "past_keys": keys, "past_values": values},
    )
    with torch.no_grad():
        first = model(**batch, use_cache=True)
        step = model(input_ids=next_ids, attention_mask=mask, cache=first.cache)
    real = batch.attention_mask.bool().numpy()  # logits at padding positions are never used
    np.testing.assert_allclose(logits[real], first.logits.numpy()[real], atol=FP32_LOGITS_ATOL)
    np.testing.assert_allclose(step_logits, step.logits.numpy(), atol=FP32_LOGITS_ATOL)
    assert step_keys.shape[3] == batch.input_ids.shape[1] + 1  # the past grows by the new token


def test_lstm_step_graph_gives_pytorchs_logits_and_state(lstm):
    model, _, export_dir = lstm
    session = onnxruntime.InferenceSession(str(export_dir / "model.onnx"))
    ids = torch.randint(2, model.config.vocab_size, (3, 9))
    zeros = np.zeros((2, 3, model.config.hidden_size), "float32")
    logits, h, c = session.run(None, {"input_ids": ids[:, :6].numpy(), "past_h": zeros, "past_c": zeros})
    step_logits, step_h, _ = session.run(None, {"input_ids": ids[:, 6:].numpy(), "past_h": h, "past_c": c})
    with torch.no_grad():
        first = model(ids[:, :6], use_cache=True)
        rest = model(ids[:, 6:], cache=first.cache, use_cache=True)
    np.testing.assert_allclose(logits, first.logits.numpy(), atol=FP32_LOGITS_ATOL)
    np.testing.assert_allclose(step_logits, rest.logits.numpy(), atol=FP32_LOGITS_ATOL)
    np.testing.assert_allclose(step_h, rest.cache[0].numpy(), atol=FP32_LOGITS_ATOL)


@pytest.mark.parametrize("family", ["gpt", "lstm"])
def test_int8_export_predicts_nearly_every_next_token_of_the_fp32_model(family, request):
    """Random tiny weights give flat logits, so int8 rounding flips a few argmaxes: teacher-forced on a text, at least
    INT8_NEXT_TOKEN_AGREEMENT of the next-token predictions must stay those of PyTorch (measured: GPT 0.98, LSTM
    0.96 on these 46 characters; the largest logit change 0.32 and 0.02)."""
    model, _, export_dir = request.getfixturevalue(family)
    session = onnxruntime.InferenceSession(str(int8_copy(export_dir) / "model.onnx"))
    ids = np.array(prompt_ids([" ".join(PROMPTS)[:46]]), dtype=np.int64)  # within the GPT's 48 positions
    if family == "gpt":
        empty = np.zeros((2, 1, 4, 0, 8), "float32")
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "past_keys": empty, "past_values": empty}
    else:
        zeros = np.zeros((2, 1, model.config.hidden_size), "float32")
        feed = {"input_ids": ids, "past_h": zeros, "past_c": zeros}
    int8_logits = session.run(None, feed)[0]
    with torch.no_grad():
        fp32_logits = model(torch.from_numpy(ids)).logits.numpy()
    agreement = (int8_logits.argmax(-1) == fp32_logits.argmax(-1)).mean()
    assert agreement >= INT8_NEXT_TOKEN_AGREEMENT, agreement


def test_generation_defaults_come_from_the_folders_generation_config(gpt):
    model, _, export_dir = gpt
    generated = load_exported(export_dir).generate_ids(prompt_ids(PROMPTS[:2]))
    assert generated == pytorch_greedy(model, PROMPTS[:2], 7)  # greedy, 7 tokens: the saved generation config


def test_learned_positions_cap_the_generation_at_the_context_as_nlpkit_generate_does(gpt):
    _, _, export_dir = gpt
    generator = load_exported(export_dir)
    long_prompt = "abcdefghij" * 4 + "abcd"  # 44 of the 48 positions
    assert [len(tokens) for tokens in generator.generate_ids(prompt_ids([long_prompt, "a"]), max_new_tokens=10)] == [
        4,
        10,
    ]
    with pytest.raises(ConfigError, match="fills the model's context"):
        generator(["x" * 48])


def test_seeded_sampling_is_reproducible_and_top_k_1_is_greedy(lstm):
    _, _, export_dir = lstm
    generator = load_exported(export_dir)
    ids = prompt_ids(PROMPTS)

    def sample(seed: int) -> list[list[int]]:
        return generator.generate_ids(ids, max_new_tokens=12, do_sample=True, temperature=1.5, top_p=0.95, seed=seed)

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)
    greedy = generator.generate_ids(ids, max_new_tokens=12, do_sample=False)
    assert generator.generate_ids(ids, max_new_tokens=12, do_sample=True, top_k=1, seed=3) == greedy


def test_exported_folder_has_a_manifest_a_card_and_the_tokenizer(lstm):
    _, source, export_dir = lstm
    manifest = json.loads((export_dir / MANIFEST).read_text())
    assert manifest["task"] == "text-generation"
    assert (manifest["format"], manifest["decoder"], manifest["model_type"]) == ("onnx", "lstm_lm", "lstm_lm")
    card = (export_dir / "README.md").read_text()
    assert "onnxruntime.InferenceSession" in card and "past_h" in card
    session = onnxruntime.InferenceSession(str(export_dir / "model.onnx"))
    assert [(i.name, i.shape) for i in session.get_inputs()] == [
        ("input_ids", ["batch", "sequence"]),
        ("past_h", [2, "batch", 24]),
        ("past_c", [2, "batch", 24]),
    ]
    assert AutoTokenizer.from_pretrained(export_dir).get_vocab() == AutoTokenizer.from_pretrained(source).get_vocab()


def test_unknown_options_beams_on_onnx_and_empty_prompts_are_one_line_errors(gpt):
    generator = load_exported(gpt[2])
    with pytest.raises(ConfigError, match="no generation option 'num_return_sequences'"):
        generator(["to be"], num_return_sequences=2)
    with pytest.raises(ConfigError, match="num_beams 4"):
        generator(["to be"], num_beams=4)
    with pytest.raises(ConfigError, match="prompt 1 is empty"):
        generator(["to be", ""])


# -------------------------------------------------------------------------------------- GPT-2 with CTranslate2


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """A tiny random GPT2LMHeadModel with a byte-level BPE tokenizer trained on a few lines, and its CTranslate2
    export."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    folder = tmp_path_factory.mktemp("gpt2") / "model"
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(PROMPTS * 4, trainer)
    learned = json.loads(bpe.to_str())["model"]
    tokenizer = GPT2Tokenizer(vocab=learned["vocab"], merges=[tuple(merge) for merge in learned["merges"]])
    end = tokenizer.eos_token_id
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=1, n_head=2,
                        initializer_range=0.3, bos_token_id=end, eos_token_id=end)  # fmt: skip
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, folder, export_model(folder, folder.parent / "ct2")  # CTranslate2: the default for GPT-2


def test_ctranslate2_gpt2_generates_pytorchs_greedy_tokens_for_prompts_of_mixed_lengths(gpt2):
    import ctranslate2

    model, source, export_dir = gpt2
    tokenizer = AutoTokenizer.from_pretrained(source)
    ids = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in PROMPTS]
    expected = gpt2_greedy(model, ids, 10)
    generator = load_exported(export_dir)
    assert generator.generate_ids(ids, max_new_tokens=10, do_sample=False) == expected
    record = generator([PROMPTS[1]], max_new_tokens=10, do_sample=False)[0]
    assert record == {"generated_text": tokenizer.decode(ids[1] + expected[1], skip_special_tokens=True)}
    assert ctranslate2.Generator(str(export_dir)).generate_batch([["the"]], max_length=2)  # the standard loader
    assert "ctranslate2.Generator" in (export_dir / "README.md").read_text()
    assert json.loads((export_dir / MANIFEST).read_text())["format"] == "ctranslate2"


def gpt2_greedy(model, ids: list[list[int]], max_new_tokens: int) -> list[list[int]]:
    with torch.no_grad():  # one prompt at a time: GPT-2 has no padding token
        outputs = [model.generate(torch.tensor([row]), max_new_tokens=max_new_tokens, do_sample=False) for row in ids]
    return [output[0, len(row) :].tolist() for output, row in zip(outputs, ids, strict=True)]


def test_onnx_gpt2_generates_pytorchs_greedy_tokens_for_a_left_padded_batch(gpt2):
    model, source, _ = gpt2
    export_dir = export_model(source, source.parent / "onnx", format="onnx")  # its default is CTranslate2
    tokenizer = AutoTokenizer.from_pretrained(source)
    ids = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in PROMPTS]
    generated = load_exported(export_dir).generate_ids(ids, max_new_tokens=10, do_sample=False)
    assert generated == gpt2_greedy(model, ids, 10)
    assert json.loads((export_dir / MANIFEST).read_text())["decoder"] == "key_value"


def test_nlpkit_models_ask_for_onnx_when_ctranslate2_is_asked(lstm):
    with pytest.raises(ConfigError, match="--format onnx"):
        export_model(lstm[1], lstm[1].parent / "ct2", format="ctranslate2")


def test_the_real_valued_rotary_of_exported_graphs_rotates_as_the_complex_one():
    """ONNX has no complex numbers: exported GPTs rotate queries and keys with (cos, sin) pairs instead."""
    from nlpkit.models.gpt.modeling_gpt import apply_rotary, rotary_frequencies

    queries = torch.randn(2, 7, 4, 8)
    frequencies = rotary_frequencies(torch.arange(7)[None].expand(2, -1), head_dim=8, theta=10000.0)
    pairs = torch.stack([frequencies.real, frequencies.imag], dim=-1)
    torch.testing.assert_close(apply_rotary(queries, pairs), apply_rotary(queries, frequencies))
