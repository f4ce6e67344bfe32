"""The multi-task model (nlpkit/models/multitask): config checks, routing, each head's loss, the CRF, the per-head
export (stock transformers models for a BERT encoder) and pipelines per head. Saving, loading and remote code of the
family are in test_model_contract.py (its "multitask" entry)."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
import torch.nn.functional as F
import transformers
from transformers import BertConfig, BertModel, pipeline

import nlpkit  # noqa: F401  (registers the Auto classes)
from nlpkit.models.multitask import CRF, MultiTaskConfig, MultiTaskModel
from nlpkit.tokenization import train_tokenizer
from tests.helpers import last_json_line, run_without_nlpkit

TEXTS = ["John lives in Paris", "Mary likes London a lot", "Paris is big"]
TAGS = ["O", "B-LOC", "B-PER"]
HEADS = [
    {"name": "sentiment", "kind": "sequence_classification", "labels": ["negative", "positive"]},
    {"name": "score", "kind": "regression"},
    {"name": "ner", "kind": "token_classification", "labels": TAGS},
    {"name": "ner_crf", "kind": "token_classification", "labels": TAGS, "crf": True},
    {"name": "qa", "kind": "span"},
]
BERT = {
    "model_type": "bert",
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 32,
}
STOCK_CLASSES = {
    "sentiment": transformers.BertForSequenceClassification,
    "score": transformers.BertForSequenceClassification,
    "ner": transformers.BertForTokenClassification,
    "qa": transformers.BertForQuestionAnswering,
}


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, kind="word", min_frequency=1)


def make_model(tokenizer, encoder_type: str = "pretrained", heads=HEADS, seed: int = 0) -> MultiTaskModel:
    if encoder_type == "pretrained":
        encoder = {**BERT, "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    else:
        encoder = {"vocab_size": len(tokenizer), "embedding_size": 8, "hidden_size": 8, "dropout": 0.0}
    torch.manual_seed(seed)
    return MultiTaskModel(MultiTaskConfig(encoder_type=encoder_type, encoder=encoder, heads=heads)).eval()


def batch(tokenizer) -> dict[str, torch.Tensor]:
    return dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))


def labels_for(name: str, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    size = inputs["input_ids"].shape
    if name == "sentiment":
        return {"labels": torch.tensor([1, 0, 1])}
    if name == "score":
        return {"labels": torch.tensor([0.5, -1.0, 2.0])}
    if name == "qa":
        return {"start_positions": torch.tensor([1, 0, 2]), "end_positions": torch.tensor([2, 3, 2])}
    tags = torch.randint(0, len(TAGS), size, generator=generator)
    return {"labels": tags.masked_fill(inputs["attention_mask"] == 0, -100)}


# ---------------------------------------------------------------------------------------------------------------------
# The config.


@pytest.mark.parametrize(
    ("heads", "message"),
    [
        ([{"name": "a", "kind": "span"}, {"name": "a", "kind": "regression"}], r"unique, repeated: \['a'\]"),
        ([{"name": "a", "kind": "ranking"}], "head 'a': kind must be one of"),
        ([{"name": "a", "kind": "sequence_classification"}], "head 'a': a sequence_classification head needs 'labels'"),
        ([{"name": "a", "kind": "span", "labels": ["x"]}], "head 'a': a span head takes no 'labels'"),
        ([{"name": "a", "kind": "regression", "crf": True}], "head 'a': 'crf' is for token_classification"),
        ([{"name": "a", "kind": "span", "weight": 2}], r"head 'a': unknown keys \['weight'\]"),
        ([{"kind": "span"}], r"heads\[0\] needs a non-empty string 'name'"),
    ],
)
def test_a_wrong_head_is_a_value_error_naming_the_head(heads, message):
    with pytest.raises(ValueError, match=message):
        MultiTaskConfig(encoder_type="bilstm", heads=heads)


def test_unknown_bilstm_settings_and_encoder_types_are_value_errors():
    with pytest.raises(ValueError, match=r"unknown BiLSTM settings \['width'\]"):
        MultiTaskConfig(encoder_type="bilstm", encoder={"width": 3})
    with pytest.raises(ValueError, match="encoder_type must be one of pretrained, bilstm"):
        MultiTaskConfig(encoder_type="gru")


def test_the_config_round_trips_with_the_nested_encoder_config_rebuilt(tmp_path, tokenizer):
    config = make_model(tokenizer).config
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["encoder"]["model_type"] == "bert" and saved["encoder"]["hidden_size"] == 16
    loaded = MultiTaskConfig.from_pretrained(tmp_path)
    assert isinstance(loaded.encoder, BertConfig) and loaded.encoder.hidden_size == 16
    assert loaded.task_names == ["sentiment", "score", "ner", "ner_crf", "qa"]
    assert loaded.heads[3] == {"name": "ner_crf", "kind": "token_classification", "labels": TAGS, "crf": True}


def test_a_one_head_config_carries_the_heads_labels_for_pipelines():
    config = MultiTaskConfig(encoder_type="bilstm", heads=[HEADS[2]])
    assert config.id2label == dict(enumerate(TAGS)) and config.label2id["B-PER"] == 2
    regression = MultiTaskConfig(encoder_type="bilstm", heads=[HEADS[1]])
    assert regression.problem_type == "regression" and regression.num_labels == 1


# ---------------------------------------------------------------------------------------------------------------------
# Routing and parameters.


def test_an_unknown_task_or_a_missing_one_with_several_heads_is_a_value_error_listing_the_tasks(tokenizer):
    model, inputs = make_model(tokenizer, "bilstm"), batch(tokenizer)
    with pytest.raises(ValueError, match="unknown task 'pos'; this model's tasks: sentiment, score, ner, ner_crf, qa"):
        model(**inputs, task="pos")
    with pytest.raises(ValueError, match=r"pass task=<name> to a model with 5 heads \(sentiment, score"):
        model(**inputs)
    one_head = make_model(tokenizer, "bilstm", heads=[HEADS[0]])
    assert one_head(**inputs).logits.shape == (3, 2)


def test_shared_and_head_parameters_partition_the_model_and_one_task_trains_the_encoder_and_its_head(tokenizer):
    model, inputs = make_model(tokenizer).train(), batch(tokenizer)
    shared = {id(p) for p in model.shared_parameters()}
    heads = {name: {id(p) for p in model.head_parameters(name)} for name in model.config.task_names}
    assert sum(len(ids) for ids in heads.values()) + len(shared) == len(list(model.parameters()))
    assert not shared & set().union(*heads.values())
    model(**inputs, task="ner", **labels_for("ner", inputs)).loss.backward()
    with_grad = {id(p) for p in model.parameters() if p.grad is not None}
    assert heads["ner"] <= with_grad and heads["sentiment"].isdisjoint(with_grad)
    assert len(with_grad & shared) > 0.9 * len(shared)  # all but the pooler, which token heads do not use


# ---------------------------------------------------------------------------------------------------------------------
# Losses: against the stock transformers model (BERT encoder) or by hand (BiLSTM encoder).


@pytest.mark.parametrize("name", ["sentiment", "score", "ner", "qa"])
def test_each_bert_head_is_the_stock_transformers_model_with_the_same_loss_and_logits(name, tokenizer):
    model, inputs = make_model(tokenizer), batch(tokenizer)
    targets = labels_for(name, inputs)
    stock = model.head_model(name)
    assert type(stock) is STOCK_CLASSES[name]
    with torch.no_grad():
        ours, theirs = model(**inputs, task=name, **targets), stock(**inputs, **targets)
    torch.testing.assert_close(ours.loss, theirs.loss)
    for key in ("logits", "start_logits", "end_logits"):
        if getattr(ours, key) is not None:
            torch.testing.assert_close(getattr(ours, key), theirs[key])


def test_bilstm_losses_are_cross_entropy_mse_and_the_mean_of_the_span_cross_entropies(tokenizer):
    model, inputs = make_model(tokenizer, "bilstm"), batch(tokenizer)
    targets = {name: labels_for(name, inputs) for name in ("sentiment", "score", "ner", "qa")}
    with torch.no_grad():
        out = {name: model(**inputs, task=name, **target) for name, target in targets.items()}
    sentiment, score, tags = targets["sentiment"]["labels"], targets["score"]["labels"], targets["ner"]["labels"]
    torch.testing.assert_close(out["sentiment"].loss, F.cross_entropy(out["sentiment"].logits, sentiment))
    torch.testing.assert_close(out["score"].loss, ((out["score"].logits.squeeze(1) - score) ** 2).mean())
    kept = tags != -100
    torch.testing.assert_close(out["ner"].loss, F.cross_entropy(out["ner"].logits[kept], tags[kept]))
    start = F.cross_entropy(out["qa"].start_logits, targets["qa"]["start_positions"])
    end = F.cross_entropy(out["qa"].end_logits, targets["qa"]["end_positions"])
    torch.testing.assert_close(out["qa"].loss, (start + end) / 2)


def test_bilstm_sequence_heads_read_the_max_over_the_unpadded_token_states(tokenizer):
    model, inputs = make_model(tokenizer, "bilstm"), batch(tokenizer)
    with torch.no_grad():
        states, pooled = model.encode(inputs["input_ids"], inputs["attention_mask"])
        padded_row = int(inputs["attention_mask"].sum(1).argmin())
        length = int(inputs["attention_mask"][padded_row].sum())
        torch.testing.assert_close(pooled[padded_row], states[padded_row, :length].amax(0))


# ---------------------------------------------------------------------------------------------------------------------
# The CRF head.


def brute_force(crf: CRF, emissions: torch.Tensor) -> tuple[dict[tuple[int, ...], float], tuple[int, ...]]:
    """Score of every tag sequence of one sentence `(seq_len, tags)`, and the best one."""
    seq_len, num_tags = emissions.shape
    scores = {}
    for path in itertools.product(range(num_tags), repeat=seq_len):
        score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        score = score + sum(emissions[t, tag] for t, tag in enumerate(path))
        score = score + sum(crf.transitions[a, b] for a, b in itertools.pairwise(path))
        scores[path] = score.item()
    return scores, max(scores, key=scores.get)


def test_crf_logits_argmax_is_the_brute_force_best_path_and_the_loss_its_negative_log_likelihood():
    torch.manual_seed(0)
    crf = CRF(3)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_()
    emissions = torch.randn(1, 3, 3)
    gold = torch.tensor([[2, 0, 1]])
    with torch.no_grad():
        scores, best = brute_force(crf, emissions[0])
        output = MultiTaskModel._crf_output(crf, emissions, None, gold)
        decoded = MultiTaskModel._crf_output(crf, emissions, None, None)
    log_z = torch.logsumexp(torch.tensor(list(scores.values())), 0)
    torch.testing.assert_close(output.loss, log_z - scores[(2, 0, 1)])
    assert tuple(decoded.logits[0].argmax(-1).tolist()) == best
    assert decoded.logits.sum() == 3  # one-hot: one 1 per position


def test_the_crf_chain_skips_unlabelled_positions_such_as_special_tokens_and_subword_continuations(tokenizer):
    """A sentence with -100 positions (e.g. [CLS], continuations) scores as the sentence without them."""
    model = make_model(tokenizer, "bilstm", heads=[HEADS[3]])
    crf = model.heads["ner_crf"].crf
    emissions = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([[-100, 2, -100, 0, 1], [0, 1, 2, 0, 1]])
    with torch.no_grad():
        spread = model._crf_output(crf, emissions[:1], None, labels[:1])
        packed = model._crf_output(crf, emissions[:1, [1, 3, 4]], None, labels[:1, [1, 3, 4]])
        torch.testing.assert_close(spread.loss, packed.loss)
        torch.testing.assert_close(spread.logits[0, [1, 3, 4]], packed.logits[0])
        assert not spread.logits[0, [0, 2]].any()  # off the chain: no tag


# ---------------------------------------------------------------------------------------------------------------------
# head_model: the export of one head.


@pytest.mark.parametrize(
    ("encoder_type", "name", "auto_class"),
    [
        ("pretrained", "sentiment", transformers.AutoModelForSequenceClassification),
        ("pretrained", "ner", transformers.AutoModelForTokenClassification),
        ("pretrained", "ner_crf", transformers.AutoModelForTokenClassification),
        ("bilstm", "sentiment", transformers.AutoModelForSequenceClassification),
        ("bilstm", "qa", transformers.AutoModelForQuestionAnswering),
    ],
)
def test_an_exported_head_gives_the_heads_outputs_also_after_saving_and_loading(
    encoder_type, name, auto_class, tokenizer, tmp_path
):
    model, inputs = make_model(tokenizer, encoder_type), batch(tokenizer)
    exported = model.head_model(name)
    stock = encoder_type == "pretrained" and name != "ner_crf"
    assert isinstance(exported, MultiTaskModel) is not stock
    exported.save_pretrained(tmp_path)
    loaded = auto_class.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(exported)
    if not stock:
        assert loaded.config.task_names == [name]
    with torch.no_grad():
        wanted = model(**inputs, task=name)
        for candidate in (exported(**inputs), loaded(**inputs)):
            for key in ("logits", "start_logits"):
                if getattr(wanted, key) is not None:
                    torch.testing.assert_close(candidate[key], getattr(wanted, key))
    if name != "qa":
        assert loaded.config.id2label == dict(enumerate(model.config.head(name)["labels"]))


def test_from_pretrained_encoder_loads_the_encoders_weights_and_adds_new_heads(tokenizer, tmp_path):
    settings = {key: value for key, value in BERT.items() if key != "model_type"}
    torch.manual_seed(3)
    BertModel(BertConfig(vocab_size=len(tokenizer), **settings)).save_pretrained(tmp_path)
    pretrained = BertModel.from_pretrained(tmp_path)
    model = MultiTaskModel.from_pretrained_encoder(str(tmp_path), HEADS[:2], classifier_dropout=0.2)
    assert model.config.task_names == ["sentiment", "score"] and model.config.head_dropout == 0.2
    encoder_state = model.encoder.state_dict()
    for key, tensor in pretrained.state_dict().items():
        assert torch.equal(encoder_state[key], tensor), key


# ---------------------------------------------------------------------------------------------------------------------
# Pipelines per head.


def test_text_classification_pipelines_on_exported_heads_say_what_the_full_model_says(tokenizer):
    model, inputs = make_model(tokenizer), batch(tokenizer)
    with torch.no_grad():
        probabilities = model(**inputs, task="sentiment").logits.softmax(-1)
        scores = model(**inputs, task="score").logits.squeeze(-1)
    sentiment = pipeline("text-classification", model=model.head_model("sentiment"), tokenizer=tokenizer)
    found = sentiment(TEXTS)
    assert [out["label"] for out in found] == [["negative", "positive"][int(i)] for i in probabilities.argmax(-1)]
    assert [out["score"] for out in found] == pytest.approx(probabilities.amax(-1).tolist(), abs=1e-5)
    regression = pipeline("text-classification", model=model.head_model("score"), tokenizer=tokenizer)
    assert [out["score"] for out in regression(TEXTS)] == pytest.approx(scores.tolist(), abs=1e-5)  # no sigmoid


@pytest.mark.parametrize(
    ("encoder_type", "name"), [("pretrained", "ner"), ("pretrained", "ner_crf"), ("bilstm", "ner")]
)
def test_token_classification_pipelines_on_exported_heads_tag_as_the_full_model(encoder_type, name, tokenizer, caplog):
    model = make_model(tokenizer, encoder_type)
    options = {"aggregation_strategy": "none", "ignore_labels": []}
    transformers.logging.enable_propagation()  # so that caplog sees the pipeline's model-class check
    try:
        tagger = pipeline("token-classification", model=model.head_model(name), tokenizer=tokenizer, **options)
    finally:
        transformers.logging.disable_propagation()
    assert "is not supported for token-classification" not in caplog.text
    for text in TEXTS:
        with torch.no_grad():
            probabilities = model(**tokenizer(text, return_tensors="pt"), task=name).logits[0].softmax(-1)
        entities = tagger(text)
        assert [entity["entity"] for entity in entities] == [TAGS[tag] for tag in probabilities.argmax(-1)]
        assert [entity["score"] for entity in entities] == pytest.approx(probabilities.amax(-1).tolist(), abs=1e-5)


REMOTE = """
    import json, torch, transformers
    spec = json.load(open("spec.json"))
    tagger = transformers.pipeline("token-classification", model=spec["folder"], trust_remote_code=True,
                                   aggregation_strategy="none", ignore_labels=[])
    print(json.dumps({"module": type(tagger.model).__module__, "tags": [[e["entity"] for e in tagger(text)]
                                                                        for text in spec["texts"]]}))
"""


def test_a_saved_one_head_export_runs_in_a_pipeline_without_nlpkit(tokenizer, tmp_path):
    model = make_model(tokenizer, "bilstm")
    folder = tmp_path / "ner"
    model.head_model("ner_crf").save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (tmp_path / "spec.json").write_text(json.dumps({"folder": str(folder), "texts": TEXTS}))
    remote = last_json_line(run_without_nlpkit(REMOTE, tmp_path))
    assert remote["module"].startswith("transformers_modules")
    for text, tags in zip(TEXTS, remote["tags"], strict=True):
        with torch.no_grad():
            wanted = model(**tokenizer(text, return_tensors="pt"), task="ner_crf").logits[0].argmax(-1).tolist()
        assert tags == [TAGS[tag] for tag in wanted]
