"""LSTM/GRU classifier: padding invariance, heads and losses, initialisation, save/reload, remote code, Trainer."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

import nlpkit  # noqa: F401  (registers the model with the Auto classes)
from nlpkit.models.lstm_classifier import (
    LSTMClassifierConfig,
    LSTMClassifierForSequenceClassification,
    LSTMClassifierModel,
)
from nlpkit.tokenization import train_tokenizer
from tests.helpers import last_json_line, run_without_nlpkit

PAD = 0


def tiny_config(**overrides) -> LSTMClassifierConfig:
    settings = {"vocab_size": 40, "embedding_size": 8, "hidden_size": 6, "num_labels": 3, "pad_token_id": PAD}
    return LSTMClassifierConfig(**{**settings, **overrides})


def tiny_model(**overrides) -> LSTMClassifierForSequenceClassification:
    torch.manual_seed(0)
    return LSTMClassifierForSequenceClassification(tiny_config(**overrides)).eval()


def pad_batch(sequences: list[list[int]], side: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    rows = [[PAD] * (width - len(s)) + s if side == "left" else s + [PAD] * (width - len(s)) for s in sequences]
    masks = [
        [0] * (width - len(s)) + [1] * len(s) if side == "left" else [1] * len(s) + [0] * (width - len(s))
        for s in sequences
    ]
    return torch.tensor(rows), torch.tensor(masks)


SENTENCE = [5, 17, 3, 22, 9]
OTHERS = [[7, 1, 30, 2, 11, 4, 8, 19, 25], [12], [6, 6, 6]]


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
@pytest.mark.parametrize("layers", [1, 2])
def test_padding_never_changes_logits(rnn_type, bidirectional, pooling, layers):
    model = tiny_model(rnn_type=rnn_type, bidirectional=bidirectional, pooling=pooling, num_hidden_layers=layers)
    with torch.no_grad():
        alone = model(torch.tensor([SENTENCE]), attention_mask=torch.ones(1, len(SENTENCE))).logits[0]
        for side in ("right", "left"):
            ids, mask = pad_batch([*OTHERS[:2], SENTENCE, OTHERS[2]], side)
            assert ids.shape[1] > len(SENTENCE)  # the sentence really is padded
            batched = model(ids, attention_mask=mask).logits[2]
            torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-6)


def test_last_hidden_state_follows_the_callers_positions():
    model = tiny_model(bidirectional=True).model
    right_ids, right_mask = pad_batch([SENTENCE, OTHERS[0]], "right")
    left_ids, left_mask = pad_batch([SENTENCE, OTHERS[0]], "left")
    with torch.no_grad():
        right = model(right_ids, attention_mask=right_mask)
        left = model(left_ids, attention_mask=left_mask)
    padding = right_ids.shape[1] - len(SENTENCE)
    assert right.last_hidden_state.shape == (2, right_ids.shape[1], model.config.output_size)
    torch.testing.assert_close(left.last_hidden_state[0, padding:], right.last_hidden_state[0, : len(SENTENCE)])
    assert right.last_hidden_state[0, len(SENTENCE) :].abs().sum() == 0
    assert left.last_hidden_state[0, :padding].abs().sum() == 0
    torch.testing.assert_close(left.pooler_output, right.pooler_output)


def test_missing_mask_means_every_non_pad_token():
    model = tiny_model(pooling="mean")
    ids, mask = pad_batch([SENTENCE, OTHERS[0]], "right")
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, model(ids, attention_mask=mask).logits)


def test_sequence_without_tokens_pools_to_zeros():
    model = tiny_model(pooling="max", bidirectional=True)
    ids, mask = pad_batch([SENTENCE, OTHERS[1]], "right")
    mask[1] = 0
    with torch.no_grad():
        outputs = model.model(ids, attention_mask=mask)
        logits = model(ids, attention_mask=mask).logits
    assert outputs.pooler_output[1].abs().sum() == 0
    assert outputs.last_hidden_state[1].abs().sum() == 0
    torch.testing.assert_close(logits[1], model.classifier.bias)  # pooled zeros -> just the bias
    with torch.no_grad():
        torch.testing.assert_close(logits[0], model(torch.tensor([SENTENCE])).logits[0])


@pytest.mark.parametrize(
    ("pooling", "bidirectional"), [("last", False), ("last", True), ("max", True), ("mean", False)]
)
def test_pooling_matches_a_direct_computation(pooling, bidirectional):
    model = tiny_model(pooling=pooling, bidirectional=bidirectional).model
    with torch.no_grad():
        outputs = model(torch.tensor([SENTENCE]))
        states, (final_hidden, _) = model.rnn(model.embed_tokens(torch.tensor([SENTENCE])))
    torch.testing.assert_close(outputs.last_hidden_state, states)
    if pooling == "last":
        expected = torch.cat(list(final_hidden), dim=-1)[0]
        if bidirectional:  # forward state after the last token, backward state after the first
            torch.testing.assert_close(expected, torch.cat([states[0, -1, :6], states[0, 0, 6:]]))
    else:
        expected = states[0].amax(0) if pooling == "max" else states[0].mean(0)
    torch.testing.assert_close(outputs.pooler_output[0], expected)


def test_single_label_loss_is_cross_entropy():
    model = tiny_model()
    ids, mask = pad_batch([SENTENCE, *OTHERS], "right")
    labels = torch.tensor([0, 2, 1, 2])
    outputs = model(ids, attention_mask=mask, labels=labels)
    assert model.config.problem_type == "single_label_classification"
    assert outputs.logits.shape == (4, 3)
    torch.testing.assert_close(outputs.loss, torch.nn.functional.cross_entropy(outputs.logits, labels))


def test_multi_label_loss_is_binary_cross_entropy():
    model = tiny_model(num_labels=4)
    ids, mask = pad_batch([SENTENCE, *OTHERS], "right")
    labels = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.float)
    outputs = model(ids, attention_mask=mask, labels=labels)
    assert model.config.problem_type == "multi_label_classification"
    expected = torch.nn.functional.binary_cross_entropy_with_logits(outputs.logits, labels)
    torch.testing.assert_close(outputs.loss, expected)


@pytest.mark.parametrize("num_labels", [1, 2])
def test_regression_loss_is_mse(num_labels):
    model = tiny_model(num_labels=num_labels, problem_type="regression" if num_labels > 1 else None)
    ids, mask = pad_batch([SENTENCE, *OTHERS], "right")
    labels = torch.randn(4) if num_labels == 1 else torch.randn(4, num_labels)
    outputs = model(ids, attention_mask=mask, labels=labels)
    assert model.config.problem_type == "regression"
    expected = torch.nn.functional.mse_loss(outputs.logits.view(labels.shape), labels)
    torch.testing.assert_close(outputs.loss, expected)
    one = model(ids[:1], attention_mask=mask[:1], labels=labels[:1])  # a batch of one keeps its shape
    torch.testing.assert_close(one.loss, torch.nn.functional.mse_loss(one.logits.view(labels[:1].shape), labels[:1]))


def test_return_dict_false_gives_a_tuple():
    model = tiny_model()
    loss, logits = model(torch.tensor([SENTENCE]), labels=torch.tensor([1]), return_dict=False)
    assert loss.ndim == 0 and logits.shape == (1, 3)


def test_overfits_a_tiny_batch():
    model = tiny_model(rnn_type="gru", bidirectional=True, embedding_dropout=0.0, classifier_dropout=0.0).train()
    ids, mask = pad_batch([SENTENCE, *OTHERS], "left")
    labels = torch.tensor([0, 1, 2, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        loss = model(ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 < losses[0]
    assert model.eval()(ids, attention_mask=mask).logits.argmax(-1).tolist() == labels.tolist()


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_init_covers_the_recurrent_weights(rnn_type):
    model = tiny_model(rnn_type=rnn_type, num_hidden_layers=2, bidirectional=True, forget_bias=1.0, hidden_size=8)
    rnn, hidden = model.model.rnn, 8
    gates = 4 if rnn_type == "lstm" else 3
    for name, param in rnn.named_parameters():
        if name.startswith("weight_hh"):
            for block in param.detach().chunk(gates):
                torch.testing.assert_close(block @ block.T, torch.eye(hidden), atol=1e-5, rtol=0)
        elif name.startswith("bias_hh"):
            assert param.abs().sum() == 0
        elif name.startswith("bias_ih"):
            expected = torch.zeros(gates * hidden)
            if rnn_type == "lstm":
                expected[hidden : 2 * hidden] = 1.0
            torch.testing.assert_close(param.detach(), expected)
    assert model.model.embed_tokens.weight[PAD].abs().sum() == 0
    # The embeddings' own scale, not the head's 0.02.
    assert model.model.embed_tokens.weight[1:].std().item() == pytest.approx(model.config.embedding_init_std, rel=0.2)


def test_input_embeddings_can_be_replaced():
    model = tiny_model()
    assert model.get_input_embeddings() is model.model.embed_tokens
    new = torch.nn.Embedding(40, 8, padding_idx=PAD)
    model.set_input_embeddings(new)
    assert model.get_input_embeddings() is new
    model.resize_token_embeddings(50)
    assert model.get_input_embeddings().num_embeddings == 50 and model.config.vocab_size == 50


def test_config_rejects_unknown_choices():
    with pytest.raises(ValueError, match="rnn_type"):
        LSTMClassifierConfig(rnn_type="rnn")
    with pytest.raises(ValueError, match="rnn_type"):
        LSTMClassifierConfig(cell="rnn")  # the old name is checked too
    with pytest.raises(ValueError, match="pooling"):
        LSTMClassifierConfig(pooling="first")


OLD_NAMES = {"embedding_dim": "embedding_size", "num_layers": "num_hidden_layers", "cell": "rnn_type"}


def test_config_saved_with_the_old_names_still_loads(tmp_path):
    config = LSTMClassifierConfig.from_dict({"embedding_dim": 12, "num_layers": 3, "cell": "gru", "vocab_size": 50})
    assert (config.embedding_size, config.num_hidden_layers, config.rnn_type, config.vocab_size) == (12, 3, "gru", 50)
    assert config.embedding_dim == 12  # the alias reads the new field
    assert not set(OLD_NAMES) & set(config.to_dict())  # saved under the new names only
    # A folder whose config.json predates the rename loads the same weights into the same model.
    model = tiny_model(rnn_type="gru", num_hidden_layers=2, embedding_size=10)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    new_to_old = {new: old for old, new in OLD_NAMES.items()}
    old_saved = {new_to_old.get(key, key): value for key, value in saved.items()}
    assert set(OLD_NAMES) <= set(old_saved)
    (tmp_path / "config.json").write_text(json.dumps(old_saved))
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    loaded_config = reloaded.config
    assert (loaded_config.embedding_size, loaded_config.num_hidden_layers, loaded_config.rnn_type) == (10, 2, "gru")
    ids, mask = pad_batch([SENTENCE, *OTHERS], "right")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids, attention_mask=mask).logits, model(ids, attention_mask=mask).logits)


def test_save_and_reload_give_identical_logits(tmp_path):
    model = tiny_model(rnn_type="gru", num_hidden_layers=2, bidirectional=True, pooling="mean")
    ids, mask = pad_batch([SENTENCE, *OTHERS], "left")
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "lstm_classifier"
    assert config["auto_map"]["AutoModelForSequenceClassification"].endswith("LSTMClassifierForSequenceClassification")
    assert (tmp_path / "modeling_lstm_classifier.py").exists()

    assert isinstance(AutoConfig.from_pretrained(tmp_path), LSTMClassifierConfig)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(reloaded) is LSTMClassifierForSequenceClassification
    base = AutoModel.from_pretrained(tmp_path).eval()
    assert type(base) is LSTMClassifierModel
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids, attention_mask=mask).logits, model(ids, attention_mask=mask).logits)
        torch.testing.assert_close(
            base(ids, attention_mask=mask).pooler_output, model.model(ids, attention_mask=mask).pooler_output
        )


TEXTS = ["a truly great film", "boring and far too long", "great acting , great story", "a dull , boring mess"]


def saved_classifier(tmp_path):
    tokenizer = train_tokenizer(TEXTS * 2, kind="word", vocab_size=100)
    model = tiny_model(vocab_size=len(tokenizer), num_labels=2, id2label={0: "negative", 1: "positive"})
    model.config.label2id = {"negative": 0, "positive": 1}
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer, folder


def test_remote_code_and_pipeline_without_nlpkit(tmp_path):
    model, tokenizer, folder = saved_classifier(tmp_path)
    inputs = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**inputs).logits
    output = run_without_nlpkit(
        f"""
        import json, torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
        folder = {str(folder)!r}
        texts = {TEXTS!r}
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        with torch.no_grad():
            logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
        classify = pipeline("text-classification", model=folder, trust_remote_code=True)
        print(json.dumps({{"module": type(model).__module__, "logits": logits.tolist(), "pipeline": classify(texts)}}))
        """,
        tmp_path,
    )
    result = last_json_line(output)
    assert not result["module"].startswith("nlpkit")
    torch.testing.assert_close(torch.tensor(result["logits"]), expected)
    probabilities = expected.softmax(-1)
    for prediction, row in zip(result["pipeline"], probabilities):
        assert prediction["label"] == ("positive" if row.argmax() == 1 else "negative")
        assert prediction["score"] == pytest.approx(row.max().item(), abs=1e-5)


def test_trainer_trains_and_predicts(tmp_path):
    _, tokenizer, folder = saved_classifier(tmp_path)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    labels = [1, 0, 1, 0]
    dataset = [{**tokenizer(text), "labels": label} for text, label in zip(TEXTS * 4, labels * 4)]
    args = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=8,
        num_train_epochs=3,
        learning_rate=0.05,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer))
    history = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses[-1] < losses[0]
    assert history.training_loss > 0
    predictions = trainer.predict(dataset[:4])
    assert predictions.predictions.shape == (4, 2)
