"""Translation: data, tokenization, BLEU/chrF by generation, training, sample translations and an attention
heat-map, for every translation model: trained from scratch with a joint BPE tokenizer (``from_scratch.py``), or a
pretrained seq2seq model fine-tuned with its own tokenizer (``pretrained.py``). Every saved folder ships nlpkit's
translation pipeline (:func:`nlpkit.pipelines.add_translation_pipeline`).

The tokenizer is saved with the model, so ``tokenizer(source, text_target=target)`` gives the model's inputs and
labels and ``tokenizer.decode`` reads its outputs, as for any Hub seq2seq model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from datasets import DatasetDict
from transformers import DataCollatorForSeq2Seq, EvalPrediction, PreTrainedTokenizerFast, Seq2SeqTrainer
from transformers.models.bart.modeling_bart import shift_tokens_right

from nlpkit.data.loading import RawData, encode_splits
from nlpkit.data.translation import SOURCE, TARGET, TranslationDataArguments, load_translation_data
from nlpkit.io import atomic_write_text
from nlpkit.metrics import load_metric
from nlpkit.pipelines import add_translation_pipeline, beam_search_cache
from nlpkit.plots import readable_token, save_figure
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

SAMPLES_FILE = "sample_translations.tsv"
HEATMAP_FILE = "attention_heatmap.png"


@dataclass
class Arguments(TranslationDataArguments):
    """Data arguments of the translation recipes, plus beam search and the samples written at the end."""

    length_penalty: float = field(
        default=1.0, metadata={"help": "Beam search: exponent of the length normalisation (>1 favours longer output)."}
    )
    num_sample_translations: int = field(
        default=20, metadata={"help": "Validation sentences translated into sample_translations.tsv at the end."}
    )
    source_prefix: str | None = field(
        default=None,
        metadata={
            "help": "Text put before every source sentence, for T5-style models that read the task from the input "
            "('translate English to German: '); saved as config.prefix, which the translation pipeline prepends."
        },
    )


# Seq2SeqTrainingArguments defaults of translation recipes (a recipe or its YAML file overrides them).
DEFAULTS: dict[str, Any] = {
    "train_sampling_strategy": "group_by_length",
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 128,
    "predict_with_generate": True,
    "generation_num_beams": 1,
    "label_smoothing_factor": 0.1,
    "max_grad_norm": 1.0,
    "metric_for_best_model": "bleu",
    "load_best_model_at_end": True,  # end with the best evaluation's weights (training.keep_best_where_evaluated)
}


CARD = CardDefaults("translation", "AutoModelForSeq2SeqLM", "Translation")


class Seq2SeqCollator(DataCollatorForSeq2Seq):
    """``DataCollatorForSeq2Seq`` that gives every model its ``decoder_input_ids``: the labels shifted right after
    ``decoder_start_token_id``. transformers' collator only adds them for models with
    ``prepare_decoder_input_ids_from_labels`` (Marian, BART, T5...), and the Trainer's label smoothing takes the
    labels out of the batch before the forward pass, so a model without that method (M2M100, NLLB) would get none."""

    def __call__(self, features: list[dict], return_tensors: str | None = None) -> dict:
        batch = super().__call__(features, return_tensors)
        if "labels" in batch and "decoder_input_ids" not in batch:
            config = self.model.config
            batch["decoder_input_ids"] = shift_tokens_right(
                batch["labels"], config.pad_token_id, config.decoder_start_token_id
            )  # -100 (label padding) becomes pad
        return batch


def load_data(run: Run) -> RawData:
    """The pairs; with do_train false only the validation/test ones (a test file may hold sources alone)."""
    args = run.get(Arguments)
    return on_main_process_first(
        run,
        "loading data",
        lambda: load_translation_data(args, seed=run.training_args.seed, splits=splits_to_load(run)),
    )


def build_trained(run: Run) -> ModelSetup:
    """do_train false: the trained seq2seq model, its tokenizer and generation config as saved; the sources are
    encoded behind its ``config.prefix`` (a fine-tuned T5's task), as its pipeline reads them."""
    model, tokenizer = load_trained(run, transformers.AutoModelForSeq2SeqLM, CARD.pipeline_tag)

    def encode(data: RawData, tokenizer: PreTrainedTokenizerFast, args: Arguments) -> dict:
        return tokenize(data, tokenizer, args, prefix=getattr(model.config, "prefix", None) or "")

    return trained_setup(model, tokenizer, run, encode=encode)


def scored_splits(data: RawData) -> RawData:
    """The splits with references (a test file of sources alone is translated, not scored)."""
    kept = {split: pairs for split, pairs in data.splits.items() if TARGET in pairs.column_names}
    return RawData(DatasetDict(kept), {split: data.sources[split] for split in kept})


def test_predictions(data: RawData, tokenizer: PreTrainedTokenizerFast, batch_size: int) -> Any:
    """``predictions(model)`` for :func:`~nlpkit.training.train_and_save`: each test source as ``text``, its
    ``reference`` translation where the file has one, and the ``translation_text`` of ``nlpkit predict`` (the
    model's generation config: beams, length penalty, maximum length)."""

    def predictions(model: Any) -> Any:
        test = data.splits["test"]
        references = test[TARGET] if TARGET in test.column_names else None
        records = [
            {"text": source, **({"reference": references[index]} if references is not None else {})}
            for index, source in enumerate(test[SOURCE])
        ]
        return predict_records(predictor_for_model(model, tokenizer), records, batch_size=batch_size)

    return predictions


def tokenize(data: RawData, tokenizer: PreTrainedTokenizerFast, args: Arguments, prefix: str | None = None) -> dict:
    """Model inputs (``prefix``, by default ``source_prefix``, + source) and labels of every split; a multilingual
    tokenizer adds the language codes it was set to (``src_lang``/``tgt_lang``)."""
    prefix = (args.source_prefix or "") if prefix is None else prefix

    def encode(batch: dict[str, list[str]]) -> dict:
        return tokenizer(
            [prefix + text for text in batch[SOURCE]],
            text_target=batch[TARGET],
            max_length=args.max_source_length,
            max_target_length=args.max_target_length,
            truncation=True,
        )

    return encode_splits(data.splits, encode, num_proc=args.preprocessing_num_workers)


def bleu_and_chrf(tokenizer: PreTrainedTokenizerFast) -> Any:
    """``compute_metrics`` for ``predict_with_generate``: corpus BLEU and chrF of the decoded generations."""
    metric = load_metric("sacrebleu")

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        predictions = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predictions = np.where(predictions < 0, tokenizer.pad_token_id, predictions)
        labels = np.where(prediction.label_ids < 0, tokenizer.pad_token_id, prediction.label_ids)
        hypotheses = [text.strip() for text in tokenizer.batch_decode(predictions, skip_special_tokens=True)]
        references = [text.strip() for text in tokenizer.batch_decode(labels, skip_special_tokens=True)]
        scores = metric.compute(predictions=hypotheses, references=references)
        return {
            "bleu": scores["bleu"],
            "chrf": scores["chrf"],
            "gen_len": float(np.mean([len(text.split()) for text in hypotheses])),
        }

    return compute_metrics


def with_prefix(model: transformers.PreTrainedModel, texts: list[str]) -> list[str]:
    """``texts`` as the model reads them: behind ``config.prefix`` (``source_prefix`` of a fine-tuned T5), if any."""
    prefix = getattr(model.config, "prefix", None) or ""
    return [prefix + text for text in texts]


def translate(
    model: transformers.PreTrainedModel, tokenizer: PreTrainedTokenizerFast, texts: list[str], batch_size: int = 32
) -> list[str]:
    """Translate with the model's generation config (beams, length penalty, max length), each text behind the
    model's ``config.prefix`` (a T5-style task prefix; the translation pipeline adds it too)."""
    model.eval()
    texts = with_prefix(model, texts)
    outputs = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True, truncation=True)
        with torch.no_grad():
            generated = model.generate(**batch.to(model.device), **beam_search_cache(model))
        outputs += [text.strip() for text in tokenizer.batch_decode(generated, skip_special_tokens=True)]
    return outputs


def plot_attention(
    model: transformers.PreTrainedModel, tokenizer: PreTrainedTokenizerFast, text: str, path: Path
) -> None:
    """Heat-map of the cross-attention (last decoder layer, mean over heads) while greedily translating ``text``,
    with a colour bar and the pieces as a reader writes them (without the tokenizer's subword markers)."""
    model.eval()
    inputs = tokenizer(with_prefix(model, [text]), return_tensors="pt").to(model.device)
    attention_implementation = getattr(model.config, "_attn_implementation", None)
    if attention_implementation not in (None, "eager"):  # sdpa / flash kernels return no attention weights
        model.set_attn_implementation("eager")
    with torch.no_grad():
        generated = model.generate(**inputs, num_beams=1, do_sample=False)
        outputs = model(**inputs, decoder_input_ids=generated[:, :-1], output_attentions=True)
    if attention_implementation not in (None, "eager"):
        model.set_attn_implementation(attention_implementation)
    weights = outputs.cross_attentions[-1][0].mean(0).float().cpu().numpy()  # (T, S)
    source_tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    output_tokens = tokenizer.convert_ids_to_tokens(generated[0, 1:])
    save_figure(attention_figure(weights, source_tokens, output_tokens, title=f"Cross-attention: {text}"), path)


def attention_figure(weights: Any, source_tokens: list[str], output_tokens: list[str], title: str) -> Any:
    """The heat-map of ``weights`` (output pieces x source pieces): readable pieces on the axes, a colour bar, and
    ``title`` (shortened to fit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(4.5, 1.8 + 0.45 * len(source_tokens))
    figure, axes = plt.subplots(figsize=(width, max(3.0, 1.6 + 0.4 * len(output_tokens))))
    image = axes.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0)
    figure.colorbar(image, ax=axes, label="attention weight")
    axes.set_xticks(range(len(source_tokens)), [readable_token(piece) for piece in source_tokens], rotation=90)
    axes.set_yticks(range(len(output_tokens)), [readable_token(piece) for piece in output_tokens])
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    limit = max(20, int(width * 9))  # characters that fit above the plot
    axes.set_title(title if len(title) <= limit else title[: limit - 1] + "…", fontsize="medium")
    return figure


def train(run: Run, data: RawData, setup: ModelSetup) -> dict[str, Any]:
    """Tokenize, train with teacher forcing, evaluate BLEU/chrF by generation, save, write samples and a heat-map."""
    args, training_args = run.get(Arguments), run.training_args
    model, tokenizer = setup.model, setup.tokenizer
    if run.predict_only:  # a trained model keeps its saved generation config (nlpkit predict's), scores included
        training_args.generation_num_beams = training_args.generation_max_length = None
    else:
        generation = model.generation_config
        generation.max_length = args.max_target_length
        generation.num_beams = training_args.generation_num_beams or 1
        generation.length_penalty = args.length_penalty
    encode = setup.encode or tokenize
    tokenized = on_main_process_first(run, "tokenizing", lambda: encode(scored_splits(data), tokenizer, args))
    examples = (data.splits["validation"] if "validation" in data.splits else data.splits["test"])[:3][SOURCE]
    predictions = None
    if run.writes_predictions:
        predictions = test_predictions(data, tokenizer, prediction_batch_size(run))
    trainer, results = train_and_save(
        run,
        model=model,
        processing_class=tokenizer,
        train_dataset=tokenized.get("train"),
        eval_dataset=tokenized.get("validation"),
        test_dataset=tokenized.get("test"),
        data_collator=setup.collator
        or Seq2SeqCollator(
            tokenizer, model=model, label_pad_token_id=-100, pad_to_multiple_of=run.training_args.pad_to_multiple_of
        ),
        compute_metrics=bleu_and_chrf(tokenizer),
        card=model_card(CARD, run, setup, examples),
        trainer_class=Seq2SeqTrainer,
        add_to_folder=add_translation_pipeline,  # transformers 5 has no translation pipeline: ship nlpkit's
        predictions=predictions,
    )
    if trainer.is_world_process_zero() and not run.predict_only:
        validation = data.splits["validation"]
        write_samples(
            trainer.model, tokenizer, validation, args, run.output_dir, training_args.per_device_eval_batch_size
        )
    return results


def write_samples(
    model: transformers.PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    validation: Any,
    args: Arguments,
    output_dir: Path,
    batch_size: int,
) -> None:
    """Translate the first validation sentences into ``sample_translations.tsv``, plot the attention of the first."""
    count = min(args.num_sample_translations, len(validation))
    first = validation[:count]
    sources, references = first[SOURCE], first[TARGET]
    hypotheses = translate(model, tokenizer, sources, batch_size=batch_size)
    lines = ["source\treference\ttranslation"] + [
        "\t".join(text.replace("\t", " ") for text in row) for row in zip(sources, references, hypotheses)
    ]
    atomic_write_text(output_dir / SAMPLES_FILE, "\n".join(lines) + "\n")
    if sources:
        plot_attention(model, tokenizer, sources[0], output_dir / HEATMAP_FILE)
    shown = "\n".join(
        f"  {s}\n  -> {h}\n  (reference: {r})" for s, r, h in list(zip(sources, references, hypotheses))[:5]
    )
    print(f"\nSample translations:\n{shown}", flush=True)
