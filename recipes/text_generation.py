"""Train a GPT or a character LSTM language model from scratch on text, and sample from it as it learns.

    accelerate launch recipes/text_generation.py               # offline quickstart: small char-level GPT, sample prose
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/text_generation.py \
        --config recipes/configs/text_generation/shakespeare_char_gpt.yaml    # nanoGPT's shakespeare_char, CPU sizes
    accelerate launch recipes/text_generation.py --config recipes/configs/text_generation/wikitext_hub.yaml

Samples at several temperatures are printed after each evaluation and appended to `samples.jsonl`; the saved folder
loads with `pipeline("text-generation", model=..., trust_remote_code=True)` and `nlpkit generate`.
Any key of the config file can be overridden on the command line (`--model lstm`); `--help` lists them.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import transformers

from nlpkit.cards import ModelCardInfo
from nlpkit.cli import recipe_main
from nlpkit.config import parse_args
from nlpkit.models.gpt import GPTConfig, GPTForCausalLM
from nlpkit.models.lstm_lm import LSTMForCausalLM, LSTMLMConfig
from nlpkit.tasks.language_modeling import LANGUAGE_MODELING_DEFAULTS, TextGenerationArguments, run_text_generation
from nlpkit.training import TrainingArguments, start_run

CONFIGS = Path(__file__).resolve().parent / "configs" / "text_generation"

DEFAULTS = {**LANGUAGE_MODELING_DEFAULTS, "output_dir": "outputs/text_generation"}


@dataclass
class ModelArguments:
    model: Literal["gpt", "lstm"] = field(default="gpt", metadata={"help": "GPT decoder or LSTM language model."})
    num_hidden_layers: int = field(default=4, metadata={"help": "Transformer blocks or LSTM layers."})
    hidden_size: int = field(default=128, metadata={"help": "GPT width, or LSTM state size."})
    num_attention_heads: int = field(default=4, metadata={"help": "GPT only."})
    position_embedding_type: Literal["learned", "rotary"] = field(default="learned", metadata={"help": "GPT only."})
    embedding_size: int = field(default=128, metadata={"help": "LSTM only: token embedding width."})
    dropout: float = field(default=0.0)
    dataset_description: str = field(default="", metadata={"help": "What the text is, for the model card."})


def build_model(args: ModelArguments, block_size: int, tokenizer) -> transformers.PreTrainedModel:
    special = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    if args.model == "gpt":
        config = GPTConfig(
            vocab_size=len(tokenizer),
            max_position_embeddings=block_size,
            hidden_size=args.hidden_size,
            num_hidden_layers=args.num_hidden_layers,
            num_attention_heads=args.num_attention_heads,
            position_embedding_type=args.position_embedding_type,
            dropout=args.dropout,
            **special,
        )
        return GPTForCausalLM(config)
    config = LSTMLMConfig(
        vocab_size=len(tokenizer),
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.num_hidden_layers,
        dropout=args.dropout,
        **special,
    )
    return LSTMForCausalLM(config)


def main(argv: list[str] | None = None) -> dict:
    parsed = parse_args(
        [ModelArguments, TextGenerationArguments, TrainingArguments],
        argv,
        default_config=CONFIGS / "quickstart.yaml",
        defaults=DEFAULTS,
    )
    model_args, data_args, training_args = parsed.args
    run = start_run(parsed, training_args)
    card = ModelCardInfo(
        pipeline_tag="text-generation",
        auto_class="AutoModelForCausalLM",
        task_name="Text Generation",
        datasets=[data_args.dataset_name] if data_args.dataset_name else [],
        dataset_description=model_args.dataset_description,
        tags=[model_args.model, f"{data_args.tokenizer_kind}-level" if data_args.tokenizer_kind == "char" else "bpe"],
    )
    return run_text_generation(
        parsed=parsed,
        run=run,
        args=data_args,
        build_model=lambda tokenizer: build_model(model_args, data_args.block_size, tokenizer),
        card=card,
        card_extra_hyperparameters={"model": model_args.model},
    )


if __name__ == "__main__":
    recipe_main(main)
