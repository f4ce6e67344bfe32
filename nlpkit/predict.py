"""Predictions from a saved model folder or an in-memory model, as used by recipes and `nlpkit predict`."""

from __future__ import annotations

from typing import Any

import transformers

from nlpkit.pretrained import check_task


def load_pipeline(model_dir: str, **kwargs: Any) -> transformers.Pipeline:
    """The pipeline matching the model's head, read from its config (nlpkit's architectures are registered).

    nlpkit's BiLSTM-CRF gets the pipeline class its saved config names in ``custom_pipelines`` (the one that
    ``pipeline("token-classification", model=model_dir, trust_remote_code=True)`` builds from the folder's copy of the
    code), imported from nlpkit here, so both find the same entities. A model of another task (a language model, a
    translation model, a model without a head) is a ConfigError saying what serves it."""
    from nlpkit.models import register_models

    register_models()  # nlpkit's architectures, with the Auto classes (the `nlpkit` command skips it at import)
    config = transformers.AutoConfig.from_pretrained(model_dir)
    task = check_task(model_dir, config.to_dict(), "predict")
    kwargs.setdefault("pipeline_class", _pipeline_class(config, task))
    return transformers.pipeline(task, model=model_dir, **kwargs)


def token_classification_pipeline(model: Any, tokenizer: Any, **kwargs: Any) -> transformers.Pipeline:
    """``pipeline("token-classification")`` for an in-memory model; nlpkit's BiLSTM-CRF gets its own pipeline class
    (character inputs, entities grouped), which ``pipeline()`` only finds by itself in a saved folder's config."""
    kwargs.setdefault("pipeline_class", _pipeline_class(model.config, "token-classification"))
    return transformers.pipeline("token-classification", model=model, tokenizer=tokenizer, **kwargs)


def _pipeline_class(config: Any, task: str) -> type[transformers.Pipeline] | None:
    """nlpkit's own pipeline class for ``task`` with a model of ``config``, or None for transformers' default."""
    if task == "token-classification" and config.model_type == "bilstm_crf":
        from nlpkit.models.bilstm_crf.modeling_bilstm_crf import BiLSTMCRFTokenClassificationPipeline

        return BiLSTMCRFTokenClassificationPipeline
    return None


def predict(pipe: transformers.Pipeline, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
    """Labels (text classification) or entities (token classification) of each text."""
    if pipe.task == "token-classification":
        return tag_entities(pipe, texts, batch_size=batch_size)
    return classify(pipe, texts, batch_size=batch_size)


def classify(pipe: transformers.Pipeline, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
    """``[{"text", "label", "score"}]`` for each text: the top label and its probability."""
    outputs = pipe(texts, batch_size=batch_size, truncation=True)
    return [{"text": text, "label": out["label"], "score": float(out["score"])} for text, out in zip(texts, outputs)]


def aggregation_strategy(tokenizer: Any) -> str:
    """How the pipeline groups tokens into entities: 'simple' when a token is a word (word-level vocabulary), else
    'first' (a word takes the tag of its first sub-token, as the models were trained)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return "simple" if backend is None or type(backend.model).__name__ == "WordLevel" else "first"


def tag_entities(pipe: transformers.Pipeline, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
    """``[{"text", "entities": [{"label", "score", "start", "end", "text"}]}]``: the entities of each text, with
    character offsets into it."""
    outputs = pipe(texts, batch_size=batch_size, aggregation_strategy=aggregation_strategy(pipe.tokenizer))
    if texts and isinstance(outputs[0], dict):
        outputs = [outputs]
    return [
        {
            "text": text,
            "entities": [
                {
                    "label": entity["entity_group"],
                    "score": float(entity["score"]),
                    "start": int(entity["start"]),
                    "end": int(entity["end"]),
                    "text": text[entity["start"] : entity["end"]],
                }
                for entity in entities
            ],
        }
        for text, entities in zip(texts, outputs)
    ]


def format_predictions(predictions: list[dict[str, Any]]) -> str:
    if predictions and "entities" in predictions[0]:
        return "\n".join(_format_entities(prediction) for prediction in predictions)
    width = max(len(p["label"]) for p in predictions)
    return "\n".join(f"{p['label']:<{width}}  {p['score']:.3f}  {p['text']}" for p in predictions)


def _format_entities(prediction: dict[str, Any]) -> str:
    entities = prediction["entities"]
    if not entities:
        return f"{prediction['text']}\n  (no entities)"
    width = max(len(entity["label"]) for entity in entities)
    lines = [f"  {e['label']:<{width}}  {e['score']:.3f}  {e['start']:>3}-{e['end']:<3}  {e['text']}" for e in entities]
    return "\n".join([prediction["text"], *lines])
