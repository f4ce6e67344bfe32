"""BiLSTM-CRF: the CRF against brute force, BIO constraints, Viterbi logits, save/load, remote code, pipeline()."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    AutoModelForTokenClassification,
    PreTrainedTokenizerFast,
    TokenClassificationPipeline,
    pipeline,
)

import nlpkit  # noqa: F401  (registers the Auto classes)
from nlpkit import cli
from nlpkit.models.bilstm_crf import (
    BiLSTMCRFConfig,
    BiLSTMCRFForTokenClassification,
    LinearChainCRF,
    bio_transition_constraints,
    words_to_char_ids,
)
from nlpkit.models.bilstm_crf.modeling_bilstm_crf import BiLSTMCRFTokenClassificationPipeline
from nlpkit.predict import load_pipeline, tag_entities, token_classification_pipeline
from tests.helpers import last_json_line, run_without_nlpkit

BIO_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


# ---------------------------------------------------------------------------------------------------------------------
# Brute force: enumerate every tag sequence, in float64, from the raw parameters.


def path_scores(crf: LinearChainCRF, emissions: torch.Tensor, paths: torch.Tensor) -> torch.Tensor:
    """Scores of tag sequences `paths` (num_paths, length) over one sentence's `emissions`, from the raw parameters."""
    with torch.no_grad():
        score = crf.start_transitions[paths[:, 0]] + crf.end_transitions[paths[:, -1]]
        score = score + emissions[torch.arange(paths.shape[1]), paths].sum(dim=1)
        score = score + crf.transitions[paths[:, :-1], paths[:, 1:]].sum(dim=1)
    return score.double()


def is_valid_bio(tags: list[int]) -> bool:
    """Hand-written IOB2 check, independent of the model's constraint tables."""
    previous = "O"
    for tag in tags:
        label = BIO_LABELS[tag]
        if label.startswith("I-") and previous[2:] != label[2:]:
            return False
        previous = label
    return True


def all_paths(num_tags: int, length: int, valid_only: bool = False) -> torch.Tensor:
    paths = [list(path) for path in itertools.product(range(num_tags), repeat=length)]
    return torch.tensor([path for path in paths if not valid_only or is_valid_bio(path)])


def random_crf(num_tags: int, constrained: bool = False, seed: int = 0) -> LinearChainCRF:
    torch.manual_seed(seed)
    if constrained:
        allowed, allowed_start = bio_transition_constraints(dict(enumerate(BIO_LABELS)))
    else:
        allowed, allowed_start = (
            torch.ones(num_tags, num_tags, dtype=torch.bool),
            torch.ones(num_tags, dtype=torch.bool),
        )
    crf = LinearChainCRF(num_tags, allowed, allowed_start)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_()  # transitions as large as emissions, so they matter
    return crf


def batch_with_padding(lengths: list[int], num_tags: int, seed: int = 0):
    torch.manual_seed(seed)
    emissions = torch.randn(len(lengths), max(lengths), num_tags) * 2
    mask = torch.arange(max(lengths)) < torch.tensor(lengths).unsqueeze(1)
    labels = torch.randint(0, num_tags, mask.shape).masked_fill(~mask, -100)
    return emissions, mask, labels


# ---------------------------------------------------------------------------------------------------------------------
# The CRF itself.


def test_negative_log_likelihood_matches_brute_force():
    num_tags, lengths = 3, [4, 2, 1, 3]
    crf = random_crf(num_tags)
    emissions, mask, labels = batch_with_padding(lengths, num_tags)
    nll = crf.neg_log_likelihood(emissions, labels, mask)
    log_z = crf.log_partition(emissions, mask)
    for b, length in enumerate(lengths):
        all_scores = path_scores(crf, emissions[b], all_paths(num_tags, length))
        gold = path_scores(crf, emissions[b], labels[b : b + 1, :length])[0]
        torch.testing.assert_close(log_z[b].double(), all_scores.logsumexp(0), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(nll[b].double(), all_scores.logsumexp(0) - gold, rtol=1e-5, atol=1e-5)


def test_unknown_labels_inside_a_sequence_are_summed_over():
    num_tags = 3
    crf = random_crf(num_tags, seed=1)
    emissions, mask, _ = batch_with_padding([4], num_tags, seed=1)
    labels = torch.tensor([[2, -100, 0, -100]])
    paths = all_paths(num_tags, 4)
    scores = path_scores(crf, emissions[0], paths)
    agreeing = (paths[:, 0] == 2) & (paths[:, 2] == 0)
    expected = scores.logsumexp(0) - scores[agreeing].logsumexp(0)
    torch.testing.assert_close(crf.neg_log_likelihood(emissions, labels, mask)[0].double(), expected)


def test_viterbi_and_max_marginals_match_brute_force():
    num_tags, lengths = 4, [5, 3, 1]
    for seed in range(5):
        crf = random_crf(num_tags, seed=seed)
        emissions, mask, _ = batch_with_padding(lengths, num_tags, seed=seed)
        path, max_marginals = crf.viterbi(emissions, mask)
        decoded = crf.decode(emissions, mask)
        for b, length in enumerate(lengths):
            paths = all_paths(num_tags, length)
            scores = path_scores(crf, emissions[b], paths)
            assert decoded[b] == paths[scores.argmax()].tolist() == path[b, :length].tolist()
            for t, tag in itertools.product(range(length), range(num_tags)):
                through = scores[paths[:, t] == tag].max()  # best sequence with `tag` at position t
                torch.testing.assert_close(max_marginals[b, t, tag].double(), through, rtol=1e-5, atol=1e-5)


def test_bio_constraint_table():
    allowed, allowed_start = bio_transition_constraints(dict(enumerate(BIO_LABELS)))
    index = {label: i for i, label in enumerate(BIO_LABELS)}
    for previous, label in itertools.product(BIO_LABELS, BIO_LABELS):
        expected = not label.startswith("I-") or previous[2:] == label[2:]
        assert allowed[index[previous], index[label]].item() == expected, (previous, label)
    assert allowed_start.tolist() == [True, True, False, True, False]
    with pytest.raises(ValueError, match="IOB2"):
        bio_transition_constraints({0: "O", 1: "I-PER"})  # IO tagging has no B- tags: cannot be constrained


def test_constrained_decoding_never_emits_an_invalid_move():
    num_tags = len(BIO_LABELS)
    constrained, free = random_crf(num_tags, constrained=True), random_crf(num_tags)
    with torch.no_grad():
        free.load_state_dict(constrained.state_dict())
    torch.manual_seed(0)
    invalid_without_constraints = 0
    for _ in range(200):
        lengths = torch.randint(1, 9, (4,)).tolist()
        emissions = torch.randn(4, max(lengths), num_tags) * 3
        emissions[..., [2, 4]] += 1.5  # favour I- tags so the constraints have work to do
        mask = torch.arange(max(lengths)) < torch.tensor(lengths).unsqueeze(1)
        assert all(is_valid_bio(tags) for tags in constrained.decode(emissions, mask))
        invalid_without_constraints += sum(not is_valid_bio(tags) for tags in free.decode(emissions, mask))
    assert invalid_without_constraints > 50  # the same scores do produce invalid moves when unconstrained


def test_constrained_likelihood_matches_brute_force_over_valid_paths():
    num_tags, lengths = len(BIO_LABELS), [4, 3, 1]
    crf = random_crf(num_tags, constrained=True, seed=3)
    emissions, mask, _ = batch_with_padding(lengths, num_tags, seed=3)
    labels = torch.tensor([[1, 2, 0, 3], [3, 4, 4, -100], [0, -100, -100, -100]])
    nll = crf.neg_log_likelihood(emissions, labels, mask)
    for b, length in enumerate(lengths):
        valid = all_paths(num_tags, length, valid_only=True)
        scores = path_scores(crf, emissions[b], valid)
        gold = path_scores(crf, emissions[b], labels[b : b + 1, :length])[0]
        torch.testing.assert_close(nll[b].double(), scores.logsumexp(0) - gold, rtol=1e-5, atol=1e-4)
        assert crf.decode(emissions, mask)[b] == valid[scores.argmax()].tolist()


# ---------------------------------------------------------------------------------------------------------------------
# The model.

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ."


def tiny_config(**overrides) -> BiLSTMCRFConfig:
    settings = {
        "vocab_size": 40,
        "embedding_size": 12,
        "hidden_size": 10,
        "char_encoder": "cnn",
        "char_alphabet": ALPHABET,
        "char_embedding_size": 6,
        "char_hidden_size": 8,
        "max_word_length": 8,
        "dropout": 0.1,
        "constrain_bio_transitions": False,  # the tests that want the IOB2 constraints ask for them
        "id2label": dict(enumerate(BIO_LABELS)),
        "label2id": {label: i for i, label in enumerate(BIO_LABELS)},
    }
    return BiLSTMCRFConfig(**{**settings, **overrides})


def padded_batch(seed: int = 0):
    torch.manual_seed(seed)
    lengths = [6, 3, 1, 5]
    mask = (torch.arange(6) < torch.tensor(lengths).unsqueeze(1)).long()
    input_ids = torch.randint(1, 40, (4, 6)).masked_fill(mask == 0, 0)
    labels = torch.randint(0, len(BIO_LABELS), (4, 6)).masked_fill(mask == 0, -100)
    return input_ids, mask, labels, lengths


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm", None])
def test_logits_argmax_is_the_viterbi_path(char_encoder):
    model = BiLSTMCRFForTokenClassification(tiny_config(char_encoder=char_encoder, constrain_bio_transitions=True))
    if char_encoder:
        model.set_word_vocabulary({f"w{i}": i for i in range(40)})
    model.eval()
    input_ids, mask, _, lengths = padded_batch()
    logits = model(input_ids, attention_mask=mask).logits
    decoded = model.decode(input_ids, attention_mask=mask)
    assert logits.shape == (4, 6, len(BIO_LABELS))
    assert [row[:n] for row, n in zip(logits.argmax(-1).tolist(), lengths)] == decoded
    assert all(is_valid_bio(tags) for tags in decoded)
    assert logits[mask == 0].eq(0).all()


def test_padding_does_not_change_a_sentence():
    model = BiLSTMCRFForTokenClassification(tiny_config(char_encoder="lstm")).eval()
    model.set_word_vocabulary({f"w{i}": i for i in range(40)})
    input_ids, mask, labels, lengths = padded_batch(seed=1)
    batched = model(input_ids, attention_mask=mask, labels=labels)
    single_losses = []
    for b, n in enumerate(lengths):
        alone = model(input_ids[b : b + 1, :n], labels=labels[b : b + 1, :n])
        torch.testing.assert_close(batched.logits[b, :n], alone.logits[0], rtol=1e-5, atol=1e-5)
        single_losses.append(alone.loss)
    torch.testing.assert_close(batched.loss, torch.stack(single_losses).mean(), rtol=1e-5, atol=1e-5)


def test_vocabulary_table_gives_the_same_features_as_explicit_char_ids():
    model = BiLSTMCRFForTokenClassification(tiny_config()).eval()
    vocab = {"[PAD]": 0, "[UNK]": 1, **{word: i + 2 for i, word in enumerate(["John", "lives", "in", "Paris", "."])}}
    model.set_word_vocabulary(vocab, special_tokens=["[PAD]", "[UNK]"])
    words = ["John", "lives", "in", "Paris", "."]
    input_ids = torch.tensor([[vocab[word] for word in words]])
    char_ids = words_to_char_ids(words, ALPHABET, 8).unsqueeze(0)
    assert char_ids[0, 0].tolist() == [ALPHABET.index(c) + 2 for c in "John"] + [0, 0, 0, 0]
    torch.testing.assert_close(model(input_ids).logits, model(input_ids, char_ids=char_ids).logits)
    # An unknown word keeps its characters only through char_ids.
    unknown = torch.tensor([[1]])
    assert not torch.equal(
        model(unknown).logits, model(unknown, char_ids=words_to_char_ids(["Zed"], ALPHABET, 8)[None]).logits
    )


def test_left_padding_is_rejected():
    model = BiLSTMCRFForTokenClassification(tiny_config())
    with pytest.raises(ValueError, match="right-padded"):
        model(torch.tensor([[0, 5, 6]]), attention_mask=torch.tensor([[0, 1, 1]]))


def test_save_and_load_round_trip(tmp_path):
    config = tiny_config(char_encoder="lstm", constrain_bio_transitions=True)
    model = BiLSTMCRFForTokenClassification(config).eval()
    model.set_word_vocabulary({f"w{i}": i for i in range(40)})
    model.save_pretrained(tmp_path)
    loaded = AutoModelForTokenClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, BiLSTMCRFForTokenClassification)
    saved_config, loaded_config = model.config.to_dict(), loaded.config.to_dict()
    loaded_config["_name_or_path"] = saved_config["_name_or_path"]
    assert loaded_config == saved_config
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    # Not saved, rebuilt from the config when loading.
    assert torch.equal(loaded.crf.allowed_transitions, model.crf.allowed_transitions)
    assert not loaded.crf.allowed_transitions.all()
    input_ids, mask, labels, _ = padded_batch()
    expected, actual = model(input_ids, mask, labels=labels), loaded(input_ids, mask, labels=labels)
    assert torch.equal(expected.logits, actual.logits) and torch.equal(expected.loss, actual.loss)


# ---------------------------------------------------------------------------------------------------------------------
# The config.

OLD_NAMES = {
    "word_embedding_dim": "embedding_size",
    "lstm_hidden_size": "hidden_size",
    "num_lstm_layers": "num_hidden_layers",
    "char_embedding_dim": "char_embedding_size",
}


def test_config_saved_with_the_old_names_still_loads(tmp_path):
    old = {"word_embedding_dim": 12, "lstm_hidden_size": 10, "num_lstm_layers": 2, "char_embedding_dim": 6}
    config = BiLSTMCRFConfig.from_dict(old)
    sizes = (config.embedding_size, config.hidden_size, config.num_hidden_layers, config.char_embedding_size)
    assert sizes == (12, 10, 2, 6)
    assert config.lstm_hidden_size == 10  # the alias reads the new field
    assert not set(OLD_NAMES) & set(config.to_dict())  # saved under the new names only
    # A folder saved before the rename (old keys, no custom_pipelines) loads the same weights into the same model.
    model = BiLSTMCRFForTokenClassification(tiny_config(num_hidden_layers=2, char_encoder="lstm")).eval()
    model.set_word_vocabulary({f"w{i}": i for i in range(40)})
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    new_to_old = {new: old for old, new in OLD_NAMES.items()}
    old_saved = {new_to_old.get(key, key): value for key, value in saved.items() if key != "custom_pipelines"}
    assert set(OLD_NAMES) <= set(old_saved)
    (tmp_path / "config.json").write_text(json.dumps(old_saved))
    loaded = AutoModelForTokenClassification.from_pretrained(tmp_path).eval()
    assert (loaded.config.embedding_size, loaded.config.hidden_size, loaded.config.num_hidden_layers) == (12, 10, 2)
    assert loaded.config.char_embedding_size == 6 and loaded.config.custom_pipelines == model.config.custom_pipelines
    input_ids, mask, _, _ = padded_batch()
    torch.testing.assert_close(loaded(input_ids, mask).logits, model(input_ids, mask).logits)


def test_defaults_are_the_ner_recipe_settings():
    config = BiLSTMCRFConfig()
    assert (config.char_encoder, config.char_hidden_size, config.constrain_bio_transitions) == ("cnn", 50, True)
    with pytest.raises(ValueError, match="char_encoder"):
        BiLSTMCRFConfig(char_encoder="gru")
    with pytest.raises(ValueError, match="even"):
        BiLSTMCRFConfig(char_encoder="lstm", char_hidden_size=7)


def test_default_character_encoder_runs_with_an_empty_alphabet():
    config = BiLSTMCRFConfig(
        vocab_size=20, embedding_size=8, hidden_size=6, id2label=dict(enumerate(BIO_LABELS)), max_word_length=6
    )
    assert (config.char_encoder, config.char_alphabet, config.char_vocab_size) == ("cnn", "", 2)
    torch.manual_seed(0)
    model = BiLSTMCRFForTokenClassification(config)
    model.set_word_vocabulary({f"w{i}": i for i in range(20)})
    assert model.word_char_ids[3].tolist() == [1, 1, 0, 0, 0, 0]  # "w3": two unknown characters
    input_ids = torch.tensor([[3, 5, 7, 2], [4, 11, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    labels = torch.tensor([[1, 2, 0, 3], [3, 4, -100, -100]])
    output = model(input_ids, attention_mask=mask, labels=labels)
    assert output.logits.shape == (2, 4, len(BIO_LABELS)) and torch.isfinite(output.loss)
    output.loss.backward()
    assert model.char_encoder.conv.weight.grad.abs().sum() > 0  # the character features take part
    char_ids = torch.stack([words_to_char_ids(["Ann", "met", "Bo", "."], "", 6), torch.zeros(4, 6, dtype=torch.long)])
    decoded = model.eval().decode(input_ids, attention_mask=mask, char_ids=char_ids)
    assert [len(tags) for tags in decoded] == [4, 2] and all(is_valid_bio(tags) for tags in decoded)


def test_config_names_its_pipeline(tmp_path):
    pipelines = BiLSTMCRFConfig().custom_pipelines
    assert pipelines == {
        "token-classification": {
            "impl": "modeling_bilstm_crf.BiLSTMCRFTokenClassificationPipeline",
            "pt": ["AutoModelForTokenClassification"],
            "tf": [],
            "type": "text",
        }
    }
    module, name = pipelines["token-classification"]["impl"].split(".")
    assert f"nlpkit.models.bilstm_crf.{module}" == BiLSTMCRFTokenClassificationPipeline.__module__
    assert name == BiLSTMCRFTokenClassificationPipeline.__name__
    BiLSTMCRFForTokenClassification(tiny_config()).save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["custom_pipelines"] == pipelines


# ---------------------------------------------------------------------------------------------------------------------
# A trained tagger behind pipeline("token-classification"), in process and as remote code.

SENTENCES = [
    ("John Smith lives in Paris.", ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
    ("Mary works in London.", ["B-PER", "O", "O", "B-LOC", "O"]),
    ("Paris welcomes Mary Jones.", ["B-LOC", "O", "B-PER", "I-PER", "O"]),
]


def word_level_tokenizer() -> PreTrainedTokenizerFast:
    pre_tokenizer = pre_tokenizers.Whitespace()  # splits punctuation too, and keeps character offsets
    words = sorted({word for text, _ in SENTENCES for word, _ in pre_tokenizer.pre_tokenize_str(text)})
    vocab = {"[PAD]": 0, "[UNK]": 1, **{word: i + 2 for i, word in enumerate(words)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizer
    backend.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces when pipeline() prints them
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")


@pytest.fixture(scope="module")
def trained():
    """A tiny constrained tagger with character features, overfitted to SENTENCES."""
    tokenizer = word_level_tokenizer()
    config = tiny_config(vocab_size=len(tokenizer), constrain_bio_transitions=True)
    torch.manual_seed(0)
    model = BiLSTMCRFForTokenClassification(config)
    model.set_word_vocabulary(tokenizer.get_vocab(), tokenizer.all_special_tokens)
    batch = tokenizer([text for text, _ in SENTENCES], padding=True, return_tensors="pt")
    label2id = config.label2id
    labels = torch.full_like(batch["input_ids"], -100)
    for b, (_, tags) in enumerate(SENTENCES):
        assert len(tags) == int(batch["attention_mask"][b].sum())  # one token per word
        labels[b, : len(tags)] = torch.tensor([label2id[tag] for tag in tags])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), tokenizer, losses


def test_loss_decreases(trained):
    _, _, losses = trained
    assert losses[-1] < 0.05 * losses[0], losses


def expected_entities(text: str, tags: list[str]) -> list[tuple[str, str]]:
    words = pre_tokenizers.Whitespace().pre_tokenize_str(text)
    entities = []
    for (_word, (start, end)), tag in zip(words, tags):
        if tag.startswith("B-"):
            entities.append([tag[2:], start, end])
        elif tag.startswith("I-"):
            entities[-1][2] = end
    return [(kind, text[start:end]) for kind, start, end in entities]


def test_pipeline_groups_entities_with_character_offsets(trained):
    model, tokenizer, _ = trained
    tagger = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="simple")
    texts = [text for text, _ in SENTENCES]
    for results in (tagger(texts), tagger(texts, batch_size=3)):  # batch_size=3 pads inside the pipeline
        for (text, tags), entities in zip(SENTENCES, results):
            assert [(e["entity_group"], text[e["start"] : e["end"]]) for e in entities] == expected_entities(text, tags)
            assert all(e["word"] == text[e["start"] : e["end"]] for e in entities)
            assert all(0.5 < e["score"] <= 1.0 for e in entities)
    first = tagger(texts[0])[0]
    assert (first["entity_group"], first["start"], first["end"], first["word"]) == ("PER", 0, 10, "John Smith")


# Words never seen in training ("Zorbulak", "Qwentin", "hired", "Lisbon"): only their characters tell the model about
# them, and only a pipeline that passes `char_ids` shows it those.
UNSEEN_TEXT = "Zorbulak Jones hired Mary Qwentin in Lisbon."
PREDICT_TEXTS = [*(text for text, _ in SENTENCES), UNSEEN_TEXT]


@pytest.fixture(scope="module")
def saved_tagger(trained, tmp_path_factory):
    model, tokenizer, _ = trained
    folder = tmp_path_factory.mktemp("tagger")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def spans(results) -> list[list[tuple[str, int, int]]]:
    """(label, start, end) of each entity of each text, from `tag_entities` / `nlpkit predict --json` results."""
    return [[(e["label"], e["start"], e["end"]) for e in result["entities"]] for result in results]


def test_remote_code_loads_without_nlpkit(trained, saved_tagger, tmp_path):
    model, tokenizer, _ = trained
    config = json.loads((saved_tagger / "config.json").read_text())
    assert config["auto_map"]["AutoModelForTokenClassification"].startswith("modeling_bilstm_crf.")
    texts = [text for text, _ in SENTENCES]
    code = f"""
        import json
        from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline
        folder = {str(saved_tagger)!r}
        model = AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)  # it reads the custom config
        logits = model(**tokenizer({texts!r}, padding=True, return_tensors="pt")).logits
        print(json.dumps({{"class": type(model).__module__, "logits": logits.tolist()}}))
    """
    result = last_json_line(run_without_nlpkit(code, tmp_path))
    assert "nlpkit" not in result["class"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    # float32 tolerance: another process's threads may sum in another order
    torch.testing.assert_close(torch.tensor(result["logits"]), model(**batch).logits)


def test_plain_pipeline_without_nlpkit_finds_the_entities_of_nlpkit_predict(trained, saved_tagger, tmp_path, capsys):
    code = f"""
        import json
        from transformers import pipeline
        tagger = pipeline("token-classification", model={str(saved_tagger)!r}, trust_remote_code=True)
        found = tagger({PREDICT_TEXTS!r})
        print(json.dumps({{"class": type(tagger).__name__, "module": type(tagger).__module__, "found": found}},
                         default=float))
    """
    remote = last_json_line(run_without_nlpkit(code, tmp_path))
    assert remote["class"] == "BiLSTMCRFTokenClassificationPipeline" and "nlpkit" not in remote["module"]
    # Grouped by default: entities with an `entity_group`, several words long where the tags say so.
    assert all("entity_group" in e and "index" not in e for found in remote["found"] for e in found)
    remote_spans = [[(e["entity_group"], e["start"], e["end"]) for e in found] for found in remote["found"]]
    assert remote_spans[0][0] == ("PER", 0, 10)  # "John Smith": two words, one entity
    for (text, tags), found in zip(SENTENCES, remote_spans):
        assert [(label, text[start:end]) for label, start, end in found] == expected_entities(text, tags)
    assert remote_spans[-1]  # the sentence of unseen words has entities too

    cli.main(["predict", str(saved_tagger), *PREDICT_TEXTS, "--json"])
    predicted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [p["text"] for p in predicted] == PREDICT_TEXTS
    assert spans(predicted) == remote_spans
    in_process = tag_entities(load_pipeline(str(saved_tagger)), PREDICT_TEXTS)
    assert spans(in_process) == remote_spans
    remote_scores = [e["score"] for found in remote["found"] for e in found]
    assert [e["score"] for p in predicted for e in p["entities"]] == pytest.approx(remote_scores, abs=1e-5)

    # The unseen words' characters reach the model: transformers' own pipeline (vocabulary table only) scores the
    # same sentence differently.
    model, tokenizer, _ = trained
    plain = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="simple")
    assert type(plain) is TokenClassificationPipeline  # an in-memory model: custom_pipelines is not consulted
    plain_scores = [e["score"] for e in plain(UNSEEN_TEXT)]
    assert plain_scores != pytest.approx([e["score"] for e in predicted[-1]["entities"]], abs=1e-4)


def test_pipeline_class_defaults_to_simple_aggregation_and_accepts_others(trained):
    model, tokenizer, _ = trained
    tagger = token_classification_pipeline(model, tokenizer)
    assert type(tagger) is BiLSTMCRFTokenClassificationPipeline
    text = SENTENCES[0][0]
    grouped = tagger(text)
    assert [(e["entity_group"], e["start"], e["end"]) for e in grouped] == [("PER", 0, 10), ("LOC", 20, 25)]
    words = tagger(text, aggregation_strategy="none")  # per call
    assert [(e["entity"], e["index"]) for e in words] == [("B-PER", 0), ("I-PER", 1), ("B-LOC", 4)]
    assert tagger(text) == grouped  # the call's choice does not stick
    per_word = token_classification_pipeline(model, tokenizer, aggregation_strategy="none")  # when built
    assert per_word(text) == words
    # Split into words: the offsets count from each word, and the characters are cut from the right places.
    unseen_words = UNSEEN_TEXT.replace(".", " .").split()
    (from_words,) = tagger(unseen_words, is_split_into_words=True)
    from_text = tagger(" ".join(unseen_words))
    assert from_words == from_text and from_words


def test_custom_pipeline_is_used_for_a_folder_with_trust_remote_code(saved_tagger):
    # transformers reads custom_pipelines from a folder's config (not for a model object), and refuses to run the
    # pipeline code it names without trust_remote_code=True, even where nlpkit provides the model classes.
    with pytest.raises(ValueError, match="trust_remote_code"):
        pipeline("token-classification", model=str(saved_tagger))
    remote = pipeline("token-classification", model=str(saved_tagger), trust_remote_code=True)
    assert type(remote).__name__ == "BiLSTMCRFTokenClassificationPipeline"
    assert type(load_pipeline(str(saved_tagger))) is BiLSTMCRFTokenClassificationPipeline


def test_trainer_trains_and_predicts_viterbi_paths(tmp_path):
    from datasets import Dataset
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments

    tokenizer = word_level_tokenizer()
    config = tiny_config(vocab_size=len(tokenizer), constrain_bio_transitions=True)
    model = BiLSTMCRFForTokenClassification(config)
    model.set_word_vocabulary(tokenizer.get_vocab(), tokenizer.all_special_tokens)
    rows = [tokenizer(text) | {"labels": [config.label2id[tag] for tag in tags]} for text, tags in SENTENCES]
    dataset = Dataset.from_list(rows)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=2,
        per_device_eval_batch_size=2,  # two batches of different lengths: Trainer pads logits with -100
        learning_rate=0.05,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=dataset, data_collator=DataCollatorForTokenClassification(tokenizer)
    )
    assert trainer.train().training_loss > 0
    prediction = trainer.predict(dataset)
    assert prediction.metrics["test_loss"] > 0
    model.eval()
    for row, logits in zip(rows, prediction.predictions):
        length = len(row["input_ids"])
        expected = model.decode(torch.tensor([row["input_ids"]]))[0]
        assert logits[:length].argmax(-1).tolist() == expected
