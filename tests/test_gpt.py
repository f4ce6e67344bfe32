"""nlpkit's GPT: caching, padding, tying, saving, remote code, pipelines, decoding modes and training behaviour."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import pipeline, set_seed

import nlpkit  # noqa: F401  (registers the Auto classes)
from nlpkit.models.gpt import GPTConfig, GPTForCausalLM
from nlpkit.models.gpt.modeling_gpt import attention_mask_for_sdpa
from tests.helpers import CHARS, build_char_tokenizer, last_json_line, overfit_losses, run_without_nlpkit

POSITION_TYPES = ["learned", "rotary"]


def tiny_gpt(position_embedding_type: str = "learned", **overrides) -> GPTForCausalLM:
    """A 2-layer GPT with weights large enough that greedy decoding does not collapse onto one token."""
    config = dict(
        vocab_size=len(CHARS) + 2,
        max_position_embeddings=48,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        position_embedding_type=position_embedding_type,
        initializer_range=0.3,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    return GPTForCausalLM(GPTConfig(**{**config, **overrides})).eval()


@pytest.mark.parametrize("position_embedding_type", POSITION_TYPES)
def test_generation_with_cache_equals_generation_without(position_embedding_type):
    model = tiny_gpt(position_embedding_type)
    prompt = torch.tensor([[5, 9, 14, 3], [7, 7, 20, 11]])
    cached = model.generate(prompt, max_new_tokens=20, do_sample=False)
    uncached = model.generate(prompt, max_new_tokens=20, do_sample=False, use_cache=False)
    assert cached.shape == (2, 24)
    assert torch.equal(cached, uncached)
    assert len(set(cached[0, 4:].tolist())) > 1  # a real continuation, not one repeated token


@pytest.mark.parametrize("position_embedding_type", POSITION_TYPES)
def test_cache_gives_the_logits_of_a_full_forward(position_embedding_type):
    model = tiny_gpt(position_embedding_type)
    ids = torch.randint(2, model.config.vocab_size, (2, 12))
    with torch.no_grad():
        full = model(ids).logits
        first = model(ids[:, :7], use_cache=True)
        rest = model(ids[:, 7:], cache=first.cache)  # several new tokens on top of a cache
        # transformers before 5.24 passes the cache as past_key_values
        rest_by_old_name = model(ids[:, 7:], past_key_values=model(ids[:, :7], use_cache=True).cache)
    assert first.cache.get_seq_length() == 12
    torch.testing.assert_close(torch.cat([first.logits, rest.logits], dim=1), full, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(rest_by_old_name.logits, rest.logits)


@pytest.mark.parametrize("position_embedding_type", POSITION_TYPES)
def test_left_padded_batch_generates_what_each_prompt_generates_alone(position_embedding_type):
    model = tiny_gpt(position_embedding_type)
    tokenizer = build_char_tokenizer()
    prompts = ["to be", "what light through yonder", "a"]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    assert (batch["attention_mask"] == 0).any()
    together = model.generate(**batch, max_new_tokens=12, do_sample=False)
    for row, prompt in enumerate(prompts):
        alone = model.generate(**tokenizer([prompt], return_tensors="pt"), max_new_tokens=12, do_sample=False)
        assert together[row, -12:].tolist() == alone[0, -12:].tolist(), prompt


def test_left_padded_forward_matches_unpadded_forward():
    model = tiny_gpt("learned")
    ids = torch.tensor([[4, 8, 15, 16, 23]])
    padded = torch.tensor([[0, 0, 4, 8, 15, 16, 23]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        alone = model(ids).logits
        in_batch = model(padded, attention_mask=mask).logits
    assert not in_batch.isnan().any()  # fully masked query rows must not produce NaN
    torch.testing.assert_close(in_batch[:, 2:], alone, atol=1e-5, rtol=1e-4)


def test_sdpa_gets_no_mask_unless_padding_or_a_multi_token_step_on_a_cache_needs_one():
    cpu = torch.device("cpu")
    assert attention_mask_for_sdpa(None, 6, 0, cpu) == (None, True)  # training / prefill: fused causal kernel
    assert attention_mask_for_sdpa(torch.ones(2, 6), 6, 0, cpu) == (None, True)  # an all-ones mask is dropped
    assert attention_mask_for_sdpa(None, 1, 5, cpu) == (None, False)  # one new token sees the whole cache
    mask, is_causal = attention_mask_for_sdpa(None, 2, 3, cpu)  # two new tokens on top of three cached ones
    assert not is_causal and mask.tolist() == [[True] * 4 + [False], [True] * 5]

    padding = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    mask, is_causal = attention_mask_for_sdpa(padding, 4, 0, cpu)
    assert not is_causal and mask.shape == (2, 1, 4, 4)
    causal = torch.ones(4, 4, dtype=torch.bool).tril()
    assert torch.equal(mask[1, 0], causal)
    # Padding queries would see no key at all (NaN in SDPA on some backends): they see every key instead.
    assert mask[0, 0, :2].all()
    assert mask[0, 0, 2:].tolist() == [[False, False, True, False], [False, False, True, True]]


def test_remote_code_loads_without_nlpkit(tmp_path):
    ids = [[5, 9, 14, 3, 22, 7]]
    local = {}
    for position_embedding_type in POSITION_TYPES:
        model = tiny_gpt(position_embedding_type)
        model.save_pretrained(tmp_path / position_embedding_type)
        with torch.no_grad():
            logits = model(torch.tensor(ids)).logits
        local[position_embedding_type] = (logits, model.generate(torch.tensor(ids), max_new_tokens=8, do_sample=False))
    config = json.loads((tmp_path / "learned" / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_gpt.GPTForCausalLM"
    assert (tmp_path / "learned" / "modeling_gpt.py").is_file()

    output = run_without_nlpkit(
        f"""
        import json, torch
        from transformers import AutoModelForCausalLM
        results = {{}}
        for name in {POSITION_TYPES!r}:
            model = AutoModelForCausalLM.from_pretrained({str(tmp_path)!r} + "/" + name, trust_remote_code=True).eval()
            assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
            ids = torch.tensor({ids})
            with torch.no_grad():
                logits = model(ids).logits
            generated = model.generate(ids, max_new_tokens=8, do_sample=False)
            results[name] = {{"logits": logits.tolist(), "generated": generated.tolist()}}
        print(json.dumps(results))
        """,
        tmp_path,
    )
    remote = last_json_line(output)
    for position_embedding_type, (logits, generated) in local.items():
        torch.testing.assert_close(torch.tensor(remote[position_embedding_type]["logits"]), logits)
        assert remote[position_embedding_type]["generated"] == generated.tolist()


def test_text_generation_pipeline_on_a_saved_folder(tmp_path):
    model, tokenizer = tiny_gpt(), build_char_tokenizer()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    generator = pipeline("text-generation", model=str(tmp_path))
    prompts = ["to be or", "not"]
    results = generator(prompts, max_new_tokens=10, do_sample=False, batch_size=2)  # a left-padded batch
    for prompt, result in zip(prompts, results):
        generated = model.generate(**tokenizer(prompt, return_tensors="pt"), max_new_tokens=10, do_sample=False)
        assert result[0]["generated_text"] == tokenizer.decode(generated[0], skip_special_tokens=True)


def test_sampling_is_reproducible_with_a_seed():
    model = tiny_gpt("rotary")
    prompt = torch.tensor([[5, 9, 14]])

    def sample(seed: int) -> list[int]:
        set_seed(seed)
        return model.generate(prompt, max_new_tokens=24, do_sample=True, top_k=0, temperature=1.5)[0].tolist()

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


@pytest.mark.parametrize("position_embedding_type", POSITION_TYPES)
def test_beam_search_with_cache_equals_beam_search_without(position_embedding_type):
    model = tiny_gpt(position_embedding_type)
    prompt = torch.tensor([[5, 9, 14], [3, 3, 8]])
    kwargs = dict(max_new_tokens=10, num_beams=4, num_return_sequences=2, do_sample=False)
    cached = model.generate(prompt, **kwargs)
    assert cached.shape == (4, 13)
    assert torch.equal(cached, model.generate(prompt, use_cache=False, **kwargs))


@pytest.mark.parametrize("position_embedding_type", POSITION_TYPES)
def test_gradient_checkpointing_gives_the_same_gradients(position_embedding_type):
    model = tiny_gpt(position_embedding_type).train()
    ids = torch.randint(2, model.config.vocab_size, (3, 16))

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad()
        model(ids, labels=ids).loss.backward()
        return {name: param.grad.clone() for name, param in model.named_parameters()}

    plain = gradients()
    model.activation_checkpointing_enable()
    assert all(layer.gradient_checkpointing for layer in model.model.layers)
    checkpointed = gradients()
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, msg=name)


@pytest.mark.parametrize("position_embedding_type", POSITION_TYPES)
def test_loss_decreases_when_overfitting_a_tiny_batch(position_embedding_type):
    model = tiny_gpt(position_embedding_type, initializer_range=0.02).train()
    ids = torch.randint(2, model.config.vocab_size, (4, 24))
    losses = overfit_losses(model, ids, learning_rate=1e-2, steps=40)
    assert losses[-1] < 0.3 * losses[0]


def test_config_aliases_and_validation():
    config = GPTConfig(n_layer=3, n_head=2, n_embd=64, block_size=32)
    assert (config.num_hidden_layers, config.num_attention_heads, config.hidden_size) == (3, 2, 64)
    assert (config.max_position_embeddings, config.intermediate_size, config.tie_word_embeddings) == (32, 256, True)
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match="position_embedding_type"):
        GPTConfig(position_embedding_type="alibi")
    # A config.json written with nanoGPT's names loads too, and is saved with the standard ones.
    config = GPTConfig.from_dict({"n_layer": 2, "n_head": 4, "n_embd": 32, "block_size": 16})
    assert (config.num_hidden_layers, config.num_attention_heads, config.hidden_size) == (2, 4, 32)
    assert config.max_position_embeddings == 16 and config.n_embd == 32
    assert not {"n_layer", "n_head", "n_embd", "block_size"} & set(config.to_dict())


def test_rotary_model_has_no_position_table_and_learned_model_has_one():
    assert not hasattr(tiny_gpt("rotary").model, "embed_positions")
    assert tiny_gpt("learned").model.embed_positions.weight.shape == (48, 32)


def test_learned_positions_refuse_a_context_past_the_table_and_rotary_extends_past_it():
    prompt = torch.randint(2, len(CHARS) + 2, (1, 40))
    with pytest.raises(ValueError, match="max_position_embeddings=48"):
        tiny_gpt("learned").generate(prompt, max_new_tokens=16, do_sample=False)
    assert tiny_gpt("rotary").generate(prompt, max_new_tokens=16, do_sample=False).shape == (1, 56)


def test_residual_projections_get_the_scaled_init():
    model = GPTForCausalLM(GPTConfig(vocab_size=50, hidden_size=256, num_hidden_layers=8, num_attention_heads=4))
    layer = model.model.layers[0]
    assert abs(layer.mlp.up_proj.weight.std().item() - 0.02) < 0.002
    assert abs(layer.mlp.down_proj.weight.std().item() - 0.02 / 4) < 0.0005  # 0.02 / sqrt(2 * 8)
    assert abs(layer.attn.o_proj.weight.std().item() - 0.02 / 4) < 0.0005
