"""Training mechanics of multi-task learning: one shared encoder, one head per task, one Trainer.

The model contract (see ``nlpkit/models/multitask/``): ``model(task=NAME, **sub_batch)`` runs ONE head and returns
``.loss`` and ``.logits`` (span heads: ``.start_logits`` / ``.end_logits``); ``model.config.task_names`` lists the
heads; ``model.shared_parameters()`` and ``model.head_parameters(name)`` split the parameters.

Pieces, all usable alone:

- :class:`TaskSampler` draws indices over the concatenated task datasets ("proportional", "temperature",
  "round_robin");
- :class:`MultiTaskCollator` groups a batch by its examples' ``"task"`` key into ``{"task_batches": {task: batch}}``;
- :class:`UncertaintyWeighting` (Kendall et al. 2018) and :func:`pcgrad` (Yu et al. 2020) combine the task losses;
- :class:`MultiTaskTrainer` (a ``transformers.Trainer``) wires them in and evaluates per task, adding
  ``eval_mean_score`` (mean of each task's main metric) so ``metric_for_best_model="mean_score"`` works.

The Trainer's column removal is switched off (it would match columns against ``forward(task, **kwargs)``): each
task's collator decides what its batch holds, so ``remove_unused_columns`` is ignored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
import transformers
from torch import Tensor, nn
from transformers import EvalPrediction
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

LOSS_COMBINATIONS = ("sum", "weights", "uncertainty", "pcgrad")
SAMPLING_STRATEGIES = ("proportional", "temperature", "round_robin")
UNCERTAINTY_FILE = "uncertainty_weighting.pt"


# ---- PCGrad ----


def pcgrad(gradients: Sequence[Tensor], generator: torch.Generator | None = None) -> list[Tensor]:
    """Project each task's gradient off the others it conflicts with (PCGrad, Yu et al. 2020, Algorithm 1).

    For task i, start from g_i and visit the other tasks j in a random order (drawn from ``generator``); where
    g_i . g_j < 0, remove the conflicting component: g_i <- g_i - (g_i . g_j) / ||g_j||^2 g_j. As in the paper's
    Algorithm 1 the projection is always against the ORIGINAL g_j (not its projected version). The order matters
    only with three or more tasks. The update is the sum of the returned gradients.

    Takes and returns flattened 1-D tensors of one length. A zero g_j never conflicts (its dot product is 0).
    """
    originals = [g.detach() for g in gradients]
    if len({g.shape for g in originals}) > 1:
        raise ValueError(f"pcgrad needs gradients of one shape, got {[tuple(g.shape) for g in originals]}")
    projected = []
    for i, g_i in enumerate(originals):
        g = g_i.clone()
        others = [j for j in range(len(originals)) if j != i]
        order = torch.randperm(len(others), generator=generator).tolist()
        for k in order:
            g_j = originals[others[k]]
            dot = torch.dot(g, g_j)
            if dot < 0:
                g = g - dot / torch.dot(g_j, g_j) * g_j
        projected.append(g)
    return projected


# ---- Uncertainty weighting ----


class UncertaintyWeighting(nn.Module):
    """Learned task weights from homoscedastic uncertainty (Kendall, Gal & Cipolla 2018).

    One learned log-variance s_t = log sigma_t^2 per task; the combined loss is ``sum_t exp(-s_t) * L_t + s_t``.
    This is the form the paper uses for classification likelihoods (1/sigma^2 L + log sigma^2 up to constants) and
    the one most implementations use for every head: the paper's 0.5 factors of regression heads only rescale the
    balance, and nlpkit's heads are classifiers. Learning s rather than sigma keeps the parameter unconstrained and
    exp(-s) positive; the + s term stops every weight from collapsing to zero. A noisier task has a larger irreducible
    loss, so its optimum s_t = log L_t is larger and its weight exp(-s_t) smaller.

    Tasks absent from a batch contribute nothing (neither term), so round-robin batches train only their own s_t.
    """

    def __init__(self, task_names: Sequence[str]) -> None:
        super().__init__()
        self.task_names = list(task_names)
        self.log_variances = nn.Parameter(torch.zeros(len(self.task_names)))

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        total = self.log_variances.new_zeros(())
        for name, loss in losses.items():
            s = self.log_variances[self.task_names.index(name)]
            total = total + torch.exp(-s) * loss + s
        return total

    def weights(self) -> dict[str, float]:
        """The current weights exp(-s_t), by task."""
        return {name: float(torch.exp(-s)) for name, s in zip(self.task_names, self.log_variances.detach().cpu())}


# ---- Sampling ----


class TaskSampler(torch.utils.data.Sampler[int]):
    """Indices over the concatenation of the task datasets (task t owns ``[offset_t, offset_t + n_t)``).

    - "proportional": each slot picks task t with p ∝ n_t;
    - "temperature": p ∝ n_t^(1/T) (T = ``temperature``, default 2.0: small tasks are seen more than their share);
    - "round_robin": whole batches of ``batch_size`` examples of one task, tasks in turn (a task that has run out is
      skipped), so every batch is homogeneous.

    Within a task, examples are drawn without replacement from a shuffled order while they last; a task drawn more
    often than it has examples then starts a fresh shuffle (so an epoch over-samples small tasks rather than
    repeating one example). An epoch yields ``sum(n_t)`` indices for the first two strategies; round robin pads each
    task's last, short batch with more examples of that task (a fresh shuffle) so batches stay whole and homogeneous
    also after accelerate splits batches across ranks, and yields ``sum(ceil(n_t / batch_size)) * batch_size``.

    Deterministic: the order depends only on ``seed`` and the epoch set by :meth:`set_epoch` (the Trainer calls it
    through accelerate's loader); every rank must use the same seed (accelerate shards the batches).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        strategy: str = "proportional",
        *,
        batch_size: int | None = None,
        temperature: float = 2.0,
        seed: int = 0,
    ) -> None:
        if strategy not in SAMPLING_STRATEGIES:
            raise ValueError(f"sampling strategy {strategy!r} is not one of {', '.join(SAMPLING_STRATEGIES)}")
        if not lengths or any(n <= 0 for n in lengths):
            raise ValueError(f"every task needs at least one training example, got lengths {list(lengths)}")
        if strategy == "round_robin" and (batch_size is None or batch_size <= 0):
            raise ValueError("round_robin sampling needs a positive batch_size")
        if strategy == "temperature" and temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.lengths = [int(n) for n in lengths]
        self.offsets = [sum(self.lengths[:t]) for t in range(len(self.lengths))]
        self.strategy = strategy
        self.batch_size = batch_size
        self.temperature = temperature
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def probabilities(self) -> list[float]:
        """The probability of each task per slot (proportional/temperature); round robin alternates instead."""
        exponent = 1.0 / self.temperature if self.strategy == "temperature" else 1.0
        mass = [n**exponent for n in self.lengths]
        return [m / sum(mass) for m in mass]

    def __len__(self) -> int:
        if self.strategy == "round_robin":
            return sum(math.ceil(n / self.batch_size) for n in self.lengths) * self.batch_size
        return sum(self.lengths)

    def _draw(self, task: int, count: int, generator: torch.Generator) -> Tensor:
        """``count`` local indices of ``task``: successive shuffles, without replacement within each."""
        n = self.lengths[task]
        rounds = [torch.randperm(n, generator=generator) for _ in range(math.ceil(count / n))]
        return torch.cat(rounds)[:count] + self.offsets[task] if rounds else torch.empty(0, dtype=torch.long)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.strategy == "round_robin":
            queues = []
            for t, n in enumerate(self.lengths):
                count = math.ceil(n / self.batch_size) * self.batch_size
                queues.append(list(self._draw(t, count, generator).split(self.batch_size)))
            while any(queues):
                for queue in queues:
                    if queue:
                        yield from queue.pop(0).tolist()
            return
        total = sum(self.lengths)
        tasks = torch.multinomial(torch.tensor(self.probabilities()), total, replacement=True, generator=generator)
        order = torch.empty(total, dtype=torch.long)
        for t in range(len(self.lengths)):
            slots = (tasks == t).nonzero(as_tuple=True)[0]
            order[slots] = self._draw(t, len(slots), generator)
        yield from order.tolist()


# ---- Collation ----


class MultiTaskCollator:
    """Collate a mixed batch task by task: ``{"task_batches": {task: that task's collator(its examples)}}``.

    Each example names its task under ``"task"`` (the task layer adds that column); the key is dropped before the
    task's own collator sees the example. Tasks keep their first-appearance order in the batch.
    """

    def __init__(self, collators: Mapping[str, Callable[[list[dict[str, Any]]], dict[str, Any]]]) -> None:
        self.collators = dict(collators)

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row, example in enumerate(examples):
            if "task" not in example:
                raise ValueError(f"example {row} of the batch has no 'task' key (keys: {', '.join(example)})")
            task = example["task"]
            if task not in self.collators:
                raise ValueError(
                    f"example {row} has task {task!r}, which has no collator ({', '.join(self.collators)})"
                )
            grouped.setdefault(task, []).append({k: v for k, v in example.items() if k != "task"})
        return {"task_batches": {task: self.collators[task](rows) for task, rows in grouped.items()}}


# ---- Trainer ----


class _ZeroUncertaintyGradients(transformers.TrainerCallback):
    """The Trainer zeroes only the model's gradients after each optimizer step: clear the uncertainty ones too."""

    def __init__(self, weighting: UncertaintyWeighting) -> None:
        self.weighting = weighting

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.weighting.zero_grad(set_to_none=True)


def _task_outputs(outputs: Any) -> Any:
    """Logits of one head's output: ``(start, end)`` for span heads."""
    if getattr(outputs, "start_logits", None) is not None:
        return (outputs.start_logits, outputs.end_logits)
    return outputs.logits


class MultiTaskTrainer(transformers.Trainer):
    """A ``transformers.Trainer`` for a multi-head model: per-task batches, loss combination, per-task evaluation.

    ``train_dataset`` is ``{task: dataset}`` (concatenated, sampled by a :class:`TaskSampler`), ``eval_dataset`` is
    ``{task: dataset}``; the collator must produce ``{"task_batches": ...}`` (:class:`MultiTaskCollator`). Everything
    else (accelerate, gradient accumulation, amp, checkpoints, logging) is the Trainer's.

    ``loss_combination``: "sum" of the task losses; "weights" (``loss_weights[task]``, default 1.0 for tasks left
    out); "uncertainty" (:class:`UncertaintyWeighting`, trained by the same optimizer in its own param group without
    weight decay, saved as ``uncertainty_weighting.pt`` in each checkpoint and restored on resume); "pcgrad"
    (:func:`pcgrad` on the shared parameters' per-task gradients, see :meth:`training_step`). The training logs carry
    ``loss_<task>`` (averaged over the logging interval) and, for "uncertainty", ``weight_<task>`` = exp(-s_t).
    """

    def __init__(
        self,
        *args: Any,
        loss_combination: str = "sum",
        loss_weights: Mapping[str, float] | None = None,
        sampling: str = "proportional",
        temperature: float = 2.0,
        compute_metrics_per_task: Mapping[str, Callable[[EvalPrediction], dict[str, float]]] | None = None,
        main_metrics: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        train_dataset = kwargs.get("train_dataset")
        self.train_task_names: list[str] = []
        self.train_task_lengths: list[int] = []
        if isinstance(train_dataset, Mapping):
            self.train_task_names = list(train_dataset)
            self.train_task_lengths = [len(ds) for ds in train_dataset.values()]
            kwargs["train_dataset"] = torch.utils.data.ConcatDataset(list(train_dataset.values()))
        elif train_dataset is not None:
            raise ValueError("MultiTaskTrainer needs train_dataset as a dict {task: dataset}")
        if loss_combination not in LOSS_COMBINATIONS:
            raise ValueError(f"loss_combination {loss_combination!r} is not one of {', '.join(LOSS_COMBINATIONS)}")
        if sampling not in SAMPLING_STRATEGIES:
            raise ValueError(f"sampling {sampling!r} is not one of {', '.join(SAMPLING_STRATEGIES)}")
        if loss_combination == "pcgrad" and sampling == "round_robin":
            raise ValueError(
                "loss_combination 'pcgrad' needs several tasks per batch: use a sampling other than round_robin"
            )
        super().__init__(*args, **kwargs)
        task_names = list(self.model.config.task_names)
        for key, mapping in (
            ("loss_weights", loss_weights),
            ("compute_metrics_per_task", compute_metrics_per_task),
            ("main_metrics", main_metrics),
            ("train_dataset", dict.fromkeys(self.train_task_names)),
        ):
            unknown = sorted(set(mapping or {}) - set(task_names))
            if unknown:
                raise ValueError(f"{key} names tasks the model has no head for: {', '.join(unknown)}")
        self.task_names = task_names
        self.loss_combination = loss_combination
        self.loss_weights = {name: float((loss_weights or {}).get(name, 1.0)) for name in task_names}
        self.sampling = sampling
        self.temperature = temperature
        self.compute_metrics_per_task = dict(compute_metrics_per_task or {})
        self.main_metrics = dict(main_metrics or {})
        # compute_loss returns a per-batch mean: the Trainer divides it by the accumulation steps.
        self.loss_is_scaled_for_ga = False
        self.current_gradient_accumulation_steps = getattr(self, "current_gradient_accumulation_steps", 1)
        self.uncertainty = (
            UncertaintyWeighting(task_names).to(self.args.device) if loss_combination == "uncertainty" else None
        )
        if self.uncertainty is not None:
            self.add_callback(_ZeroUncertaintyGradients(self.uncertainty))
        self.pcgrad_generator = torch.Generator().manual_seed(self.args.seed)
        # per-task loss sums and counts since the last training log (tensors: no device sync per step)
        self._task_loss_sums = torch.zeros(len(task_names), device=self.args.device)
        self._task_loss_counts = torch.zeros(len(task_names), device=self.args.device)

    # -- data --

    def _get_train_sampler(self, train_dataset: Any = None) -> torch.utils.data.Sampler | None:
        if not self.train_task_lengths:
            return super()._get_train_sampler(train_dataset)
        return TaskSampler(
            self.train_task_lengths,
            self.sampling,
            batch_size=self._train_batch_size,
            temperature=self.temperature,
            seed=self.args.data_seed if self.args.data_seed is not None else self.args.seed,
        )

    def _remove_unused_columns(self, dataset: Any, description: str | None = None) -> Any:
        return dataset  # each task's collator picks its columns; "task" must survive to the collator

    def _get_collator_with_removed_columns(self, data_collator: Callable, description: str | None = None) -> Callable:
        return data_collator

    # -- optimisation --

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        optimizer = super().create_optimizer(model)
        if self.uncertainty is not None:
            params = list(self.uncertainty.parameters())
            known = {id(p) for group in optimizer.param_groups for p in group["params"]}
            if not any(id(p) in known for p in params):
                optimizer.add_param_group({"params": params, "weight_decay": 0.0})
        return optimizer

    def _task_losses(self, model: nn.Module, inputs: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
        batches = inputs["task_batches"]
        outputs = {task: model(task=task, **batch) for task, batch in batches.items()}
        return {task: out.loss for task, out in outputs.items()}, outputs

    def _record(self, losses: Mapping[str, Tensor]) -> None:
        for task, loss in losses.items():
            index = self.task_names.index(task)
            self._task_loss_sums[index] += loss.detach().float()
            self._task_loss_counts[index] += 1

    def combine(self, losses: Mapping[str, Tensor]) -> Tensor:
        """One loss from the per-task losses (PCGrad's update is not a loss: its value here is the plain sum)."""
        if self.loss_combination == "weights":
            return sum(self.loss_weights[task] * loss for task, loss in losses.items())
        if self.loss_combination == "uncertainty":
            return self.uncertainty(losses)
        return sum(losses.values())

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ) -> Tensor | tuple[Tensor, Any]:
        losses, outputs = self._task_losses(model, inputs)
        if model.training:
            self._record(losses)
        loss = self.combine(losses)
        return (loss, outputs) if return_outputs else loss

    def training_step(
        self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: Tensor | int | None = None
    ) -> Tensor:
        """PCGrad: per-task gradients of the shared parameters, projected, summed; other combinations: the Trainer's.

        PCGrad: each task's loss (divided by the accumulation steps, scaled by the amp grad scaler when there is one,
        as ``accelerator.backward`` would) is differentiated with ``torch.autograd.grad`` over the shared parameters
        and that task's head. The shared parameters' ``.grad`` gets the sum of :func:`pcgrad` of the per-task
        gradients, each head its own task's gradient, accumulated across micro-batches (the projection is per
        micro-batch).

        Several ranks (DDP): one step runs the model once per task, which DDP's reducer does not allow (with
        ``find_unused_parameters`` a head is "marked ready twice"), and ``autograd.grad`` bypasses its hooks anyway.
        So every combination runs under ``accelerator.no_sync`` and, on the accumulation's last micro-batch, the
        gradients (model and uncertainty parameters) are averaged across ranks here before the Trainer clips and
        steps: the same result as DDP's, without its bucketing overlap.
        """
        distributed = self.accelerator.num_processes > 1
        if self.loss_combination != "pcgrad":
            if not distributed:
                return super().training_step(model, inputs, num_items_in_batch)
            with self.accelerator.no_sync(model):
                loss = super().training_step(model, inputs, num_items_in_batch)
            if self.accelerator.sync_gradients:
                self._all_reduce_gradients(self.accelerator.unwrap_model(model))
            return loss
        model.train()
        if hasattr(self.optimizer, "train") and callable(self.optimizer.train):
            self.optimizer.train()
        inputs = self._prepare_inputs(inputs)
        unwrapped = self.accelerator.unwrap_model(model)
        shared = [p for p in unwrapped.shared_parameters() if p.requires_grad]
        scaler = getattr(self.accelerator, "scaler", None)
        with self.accelerator.no_sync(model), self.compute_loss_context_manager():
            losses, _ = self._task_losses(model, inputs)
            self._record(losses)
            shared_grads = []
            for task, loss in losses.items():
                scaled = loss / self.current_gradient_accumulation_steps
                if scaler is not None:
                    scaled = scaler.scale(scaled)
                head = [p for p in unwrapped.head_parameters(task) if p.requires_grad]
                grads = torch.autograd.grad(scaled, shared + head, retain_graph=True, allow_unused=True)
                shared_grads.append(
                    torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(shared, grads)])
                )
                for p, g in zip(head, grads[len(shared) :]):
                    if g is not None:
                        p.grad = g.detach() if p.grad is None else p.grad + g
        update = torch.stack(pcgrad(shared_grads, self.pcgrad_generator)).sum(0)
        for p, g in zip(shared, update.split([p.numel() for p in shared])):
            g = g.view_as(p).to(p.dtype)
            p.grad = g if p.grad is None else p.grad + g
        if distributed and self.accelerator.sync_gradients:
            self._all_reduce_gradients(unwrapped)
        return (sum(losses.values()) / self.current_gradient_accumulation_steps).detach()

    def _all_reduce_gradients(self, model: nn.Module) -> None:
        """Average the gradients across ranks in one flat all-reduce (what DDP's reducer would have done).

        A parameter no rank has a gradient for keeps ``grad=None`` (the optimizer skips it as without DDP); where
        only some ranks have one, the others contribute zeros.
        """
        params = [p for p in model.parameters() if p.requires_grad]
        if self.uncertainty is not None:
            params += list(self.uncertainty.parameters())
        has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=self.args.device)
        dist.all_reduce(has_grad)
        params = [p for p, used in zip(params, has_grad.tolist()) if used]
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.accelerator.num_processes
        for p, g in zip(params, flat.split([g.numel() for g in grads])):
            p.grad = g.view_as(p).to(p.dtype).clone()

    # -- logging --

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add ``loss_<task>`` (and ``weight_<task>`` for "uncertainty") to the training loss logs.

        ``loss_<task>`` is the mean of the task's batch losses since the last log, over all ranks (the Trainer logs
        training losses on every rank at once, so the all-reduce is safe); a task no batch held is left out.
        """
        if "loss" in logs:
            totals = torch.cat([self._task_loss_sums, self._task_loss_counts])
            if self.accelerator.num_processes > 1:
                dist.all_reduce(totals)
            sums, counts = totals.tolist()[: len(self.task_names)], totals.tolist()[len(self.task_names) :]
            for task, total, count in zip(self.task_names, sums, counts):
                if count:
                    logs[f"loss_{task}"] = total / count
            self._task_loss_sums.zero_()
            self._task_loss_counts.zero_()
            if self.uncertainty is not None:
                logs.update({f"weight_{task}": w for task, w in self.uncertainty.weights().items()})
        super().log(logs, start_time)

    # -- evaluation --

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Evaluate each task with its own ``compute_metrics``; add ``<prefix>_mean_score`` of the main metrics."""
        override = eval_dataset is not None
        datasets_ = eval_dataset if override else self.eval_dataset
        if not isinstance(datasets_, Mapping):
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        metrics: dict[str, float] = {}
        saved = self.compute_metrics
        try:
            for task, dataset in datasets_.items():
                self.compute_metrics = self.compute_metrics_per_task.get(task)
                metrics.update(
                    super().evaluate(dataset if override else task, ignore_keys, f"{metric_key_prefix}_{task}")
                )
        finally:
            self.compute_metrics = saved
        scores = []
        for task, name in self.main_metrics.items():
            key = f"{metric_key_prefix}_{task}_{name}"
            if task in datasets_:
                if key not in metrics:
                    raise ValueError(f"main_metrics[{task!r}] = {name!r}, but evaluation gave no {key}")
                scores.append(metrics[key])
        if scores:
            metrics[f"{metric_key_prefix}_mean_score"] = sum(scores) / len(scores)
            self.log({f"{metric_key_prefix}_mean_score": metrics[f"{metric_key_prefix}_mean_score"]})
        return metrics

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[Tensor | None, Any, Any]:
        """One task's batch: ``(loss, logits, labels)``; span heads give ``(start, end)`` for both."""
        inputs = self._prepare_inputs(inputs)
        ((task, batch),) = inputs["task_batches"].items()
        with torch.no_grad(), self.compute_loss_context_manager():
            outputs = model(task=task, **batch)
        loss = outputs.loss.detach() if getattr(outputs, "loss", None) is not None else None
        if prediction_loss_only:
            return loss, None, None
        if "start_positions" in batch:
            labels = (batch["start_positions"], batch["end_positions"])
        else:
            labels = batch.get("labels")
        return loss, _task_outputs(outputs), labels

    # -- checkpoints --

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        if self.uncertainty is not None and self.args.should_save:
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            torch.save(self.uncertainty.state_dict(), os.path.join(folder, UNCERTAINTY_FILE))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = os.path.join(resume_from_checkpoint, UNCERTAINTY_FILE)
        if self.uncertainty is not None and os.path.isfile(path):
            state = torch.load(path, map_location=self.args.device, weights_only=True)
            with torch.no_grad():
                self.uncertainty.log_variances.copy_(state["log_variances"])
