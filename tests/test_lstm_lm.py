"""nlpkit's LSTM language model: the (h, c) state as generation cache, padding, beams, tying, remote code, pipeline."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, pipeline, set_seed

import nlpkit  # noqa: F401  (registers the Auto classes)
from nlpkit.models.lstm_lm import LSTMForCausalLM, LSTMLMConfig
from tests.helpers import CHARS, build_char_tokenizer, last_json_line, run_without_nlpkit


def tiny_lstm(**overrides) -> LSTMForCausalLM:
    """A 2-layer LSTM LM with weights large enough that greedy decoding does not collapse onto one token."""
    config = dict(
        vocab_size=len(CHARS) + 2,
        embedding_size=24,
        hidden_size=24,
        num_hidden_layers=2,
        initializer_range=0.8,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    return LSTMForCausalLM(LSTMLMConfig(**{**config, **overrides})).eval()


def test_state_carries_the_sequence():
    model = tiny_lstm()
    ids = torch.randint(2, model.config.vocab_size, (2, 12))
    with torch.no_grad():
        full = model(ids).logits
        first = model(ids[:, :7], use_cache=True)
        rest = model(ids[:, 7:], cache=first.cache)
        rest_by_old_name = model(ids[:, 7:], past_key_values=first.cache)  # as transformers before 5.24 passes it
    torch.testing.assert_close(rest_by_old_name.logits, rest.logits)
    h, c = first.cache
    assert h.shape == c.shape == (2, 2, 24)  # (layers, batch, hidden): constant size, whatever the length
    torch.testing.assert_close(torch.cat([first.logits, rest.logits], dim=1), full, atol=1e-5, rtol=1e-4)


def test_padding_does_not_change_the_state():
    model = tiny_lstm()
    ids = torch.tensor([[4, 8, 15, 16, 23]])
    with torch.no_grad():
        alone = model(ids, use_cache=True)
        left = model(torch.tensor([[0, 0, 4, 8, 15, 16, 23]]), attention_mask=torch.tensor([[0, 0, 1, 1, 1, 1, 1]]))
        right = model(torch.tensor([[4, 8, 15, 16, 23, 0]]), attention_mask=torch.tensor([[1, 1, 1, 1, 1, 0]]))
    torch.testing.assert_close(left.logits[:, 2:], alone.logits)
    torch.testing.assert_close(right.logits[:, :5], alone.logits)
    for state in (left.cache, right.cache):
        torch.testing.assert_close(state[0], alone.cache[0])
        torch.testing.assert_close(state[1], alone.cache[1])


def test_a_row_without_tokens_keeps_its_state():
    model = tiny_lstm()
    with torch.no_grad():
        state = model(torch.tensor([[4, 8], [15, 16]]), use_cache=True).cache
        step = model(torch.tensor([[0], [23]]), attention_mask=torch.tensor([[1, 1, 0], [1, 1, 1]]), cache=state)
    torch.testing.assert_close(step.cache[0][:, 0], state[0][:, 0])
    assert not torch.allclose(step.cache[0][:, 1], state[0][:, 1])


def test_left_padded_batch_generates_what_each_prompt_generates_alone():
    model, tokenizer = tiny_lstm(), build_char_tokenizer()
    prompts = ["to be", "what light through yonder", "a"]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    together = model.generate(**batch, max_new_tokens=12, do_sample=False)
    for row, prompt in enumerate(prompts):
        alone = model.generate(**tokenizer([prompt], return_tensors="pt"), max_new_tokens=12, do_sample=False)
        assert together[row, -12:].tolist() == alone[0, -12:].tolist(), prompt


def test_beam_search_reorders_the_state():
    model = tiny_lstm()
    prompt = torch.tensor([[5, 9, 14], [3, 3, 8]])
    kwargs = dict(max_new_tokens=10, num_beams=4, num_return_sequences=2, do_sample=False)
    cached = model.generate(prompt, **kwargs)
    assert cached.shape == (4, 13)
    # Without a cache every step re-reads the whole sequence: equal results mean the state was reordered correctly.
    assert torch.equal(cached, model.generate(prompt, use_cache=False, **kwargs))


def test_beam_search_with_one_beam_is_greedy():
    model = tiny_lstm()
    prompt = torch.tensor([[5, 9, 14]])
    greedy = model.generate(prompt, max_new_tokens=15, do_sample=False)
    assert torch.equal(model.generate(prompt, max_new_tokens=15, do_sample=False, num_beams=1), greedy)
    single_beam_search = model.generate(prompt, max_new_tokens=15, do_sample=False, num_beams=2, num_return_sequences=1)
    assert single_beam_search.shape == greedy.shape


def test_sampling_is_reproducible_with_a_seed():
    model = tiny_lstm()
    prompt = torch.tensor([[5, 9, 14]])

    def sample(seed: int) -> list[int]:
        set_seed(seed)
        return model.generate(prompt, max_new_tokens=24, do_sample=True, top_k=0, temperature=1.5)[0].tolist()

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_untied_by_default_and_tying_needs_equal_sizes():
    model = tiny_lstm()
    assert model.lm_head.weight.data_ptr() != model.embed_tokens.weight.data_ptr()
    with pytest.raises(ValueError, match="embedding_size"):
        LSTMLMConfig(embedding_size=16, hidden_size=32, tie_word_embeddings=True)


def test_forget_gate_bias_starts_at_one_and_survives_loading(tmp_path):
    model = tiny_lstm()
    hidden = model.config.hidden_size
    assert torch.equal(model.lstm.bias_ih_l0[hidden : 2 * hidden], torch.ones(hidden))
    assert torch.equal(model.lstm.bias_ih_l0[:hidden], torch.zeros(hidden))
    with torch.no_grad():
        model.lstm.bias_ih_l0.fill_(0.5)  # "trained" values must not be re-initialised on load
    model.save_pretrained(tmp_path)
    assert torch.equal(LSTMForCausalLM.from_pretrained(tmp_path).lstm.bias_ih_l0, model.lstm.bias_ih_l0)


def test_auto_class_and_remote_code_without_nlpkit(tmp_path):
    model = tiny_lstm()
    assert type(AutoModelForCausalLM.from_config(model.config)) is LSTMForCausalLM
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["auto_map"]["AutoModelForCausalLM"] == (
        "modeling_lstm_lm.LSTMForCausalLM"
    )
    ids = [[5, 9, 14, 3, 22, 7]]
    output = run_without_nlpkit(
        f"""
        import json, torch
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        ids = torch.tensor({ids})
        with torch.no_grad():
            logits = model(ids).logits
        beams = model.generate(ids, max_new_tokens=8, num_beams=3, do_sample=False)
        print(json.dumps({{"logits": logits.tolist(), "beams": beams.tolist()}}))
        """,
        tmp_path,
    )
    remote = last_json_line(output)
    with torch.no_grad():
        logits = model(torch.tensor(ids)).logits
    torch.testing.assert_close(torch.tensor(remote["logits"]), logits)
    assert remote["beams"] == model.generate(torch.tensor(ids), max_new_tokens=8, num_beams=3).tolist()


def test_text_generation_pipeline_on_a_saved_folder(tmp_path):
    model, tokenizer = tiny_lstm(), build_char_tokenizer()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    generator = pipeline("text-generation", model=str(tmp_path))
    prompts = ["to be or", "not"]
    results = generator(prompts, max_new_tokens=10, do_sample=False, batch_size=2)  # a left-padded batch
    for prompt, result in zip(prompts, results):
        generated = model.generate(**tokenizer(prompt, return_tensors="pt"), max_new_tokens=10, do_sample=False)
        assert result[0]["generated_text"] == tokenizer.decode(generated[0], skip_special_tokens=True)
