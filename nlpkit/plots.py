"""The loss-curve PNG of a run, drawn from the Trainer's log history, and what the other plots share."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nlpkit.io import atomic_write_bytes

# Logged beside the metrics of an evaluation, but about its speed, size or position, not the model (a multi-task
# evaluation logs them per task too: eval_<task>_runtime...).
_NOT_SCORES = ("runtime", "samples_per_second", "steps_per_second", "epoch", "step", "samples")
# A positive series spanning more than this ratio (max/min) is drawn on a log scale (NER's first loss of 26.5 next to
# later ones of 0.3 flattens a linear plot).
LOG_SCALE_RATIO = 20.0
# The metric panel's lines at most (the best model's metric first), so that its legend stays legible.
MAX_METRIC_LINES = 6
# Subword markers of the tokenizers nlpkit trains or fine-tunes: SentencePiece/Metaspace and byte-level BPE word
# starts (Marian, T5, nlpkit's BPE; GPT-2, BART), WordPiece continuations (BERT) and end-of-word BPE (XLM).
_WORD_START_MARKERS = ("▁", "Ġ")
_CONTINUATION_MARKER = "##"
_END_OF_WORD_MARKER = "</w>"


def training_log(log_history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The entries logged while training: without the train summary (``train_runtime``) and what was logged after
    it (the final evaluation, of the best checkpoint if one was loaded, and the test scores), which belong to no
    step of training."""
    for index, entry in enumerate(log_history):
        if "train_runtime" in entry:
            return list(log_history[:index])
    return list(log_history)


def evaluations(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The evaluations among the logged ``entries``, one dict each: the ``eval_*`` entries of one step merged (a
    multi-task evaluation logs one entry per task, ``eval_<task>_loss``..., and one of their ``eval_mean_score``)."""
    merged: list[dict[str, Any]] = []
    for entry in entries:
        if "step" not in entry or not any(key.startswith("eval_") for key in entry):
            continue
        if merged and merged[-1]["step"] == entry["step"]:
            merged[-1].update(entry)
        else:
            merged.append(dict(entry))
    return merged


def is_score(name: str) -> bool:
    """Whether an evaluation result (``eval_`` taken off) says how good the model is, rather than how fast or how
    large the evaluation was."""
    return not any(name == other or name.endswith(f"_{other}") for other in _NOT_SCORES)


def evaluation_metric_names(
    log_history: Sequence[Mapping[str, Any]], metric_for_best_model: str | None = None
) -> list[str]:
    """The task metrics of the evaluations (``eval_*`` numbers but the loss, speed and position), the metric of the
    best model first; without the breakdowns of another metric (NER's ``f1_PER`` beside ``f1``), which
    ``all_results.json`` and the card's final scores keep."""
    names: list[str] = []
    for entry in log_history:
        for key, value in entry.items():
            name = key.removeprefix("eval_")
            if key.startswith("eval_") and name != "loss" and is_score(name) and isinstance(value, int | float):
                if name not in names:
                    names.append(name)
    names = [name for name in names if not any(name.startswith(f"{other}_") for other in names if other != name)]
    best = (metric_for_best_model or "").removeprefix("eval_")
    if best in names:
        names.remove(best)
        names.insert(0, best)
    return names


def needs_log_scale(values: Sequence[float]) -> bool:
    """Whether ``values`` (all positive) span more than :data:`LOG_SCALE_RATIO`."""
    values = [float(value) for value in values]
    return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_SCALE_RATIO


def loss_curves_figure(
    log_history: Sequence[Mapping[str, Any]], title: str = "Loss", metric_for_best_model: str | None = None
) -> Any | None:
    """A figure of the run against the step, one panel each: train loss (per logging step) and eval loss (per
    evaluation), log-scaled where the range demands it; the evaluations' task metrics (the best model's first); the
    learning rate. Panels without data are left out; None if there is no loss to plot."""
    entries = training_log(log_history)
    train = [(entry["step"], entry["loss"]) for entry in entries if "loss" in entry and "step" in entry]
    evaluated = evaluations(entries)
    names = evaluation_metric_names(evaluated, metric_for_best_model)
    # eval_loss, or a multi-task run's eval_<task>_loss: on the loss panel
    losses = ["loss", *(name for name in names if name.endswith("_loss"))]
    eval_losses = {
        name: [(entry["step"], entry[f"eval_{name}"]) for entry in evaluated if f"eval_{name}" in entry]
        for name in losses
    }
    eval_losses = {name: points for name, points in eval_losses.items() if points}
    if not train and not eval_losses:
        return None
    metrics = {
        name: [(entry["step"], entry[f"eval_{name}"]) for entry in evaluated if f"eval_{name}" in entry]
        for name in [name for name in names if name not in losses][:MAX_METRIC_LINES]
    }
    learning_rate = [(entry["step"], entry["learning_rate"]) for entry in entries if "learning_rate" in entry]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 1 + bool(metrics) + bool(learning_rate)
    figure, axes = plt.subplots(panels, 1, figsize=(7, 1.2 + 2.6 * panels), dpi=110, sharex=True, squeeze=False)
    axes = list(axes[:, 0])
    loss_axes = axes[0]
    if train:
        loss_axes.plot(*zip(*train), label="train loss", color="tab:blue", linewidth=1.4)
    for name, points in eval_losses.items():
        label = "eval loss" if name == "loss" else f"eval {name}"
        loss_axes.plot(*zip(*points), label=label, marker="o", linewidth=1.8)
    values = [value for _, value in train] + [value for points in eval_losses.values() for _, value in points]
    _finish_panel(loss_axes, f"{title}: loss", "loss", values)
    panel = 1
    if metrics:
        best = (metric_for_best_model or "").removeprefix("eval_")
        for name, points in metrics.items():
            label = f"{name} (best model's metric)" if name == best else name
            axes[panel].plot(*zip(*points), label=label, marker="o", linewidth=2.2 if name == best else 1.4)
        values = [value for points in metrics.values() for _, value in points]
        _finish_panel(axes[panel], "validation metrics", "metric", values)
        panel += 1
    if learning_rate:
        axes[panel].plot(*zip(*learning_rate), color="tab:green", linewidth=1.4, label="learning rate")
        _finish_panel(axes[panel], "learning rate", "learning rate", [], legend=False)
        axes[panel].ticklabel_format(axis="y", style="sci", scilimits=(-2, 3), useOffset=False)
    axes[-1].set_xlabel("step")
    return figure


def _finish_panel(axes: Any, title: str, label: str, values: Sequence[float], legend: bool = True) -> None:
    if needs_log_scale(values):
        axes.set_yscale("log")
        label += " (log scale)"
    axes.set_title(title)
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)
    if legend:
        axes.legend(fontsize="small")


def plot_loss_curves(
    log_history: Sequence[Mapping[str, Any]],
    path: str | Path,
    title: str = "Loss",
    metric_for_best_model: str | None = None,
) -> bool:
    """Write :func:`loss_curves_figure` to ``path`` as a PNG; False if there was nothing to plot."""
    figure = loss_curves_figure(log_history, title, metric_for_best_model)
    if figure is None:
        return False
    save_figure(figure, path)
    return True


def readable_token(piece: str) -> str:
    """A subword as a reader would write it: without the markers of word starts (``▁``, ``Ġ``), continuations
    (``##``) and word ends (``</w>``); a bare marker (a space of its own) is ``␣``."""
    if piece.startswith(_WORD_START_MARKERS):
        piece = piece[1:]
    elif piece.startswith(_CONTINUATION_MARKER) and len(piece) > len(_CONTINUATION_MARKER):
        piece = piece[len(_CONTINUATION_MARKER) :]
    if piece.endswith(_END_OF_WORD_MARKER) and len(piece) > len(_END_OF_WORD_MARKER):
        piece = piece[: -len(_END_OF_WORD_MARKER)]
    piece = piece.replace("Ċ", "\\n")  # byte-level BPE's newline
    return piece or "␣"


def save_figure(figure: Any, path: str | Path) -> None:
    """Lay out ``figure``, write it to ``path`` as a PNG atomically (a crash leaves no half image) and close it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
