"""The contract every nlpkit model keeps, checked for each entry of the registry (nlpkit.models.MODEL_FAMILIES).

A new family gets these tests by adding its registry entry and a tiny setting to TINY below: save/load through its
Auto class, tied and untied weights, loading without nlpkit, pipeline(), overfitting a batch, Trainer's
num_items_in_batch and, for generators, cached == uncached generation.

The tiny configs use only keys whose names are the same before and after the config renames (vocab_size,
hidden_size, ...), so that they never depend on which names a family uses for its other settings.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import pkgutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import transformers
from transformers import GenerationMixin, pipeline

import nlpkit  # noqa: F401  (registers the Auto classes)
import nlpkit.models
from nlpkit.config import model_arguments
from nlpkit.models import MODEL_FAMILIES, ModelFamily, model_family
from nlpkit.pipelines import add_translation_pipeline
from nlpkit.tokenization import train_tokenizer
from tests.helpers import last_json_line, run_without_nlpkit

# ---------------------------------------------------------------------------------------------------------------------
# One tiny setting per family, keyed by the registry's model_type: a tokenizer, config keys, a batch with labels.

CLASSIFIER_TEXTS = [
    "a truly great film",
    "boring and far too long",
    "great acting , great story",
    "a dull , boring mess",
]
SENTIMENTS = ["positive", "negative", "positive", "negative"]
TAGGED = [
    ("John Smith lives in Paris .", ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
    ("Mary works in London .", ["B-PER", "O", "O", "B-LOC", "O"]),
    ("Paris welcomes Mary Jones .", ["B-LOC", "O", "B-PER", "I-PER", "O"]),
]
BIO_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
LM_TEXTS = ["to be or not to be", "that is the question", "whether tis nobler in the mind"]
PAIRS = [
    ("ein hund läuft", "a dog runs"),
    ("eine katze schläft", "a cat sleeps"),
    ("zwei hunde spielen im park", "two dogs play in the park"),
]


WORD_VECTOR_TEXTS = ["the king rules the land", "the queen rules the land", "a man walks home", "a woman walks home"]


def labelled(names: list[str]) -> dict[str, Any]:
    return {"id2label": dict(enumerate(names)), "label2id": {name: i for i, name in enumerate(names)}}


def classification_batch(tokenizer) -> dict[str, torch.Tensor]:
    batch = dict(tokenizer(CLASSIFIER_TEXTS, padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([0 if sentiment == "positive" else 1 for sentiment in SENTIMENTS])
    return batch


def tagging_batch(tokenizer) -> dict[str, torch.Tensor]:
    batch = dict(tokenizer([text for text, _ in TAGGED], padding=True, return_tensors="pt"))
    labels = torch.full_like(batch["input_ids"], -100)
    for row, (_, tags) in enumerate(TAGGED):
        assert len(tags) == int(batch["attention_mask"][row].sum())  # one token per word
        labels[row, : len(tags)] = torch.tensor([BIO_LABELS.index(tag) for tag in tags])
    batch["labels"] = labels
    return batch


def causal_lm_batch(tokenizer) -> dict[str, torch.Tensor]:
    batch = dict(tokenizer(LM_TEXTS, padding=True, return_tensors="pt"))  # left-padded
    batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    return batch


def seq2seq_batch(tokenizer) -> dict[str, torch.Tensor]:
    encoded = tokenizer([s for s, _ in PAIRS], text_target=[t for _, t in PAIRS], padding=True, return_tensors="pt")
    labels = encoded["labels"].masked_fill(encoded["labels"] == tokenizer.pad_token_id, -100)
    decoder_input_ids = torch.cat([torch.full_like(labels[:, :1], tokenizer.bos_token_id), labels[:, :-1]], dim=1)
    return {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "decoder_input_ids": decoder_input_ids.masked_fill(decoder_input_ids == -100, tokenizer.pad_token_id),
        "labels": labels,
    }


def word_ids(tokenizer) -> list[list[int]]:
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in WORD_VECTOR_TEXTS]


def cbow_batch(tokenizer, window: int = 2, block: int = 4, shared: int = 3) -> dict[str, torch.Tensor]:
    """Word2Vec's CBOW examples: each word of WORD_VECTOR_TEXTS from its neighbours (padded, masked at sentence
    ends), with seeded negatives shared by each block of ``block`` examples (the default way, last block shorter)."""
    contexts, centres = [], []
    for ids in word_ids(tokenizer):
        for position, centre in enumerate(ids):
            context = ids[max(0, position - window) : position] + ids[position + 1 : position + 1 + window]
            contexts.append(context + [tokenizer.pad_token_id] * (2 * window - len(context)))
            centres.append(centre)
    input_ids = torch.tensor(contexts)
    blocks = -(-len(centres) // block)
    negatives = torch.randint(len(tokenizer), (blocks, shared), generator=torch.Generator().manual_seed(0))
    return {
        "input_ids": input_ids,
        "attention_mask": input_ids.ne(tokenizer.pad_token_id).long(),
        "output_ids": torch.tensor(centres),
        "negative_ids": negatives,
    }


def cooccurrence_batch(tokenizer, window: int = 2) -> dict[str, torch.Tensor]:
    """GloVe's entries: the nonzero co-occurrence counts of WORD_VECTOR_TEXTS, a pair at distance k adding 1/k."""
    counts: dict[tuple[int, int], float] = defaultdict(float)
    for ids in word_ids(tokenizer):
        for position, word in enumerate(ids):
            for distance in range(1, window + 1):
                if position + distance < len(ids):
                    counts[word, ids[position + distance]] += 1.0 / distance
                    counts[ids[position + distance], word] += 1.0 / distance
    pairs = sorted(counts)
    return {
        "input_ids": torch.tensor([row for row, _ in pairs]),
        "output_ids": torch.tensor([column for _, column in pairs]),
        "cooccurrence": torch.tensor([counts[pair] for pair in pairs]),
    }


def randomise_zero_parameters(model, tokenizer) -> None:
    """Parameters that start at zero (Word2Vec's output vectors, GloVe's biases) get random values, so that the
    outputs compared after loading depend on every parameter (Word2Vec's scores are all 0 at initialisation)."""
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_()


def set_word_vocabulary(model, tokenizer) -> None:
    """The BiLSTM-CRF reads the characters of its vocabulary words from a buffer (saved with the weights)."""
    if getattr(model, "char_encoder", None) is not None:
        model.set_word_vocabulary(tokenizer.get_vocab(), tokenizer.all_special_tokens)


@dataclass(frozen=True)
class Tiny:
    """A family's tiny setting. `config` maps the tokenizer to config keys; `batch` gives forward inputs + labels."""

    tokenizer: Callable[[], Any]
    config: Callable[[Any], dict[str, Any]]
    batch: Callable[[Any], dict[str, torch.Tensor]]
    learning_rate: float  # AdamW's, for overfitting the batch
    prepare: Callable[[Any, Any], None] = lambda model, tokenizer: None  # (model, tokenizer) after construction


TINY: dict[str, Tiny] = {
    "lstm_classifier": Tiny(
        tokenizer=lambda: train_tokenizer(CLASSIFIER_TEXTS, kind="word", min_frequency=1),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "hidden_size": 8,
            "embedding_dropout": 0.0,
            "classifier_dropout": 0.0,
            **labelled(["positive", "negative"]),
        },
        batch=classification_batch,
        learning_rate=3e-2,
    ),
    "bilstm_crf": Tiny(
        tokenizer=lambda: train_tokenizer([text for text, _ in TAGGED], kind="word", min_frequency=1),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "char_encoder": "cnn",
            "char_alphabet": "".join(sorted(set("".join(text for text, _ in TAGGED)) - {" "})),
            "char_hidden_size": 8,
            "dropout": 0.0,
            **labelled(BIO_LABELS),
        },
        batch=tagging_batch,
        learning_rate=3e-2,
        prepare=set_word_vocabulary,
    ),
    "gpt": Tiny(
        tokenizer=lambda: train_tokenizer(LM_TEXTS, kind="char", padding_side="left"),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 64,
            "initializer_range": 0.2,  # peaked predictions: greedy decoding does not repeat one token
        },
        batch=causal_lm_batch,
        learning_rate=1e-2,
    ),
    "lstm_lm": Tiny(
        tokenizer=lambda: train_tokenizer(LM_TEXTS, kind="char", padding_side="left"),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "embedding_size": 24,
            "hidden_size": 24,  # equal sizes, so that the embeddings can be tied
            "num_hidden_layers": 2,
            "initializer_range": 0.5,
        },
        batch=causal_lm_batch,
        learning_rate=3e-2,
    ),
    "rnn_seq2seq": Tiny(
        tokenizer=lambda: train_tokenizer(
            [text for pair in PAIRS for text in pair],
            kind="word",
            min_frequency=1,
            bos_token="<s>",
            eos_token="</s>",
            add_eos_token=True,  # sources and targets end in </s>; the decoder starts from <s>
        ),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "embedding_size": 16,
            "encoder_hidden_size": 16,
            "hidden_size": 16,
            "dropout": 0.0,
        },
        batch=seq2seq_batch,
        learning_rate=3e-2,
    ),
    # The word vector models have no head and no labels: only the registry-wide tests (saving, loading, remote code,
    # tying, config help) run on them; the training tests are the heads'. Their own tests: test_word_vector_models.py.
    "word2vec": Tiny(
        tokenizer=lambda: train_tokenizer(WORD_VECTOR_TEXTS, kind="word", min_frequency=1),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "embedding_size": 8,
            "architecture": "cbow",  # the path with padding and a mask; skip-gram is one gather less
            "window": 2,
            "negative": 3,
            "negative_block_size": 4,
            "shared_negatives": 3,
        },
        batch=cbow_batch,
        learning_rate=3e-2,
        prepare=randomise_zero_parameters,
    ),
    "glove": Tiny(
        tokenizer=lambda: train_tokenizer(WORD_VECTOR_TEXTS, kind="word", min_frequency=1),
        config=lambda tokenizer: {"vocab_size": len(tokenizer), "embedding_size": 8, "window": 2, "x_max": 2.0},
        batch=cooccurrence_batch,
        learning_rate=3e-2,
        prepare=randomise_zero_parameters,
    ),
    # An encoder-decoder for generate(): right-padded sentences ending in </s> are encoded, the decoder starts from <s>.
    # Its own tests (KL, annealing, word dropout, generation from latent codes): test_sentence_vae_model.py.
    "sentence_vae": Tiny(
        tokenizer=lambda: train_tokenizer(
            LM_TEXTS, kind="word", min_frequency=1, bos_token="<s>", eos_token="</s>", add_eos_token=True
        ),
        config=lambda tokenizer: {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "unk_token_id": tokenizer.unk_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "embedding_size": 16,
            "hidden_size": 16,  # equal sizes, so that the embeddings can be tied
            "latent_size": 4,
            "initializer_range": 0.5,
        },
        batch=causal_lm_batch,  # right-padded here: labels are the sentences, -100 at padding
        learning_rate=3e-2,
    ),
    # One head, so that forward needs no `task`; a tiny BERT encoder (a nested transformers config rebuilt when
    # loading). The BiLSTM encoder's remote-code load and the heads: test_multitask_model.py.
    "multitask": Tiny(
        tokenizer=lambda: train_tokenizer(CLASSIFIER_TEXTS, kind="word", min_frequency=1),
        config=lambda tokenizer: {
            "encoder_type": "pretrained",
            "encoder": {
                "model_type": "bert",
                "vocab_size": len(tokenizer),
                "pad_token_id": tokenizer.pad_token_id,
                "hidden_size": 16,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 32,
                "max_position_embeddings": 32,
            },
            "heads": [{"name": "sentiment", "kind": "sequence_classification", "labels": ["positive", "negative"]}],
        },
        batch=classification_batch,
        learning_rate=3e-2,
    ),
}

# The pipeline task of each head's (first) Auto class; the seq2seq ships its own pipeline (transformers 5 has none).
PIPELINE_TASKS = {
    "AutoModelForSequenceClassification": "text-classification",
    "AutoModelForTokenClassification": "token-classification",
    "AutoModelForCausalLM": "text-generation",
    "AutoModelForSeq2SeqLM": "translation",
}

RESOLVED = {family.model_type: family.resolve() for family in MODEL_FAMILIES}


def model_cases(keep: Callable[[ModelFamily, type, tuple[type, ...]], bool] = lambda *_: True) -> list:
    """pytest params (family, model class) over the registry, as `model_type-ClassName`."""
    return [
        pytest.param(family, model_class, id=f"{family.model_type}-{model_class.__name__}")
        for family in MODEL_FAMILIES
        for model_class, auto_classes in RESOLVED[family.model_type].model_classes.items()
        if keep(family, model_class, auto_classes)
    ]


ALL_MODELS = model_cases()
HEADS = model_cases(lambda family, model_class, auto_classes: auto_classes[0] is not transformers.AutoModel)
GENERATORS = model_cases(lambda family, model_class, auto_classes: issubclass(model_class, GenerationMixin))
FAMILIES = [pytest.param(family, id=family.model_type) for family in MODEL_FAMILIES]


@functools.cache
def tiny_tokenizer(model_type: str):
    return TINY[model_type].tokenizer()


def tiny_model(family: ModelFamily, model_class: type, seed: int = 0, **overrides):
    """A freshly initialised tiny `model_class` (eval mode) and its family's tokenizer."""
    tiny, tokenizer = TINY[family.model_type], tiny_tokenizer(family.model_type)
    config = RESOLVED[family.model_type].config_class(**{**tiny.config(tokenizer), **overrides})
    torch.manual_seed(seed)
    model = model_class(config)
    tiny.prepare(model, tokenizer)
    return model.eval(), tokenizer


def tiny_batch(family: ModelFamily) -> dict[str, torch.Tensor]:
    return TINY[family.model_type].batch(tiny_tokenizer(family.model_type))


def without_labels(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value for key, value in batch.items() if key != "labels"}


def main_output(outputs) -> torch.Tensor:
    """A head's logits, a base model's last hidden state."""
    return outputs.logits if getattr(outputs, "logits", None) is not None else outputs.last_hidden_state


def first_auto_class(family: ModelFamily, model_class: type) -> type:
    return RESOLVED[family.model_type].model_classes[model_class][0]


# ---------------------------------------------------------------------------------------------------------------------
# The registry itself.


def test_every_model_folder_has_a_registry_entry_and_every_entry_a_tiny_setting():
    folders = {info.name for info in pkgutil.iter_modules(nlpkit.models.__path__) if info.ispkg}
    assert folders == {family.model_type for family in MODEL_FAMILIES}
    assert set(TINY) == folders
    assert model_family("gpt").config_class == "GPTConfig"
    with pytest.raises(KeyError, match="no nlpkit model family 'bert'"):
        model_family("bert")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_auto_classes_give_the_registered_classes(family):
    resolved = RESOLVED[family.model_type]
    assert resolved.config_class.model_type == family.model_type
    assert transformers.AutoConfig.for_model(family.model_type).__class__ is resolved.config_class
    resolved.register()  # registering again changes nothing
    config = resolved.config_class(**TINY[family.model_type].config(tiny_tokenizer(family.model_type)))
    for model_class, auto_classes in resolved.model_classes.items():
        assert model_class.config_class is resolved.config_class
        for auto_class in auto_classes:
            assert type(auto_class.from_config(config)) is model_class, auto_class.__name__


# ---------------------------------------------------------------------------------------------------------------------
# Saving and loading.


@pytest.mark.parametrize(("family", "model_class"), ALL_MODELS)
def test_save_and_load_through_the_auto_class_give_identical_outputs(family, model_class, tmp_path):
    model, _ = tiny_model(family, model_class)
    auto_class = first_auto_class(family, model_class)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == family.model_type
    assert saved["auto_map"]["AutoConfig"] == f"configuration_{family.model_type}.{family.config_class}"
    assert saved["auto_map"][auto_class.__name__] == f"modeling_{family.model_type}.{model_class.__name__}"
    assert (tmp_path / f"modeling_{family.model_type}.py").is_file()

    loaded = auto_class.from_pretrained(tmp_path).eval()
    assert type(loaded) is model_class
    loaded_state = loaded.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded_state[name], tensor), name
    inputs = without_labels(tiny_batch(family))
    with torch.no_grad():
        # Loaded tensors are not aligned like fresh ones, so SIMD kernels may round differently: close, not equal.
        torch.testing.assert_close(main_output(loaded(**inputs)), main_output(model(**inputs)))


def tie_cases() -> list:
    """Classes that declare tied weights: tied and untied; the others: no weight shared."""
    cases = []
    for case in ALL_MODELS:
        family, model_class = case.values
        declared = getattr(model_class, "_tied_weights_keys", None)
        for tie in (True, False) if declared else (None,):
            name = {True: "tied", False: "untied", None: "nothing-declared"}[tie]
            cases.append(pytest.param(family, model_class, tie, id=f"{case.id}-{name}"))
    return cases


def shared_parameters(model) -> set[frozenset[str]]:
    """The groups of parameter names that share one storage."""
    by_storage = defaultdict(set)
    for name, parameter in model.named_parameters(remove_duplicate=False):
        by_storage[parameter.data_ptr()].add(name)
    return {frozenset(names) for names in by_storage.values() if len(names) > 1}


@pytest.mark.parametrize(("family", "model_class", "tie"), tie_cases())
def test_declared_tied_weights_stay_tied_after_loading_and_untied_ones_separate(family, model_class, tie, tmp_path):
    model, _ = tiny_model(family, model_class, **({} if tie is None else {"tie_word_embeddings": tie}))
    declared = (model._tied_weights_keys or {}) if tie else {}
    expected = {frozenset((target, source)) for target, source in declared.items()}
    assert shared_parameters(model) == expected
    model.save_pretrained(tmp_path)
    loaded = first_auto_class(family, model_class).from_pretrained(tmp_path)
    assert shared_parameters(loaded) == expected
    loaded_state = loaded.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded_state[name], tensor), name


REMOTE_CODE = """
    import json, torch, transformers
    spec = json.load(open("spec.json"))  # written by the test into the working directory
    inputs = {key: torch.tensor(value) for key, value in spec["inputs"].items()}
    results = {}
    for name, (auto_name, folder) in spec["models"].items():
        model = getattr(transformers, auto_name).from_pretrained(folder, trust_remote_code=True).eval()
        with torch.no_grad():
            outputs = model(**inputs)
        output = outputs.logits if getattr(outputs, "logits", None) is not None else outputs.last_hidden_state
        results[name] = {"module": type(model).__module__, "class": type(model).__name__, "output": output.tolist()}
    print(json.dumps(results))
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_folders_load_without_nlpkit_with_identical_outputs(family, tmp_path):
    """One process without nlpkit per family loads every model class of it as remote code."""
    inputs = without_labels(tiny_batch(family))
    expected, models = {}, {}
    for model_class, auto_classes in RESOLVED[family.model_type].model_classes.items():
        model, _ = tiny_model(family, model_class)
        folder = tmp_path / model_class.__name__
        model.save_pretrained(folder)
        models[model_class.__name__] = (auto_classes[0].__name__, str(folder))
        with torch.no_grad():
            expected[model_class.__name__] = main_output(model(**inputs))
    spec = {"models": models, "inputs": {key: value.tolist() for key, value in inputs.items()}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    remote = last_json_line(run_without_nlpkit(REMOTE_CODE, tmp_path))
    assert set(remote) == set(expected)
    for name, output in expected.items():
        assert remote[name]["class"] == name
        assert remote[name]["module"].startswith("transformers_modules"), remote[name]["module"]
        # float32 tolerance: another process's threads may sum in another order
        torch.testing.assert_close(torch.tensor(remote[name]["output"]), output, msg=name)


# ---------------------------------------------------------------------------------------------------------------------
# pipeline() on a saved folder with its tokenizer.


def assert_pipeline_says_what_the_model_says(task: str, pipe, model, tokenizer, texts: list[str]) -> None:
    if task == "text-classification":
        outputs = pipe(texts)
        with torch.no_grad():
            probabilities = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(-1)
        assert [out["label"] for out in outputs] == [model.config.id2label[int(row.argmax())] for row in probabilities]
        assert [out["score"] for out in outputs] == pytest.approx(probabilities.amax(-1).tolist(), abs=1e-5)
    elif task == "token-classification":
        found = [[(entity["index"], entity["entity"]) for entity in entities] for entities in pipe(texts)]
        wanted = []
        for text in texts:
            with torch.no_grad():
                tags = model(**tokenizer(text, return_tensors="pt")).logits[0].argmax(-1).tolist()
            wanted.append([(index, model.config.id2label[tag]) for index, tag in enumerate(tags)])
        assert found == wanted and all(found)
    else:
        options = {"max_new_tokens": 6, "min_new_tokens": 6, "do_sample": False}
        key = "generated_text" if task == "text-generation" else "translation_text"
        found = [pipe(text, **options)[0][key] for text in texts]
        wanted = []
        for text in texts:
            generated = model.generate(**tokenizer(text, return_tensors="pt"), **options)
            wanted.append(tokenizer.decode(generated[0], skip_special_tokens=True))
        assert found == wanted and all(found)


@pytest.mark.parametrize(("family", "model_class"), HEADS)
def test_pipeline_on_a_saved_folder_says_what_the_model_says(family, model_class, tmp_path):
    task = PIPELINE_TASKS[first_auto_class(family, model_class).__name__]
    model, tokenizer = tiny_model(family, model_class)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    if task == "translation":  # transformers 5 has no translation pipeline: the translation task ships nlpkit's
        add_translation_pipeline(tmp_path)
    options = {"aggregation_strategy": "none", "ignore_labels": []} if task == "token-classification" else {}
    # A pipeline class of nlpkit's own (the tagger's, in its modeling file; the translation one) ships in the folder,
    # named by the config's custom_pipelines: that is remote code.
    custom = json.loads((tmp_path / "config.json").read_text()).get("custom_pipelines", {})
    pipe = pipeline(task, model=str(tmp_path), trust_remote_code=task in custom, **options)
    texts = tokenizer.batch_decode(tiny_batch(family)["input_ids"][:2], skip_special_tokens=True)
    assert_pipeline_says_what_the_model_says(task, pipe, model, tokenizer, texts)


# ---------------------------------------------------------------------------------------------------------------------
# Training.


@pytest.mark.parametrize(("family", "model_class"), HEADS)
def test_overfitting_a_tiny_batch_with_adamw_halves_the_loss(family, model_class):
    model, _ = tiny_model(family, model_class)
    model.train()
    batch = tiny_batch(family)
    optimizer = torch.optim.AdamW(model.parameters(), lr=TINY[family.model_type].learning_rate)
    losses = []
    for _ in range(50):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def trainer_passes_num_items_in_batch(model) -> bool:
    """Trainer's own rule (transformers.Trainer.__init__)."""
    if hasattr(model, "accepts_loss_kwargs"):
        return bool(model.accepts_loss_kwargs)
    parameters = inspect.signature(model.forward).parameters.values()
    return any(parameter.kind == inspect.Parameter.VAR_KEYWORD for parameter in parameters)


def summed_token_loss(auto_name: str, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The cross-entropy summed over the counted labels, and how many there are (a causal LM predicts the next)."""
    if auto_name == "AutoModelForCausalLM":
        logits, labels = logits[:, :-1], labels[:, 1:]
    counted = labels != -100
    return F.cross_entropy(logits[counted].float(), labels[counted], reduction="sum"), int(counted.sum())


@pytest.mark.parametrize(("family", "model_class"), HEADS)
def test_loss_is_normalised_by_num_items_in_batch_unless_the_class_declares_it_ignores_it(family, model_class):
    model, _ = tiny_model(family, model_class)
    if not trainer_passes_num_items_in_batch(model):
        assert model_class.accepts_loss_kwargs is False  # declared, not left to Trainer's guess from **kwargs
        return
    batch = tiny_batch(family)
    batch["labels"][0, -3:] = -100  # e.g. a prompt that is not trained on
    with torch.no_grad():
        logits = model(**without_labels(batch)).logits
        summed, count = summed_token_loss(first_auto_class(family, model_class).__name__, logits, batch["labels"])
        for num_items in (count, 2 * count):  # 2 * count: the first of two accumulated micro-batches
            loss = model(**batch, num_items_in_batch=torch.tensor(num_items)).loss
            torch.testing.assert_close(loss, summed / num_items)


# ---------------------------------------------------------------------------------------------------------------------
# Generation.


@pytest.mark.parametrize(("family", "model_class"), GENERATORS)
def test_greedy_generation_with_the_cache_equals_generation_without(family, model_class):
    model, tokenizer = tiny_model(family, model_class)
    batch = tiny_batch(family)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    options = {"max_new_tokens": 12, "min_new_tokens": 12, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
    cached = model.generate(**inputs, use_cache=True, **options)
    uncached = model.generate(**inputs, use_cache=False, **options)  # runs the whole prefix again at every step
    assert torch.equal(cached, uncached)
    # A real continuation, not one repeated token (an untrained RNN soon settles on one, so not every row is).
    assert any(len(set(row.tolist())) > 2 for row in cached[:, -12:])


@pytest.mark.parametrize("family", FAMILIES)
def test_every_setting_of_a_config_has_its_help_text_in_the_docstring(family):
    config_class = RESOLVED[family.model_type].config_class
    settings = model_arguments("Settings", {family.model_type: config_class})
    for item in dataclasses.fields(settings):
        help_text = item.metadata["help"]
        assert not help_text.startswith(" Config default"), f"{config_class.__name__}.{item.name} has no Args: entry"
        assert help_text[0].isupper() and "." in help_text, f"{config_class.__name__}.{item.name}: {help_text!r}"
