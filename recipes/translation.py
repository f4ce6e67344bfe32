"""Train a translation model from scratch: the RNN encoder-decoder with attention, or a small Marian/BART transformer.

    accelerate launch recipes/translation.py                     # offline quickstart: English->French sample pairs
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/translation.py \
        --config recipes/configs/translation/multi30k_de_en.yaml    # Multi30k German->English from local files
    accelerate launch recipes/translation.py --config recipes/configs/translation/multi30k_hub.yaml

The output folder holds the model, its joint BPE tokenizer, generation config, BLEU/chrF results,
sample_translations.tsv and attention_heatmap.png. Any config key can be overridden (`--model marian`); `--help`.
"""

from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoConfig, AutoModelForSeq2SeqLM

from nlpkit.cards import ModelCardInfo
from nlpkit.cli import recipe_main
from nlpkit.config import parse_args
from nlpkit.models.rnn_seq2seq import RNNSeq2SeqConfig, RNNSeq2SeqForConditionalGeneration
from nlpkit.tasks.translation import (
    TRANSLATION_DEFAULTS,
    TranslationArguments,
    build_tokenizer,
    load_data,
    run_translation,
)
from nlpkit.training import Seq2SeqTrainingArguments, start_run

CONFIGS = Path(__file__).resolve().parent / "configs" / "translation"
MODELS = ("rnn_seq2seq", "marian", "bart")

DEFAULTS = {**TRANSLATION_DEFAULTS, "output_dir": "outputs/translation", "learning_rate": 1e-3, "num_train_epochs": 10}


@dataclass
class ModelArguments:
    model: str = field(
        default="rnn_seq2seq", metadata={"help": f"Architecture trained from scratch: one of {', '.join(MODELS)}."}
    )
    embedding_size: int = field(default=256, metadata={"help": "Token embedding width (transformers: d_model)."})
    hidden_size: int = field(default=256, metadata={"help": "RNN hidden size (transformers: feed-forward width)."})
    layers: int = field(default=1, metadata={"help": "Encoder and decoder layers."})
    attention_heads: int = field(default=4, metadata={"help": "Transformers only: attention heads."})
    rnn_type: str = field(default="gru", metadata={"help": "RNN only: gru or lstm."})
    attention_type: str = field(default="general", metadata={"help": "RNN only: general, dot or additive."})
    input_feeding: bool = field(default=False, metadata={"help": "RNN only: Luong input feeding (slower)."})
    dropout: float = field(default=0.3, metadata={"help": "Dropout."})
    dataset_description: str = field(default="", metadata={"help": "What the data is, for the model card."})

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")


def build_model(args: ModelArguments, tokenizer, max_positions: int):
    special = dict(
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
    )
    if args.model == "rnn_seq2seq":
        config = RNNSeq2SeqConfig(
            vocab_size=len(tokenizer),
            share_embeddings=True,  # one joint vocabulary
            embedding_size=args.embedding_size,
            encoder_hidden_size=args.hidden_size,
            hidden_size=args.hidden_size,
            encoder_layers=args.layers,
            decoder_layers=args.layers,
            rnn_type=args.rnn_type,
            attention_type=args.attention_type,
            input_feeding=args.input_feeding,
            dropout=args.dropout,
            **special,
        )
        return RNNSeq2SeqForConditionalGeneration(config)
    config = AutoConfig.for_model(
        args.model,
        vocab_size=len(tokenizer),
        d_model=args.embedding_size,
        encoder_layers=args.layers,
        decoder_layers=args.layers,
        encoder_attention_heads=args.attention_heads,
        decoder_attention_heads=args.attention_heads,
        encoder_ffn_dim=args.hidden_size,
        decoder_ffn_dim=args.hidden_size,
        max_position_embeddings=max_positions,
        dropout=args.dropout,
        forced_eos_token_id=None,
        **special,
    )
    return AutoModelForSeq2SeqLM.from_config(config)


def main(argv: list[str] | None = None) -> dict:
    parsed = parse_args(
        [ModelArguments, TranslationArguments, Seq2SeqTrainingArguments],
        argv,
        default_config=CONFIGS / "quickstart.yaml",
        defaults=DEFAULTS,
    )
    model_args, data_args, training_args = parsed.args
    run = start_run(parsed, training_args)
    data = load_data(data_args, training_args)
    tokenizer = build_tokenizer(data, data_args, training_args, resuming=run.resume_checkpoint is not None)
    model = build_model(model_args, tokenizer, max(data_args.max_source_length, data_args.max_target_length) + 2)
    card = ModelCardInfo(
        pipeline_tag="translation",
        auto_class="AutoModelForSeq2SeqLM",
        task_name="Translation",
        datasets=[data_args.dataset_name] if data_args.dataset_name else [],
        dataset_description=model_args.dataset_description,
        tags=["translation", model_args.model, f"{data_args.source_lang}-{data_args.target_lang}"],
    )
    return run_translation(
        parsed=parsed, run=run, data=data, args=data_args, model=model, tokenizer=tokenizer, card=card
    )


if __name__ == "__main__":
    recipe_main(main)
