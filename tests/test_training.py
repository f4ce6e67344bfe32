"""The training scaffold's time budget: it stops on time and fits the learning-rate schedule to the budget, for the
whole run when the run is resumed."""

import pytest
import torch
from transformers import TrainerControl, TrainerState, get_linear_schedule_with_warmup, get_scheduler

from nlpkit.training import TimeBudgetCallback, TrainingArguments


class FakeClock:
    def __init__(self):
        self.seconds = 0.0

    def __call__(self):
        return self.seconds


def run_steps(callback, clock, state, control, scheduler, optimizer, seconds_per_step, args, until=10_000):
    while not control.should_training_stop and state.global_step < until:
        clock.seconds += seconds_per_step
        optimizer.step()
        scheduler.step()
        state.global_step += 1
        callback.on_step_end(args, state, control, lr_scheduler=scheduler)


def test_budget_stops_training_and_fits_the_schedule(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), warmup_steps=0.1, report_to="none")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    planned = 1000
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=100, num_training_steps=planned)
    callback, clock = TimeBudgetCallback(minutes=1.0), FakeClock()
    callback.now = clock
    state, control = TrainerState(max_steps=planned), TrainerControl()
    callback.on_train_begin(args, state, control)

    run_steps(callback, clock, state, control, scheduler, optimizer, seconds_per_step=0.3, args=args)

    assert control.should_training_stop
    assert 190 <= state.global_step <= 200  # 60 s at 0.3 s a step
    assert 195 <= state.max_steps <= 200
    assert scheduler.get_last_lr()[0] < 0.06  # decayed to (nearly) zero by the end of the budget
    warmup = scheduler.lr_lambdas[0].keywords["num_warmup_steps"]
    assert 19 <= warmup <= 20  # 10% of the fitted ~200 steps, not of the planned 1000


def test_budget_leaves_a_plan_that_fits_alone(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=0, num_training_steps=50)
    callback, clock = TimeBudgetCallback(minutes=1.0), FakeClock()
    callback.now = clock
    state, control = TrainerState(max_steps=50), TrainerControl()
    callback.on_train_begin(args, state, control)

    run_steps(callback, clock, state, control, scheduler, optimizer, seconds_per_step=0.3, args=args)

    assert state.global_step == 50 and state.max_steps == 50
    assert scheduler.lr_lambdas[0].keywords["num_training_steps"] == 50


def test_a_resumed_run_gets_what_is_left_of_the_budget_on_the_fitted_plan(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), warmup_steps=0.1, report_to="none")

    def schedule():  # what the Trainer builds in each process: the first plan of 1000 steps, 10% warmup
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        return optimizer, get_linear_schedule_with_warmup(optimizer, num_warmup_steps=100, num_training_steps=1000)

    optimizer, scheduler = schedule()
    callback, clock = TimeBudgetCallback(minutes=1.0), FakeClock()
    callback.now = clock
    state, control = TrainerState(max_steps=1000), TrainerControl()
    callback.on_train_begin(args, state, control, lr_scheduler=scheduler)
    run_steps(callback, clock, state, control, scheduler, optimizer, seconds_per_step=0.3, args=args, until=100)
    fitted = state.max_steps
    assert 195 <= fitted <= 200  # 30 s spent at 0.3 s a step: the plan fitted to the 60 s budget
    saved = callback.state()  # what a checkpoint at step 100 keeps (trainer_state.json's stateful_callbacks)

    # A new process: a new clock, the first plan again, the checkpoint's scheduler state loaded.
    resumed_optimizer, resumed_scheduler = schedule()
    resumed_scheduler.load_state_dict(scheduler.state_dict())
    resumed, resumed_clock = TimeBudgetCallback(minutes=1.0), FakeClock()
    resumed_clock.seconds = 5000.0
    resumed.now = resumed_clock
    state = TrainerState(global_step=100, max_steps=1000, stateful_callbacks={"TimeBudgetCallback": saved})
    control = TrainerControl()
    resumed.on_train_begin(args, state, control, lr_scheduler=resumed_scheduler)

    assert state.max_steps == fitted
    assert resumed_scheduler.lr_lambdas[0].keywords["num_training_steps"] == fitted
    assert (
        resumed_scheduler.lr_lambdas[0].keywords["num_warmup_steps"]
        == scheduler.lr_lambdas[0].keywords["num_warmup_steps"]
    )
    assert resumed_scheduler.get_last_lr() == scheduler.get_last_lr()
    run_steps(resumed, resumed_clock, state, control, resumed_scheduler, resumed_optimizer, 0.3, args)
    assert 195 <= state.global_step <= 200  # the 30 s left, not a new minute
    assert resumed_scheduler.get_last_lr()[0] < 0.06


def test_a_warmup_stable_decay_schedule_decays_at_the_end_of_the_budget(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    # What the Trainer builds for lr_scheduler_type warmup_stable_decay: the phases of the first plan of 1000 steps.
    scheduler = get_scheduler(
        "warmup_stable_decay", optimizer, num_warmup_steps=10, num_training_steps=1000,
        scheduler_specific_kwargs={"num_decay_steps": 100, "min_lr_ratio": 0.1},
    )  # fmt: skip
    callback, clock = TimeBudgetCallback(minutes=1.0), FakeClock()
    callback.now = clock
    state, control = TrainerState(max_steps=1000), TrainerControl()
    callback.on_train_begin(args, state, control, lr_scheduler=scheduler)

    rates = []
    while not control.should_training_stop:
        clock.seconds += 0.25  # 240 steps fit in the minute
        rates.append(scheduler.get_last_lr()[0])  # the rate this step trains with
        optimizer.step()
        scheduler.step()
        state.global_step += 1
        callback.on_step_end(args, state, control, lr_scheduler=scheduler)

    assert state.global_step == state.max_steps == 240
    phases = scheduler.lr_lambdas[0].keywords
    assert (phases["num_warmup_steps"], phases["num_stable_steps"], phases["num_decay_steps"]) == (10, 206, 24)
    assert max(rates) == 1.0 and rates[200] == 1.0  # stable until the decay starts, near the end of the budget
    assert rates[-1] == pytest.approx(0.1, abs=0.01)  # decayed to the minimum (min_lr_ratio) by the last step
    assert scheduler.get_last_lr()[0] == pytest.approx(0.1)


def test_a_warmup_stable_decay_schedule_without_its_decay_length_is_refused_before_anything_loads():
    from nlpkit.config import ConfigError, parse_args

    argv = ["--output_dir", "out", "--lr_scheduler_type", "warmup_stable_decay"]
    with pytest.raises(ConfigError, match=r"^command line: lr_scheduler_type warmup_stable_decay needs num_decay"):
        parse_args([TrainingArguments], argv)
    parsed = parse_args([TrainingArguments], [*argv, "--lr_scheduler_kwargs", '{"num_decay_steps": 10}'])
    assert parsed.args[0].lr_scheduler_kwargs == {"num_decay_steps": 10}
