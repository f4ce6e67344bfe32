"""nlpkit's own `evaluate` metric modules, loaded by path so they work offline.

Each metric lives in ``nlpkit/metrics/<name>/<name>.py`` as an ``evaluate.Metric``; ``load_metric("accuracy")``
loads it with ``evaluate.load(<path>)``, never from the Hub.
"""

from __future__ import annotations

from pathlib import Path

import evaluate

METRICS_DIR = Path(__file__).resolve().parent


def metric_path(name: str) -> str:
    """Path of the folder holding nlpkit's metric ``name``."""
    path = METRICS_DIR / name
    if not (path / f"{name}.py").is_file():
        available = sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())
        raise ValueError(f"unknown metric '{name}' (nlpkit ships: {', '.join(available)})")
    return str(path)


def load_metric(name: str, **kwargs) -> evaluate.EvaluationModule:
    """Load one of nlpkit's metrics offline."""
    return evaluate.load(metric_path(name), **kwargs)


def combine_metrics(names: list[str]) -> evaluate.CombinedEvaluations:
    """Several metrics computed together, as ``evaluate.combine`` does."""
    return evaluate.combine([load_metric(name) for name in names])
