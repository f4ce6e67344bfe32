"""The loss-curve PNG of a run, drawn from the Trainer's log history."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from nlpkit.io import atomic_write_bytes


def plot_loss_curves(log_history: list[dict], path: str | Path, title: str = "Loss") -> bool:
    """Plot train loss (per logging step) and eval loss (per evaluation) against the step; False if nothing to plot."""
    train = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry and "step" in entry]
    evaluation = [(entry["step"], entry["eval_loss"]) for entry in log_history if "eval_loss" in entry]
    if not train and not evaluation:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    if train:
        axes.plot(*zip(*train), label="train loss", color="tab:blue", linewidth=1.4)
    if evaluation:
        axes.plot(*zip(*evaluation), label="eval loss", color="tab:orange", marker="o", linewidth=1.8)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    save_figure(figure, path)
    return True


def save_figure(figure: Any, path: str | Path) -> None:
    """Lay out ``figure``, write it to ``path`` as a PNG atomically (a crash leaves no half image) and close it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
