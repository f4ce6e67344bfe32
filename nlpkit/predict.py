"""Predictions from a saved model folder or an in-memory model, as used by recipes and `nlpkit predict`."""

from __future__ import annotations

from typing import Any

import transformers
from transformers.pipelines import TokenClassificationPipeline

# Pipeline task of each model head, read from the end of the architecture's class name.
_TASKS = {"ForSequenceClassification": "text-classification", "ForTokenClassification": "token-classification"}


def load_pipeline(model_dir: str, **kwargs: Any) -> transformers.Pipeline:
    """The pipeline matching the model's head, read from its config (nlpkit's architectures are registered)."""
    import nlpkit  # noqa: F401  (registers nlpkit's architectures with the Auto classes)

    config = transformers.AutoConfig.from_pretrained(model_dir)
    architecture = (config.architectures or [""])[0]
    task = next((task for suffix, task in _TASKS.items() if architecture.endswith(suffix)), None)
    if task is None:
        raise ValueError(f"{model_dir}: no prediction support for architecture '{architecture}' yet")
    if task == "token-classification" and getattr(config, "char_encoder", None):
        kwargs["pipeline_class"] = CharTokenClassificationPipeline
    return transformers.pipeline(task, model=model_dir, **kwargs)


def token_classification_pipeline(model: Any, tokenizer: Any, **kwargs: Any) -> transformers.Pipeline:
    """``pipeline("token-classification")`` for an in-memory model; nlpkit's BiLSTM-CRF gets its character inputs."""
    if getattr(model.config, "char_encoder", None):
        kwargs["pipeline_class"] = CharTokenClassificationPipeline
    return transformers.pipeline("token-classification", model=model, tokenizer=tokenizer, **kwargs)


class CharTokenClassificationPipeline(TokenClassificationPipeline):
    """Token classification that also gives the model each token's characters (``char_ids``), cut from the text at
    the token's offsets: nlpkit's BiLSTM-CRF then sees the spelling of words outside its vocabulary, as in training
    and evaluation. A plain ``pipeline()`` reads characters from the model's vocabulary table, where unknown words
    have none."""

    def preprocess(self, sentence: Any, offset_mapping: Any = None, **preprocess_params: Any):
        from nlpkit.models.bilstm_crf import words_to_char_ids

        split = preprocess_params.get("is_split_into_words", False)
        text = preprocess_params.get("delimiter", " ").join(sentence) if split else sentence
        config = self.model.config
        for model_inputs in super().preprocess(sentence, offset_mapping, **preprocess_params):
            word_ids, word_spans = model_inputs.get("word_ids"), model_inputs.get("word_to_chars_map")
            words = []
            for index, (start, end) in enumerate(model_inputs["offset_mapping"][0].tolist()):
                if model_inputs["special_tokens_mask"][0, index]:
                    words.append("")
                    continue
                shift = word_spans[word_ids[index]][0] if word_ids is not None and word_spans else 0
                words.append(text[start + shift : end + shift])
            char_ids = words_to_char_ids(words, config.char_alphabet, config.max_word_length)
            model_inputs["char_ids"] = char_ids.unsqueeze(0)
            yield model_inputs


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
