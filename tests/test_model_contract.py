"""The contract every nlpkit model keeps, checked for each entry of the registry (nlpkit.models.MODEL_FAMILIES).

A new family gets these tests by adding its registry entry and a tiny setting to TINY (tests/helpers.py):
save/load through its Auto class, tied and untied weights, loading without nlpkit, pipeline(), overfitting a batch,
Trainer's num_items_in_batch and, for generators, cached == uncached generation.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import pkgutil
from collections import defaultdict
from collections.abc import Callable

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
from tests.helpers import (
    FAMILIES,
    RESOLVED,
    TINY,
    last_json_line,
    run_without_nlpkit,
    tiny_batch,
    tiny_model,
    tiny_tokenizer,
)

# The pipeline task of each head's (first) Auto class; the seq2seq ships its own pipeline (transformers 5 has none).
PIPELINE_TASKS = {
    "AutoModelForSequenceClassification": "text-classification",
    "AutoModelForTokenClassification": "token-classification",
    "AutoModelForCausalLM": "text-generation",
    "AutoModelForSeq2SeqLM": "translation",
}


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
