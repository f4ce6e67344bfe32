"""The sentence VAE (nlpkit/models/sentence_vae): its ELBO terms, KL schedules, word dropout and generation from
latent codes. Saving, loading and remote code: its entry in test_model_contract.py."""

from __future__ import annotations

import math

import pytest
import torch

from nlpkit.models.sentence_vae import (
    SentenceVAEConfig,
    SentenceVAEEncoderOutput,
    SentenceVAEModel,
    active_units,
    gaussian_kl,
    interpolate,
    kl_annealing_weight,
)

PAD, UNK, BOS, EOS = 0, 1, 2, 3
# Right-padded sentences ending in EOS; ids 4.. are words.
SENTENCES = torch.tensor([[4, 5, 6, 7, EOS], [8, 9, EOS, PAD, PAD], [10, 5, 11, EOS, PAD]])
MASK = (SENTENCES != PAD).long()


def tiny_vae(seed: int = 0, **overrides) -> SentenceVAEModel:
    settings = {
        "vocab_size": 12,
        "embedding_size": 8,
        "hidden_size": 8,
        "latent_size": 4,
        "initializer_range": 0.5,  # a strong latent -> state map, so that codes visibly steer an untrained decoder
        **overrides,
    }
    torch.manual_seed(seed)
    return SentenceVAEModel(SentenceVAEConfig(**settings)).eval()


def posterior(mean: list[list[float]], logvar: list[list[float]]) -> SentenceVAEEncoderOutput:
    """An encoder output with a given q(z|x) whose latent is its mean."""
    mean, logvar = torch.tensor(mean), torch.tensor(logvar)
    return SentenceVAEEncoderOutput(last_hidden_state=mean.unsqueeze(1), mean=mean, logvar=logvar)


# ---------------------------------------------------------------------------------------------------------------------
# The ELBO.


def test_the_kl_term_is_the_closed_form_gaussian_kl_per_sentence():
    # By hand, 0.5 (mu^2 + sigma^2 - 1 - log sigma^2) per dimension:
    # (mu 1, logvar 0) -> 0.5; (mu 0, logvar log 2) -> 0.5 (1 - log 2); (mu -2, logvar -1) -> 0.5 (4 + e^-1 - 1 + 1).
    by_hand = [0.5 + 0.5 * (1 - math.log(2)), 0.5 * (4 + math.exp(-1))]
    encoded = posterior([[1.0, 0.0], [-2.0, 0.0]], [[0.0, math.log(2)], [-1.0, 0.0]])
    torch.testing.assert_close(gaussian_kl(encoded.mean, encoded.logvar).sum(-1), torch.tensor(by_hand))

    model = tiny_vae(latent_size=2)
    labels = SENTENCES[:2].masked_fill(MASK[:2] == 0, -100)
    out = model(encoder_outputs=encoded, labels=labels, kl_weight=0.3)
    assert out.kl.item() == pytest.approx(sum(by_hand) / 2)  # per sentence: averaged over the batch
    assert out.loss.item() == pytest.approx(out.reconstruction_loss.item() + 0.3 * out.kl.item())
    assert out.kl_weight.item() == pytest.approx(0.3)


def test_the_reconstruction_loss_sums_token_nll_over_a_sentence_and_averages_over_sentences():
    model = tiny_vae()
    out = model(input_ids=SENTENCES, attention_mask=MASK)  # no labels: the input is the target
    log_probs = out.logits.log_softmax(-1)
    nll = -log_probs.gather(-1, SENTENCES.unsqueeze(-1)).squeeze(-1)  # (B, T)
    assert out.reconstruction_loss.item() == pytest.approx((nll * MASK).sum().item() / len(SENTENCES), rel=1e-5)
    with_labels = model(input_ids=SENTENCES, attention_mask=MASK, labels=SENTENCES.masked_fill(MASK == 0, -100))
    torch.testing.assert_close(with_labels.loss, out.loss)
    # The decoder read bos + the sentence: its first prediction is of the first word, from bos and z alone.
    assert out.logits.shape == (*SENTENCES.shape, 12)


def test_free_bits_count_each_dimension_at_least_its_floor_after_averaging_over_the_batch():
    # KL per dimension: sentence 1 (2.0, 0.0), sentence 2 (0.0, 0.0); batch means 1.0 and 0.0.
    encoded = posterior([[2.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]])
    labels = SENTENCES[:2].masked_fill(MASK[:2] == 0, -100)
    model = tiny_vae(latent_size=2, free_bits=0.5)
    out = model(encoder_outputs=encoded, labels=labels, kl_weight=1.0)
    assert out.kl.item() == pytest.approx(1.0)  # reported before free bits
    # max(1.0, 0.5) + max(0.0, 0.5) = 1.5; a per-sentence clamp would give ((2 + 0.5) + (0.5 + 0.5)) / 2 = 1.75.
    assert (out.loss - out.reconstruction_loss).item() == pytest.approx(1.5)
    without = tiny_vae(latent_size=2)(encoder_outputs=encoded, labels=labels, kl_weight=1.0)
    assert (without.loss - without.reconstruction_loss).item() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------------------------
# KL annealing.


@pytest.mark.parametrize(
    ("settings", "weights"),
    [
        ({"kl_annealing": "none"}, {0: 1.0, 10_000: 1.0}),
        ({"kl_annealing": "linear", "kl_anneal_steps": 1000}, {0: 0.0, 250: 0.25, 1000: 1.0, 5000: 1.0}),
        # timbmg/Sentence-VAE's k = 0.0025, x0 = 2500 are the defaults for 5000 steps
        ({"kl_annealing": "logistic"}, {0: 1 / (1 + math.exp(6.25)), 2500: 0.5, 5000: 1 / (1 + math.exp(-6.25))}),
        (
            {"kl_annealing": "logistic", "kl_logistic_k": 0.01, "kl_logistic_x0": 100},
            {100: 0.5, 200: 1 / (1 + math.exp(-1)), 10**6: 1.0},
        ),
        # Fu et al.: 4 cycles of 250 steps, rising over the first half of each, then 1 after the last cycle
        (
            {"kl_annealing": "cyclical", "kl_anneal_steps": 1000, "kl_cycles": 4, "kl_cycle_ratio": 0.5},
            {0: 0.0, 50: 0.4, 125: 1.0, 200: 1.0, 250: 0.0, 300: 0.4, 999: 1.0, 1000: 1.0, 1100: 1.0},
        ),
    ],
    ids=["none", "linear", "logistic-default", "logistic-k-x0", "cyclical"],
)
def test_the_annealing_schedules_give_their_weights_at_given_steps(settings, weights):
    config = SentenceVAEConfig(**settings)
    assert {step: kl_annealing_weight(config, step) for step in weights} == pytest.approx(weights)


def test_training_forwards_advance_the_saved_kl_step_that_the_schedule_reads(tmp_path):
    model = tiny_vae(kl_annealing="linear", kl_anneal_steps=4).train()
    weights = [model(input_ids=SENTENCES, attention_mask=MASK).kl_weight.item() for _ in range(3)]
    assert weights == pytest.approx([0.0, 0.25, 0.5])
    assert model(input_ids=SENTENCES, attention_mask=MASK, kl_weight=0.9).kl_weight.item() == pytest.approx(0.9)
    model.eval()
    model(input_ids=SENTENCES, attention_mask=MASK)  # evaluation does not count
    assert int(model.kl_step) == 4
    model.save_pretrained(tmp_path)
    reloaded = SentenceVAEModel.from_pretrained(tmp_path)
    assert int(reloaded.kl_step) == 4 and reloaded.kl_weight() == 1.0


# ---------------------------------------------------------------------------------------------------------------------
# Word dropout and the latent sample.


def test_word_dropout_replaces_only_non_special_decoder_inputs_and_only_in_training():
    model = tiny_vae(word_dropout=1.0)
    decoder_inputs = torch.tensor([[BOS, 4, 5, EOS, PAD], [BOS, 8, EOS, PAD, PAD]])
    assert torch.equal(model.apply_word_dropout(decoder_inputs), decoder_inputs)  # eval
    model.train()
    dropped = model.apply_word_dropout(decoder_inputs)
    expected = torch.tensor([[BOS, UNK, UNK, EOS, PAD], [BOS, UNK, EOS, PAD, PAD]])
    assert torch.equal(dropped, expected)

    # forward drops the words it decodes: in training it reads what eval reads given the UNK inputs.
    latent = torch.randn(2, 4)
    trained = model(latent=latent, decoder_input_ids=decoder_inputs, use_cache=False).logits
    evaluated = model.eval()(latent=latent, decoder_input_ids=expected, use_cache=False).logits
    torch.testing.assert_close(trained, evaluated)

    half = tiny_vae(word_dropout=0.5).train()
    words = torch.full((1, 2000), 7)
    assert 0.45 < (half.apply_word_dropout(words) == UNK).float().mean().item() < 0.55


def test_the_latent_is_the_posterior_mean_in_eval_and_a_sample_in_training():
    model = tiny_vae()
    mean, logvar = model.encode(SENTENCES, MASK)
    out = model(input_ids=SENTENCES, attention_mask=MASK)
    torch.testing.assert_close(out.latent, mean)
    torch.testing.assert_close(out.logvar, logvar)
    sampled = model(input_ids=SENTENCES, attention_mask=MASK, sample_latent=True).latent
    assert not torch.allclose(sampled, mean)
    assert not torch.allclose(model.train()(input_ids=SENTENCES, attention_mask=MASK).latent, mean)


def test_left_padded_sentences_are_refused():
    left = torch.tensor([[PAD, 4, EOS], [5, 6, EOS]])
    with pytest.raises(ValueError, match="right-padded"):
        tiny_vae()(input_ids=left, attention_mask=(left != PAD).long())


# ---------------------------------------------------------------------------------------------------------------------
# Generation from latent codes.

GREEDY = {"max_new_tokens": 8, "min_new_tokens": 8, "do_sample": False}


def test_greedy_generation_from_a_latent_is_deterministic_and_another_latent_changes_it():
    model = tiny_vae()
    codes = model.sample_prior(4, generator=torch.Generator().manual_seed(0))
    first = model.generate(latent=codes, **GREEDY)
    assert first.shape == (4, 9) and bool((first[:, 0] == BOS).all())
    assert torch.equal(model.generate(latent=codes, **GREEDY), first)
    assert not torch.equal(model.generate(latent=-codes, **GREEDY), first)


def test_generating_from_sentences_decodes_their_posterior_means():
    model = tiny_vae()
    mean, _ = model.encode(SENTENCES, MASK)
    from_sentences = model.generate(SENTENCES, attention_mask=MASK, **GREEDY)
    assert torch.equal(from_sentences, model.generate(latent=mean, **GREEDY))


@pytest.mark.parametrize(
    "settings",
    [{}, {"rnn_type": "lstm", "num_hidden_layers": 2, "bidirectional": False, "feed_latent": True}],
    ids=["gru", "lstm-2-layers-feed-latent"],
)
def test_beam_search_with_the_reordered_state_equals_beam_search_recomputing_every_step(settings):
    model = tiny_vae(**settings)
    codes = model.sample_prior(2, generator=torch.Generator().manual_seed(1))
    options = {"max_new_tokens": 8, "num_beams": 3, "num_return_sequences": 2, "do_sample": False}
    cached = model.generate(latent=codes, use_cache=True, **options)
    uncached = model.generate(latent=codes, use_cache=False, **options)
    assert cached.shape[0] == 4
    assert torch.equal(cached, uncached)
    greedy_cached = model.generate(latent=codes, use_cache=True, **GREEDY)
    assert torch.equal(greedy_cached, model.generate(latent=codes, use_cache=False, **GREEDY))


def test_codes_from_the_prior_are_reproducible_with_a_seeded_generator_and_sampling_runs():
    model = tiny_vae()
    codes = model.sample_prior(3, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(codes, torch.randn(3, 4, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(model.sample_prior(3, generator=torch.Generator().manual_seed(7)), codes)
    assert not torch.equal(model.sample_prior(3, generator=torch.Generator().manual_seed(8)), codes)
    torch.manual_seed(0)
    sampled = model.generate(latent=codes, max_new_tokens=6, do_sample=True, top_k=5)
    torch.manual_seed(0)
    assert torch.equal(model.generate(latent=codes, max_new_tokens=6, do_sample=True, top_k=5), sampled)


def test_interpolation_runs_linearly_from_one_code_to_the_other():
    start, end = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([1.0, 0.0, 3.0])
    path = interpolate(start, end, 5)
    assert path.shape == (5, 3)
    assert torch.equal(path[0], start) and torch.equal(path[-1], end)
    torch.testing.assert_close(path[2], (start + end) / 2)
    torch.testing.assert_close(SentenceVAEModel.interpolate(start, end, 5), path)


def test_active_units_count_the_dimensions_whose_mean_varies_over_the_data():
    means = torch.stack(
        [torch.tensor([-1.0, 1.0] * 5), torch.full((10,), 0.3), torch.tensor([-0.03, 0.03] * 5)], dim=1
    )  # variances 1, 0 and 0.0009
    assert active_units(means) == 1
    assert active_units(means, threshold=0.0005) == 2


# ---------------------------------------------------------------------------------------------------------------------
# Training and configuration.


def test_a_few_adam_steps_halve_the_reconstruction_loss_of_a_batch():
    model = tiny_vae(kl_annealing="none").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-2)
    losses = []
    for _ in range(20):
        out = model(input_ids=SENTENCES, attention_mask=MASK)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(out.reconstruction_loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tie_word_embeddings": True, "embedding_size": 8, "hidden_size": 16}, "tie_word_embeddings"),
        ({"word_dropout": 0.3, "unk_token_id": None}, "unk_token_id"),
        ({"word_dropout": 1.5}, "word_dropout"),
        ({"kl_annealing": "sigmoid"}, "kl_annealing"),
        ({"rnn_type": "rnn"}, "rnn_type"),
        ({"free_bits": -1.0}, "free_bits"),
        ({"kl_cycle_ratio": 0.0}, "kl_cycle_ratio"),
    ],
)
def test_inconsistent_settings_are_refused_naming_the_key(settings, message):
    with pytest.raises(ValueError, match=message):
        SentenceVAEConfig(**settings)


def test_num_layers_is_an_alias_of_num_hidden_layers():
    assert SentenceVAEConfig(num_layers=3).num_hidden_layers == 3
