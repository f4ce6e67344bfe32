"""Multi-task heads on a pretrained BERT-family encoder (its weights loaded; the heads new), with its tokenizer."""

from __future__ import annotations

from typing import Any

from transformers import AutoTokenizer

from nlpkit.config import ConfigError
from nlpkit.models.multitask import MultiTaskModel
from nlpkit.pretrained import PretrainedArguments, from_pretrained, resolve_model_path
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.multitask import TaskData, heads_of
from nlpkit.training import Run

Arguments = PretrainedArguments


def build(run: Run, tasks: dict[str, TaskData]) -> ModelSetup:
    args = run.get(Arguments)
    path = resolve_model_path(args.model_name_or_path)
    tokenizer = from_pretrained(AutoTokenizer, path)
    if not tokenizer.is_fast and any(task.spec.kind == "token_classification" for task in tasks.values()):
        raise ConfigError(f"{args.model_name_or_path}: a fast tokenizer is needed to align word labels")
    model = from_pretrained(_EncoderLoader, path, heads=heads_of(tasks))
    if args.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    heads = ", ".join(f"{name} ({task.spec.kind})" for name, task in tasks.items())
    return ModelSetup(
        model,
        tokenizer,
        tags=["multitask", model.config.encoder.model_type],
        base_model=args.model_name_or_path,
        description=f"`{args.model_name_or_path}` fine-tuned with [nlpkit](https://github.com/nlpkit/nlpkit) as one "
        f"shared encoder with a head per task: {heads}.",
        hyperparameters={"encoder": args.model_name_or_path, "freeze_embeddings": args.freeze_embeddings},
    )


class _EncoderLoader:
    """:func:`~nlpkit.pretrained.from_pretrained`'s loader interface (one-line errors) for the pretrained encoder."""

    __name__ = "MultiTaskModel.from_pretrained_encoder"

    @staticmethod
    def from_pretrained(path: str, **kwargs: Any) -> MultiTaskModel:
        return MultiTaskModel.from_pretrained_encoder(path, **kwargs)
