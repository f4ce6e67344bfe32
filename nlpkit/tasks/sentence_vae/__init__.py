"""Sentence VAE (Bowman et al. 2016): sentences, one per line, a word-level tokenizer trained on them, the VAE's
metrics after each evaluation (ELBO, reconstruction NLL, KL, perplexity bound, active units) and samples from the
prior, reconstructions and an interpolation appended to ``samples.jsonl``. Model: ``from_scratch.py``."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from transformers import Trainer, TrainerCallback

from nlpkit.data.classification import PaddingCollator
from nlpkit.data.loading import (
    DataArguments,
    DataError,
    RawData,
    check_utf8,
    limit_samples,
    load_raw_data,
    local_files,
    resolve_data_path,
    split_validation,
)
from nlpkit.io import atomic_write_text
from nlpkit.models.sentence_vae import active_units
from nlpkit.tasks import CardDefaults, ModelSetup, model_card, on_main_process_first, splits_to_load
from nlpkit.training import Run, train_and_save

SAMPLES_FILE = "samples.jsonl"
TERMS_PLOT = "vae_terms.png"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Arguments(DataArguments):
    """Where the sentences are, how long they may be and what is shown after each evaluation."""

    text_column: str = field(default="text", metadata={"help": "Column of the sentences (.txt files: 'text')."})
    split_sentences: bool = field(default=False, metadata={"help": "Split each line at . ! ? (prose paragraphs)."})
    max_length: int = field(default=40, metadata={"help": "Longest sentence kept, in tokens (longer ones dropped)."})
    num_samples: int = field(default=4, metadata={"help": "Sentences decoded from the prior after each evaluation."})
    num_reconstructions: int = field(default=3, metadata={"help": "Validation sentences reconstructed."})
    interpolation_steps: int = field(default=5, metadata={"help": "Points of the interpolation shown."})
    sample_max_new_tokens: int = field(default=40, metadata={"help": "Longest decoded sentence, in tokens."})


DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-3,
    "lr_scheduler_type": "constant",
    "weight_decay": 0.0,
    "max_grad_norm": 5.0,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_steps": 20,
    "metric_for_best_model": "nll_bound",
    "greater_is_better": False,
    "load_best_model_at_end": True,  # end with the best evaluation's weights (training.keep_best_where_evaluated)
    "remove_unused_columns": False,
}

CARD = CardDefaults("text-generation", "AutoModelForSeq2SeqLM", "Sentence VAE")


def load_data(run: Run) -> datasets.DatasetDict:
    """The sentences of each split, as a ``text`` column (DataError naming the file when a split has none)."""
    args = run.get(Arguments)
    return on_main_process_first(run, "loading sentences", lambda: _load(args, run.training_args.seed, run))


def _load(args: Arguments, seed: int, run: Run) -> datasets.DatasetDict:
    if args.dataset_name is None and any(Path(path).suffix.lower() not in TABLES for _, path in local_files(args)):
        raw = _read_lines(args, splits_to_load(run))
    else:
        raw = load_raw_data(args, seed=seed, text_columns=[args.text_column], splits=splits_to_load(run))
    for split, rows in raw.splits.items():
        if args.text_column not in rows.column_names:
            raise DataError(
                f"{raw.sources[split]}: no column '{args.text_column}' (has {', '.join(rows.column_names)})"
            )
    out = {}
    for split, rows in raw.splits.items():
        sentences = []
        for line in rows[args.text_column]:
            parts = SENTENCE_END.split(line) if args.split_sentences else [line]
            sentences += [part.strip() for part in parts if part and part.strip()]
        if not sentences:
            raise DataError(f"{raw.sources[split]}: no sentences (every line is empty)")
        out[split] = datasets.Dataset.from_dict({"text": sentences})
    kept = type(raw)(datasets.DatasetDict(out), raw.sources)
    if "train" in kept.splits:
        split_validation(kept, args, seed=seed)
    limit_samples(kept, args)
    kept.splits.sources = kept.sources  # where each split came from, for encode()'s errors
    return kept.splits


TABLES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")


def _read_lines(args: Arguments, splits: tuple[str, ...]) -> RawData:
    """Plain text files of any suffix (Multi30k's ``train.en``): one sentence per line, in a ``text_column``."""
    loaded, sources = {}, {}
    for split, name in local_files(args, splits):
        path = resolve_data_path(name)
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
        check_utf8(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        loaded[split], sources[split] = datasets.Dataset.from_dict({args.text_column: lines}), str(path)
    return RawData(datasets.DatasetDict(loaded), sources)


def encode(data: datasets.DatasetDict, tokenizer: Any, args: Arguments) -> datasets.DatasetDict:
    """Token ids with bos/eos, sentences longer than ``max_length`` dropped (DataError when none is left)."""
    encoded = {}
    for split, rows in data.items():
        ids = tokenizer(list(rows["text"]), add_special_tokens=True)["input_ids"]
        kept = [row for row in ids if len(row) <= args.max_length]
        if not kept:
            source = getattr(data, "sources", {}).get(split, split)
            raise DataError(f"{source}: no sentence of at most max_length {args.max_length} tokens")
        encoded[split] = datasets.Dataset.from_dict({"input_ids": kept})
    return datasets.DatasetDict(encoded)


class SentenceVAETrainer(Trainer):
    """Logs the KL, reconstruction and KL weight of the training batches like the loss, and evaluates the VAE's
    metrics: ELBO, reconstruction NLL and KL (nats per sentence), the perplexity bound and the active units."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if model.training:
            terms = self.__dict__.setdefault("_vae_terms", {"kl": 0.0, "reconstruction": 0.0, "kl_weight": 0.0, "n": 0})
            terms["kl"] += float(outputs.kl.detach())
            terms["reconstruction"] += float(outputs.reconstruction_loss.detach())
            terms["kl_weight"] += float(outputs.kl_weight)
            terms["n"] += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        terms = self.__dict__.get("_vae_terms")
        if "loss" in logs and terms and terms["n"]:
            for key in ("kl", "reconstruction", "kl_weight"):
                logs[key] = terms[key] / terms["n"]
            self._vae_terms = {"kl": 0.0, "reconstruction": 0.0, "kl_weight": 0.0, "n": 0}
        super().log(logs, start_time)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        model = self.model
        was_training = model.training
        model.eval()
        nll = kl = tokens = 0.0
        sentences = 0
        means = []
        with torch.no_grad():
            for batch in self.get_eval_dataloader(dataset):
                batch = {key: value.to(model.device) for key, value in batch.items()}
                out = model(**batch)
                size = batch["input_ids"].shape[0]
                nll += float(out.reconstruction_loss) * size
                kl += float(out.kl) * size
                tokens += float((batch["attention_mask"].sum(-1) - 1).sum())  # predicted tokens: all but bos
                sentences += size
                means.append(out.mean.float().cpu())
        model.train(was_training)
        nll, kl = nll / sentences, kl / sentences
        metrics = {
            "loss": nll + kl,
            "elbo": -(nll + kl),
            "nll_bound": nll + kl,
            "reconstruction": nll,
            "kl": kl,
            "perplexity_bound": math.exp(min((nll + kl) * sentences / max(tokens, 1.0), 50.0)),
            "active_units": active_units(torch.cat(means)) if sentences > 1 else 0,
        }
        metrics = {f"{metric_key_prefix}_{key}": value for key, value in metrics.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def decode(model: Any, tokenizer: Any, latent: torch.Tensor, max_new_tokens: int, **kwargs: Any) -> list[str]:
    """Greedy (default) or sampled decodes of latent codes (B, Z)."""
    output = model.generate(latent=latent, max_new_tokens=max_new_tokens, **kwargs)
    return tokenizer.batch_decode(output, skip_special_tokens=True)


def encode_sentences(model: Any, tokenizer: Any, sentences: list[str]) -> torch.Tensor:
    """The posterior means of ``sentences`` (B, Z)."""
    batch = tokenizer(sentences, padding=True, return_tensors="pt").to(model.device)
    mean, _ = model.encode(batch["input_ids"], batch["attention_mask"])
    return mean


def show_samples(model: Any, tokenizer: Any, sentences: list[str], args: Arguments, seed: int) -> dict[str, Any]:
    """Prior samples, reconstructions of ``sentences`` and an interpolation between the first two (seeded)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        prior = decode(model, tokenizer, model.sample_prior(args.num_samples, generator), args.sample_max_new_tokens)
        means = encode_sentences(model, tokenizer, sentences)
        reconstructions = decode(model, tokenizer, means, args.sample_max_new_tokens)
        interpolation = []
        if len(sentences) >= 2:
            path = model.interpolate(means[0], means[1], max(2, args.interpolation_steps))
            interpolation = decode(model, tokenizer, path, args.sample_max_new_tokens)
    model.train(was_training)
    return {
        "prior_samples": prior,
        "reconstructions": [{"input": s, "output": r} for s, r in zip(sentences, reconstructions, strict=True)],
        "interpolation": {"from": sentences[:1], "to": sentences[1:2], "path": interpolation},
    }


class SamplingCallback(TrainerCallback):
    """After each evaluation (main process): print the samples and append them to ``samples.jsonl`` (one JSON line
    per evaluation, the file rewritten atomically)."""

    def __init__(self, tokenizer: Any, sentences: list[str], args: Arguments, seed: int) -> None:
        self.tokenizer, self.sentences, self.args, self.seed = tokenizer, sentences, args, seed

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero or model is None:
            return
        samples = show_samples(model, self.tokenizer, self.sentences, self.args, self.seed)
        path = Path(args.output_dir) / SAMPLES_FILE
        previous = path.read_text(encoding="utf-8") if path.exists() else ""
        line = json.dumps({"step": state.global_step, **samples}, ensure_ascii=False)
        atomic_write_text(path, previous + line + "\n")
        shown = "\n".join(f"  prior: {s}" for s in samples["prior_samples"])
        shown += "\n" + "\n".join(f"  {r['input']} -> {r['output']}" for r in samples["reconstructions"])
        shown += "\n" + "\n".join(f"  ~ {s}" for s in samples["interpolation"]["path"])
        print(f"\nSamples at step {state.global_step}:\n{shown}\n", flush=True)


def plot_vae_terms(log_history: list[dict], path: str | Path) -> bool:
    """KL and reconstruction of the training batches (per logging step) and of the validation sentences (per
    evaluation), in nats per sentence, with the KL weight on a second axis; False if nothing was logged."""
    train = [e for e in log_history if "kl" in e and "step" in e]
    evaluation = [e for e in log_history if "eval_kl" in e and "step" in e]
    if not train and not evaluation:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nlpkit.plots import save_figure

    figure, (kl_axes, nll_axes) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for axes, key, name in ((kl_axes, "kl", "KL"), (nll_axes, "reconstruction", "reconstruction NLL")):
        if train:
            axes.plot([e["step"] for e in train], [e[key] for e in train], label=f"train {name}", linewidth=1.4)
        if evaluation:
            axes.plot([e["step"] for e in evaluation], [e[f"eval_{key}"] for e in evaluation], marker="o",
                      label=f"eval {name}")  # fmt: skip
        axes.set_xlabel("step")
        axes.set_ylabel("nats per sentence")
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left")
    if train:
        weight = kl_axes.twinx()
        weight.plot([e["step"] for e in train], [e["kl_weight"] for e in train], color="gray", linestyle="--")
        weight.set_ylabel("KL weight (dashed)")
    save_figure(figure, path)
    return True


class _History(TrainerCallback):
    """Keeps the Trainer's state, so the output folder can plot its log history."""

    state: Any = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.state = state


def train(run: Run, data: datasets.DatasetDict, setup: ModelSetup) -> dict[str, Any]:
    """Encode the sentences, train (KL/reconstruction logged, samples after each evaluation), evaluate, save."""
    args = run.get(Arguments)
    tokenizer, model = setup.tokenizer, setup.model
    encoded = encode(data, tokenizer, args)
    validation_texts = (
        list(data["validation"]["text"][: max(2, args.num_reconstructions)]) if "validation" in data else []
    )
    card = model_card(CARD, run, setup, validation_texts[:1])
    history = _History()
    _, results = train_and_save(
        run,
        model=model,
        processing_class=tokenizer,
        train_dataset=encoded.get("train"),
        eval_dataset=encoded.get("validation"),
        test_dataset=encoded.get("test"),
        # the VAE reconstructs its input: no labels
        data_collator=PaddingCollator.for_tokenizer(tokenizer, run.training_args.pad_to_multiple_of),
        compute_metrics=None,
        card=card,
        trainer_class=SentenceVAETrainer,
        callbacks=[SamplingCallback(tokenizer, validation_texts, args, seed=run.training_args.seed), history],
        add_to_folder=lambda staging: (
            history.state is not None and plot_vae_terms(history.state.log_history, staging / TERMS_PLOT)
        ),
    )
    return results
