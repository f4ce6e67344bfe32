"""Gradient checkpointing and torch.compile for every nlpkit model family (the registry, nlpkit.models).

A family whose class sets ``supports_gradient_checkpointing`` computes the same loss and gradients with
checkpointing as without; any other is refused by the recipe-level check with one line, before anything loads.
Compiled, every family's forward gives the loss and gradients of eager mode (graph breaks allowed: Trainer compiles
with fullgraph=False). The comparisons use the "aot_eager" backend (dynamo and AOTAutograd, no C++ code generation:
seconds, not minutes, on a CPU); one test runs the real inductor backend on the smallest graph-break-free family.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch._dynamo

from nlpkit.errors import ConfigError
from nlpkit.training import check_gradient_checkpointing
from tests.helpers import FAMILIES, REPO_ROOT, RESOLVED, run_recipe, tiny_batch, tiny_model


def trained_class(family) -> type:
    """The class a recipe trains: the registry's first (the one written into auto_map)."""
    return next(iter(RESOLVED[family.model_type].model_classes))


def loss_and_gradients(model, batch: dict[str, torch.Tensor], forward=None) -> tuple[torch.Tensor, list]:
    torch.manual_seed(0)  # the same dropout masks in every run compared
    loss = (forward if forward is not None else model)(**batch).loss
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    return loss.detach(), list(torch.autograd.grad(loss, parameters, allow_unused=True))


def assert_same(expected: tuple[torch.Tensor, list], found: tuple[torch.Tensor, list]) -> None:
    torch.testing.assert_close(found[0], expected[0])
    assert len(found[1]) == len(expected[1])
    for index, (wanted, got) in enumerate(zip(expected[1], found[1], strict=True)):
        assert (wanted is None) == (got is None), index
        if wanted is not None:
            torch.testing.assert_close(got, wanted, msg=f"gradient {index}")


# ---------------------------------------------------------------------------------------------------------------------
# Gradient checkpointing.


@pytest.mark.parametrize("family", FAMILIES)
def test_gradient_checkpointing_gives_the_same_gradients_or_the_recipe_check_refuses_it_in_one_line(family):
    model_class = trained_class(family)
    model, _ = tiny_model(family, model_class)
    model.train()  # checkpointing only acts in training mode
    wants_it = SimpleNamespace(gradient_checkpointing=True)
    if not model_class.supports_gradient_checkpointing:
        with pytest.raises(ConfigError) as refused:
            check_gradient_checkpointing(family.model_type, wants_it)
        message = str(refused.value)
        assert message.startswith(f"gradient_checkpointing: {family.model_type} does not support it (")
        assert "\n" not in message and message.endswith(")")
        with pytest.raises(ValueError):  # what the check saves the run from: transformers' own refusal, at load
            model.gradient_checkpointing_enable()
        return

    check_gradient_checkpointing(family.model_type, wants_it)  # passes
    batch = tiny_batch(family)
    plain = loss_and_gradients(model, batch)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    checkpointed_layers = [module for module in model.modules() if getattr(module, "gradient_checkpointing", False)]
    assert checkpointed_layers, "gradient_checkpointing_enable marked no layer"
    # transformers checkpoints a layer's `forward` (its own hooks stay outside), so count its first submodule's runs.
    runs = []
    first_parts = [next(layer.children()) for layer in checkpointed_layers]
    hooks = [part.register_forward_hook(lambda *_: runs.append(1)) for part in first_parts]
    checkpointed = loss_and_gradients(model, batch)
    for hook in hooks:
        hook.remove()
    # Each checkpointed layer ran twice: forward, then again in the backward pass (its activations were not kept).
    assert len(runs) == 2 * len(checkpointed_layers)
    assert_same(plain, checkpointed)


def test_the_check_lets_runs_without_checkpointing_and_transformers_own_models_through():
    check_gradient_checkpointing("lstm_classifier", SimpleNamespace(gradient_checkpointing=False))
    check_gradient_checkpointing("marian", SimpleNamespace(gradient_checkpointing=True))  # its class decides


def test_the_check_names_activation_checkpointing_when_that_new_name_was_given():
    # transformers 5 parses either name into both (gradient_checkpointing is the deprecated alias).
    both = SimpleNamespace(activation_checkpointing=True, gradient_checkpointing=True)
    with pytest.raises(ConfigError, match=r"^activation_checkpointing: lstm_lm does not support it \(one fused"):
        check_gradient_checkpointing("lstm_lm", both, {"activation_checkpointing": True})


def test_the_lstm_recipe_refuses_gradient_checkpointing_with_one_line_and_status_2_before_loading(tmp_path):
    output_dir = tmp_path / "out"
    result = run_recipe(
        REPO_ROOT / "recipes" / "lstm_sentiment.py",
        *("--gradient_checkpointing", "true", "--output_dir", str(output_dir)),
        tmp_path=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: gradient_checkpointing: lstm_classifier does not support it "
        "(one fused nn.LSTM call holds its activations)"
    )
    assert "Traceback" not in result.stderr
    assert not output_dir.exists()  # refused before the output folder, the data or the model


# ---------------------------------------------------------------------------------------------------------------------
# torch.compile.


@pytest.mark.parametrize("family", FAMILIES)
def test_compiled_forward_gives_the_loss_of_eager_mode(family):
    model, _ = tiny_model(family, trained_class(family))  # eval mode: no dropout or sampling to line up
    batch = tiny_batch(family)
    torch._dynamo.reset()
    with torch.no_grad():  # the forward graphs only: compiling the backward too would double the time
        torch.testing.assert_close(torch.compile(model, backend="aot_eager")(**batch).loss, model(**batch).loss)


def family_named(model_type: str):
    (family,) = (case.values[0] for case in FAMILIES if case.id == model_type)
    return family


def test_gpt_compiles_into_one_graph_with_the_gradients_of_eager_mode():
    family = family_named("gpt")
    model, _ = tiny_model(family, trained_class(family))
    batch = tiny_batch(family)  # left-padded: an explicit attention mask, which must not break the graph
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(**batch)
    assert explained.graph_break_count == 0, [reason.reason for reason in explained.break_reasons]
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    assert_same(loss_and_gradients(model, batch), loss_and_gradients(model, batch, forward=compiled))


def test_the_inductor_backend_compiles_on_this_machine_with_the_loss_and_gradients_of_eager_mode():
    """The real backend (C++ code generation on a CPU) once, on the family with the smallest graph."""
    family = family_named("glove")
    model, _ = tiny_model(family, trained_class(family))
    batch = tiny_batch(family)
    torch._dynamo.reset()
    assert_same(loss_and_gradients(model, batch), loss_and_gradients(model, batch, forward=torch.compile(model)))
