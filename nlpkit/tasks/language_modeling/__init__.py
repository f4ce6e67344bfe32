"""Language modelling: text, blocks, metrics (perplexity, bits per character), generation settings, samples after
each evaluation, training. Models: nlpkit's GPT or LSTM LM with a tokenizer trained on the text (``from_scratch.py``).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import GenerationConfig, PreTrainedTokenizerFast, Trainer, TrainerCallback

from nlpkit.data.language_modeling import LanguageModelingDataArguments, LanguageModelingText, build_blocks, load_text
from nlpkit.io import atomic_write_text
from nlpkit.predict import predict_records, predictor_for_model
from nlpkit.tasks import (
    CardDefaults,
    ModelSetup,
    load_trained,
    model_card,
    on_main_process_first,
    prediction_batch_size,
    splits_to_load,
    trained_setup,
)
from nlpkit.training import Run, train_and_save

logger = logging.getLogger("nlpkit")

SAMPLES_FILE = "samples.jsonl"


@dataclass
class Arguments(LanguageModelingDataArguments):
    """Data arguments plus the samples written after each evaluation and the saved generation settings."""

    sample_prompt: str = field(default="\n", metadata={"help": "Text the samples continue."})
    sample_temperatures: list[float] = field(
        default_factory=lambda: [0.2, 0.5, 1.0, 1.2], metadata={"help": "One sample per temperature."}
    )
    sample_max_new_tokens: int = field(default=200, metadata={"help": "Length of each sample, in tokens."})
    generation_max_new_tokens: int = field(default=200, metadata={"help": "Saved generation config: max_new_tokens."})
    generation_temperature: float = field(default=0.8, metadata={"help": "Saved generation config: temperature."})
    generation_top_k: int = field(
        default=0, metadata={"help": "Saved generation config: top_k (0: off; transformers' default would be 50)."}
    )


# TrainingArguments defaults of language models (nanoGPT-like; a recipe and its YAML files override them).
DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-3,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 100,
    "weight_decay": 0.1,
    "adam_beta2": 0.99,
    "max_grad_norm": 1.0,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 64,
    "eval_strategy": "steps",
    "save_strategy": "steps",
    "metric_for_best_model": "loss",
    "load_best_model_at_end": True,  # end with the best evaluation's weights (training.keep_best_where_evaluated)
}


CARD = CardDefaults("text-generation", "AutoModelForCausalLM", "Text Generation")


def load_data(run: Run) -> LanguageModelingText:
    """The texts; with do_train false only the validation (do_eval) and test ones."""
    args = run.get(Arguments)
    return on_main_process_first(run, "loading text", lambda: load_text(args, splits=splits_to_load(run)))


def build_trained(run: Run) -> ModelSetup:
    """do_train false: the trained causal LM, its tokenizer and saved generation config (GPT-2-like tokenizers
    without a padding token pad with their end of text, as fine-tuning sets them)."""
    model, tokenizer = load_trained(run, transformers.AutoModelForCausalLM, CARD.pipeline_tag)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return trained_setup(model, tokenizer, run)


def test_predictions(
    text: LanguageModelingText, tokenizer: PreTrainedTokenizerFast, *, limit: int | None, seed: int, batch_size: int
) -> Any:
    """``predictions(model)`` for :func:`~nlpkit.training.train_and_save`: each non-empty line of the test file (at
    most ``limit``: ``max_eval_samples``) as a prompt ``text`` with the ``generated_text`` of ``nlpkit predict``
    (the model's saved generation settings, seeded with the run's ``seed``: the same run writes the same file)."""

    def predictions(model: Any) -> Any:
        prompts = text.prompts[:limit] if limit is not None else text.prompts
        records = [{"text": prompt} for prompt in prompts]
        return predict_records(predictor_for_model(model, tokenizer), records, batch_size=batch_size, seed=seed)

    return predictions


def longest_generation(config: transformers.PreTrainedConfig, prompt_tokens: int, wanted: int) -> int:
    """``wanted`` new tokens, or fewer when a model with a learned position table would run past it (the GPT with
    learned positions sees at most ``max_position_embeddings`` tokens; rotary GPTs and LSTMs have no such limit)."""
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None or getattr(config, "position_embedding_type", "learned") != "learned":
        return wanted
    return max(0, min(wanted, limit - prompt_tokens))


def generation_config_for(
    tokenizer: PreTrainedTokenizerFast, args: Arguments, model_config: transformers.PreTrainedConfig
) -> GenerationConfig:
    """The sampling settings saved as ``generation_config.json`` (what ``generate()`` and the pipeline use)."""
    max_new_tokens = longest_generation(model_config, 1, args.generation_max_new_tokens)
    if max_new_tokens < args.generation_max_new_tokens:
        logger.warning("generation_max_new_tokens capped at %d by the model's position table", max_new_tokens)
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=True,
        temperature=args.generation_temperature,
        top_k=args.generation_top_k,
        bos_token_id=tokenizer.bos_token_id,  # left unset, the Trainer sets it from the tokenizer with a warning
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


class LanguageModelingTrainer(Trainer):
    """A Trainer whose evaluation logs also report perplexity and bits per character next to the loss.

    The Trainer's mean token loss is all they need, so no logits are gathered (``compute_metrics`` would keep
    batch x block x vocabulary floats per step).
    """

    tokens_per_character: float = 1.0
    test_tokens_per_character: float = 1.0

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        ratios = {"eval": self.tokens_per_character, "test": self.test_tokens_per_character}
        for prefix, ratio in ratios.items():
            loss = logs.get(f"{prefix}_loss")
            if loss is not None:  # in place: evaluate() returns this same dict
                logs[f"{prefix}_perplexity"] = math.exp(min(loss, 50.0))
                logs[f"{prefix}_bits_per_character"] = loss / math.log(2) * ratio
        super().log(logs, start_time)


def sample_texts(
    model: transformers.PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    prompt: str,
    temperatures: list[float],
    max_new_tokens: int,
    seed: int,
) -> list[dict[str, Any]]:
    """One sampled continuation of ``prompt`` per temperature (seeded; training's random state is left untouched)."""
    was_training = model.training
    model.eval()
    input_ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(model.device)
    max_new_tokens = longest_generation(model.config, input_ids.shape[1], max_new_tokens)
    samples = []
    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(seed)
        for temperature in temperatures:
            output = model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=True,
                temperature=temperature,
                top_k=0,  # off: unset, generate() would apply its default top-k of 50
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
            )
            text = tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True)
            samples.append({"temperature": temperature, "prompt": prompt, "text": text})
    model.train(was_training)
    return samples


class SamplingCallback(TrainerCallback):
    """After each evaluation (main process): print samples at several temperatures and append them to
    ``samples.jsonl`` in the output folder (one JSON object per sample, with the step; rewritten atomically)."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, args: Arguments, seed: int) -> None:
        self.tokenizer = tokenizer
        self.args = args
        self.seed = seed

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero or model is None or not self.args.sample_temperatures:
            return
        samples = sample_texts(
            model,
            self.tokenizer,
            self.args.sample_prompt,
            list(self.args.sample_temperatures),
            self.args.sample_max_new_tokens,
            seed=self.seed,
        )
        path = Path(args.output_dir) / SAMPLES_FILE
        previous = path.read_text(encoding="utf-8") if path.exists() else ""
        lines = [json.dumps({"step": state.global_step, **sample}, ensure_ascii=False) for sample in samples]
        atomic_write_text(path, previous + "".join(line + "\n" for line in lines))
        shown = "\n".join(f"--- temperature {s['temperature']} ---\n{s['prompt']}{s['text']}" for s in samples)
        print(f"\nSamples at step {state.global_step}:\n{shown}\n", flush=True)


def train(run: Run, text: LanguageModelingText, setup: ModelSetup) -> dict[str, Any]:
    """Cut blocks with the setup's tokenizer, save the sampling settings with the model, train (samples after each
    evaluation), evaluate (loss, perplexity, bits per character), save."""
    args = run.get(Arguments)
    tokenizer, model = setup.tokenizer, setup.model
    blocks = build_blocks(text, tokenizer, args)
    if not run.predict_only:  # a trained model keeps the generation config it was saved with (nlpkit predict's)
        model.generation_config = generation_config_for(tokenizer, args, model.config)

    class _Trainer(LanguageModelingTrainer):
        tokens_per_character = blocks.validation_tokens_per_character
        test_tokens_per_character = blocks.test_tokens_per_character

    card = model_card(CARD, run, setup, [args.sample_prompt])
    card.hyperparameters.setdefault("block_size", args.block_size)
    predictions = None
    if run.writes_predictions:
        predictions = test_predictions(
            text, tokenizer, limit=args.max_eval_samples, seed=run.training_args.seed,
            batch_size=prediction_batch_size(run),
        )  # fmt: skip
    _, results = train_and_save(
        run,
        model=model,
        processing_class=tokenizer,
        train_dataset=blocks.train,
        eval_dataset=blocks.validation,
        test_dataset=blocks.test,
        data_collator=setup.collator or transformers.default_data_collator,
        compute_metrics=None,
        card=card,
        trainer_class=_Trainer,
        callbacks=[SamplingCallback(tokenizer, args, seed=run.training_args.seed)],
        loss_uses_num_items_in_batch=getattr(model, "accepts_loss_kwargs", False),
        predictions=predictions,
    )
    return results
