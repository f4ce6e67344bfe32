"""Word2Vec and GloVe as models: their losses against the formulas written out by hand, their initialisation, their
word vectors, a few optimiser steps, and the Trainer. (Saving, loading and remote code: test_model_contract.py.)"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import Trainer, TrainingArguments

from nlpkit.models.glove import GloVeConfig, GloVeModel
from nlpkit.models.word2vec import Word2VecConfig, Word2VecModel

VOCAB_SIZE, DIM, NEGATIVES = 12, 6, 4
PAD = 0


def word2vec(**settings) -> Word2VecModel:
    """A Word2Vec model whose output vectors are random too (they start at zero, where every score is 0); each
    example draws its own negatives unless ``negative_block_size`` says otherwise."""
    settings.setdefault("negative_block_size", 0)
    config = Word2VecConfig(vocab_size=VOCAB_SIZE, embedding_size=DIM, negative=NEGATIVES, pad_token_id=PAD, **settings)
    torch.manual_seed(0)
    model = Word2VecModel(config)
    with torch.no_grad():
        model.input_embeddings.weight.normal_()
        model.output_embeddings.weight.normal_()
    return model


def glove(**settings) -> GloVeModel:
    torch.manual_seed(0)
    model = GloVeModel(GloVeConfig(vocab_size=VOCAB_SIZE, embedding_size=DIM, **settings))
    with torch.no_grad():
        model.word_biases.normal_()
        model.context_biases.normal_()
    return model


def random_ids(*shape: int, seed: int = 1) -> torch.Tensor:
    """Ids of real words (never the padding id 0)."""
    return torch.randint(1, VOCAB_SIZE, shape, generator=torch.Generator().manual_seed(seed))


def negative_sampling_loss_by_hand(hidden: torch.Tensor, output_vectors, output_ids, negative_ids) -> torch.Tensor:
    """Mikolov et al.'s objective, one example at a time: -log σ(h·u_o) - Σ_k log σ(-h·u_k), averaged."""
    losses = []
    for row in range(hidden.size(0)):
        h = hidden[row]
        loss = -torch.log(torch.sigmoid(h @ output_vectors[output_ids[row]]))
        for negative in negative_ids[row]:
            loss = loss - torch.log(torch.sigmoid(-(h @ output_vectors[negative])))
        losses.append(loss)
    return torch.stack(losses).mean()


def test_skipgram_loss_is_the_negative_sampling_objective_of_the_centre_word_vector():
    model = word2vec(architecture="skipgram")
    centres, contexts, negatives = random_ids(5), random_ids(5, seed=2), random_ids(5, NEGATIVES, seed=3)
    outputs = model(input_ids=centres, output_ids=contexts, negative_ids=negatives)
    vectors, output_vectors = model.input_embeddings.weight, model.output_embeddings.weight
    expected = negative_sampling_loss_by_hand(vectors[centres], output_vectors, contexts, negatives)
    torch.testing.assert_close(outputs.loss, expected)
    assert outputs.loss.dim() == 0
    assert outputs.logits.shape == (5, 1 + NEGATIVES)
    torch.testing.assert_close(outputs.logits[:, 0], (vectors[centres] * output_vectors[contexts]).sum(-1))


def test_shared_negatives_weigh_each_block_s_negatives_by_negative_over_their_number():
    block, shared = 2, 3
    model = word2vec(architecture="skipgram", negative_block_size=block, shared_negatives=shared).eval()
    centres, contexts = random_ids(5), random_ids(5, seed=2)  # blocks of 2, 2 and 1 examples
    negatives = random_ids(3, shared, seed=3)
    outputs = model(input_ids=centres, output_ids=contexts, negative_ids=negatives)
    vectors, output_vectors = model.input_embeddings.weight, model.output_embeddings.weight
    expected = []
    for row in range(5):
        h = vectors[centres[row]]
        loss = -torch.log(torch.sigmoid(h @ output_vectors[contexts[row]]))
        for negative in negatives[row // block]:
            loss = loss - NEGATIVES / shared * torch.log(torch.sigmoid(-(h @ output_vectors[negative])))
        expected.append(loss)
    torch.testing.assert_close(outputs.loss, torch.stack(expected).mean())
    assert outputs.logits.shape == (5, 1 + shared)
    with pytest.raises(ValueError, match="make 3 blocks of 2"):
        model(input_ids=centres, output_ids=contexts, negative_ids=random_ids(2, shared))


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_shared_negatives_hand_written_backward_gives_autograd_s_gradients(architecture):
    """SharedNegativesLoss's backward against autograd through the same loss written with plain ops (float64, 5
    examples in blocks of 2, 2 and 1, so the shorter last block is covered)."""
    block, shared = 2, 3
    model = word2vec(architecture=architecture, negative_block_size=block, shared_negatives=shared).double().train()
    inputs = random_ids(5) if architecture == "skipgram" else torch.tensor([[3, 4], [5, PAD], [6, 7], [8, 9], [1, 2]])
    batch = {"input_ids": inputs, "output_ids": random_ids(5, seed=2), "negative_ids": random_ids(3, shared, seed=3)}
    model(**batch).loss.backward()
    hand_written = [parameter.grad.clone() for parameter in model.parameters()]

    model.zero_grad()
    model.config.negative_block_size = 0  # per-example negatives: each example's block's negatives, weighted
    per_example = batch["negative_ids"].repeat_interleave(block, dim=0)[:5]
    outputs = model(input_ids=inputs, output_ids=batch["output_ids"], negative_ids=per_example)
    scores = outputs.logits
    expected = -(F.logsigmoid(scores[:, 0]) + NEGATIVES / shared * F.logsigmoid(-scores[:, 1:]).sum(1)).mean()
    expected.backward()
    for parameter, gradient in zip(model.parameters(), hand_written):
        torch.testing.assert_close(gradient, parameter.grad)


@pytest.mark.parametrize("cbow_mean", [True, False], ids=["mean", "sum"])
def test_cbow_loss_uses_the_mean_or_sum_of_the_real_context_words_and_ignores_padding(cbow_mean):
    model = word2vec(architecture="cbow", cbow_mean=cbow_mean)
    with torch.no_grad():
        model.input_embeddings.weight[PAD] = 100.0  # were padding counted, every loss below would be far off
    contexts = torch.tensor([[3, 4, 5, 6], [7, 8, PAD, PAD], [9, PAD, PAD, PAD]])
    mask = contexts.ne(PAD).long()
    centres, negatives = torch.tensor([1, 2, 10]), random_ids(3, NEGATIVES, seed=3)
    loss = model(input_ids=contexts, attention_mask=mask, output_ids=centres, negative_ids=negatives).loss

    vectors = model.input_embeddings.weight
    sums = torch.stack([vectors[row[row != PAD]].sum(0) for row in contexts])
    hidden = sums / mask.sum(1, keepdim=True) if cbow_mean else sums
    expected = negative_sampling_loss_by_hand(hidden, model.output_embeddings.weight, centres, negatives)
    torch.testing.assert_close(loss, expected)

    other = negative_sampling_loss_by_hand(
        sums if cbow_mean else sums / mask.sum(1, keepdim=True), model.output_embeddings.weight, centres, negatives
    )
    assert not torch.allclose(loss, other)  # mean and sum really differ on these contexts

    loss.backward()
    assert not model.input_embeddings.weight.grad[PAD].any()  # padding is never trained
    assert model.input_embeddings.weight.grad[[3, 7, 9]].abs().sum(-1).gt(0).all()


def test_cbow_without_an_attention_mask_masks_the_padding_id():
    model = word2vec(architecture="cbow")
    contexts = torch.tensor([[3, 4, PAD, PAD], [5, 6, 7, 8]])
    inputs = {"input_ids": contexts, "output_ids": torch.tensor([1, 2]), "negative_ids": random_ids(2, NEGATIVES)}
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).loss, model(**inputs, attention_mask=contexts.ne(PAD)).loss)


def test_word2vec_starts_with_small_word_vectors_zero_output_vectors_and_a_loss_of_one_plus_k_times_log_2():
    config = Word2VecConfig(vocab_size=VOCAB_SIZE, embedding_size=DIM, negative=NEGATIVES, negative_block_size=0)
    torch.manual_seed(0)
    model = Word2VecModel(config)
    vectors = model.word_vectors()
    assert vectors is model.input_embeddings.weight
    assert vectors.abs().max() <= 0.5 / DIM and vectors.std() > 0.1 / DIM  # uniform(-0.5/d, 0.5/d), as word2vec.c
    assert not model.output_embeddings.weight.any()
    assert model.get_input_embeddings() is model.input_embeddings
    assert model.get_output_embeddings() is model.output_embeddings
    assert model.output_embeddings.weight.data_ptr() != model.input_embeddings.weight.data_ptr()  # never tied

    outputs = model(input_ids=random_ids(7), output_ids=random_ids(7, seed=2), negative_ids=random_ids(7, NEGATIVES))
    assert torch.equal(outputs.logits, torch.zeros(7, 1 + NEGATIVES))
    torch.testing.assert_close(outputs.loss, torch.tensor((1 + NEGATIVES) * math.log(2)))


def test_glove_loss_is_the_weighted_least_squares_fit_of_log_counts_with_the_weight_capped_at_one():
    model = glove(x_max=10.0, alpha=0.75)
    rows, columns = random_ids(6), random_ids(6, seed=2)
    counts = torch.tensor([0.5, 1.0, 3.0, 10.0, 25.0, 400.0])  # the last three at or above x_max: weight 1
    outputs = model(input_ids=rows, output_ids=columns, cooccurrence=counts)

    by_hand = []
    for i, j, count in zip(rows.tolist(), columns.tolist(), counts.tolist(), strict=True):
        weight = (count / 10.0) ** 0.75 if count < 10.0 else 1.0
        prediction = model.word_embeddings.weight[i] @ model.context_embeddings.weight[j]
        prediction = prediction + model.word_biases[i] + model.context_biases[j]
        by_hand.append(weight * (prediction - math.log(count)) ** 2)
    torch.testing.assert_close(outputs.loss, torch.stack(by_hand).mean())
    assert outputs.logits.shape == (6,)


def test_glove_word_vectors_are_the_sum_of_word_and_context_vectors():
    torch.manual_seed(0)
    model = GloVeModel(GloVeConfig(vocab_size=VOCAB_SIZE, embedding_size=DIM))
    words, contexts = model.word_embeddings.weight, model.context_embeddings.weight
    for matrix in (words, contexts):  # uniform(-0.5/d, 0.5/d), as glove.c
        assert matrix.abs().max() <= 0.5 / DIM and matrix.std() > 0.1 / DIM
    assert not model.word_biases.any() and not model.context_biases.any()
    assert not torch.equal(words, contexts)
    torch.testing.assert_close(model.word_vectors(), words + contexts)


def test_a_few_adamw_steps_on_skipgram_pairs_lower_the_loss():
    torch.manual_seed(0)
    model = Word2VecModel(
        Word2VecConfig(vocab_size=VOCAB_SIZE, embedding_size=DIM, negative=NEGATIVES, negative_block_size=0)
    )
    batch = {"input_ids": random_ids(32), "output_ids": random_ids(32, seed=2), "negative_ids": random_ids(32, 4)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    losses = train(model, batch, optimizer, steps=30)
    assert losses[-1] < 0.5 * losses[0], losses


def test_a_few_adagrad_steps_on_cooccurrence_counts_lower_the_loss():
    torch.manual_seed(0)
    model = GloVeModel(GloVeConfig(vocab_size=VOCAB_SIZE, embedding_size=DIM, x_max=10.0))
    counts = torch.rand(40, generator=torch.Generator().manual_seed(4)) * 30 + 0.5
    batch = {"input_ids": random_ids(40), "output_ids": random_ids(40, seed=2), "cooccurrence": counts}
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.1)  # GloVe's optimiser
    losses = train(model, batch, optimizer, steps=40)
    assert losses[-1] < 0.5 * losses[0], losses


def train(model, batch: dict[str, torch.Tensor], optimizer, steps: int) -> list[float]:
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def test_bad_settings_and_inputs_of_the_wrong_shape_are_one_line_errors():
    with pytest.raises(ValueError, match="architecture must be one of"):
        Word2VecConfig(architecture="glove")
    with pytest.raises(ValueError, match="negative must be at least 1"):
        Word2VecConfig(negative=0)
    with pytest.raises(ValueError, match="x_max must be positive"):
        GloVeConfig(x_max=0.0)
    skipgram, cbow = word2vec(architecture="skipgram"), word2vec(architecture="cbow")
    with pytest.raises(ValueError, match=r"skip-gram input_ids must be \(N,\)"):
        skipgram(input_ids=random_ids(2, 3), output_ids=random_ids(2), negative_ids=random_ids(2, NEGATIVES))
    with pytest.raises(ValueError, match=r"CBOW input_ids must be \(N, C\)"):
        cbow(input_ids=random_ids(2), output_ids=random_ids(2), negative_ids=random_ids(2, NEGATIVES))


def test_trainer_trains_without_labels_and_reports_an_evaluation_loss(tmp_path):
    """No labels: Trainer computes the evaluation loss because forward's `return_loss` defaults to True, and passes
    no `num_items_in_batch` (the class says its loss ignores it)."""
    model = word2vec(architecture="skipgram")
    rows = {"input_ids": random_ids(64), "output_ids": random_ids(64, seed=2), "negative_ids": random_ids(64, 4)}
    data = Dataset.from_dict({key: value.tolist() for key, value in rows.items()}).with_format("torch")
    arguments = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=16, per_device_eval_batch_size=32, max_steps=4,
        learning_rate=0.05, use_cpu=True, report_to=[], save_strategy="no", logging_steps=1, disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(model=model, args=arguments, train_dataset=data, eval_dataset=data)
    assert trainer.model_accepts_loss_kwargs is False
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    with torch.no_grad():
        torch.testing.assert_close(torch.tensor(after), model(**rows).loss, rtol=1e-5, atol=1e-5)
    assert after < before
