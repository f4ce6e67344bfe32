"""Predictions from a saved model folder or an in-memory model, as used by recipes and `nlpkit predict`."""

from __future__ import annotations

from typing import Any

import transformers


def load_pipeline(model_dir: str, **kwargs: Any) -> transformers.Pipeline:
    """The pipeline matching the model's head, read from its config (nlpkit's architectures are registered)."""
    import nlpkit  # noqa: F401  (registers nlpkit's architectures with the Auto classes)

    config = transformers.AutoConfig.from_pretrained(model_dir)
    architecture = (config.architectures or [""])[0]
    if architecture.endswith("ForSequenceClassification"):
        task = "text-classification"
    else:
        raise ValueError(f"{model_dir}: no prediction support for architecture '{architecture}' yet")
    return transformers.pipeline(task, model=model_dir, **kwargs)


def classify(pipe: transformers.Pipeline, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
    """``[{"text", "label", "score"}]`` for each text: the top label and its probability."""
    outputs = pipe(texts, batch_size=batch_size, truncation=True)
    return [{"text": text, "label": out["label"], "score": float(out["score"])} for text, out in zip(texts, outputs)]


def format_predictions(predictions: list[dict[str, Any]]) -> str:
    width = max(len(p["label"]) for p in predictions)
    return "\n".join(f"{p['label']:<{width}}  {p['score']:.3f}  {p['text']}" for p in predictions)
