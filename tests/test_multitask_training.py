"""Multi-task training mechanics (nlpkit/multitask.py): PCGrad, uncertainty weighting, task sampling, collation and
the MultiTaskTrainer (loss combinations, per-task logging, per-task evaluation, checkpoints). The model here is a tiny
multi-head model (tests/helpers.py) that honours the multi-task model's contract; nlpkit's own model is not used."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nlpkit.multitask import (
    UNCERTAINTY_FILE,
    MultiTaskCollator,
    TaskSampler,
    UncertaintyWeighting,
    pcgrad,
)
from tests.helpers import (
    COLLATOR,
    SEQ,
    TASKS,
    accuracy,
    free_port,
    last_json_line,
    make_examples,
    make_trainer,
    stack,
    token_accuracy,
)

# ---- pcgrad ----


def test_pcgrad_projects_two_conflicting_gradients_onto_each_others_normal_plane():
    g1, g2 = pcgrad([torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])])
    assert torch.equal(g1, torch.tensor([0.5, 0.5]))
    assert torch.equal(g2, torch.tensor([0.0, 1.0]))


def test_pcgrad_leaves_non_conflicting_gradients_unchanged():
    grads = [torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.5, 0.0, 3.0]), torch.tensor([0.0, 1.0, 1.0])]
    for out, g in zip(pcgrad(grads), grads):
        assert torch.equal(out, g)


def test_pcgrad_with_three_tasks_projects_against_the_original_gradients_in_the_drawn_order():
    g1, g2, g3 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0]), torch.tensor([0.0, -1.0])
    # By hand: g1 conflicts with g2 only -> [0.5, 0.5] (then g1'.g3 = -0.5 < 0 -> [0.5, 0]); in the other order
    # g1.g3 = 0 (no projection), then g2 -> [0.5, 0.5]. g2 conflicts with g1 and g3; g3 with g2 only.
    orders = set()
    for seed in range(8):
        out = pcgrad([g1, g2, g3], torch.Generator().manual_seed(seed))
        orders.add(tuple(out[0].tolist()))
        # g3 . g2 = -1, ||g2||^2 = 2 -> g3 - (-1/2) g2 = [-0.5, -0.5]; then . g1 = -0.5 -> [0, -0.5]
        assert out[2].tolist() in ([0.0, -0.5], [-0.5, -0.5])
    assert orders == {(0.5, 0.0), (0.5, 0.5)}


def test_pcgrad_is_deterministic_for_a_seeded_generator():
    grads = [torch.randn(5, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    a = pcgrad(grads, torch.Generator().manual_seed(3))
    b = pcgrad(grads, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


# ---- uncertainty weighting ----


def test_uncertainty_weighting_learns_a_lower_weight_for_the_noisier_task():
    torch.manual_seed(0)
    x = torch.randn(256, 1)
    y_clean, y_noisy = 2 * x + 0.1 * torch.randn(256, 1), -x + 1.0 * torch.randn(256, 1)
    w = nn.Linear(1, 2)
    weighting = UncertaintyWeighting(["clean", "noisy"])
    optimizer = torch.optim.Adam([*w.parameters(), *weighting.parameters()], lr=0.05)
    for _ in range(300):
        pred = w(x)
        losses = {"clean": ((pred[:, :1] - y_clean) ** 2).mean(), "noisy": ((pred[:, 1:] - y_noisy) ** 2).mean()}
        optimizer.zero_grad()
        weighting(losses).backward()
        assert weighting.log_variances.grad.abs().sum() > 0
        optimizer.step()
    weights = weighting.weights()
    assert weights["noisy"] < 1.5 < weights["clean"]


def test_uncertainty_weighting_skips_tasks_absent_from_the_batch():
    weighting = UncertaintyWeighting(["a", "b"])
    weighting({"a": torch.tensor(2.0)}).backward()
    assert weighting.log_variances.grad[1] == 0 and weighting.log_variances.grad[0] != 0


# ---- sampler ----


def task_of(index: int, lengths: list[int]) -> int:
    return next(t for t in range(len(lengths)) if index < sum(lengths[: t + 1]))


@pytest.mark.parametrize(("strategy", "expected"), [("proportional", [0.8, 0.2]), ("temperature", [2 / 3, 1 / 3])])
def test_sampler_draws_tasks_in_proportion_to_their_size_or_its_tempered_power(strategy, expected):
    lengths = [800, 200]  # temperature 2: sqrt 800 : sqrt 200 = 2 : 1
    sampler = TaskSampler(lengths, strategy, seed=1)
    indices = list(sampler)
    assert len(indices) == 1000
    counts = Counter(task_of(i, lengths) for i in indices)
    assert counts[0] / 1000 == pytest.approx(expected[0], abs=0.04)


def test_sampler_draws_a_tasks_examples_without_replacement_before_reshuffling():
    sampler = TaskSampler([10, 990], "temperature", temperature=100.0, seed=0)  # the 10-example task gets ~half
    small = [i for i in sampler if i < 10]
    assert len(small) > 100
    for start in range(0, len(small) - 9, 10):
        assert sorted(small[start : start + 10]) == list(range(10))


def test_round_robin_yields_whole_batches_of_one_task_in_turn():
    lengths, batch_size = [7, 4, 10], 3
    batches = np.array(list(TaskSampler(lengths, "round_robin", batch_size=batch_size, seed=0))).reshape(-1, 3)
    tasks = [{task_of(i, lengths) for i in batch} for batch in batches]
    assert all(len(t) == 1 for t in tasks)
    assert [t.pop() for t in tasks] == [0, 1, 2, 0, 1, 2, 0, 2, 2]
    assert set(batches.reshape(-1).tolist()) == set(range(sum(lengths)))


def test_sampler_is_deterministic_per_epoch_and_reshuffles_across_epochs():
    a, b = TaskSampler([5, 9], seed=4), TaskSampler([5, 9], seed=4)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)


# ---- collator ----


def test_collator_groups_examples_by_task_and_drops_the_task_key():
    seen = {}

    def recording(name):
        def collate(rows):
            seen[name] = rows
            return stack(rows)

        return collate

    collator = MultiTaskCollator({t: recording(t) for t in TASKS})
    rows = make_examples("sentiment", 2) + make_examples("entities", 3) + make_examples("sentiment", 1, 5)
    batch = collator(rows)
    assert list(batch["task_batches"]) == ["sentiment", "entities"]
    assert batch["task_batches"]["sentiment"]["input_ids"].shape == (3, SEQ)
    assert batch["task_batches"]["entities"]["labels"].shape == (3, SEQ)
    assert all("task" not in row for rows_ in seen.values() for row in rows_)


def test_collator_names_the_row_of_an_example_without_a_task():
    with pytest.raises(ValueError, match="example 1 of the batch has no 'task' key"):
        COLLATOR([make_examples("qa", 1)[0], {"input_ids": torch.zeros(SEQ, dtype=torch.long)}])


# ---- trainer ----


def test_pcgrad_with_round_robin_sampling_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs several tasks per batch"):
        make_trainer(tmp_path, "pcgrad", "round_robin")


def test_loss_weights_for_unknown_tasks_are_refused(tmp_path):
    with pytest.raises(ValueError, match="loss_weights names tasks the model has no head for: sentimnt"):
        make_trainer(tmp_path, "weights", loss_weights={"sentimnt": 2.0})


@pytest.mark.parametrize(
    ("combination", "extra"),
    [
        ("sum", {}),
        ("weights", {"loss_weights": {"sentiment": 2.0, "entities": 0.5}}),
        ("uncertainty", {}),
        ("pcgrad", {}),
    ],
)
def test_each_loss_combination_trains_and_logs_per_task_losses(tmp_path, combination, extra):
    trainer = make_trainer(tmp_path, combination, **extra)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    for name in ("embed.weight", "encoder.weight", "heads.sentiment.weight", "heads.entities.weight"):
        assert not torch.equal(before[name], after[name]), name
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 3
    # a sampled batch may hold one task only: each log has the losses of the tasks it saw
    assert all(entry.keys() & {"loss_sentiment", "loss_entities"} for entry in logs)
    assert {"loss_sentiment", "loss_entities"} <= set().union(*logs)
    if combination == "uncertainty":
        assert logs[-1]["weight_sentiment"] != 1.0
    if combination in ("sum", "pcgrad"):
        # the reported loss is the sum of the task losses
        for entry in logs:
            assert entry["loss"] == pytest.approx(entry.get("loss_sentiment", 0) + entry.get("loss_entities", 0), 1e-5)


def test_pcgrad_training_step_sets_shared_grads_to_the_sum_of_projected_task_grads(tmp_path):
    trainer = make_trainer(tmp_path, "pcgrad")
    model = trainer.model
    batch = COLLATOR(make_examples("sentiment", 3) + make_examples("entities", 3, 1))
    generator = torch.Generator()
    generator.set_state(trainer.pcgrad_generator.get_state())
    shared = list(model.shared_parameters())
    per_task, head_grads = [], {}
    for task, sub in batch["task_batches"].items():
        loss = model(task=task, **sub).loss
        grads = torch.autograd.grad(loss, shared + list(model.head_parameters(task)))
        per_task.append(torch.cat([g.reshape(-1) for g in grads[: len(shared)]]))
        head_grads[task] = grads[len(shared) :]
    assert torch.dot(per_task[0], per_task[1]) < 0  # the batch has conflicting gradients: projection matters
    expected = torch.stack(pcgrad(per_task, generator)).sum(0)

    model.zero_grad(set_to_none=True)
    trainer.training_step(model, batch)
    got = torch.cat([p.grad.reshape(-1) for p in shared])
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, per_task[0] + per_task[1])
    for task, grads in head_grads.items():
        for p, g in zip(model.head_parameters(task), grads):
            torch.testing.assert_close(p.grad, g)
    assert all(p.grad is None for p in model.head_parameters("qa"))


def test_pcgrad_training_step_accumulates_gradients_scaled_by_the_accumulation_steps(tmp_path):
    trainer = make_trainer(tmp_path, "pcgrad")
    batch = COLLATOR(make_examples("sentiment", 3) + make_examples("entities", 3, 1))
    state = trainer.pcgrad_generator.get_state()
    trainer.training_step(trainer.model, batch)
    once = [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]
    trainer.model.zero_grad(set_to_none=True)
    trainer.pcgrad_generator.set_state(state)
    trainer.current_gradient_accumulation_steps = 2
    for _ in range(2):
        trainer.training_step(trainer.model, batch)
    twice = [p.grad for p in trainer.model.parameters() if p.grad is not None]
    for a, b in zip(once, twice, strict=True):
        torch.testing.assert_close(a, b)


def test_round_robin_training_batches_hold_one_task_each(tmp_path):
    trainer = make_trainer(tmp_path, "uncertainty", "round_robin")
    batches = [list(batch["task_batches"]) for batch in trainer.get_train_dataloader()]
    assert batches == [["sentiment"], ["entities"], ["sentiment"], ["entities"]]


def test_evaluate_gives_per_task_metrics_and_their_mean_score(tmp_path):
    trainer = make_trainer(
        tmp_path,
        compute_metrics_per_task={"sentiment": accuracy, "entities": token_accuracy},
        main_metrics={"sentiment": "accuracy", "entities": "f1"},
    )
    metrics = trainer.evaluate()
    assert {"eval_sentiment_loss", "eval_sentiment_accuracy", "eval_entities_loss", "eval_entities_f1"} <= set(metrics)
    assert "eval_sentiment_f1" not in metrics
    mean = (metrics["eval_sentiment_accuracy"] + metrics["eval_entities_f1"]) / 2
    assert metrics["eval_mean_score"] == pytest.approx(mean)


def test_prediction_step_returns_start_and_end_for_span_heads(tmp_path):
    trainer = make_trainer(tmp_path)
    batch = COLLATOR(make_examples("qa", 2))
    loss, logits, labels = trainer.prediction_step(trainer.model, batch, prediction_loss_only=False)
    assert loss.ndim == 0
    assert [t.shape for t in logits] == [(2, SEQ), (2, SEQ)]
    assert [t.tolist() for t in labels] == [[1, 1], [2, 2]]


def test_uncertainty_weights_are_saved_in_checkpoints_and_a_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    args = {"save_strategy": "steps", "save_steps": 2}
    trainer = make_trainer(tmp_path, "uncertainty", max_steps=4, args=args)
    trainer.train()
    final = trainer.uncertainty.log_variances.detach().clone()
    assert (final[:2] != 0).all()  # the two trained tasks' weights moved (qa has no training data)
    assert (tmp_path / "checkpoint-2" / UNCERTAINTY_FILE).is_file()

    resumed = make_trainer(tmp_path, "uncertainty", max_steps=4, args=args)
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    torch.testing.assert_close(resumed.uncertainty.log_variances.detach(), final)
    assert any(resumed.uncertainty.log_variances is p for g in resumed.optimizer.param_groups for p in g["params"])


DDP_SCRIPT = """
import json, sys
import torch
import torch.distributed as dist
from tests.helpers import make_trainer

result = {}
for combination in ("pcgrad", "uncertainty"):
    trainer = make_trainer(sys.argv[1] + "/" + combination, combination)
    before = torch.cat([p.detach().reshape(-1).clone() for p in trainer.model.parameters()])
    trainer.train()
    params = [*trainer.model.parameters(), *(trainer.uncertainty.parameters() if trainer.uncertainty else [])]
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    ranks = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(ranks, flat)
    logged = [e for e in trainer.state.log_history if "loss" in e]
    result[combination] = {
        "ranks_agree": torch.equal(*ranks),
        "moved": not torch.equal(before, flat[: len(before)]),
        "task_losses_logged": all("loss_sentiment" in e and "loss_entities" in e for e in logged),
    }
if dist.get_rank() == 0:
    print(json.dumps(result))
"""


def test_two_ddp_ranks_average_the_gradients_of_every_loss_combination_and_stay_in_sync(tmp_path):
    # Each rank sees different batches: without the trainer's own all-reduce (autograd.grad and the per-task
    # forwards bypass DDP's reducer) their parameters would drift apart.
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    ranks = ["--nproc_per_node", "2", "--master_port", str(free_port())]
    command = [sys.executable, "-m", "torch.distributed.run", *ranks, str(script), str(tmp_path)]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = last_json_line(done.stdout)
    expected = {"ranks_agree": True, "moved": True, "task_losses_logged": True}
    assert result == dict.fromkeys(("pcgrad", "uncertainty"), expected)
