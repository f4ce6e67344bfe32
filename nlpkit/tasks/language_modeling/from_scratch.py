"""Language models trained from scratch: nlpkit's GPT (``model: gpt``) or LSTM LM (``model: lstm``), with a character
or byte-level BPE tokenizer trained on the training text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nlpkit.config import model_arguments
from nlpkit.data.language_modeling import LanguageModelingDataArguments, LanguageModelingText
from nlpkit.models.gpt import GPTConfig, GPTForCausalLM
from nlpkit.models.lstm_lm import LSTMForCausalLM, LSTMLMConfig
from nlpkit.tasks import ModelSetup
from nlpkit.tokenization import tokenizer_for_run, train_tokenizer
from nlpkit.training import Run

EOS_TOKEN = "<eos>"
MODEL_CLASSES = {"gpt": GPTForCausalLM, "lstm": LSTMForCausalLM}


@dataclass
class TokenizerArguments:
    """The tokenizer trained on the training text."""

    tokenizer_kind: Literal["char", "byte_bpe"] = field(
        default="char", metadata={"help": "Character-level or byte-level BPE tokenizer, trained on the training text."}
    )
    tokenizer_vocab_size: int = field(default=4096, metadata={"help": "Largest vocabulary (byte_bpe only)."})


Arguments = model_arguments(
    "LanguageModelArguments",
    {"gpt": GPTConfig, "lstm": LSTMLMConfig},
    base=TokenizerArguments,
    exclude=("vocab_size", "max_position_embeddings", "pad_token_id", "bos_token_id", "eos_token_id", "use_cache"),
    choice_help="GPT decoder or LSTM language model.",
)


def build(run: Run, text: LanguageModelingText) -> ModelSetup:
    """The run's tokenizer (trained on the training text, or the checkpoint's) and a new model of the chosen kind,
    whose context is the data's ``block_size``."""
    if run.predict_only:  # do_train false: the trained model (model_name_or_path or output_dir's run)
        from nlpkit.tasks.language_modeling import build_trained

        return build_trained(run)
    args = run.get(Arguments)
    tokenizer = tokenizer_for_run(
        lambda: train_tokenizer(
            [text.train],
            kind=args.tokenizer_kind,
            vocab_size=args.tokenizer_vocab_size if args.tokenizer_kind == "byte_bpe" else 100_000,
            eos_token=EOS_TOKEN,
        ),
        resume_checkpoint=run.resume_checkpoint,
    )
    from_data = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if args.model_type == "gpt":
        from_data["max_position_embeddings"] = run.get(LanguageModelingDataArguments).block_size
    model = MODEL_CLASSES[args.model_type](args.make_config(**from_data))
    tokenizer_tag = "char-level" if args.tokenizer_kind == "char" else "bpe"
    return ModelSetup(
        model,
        tokenizer,
        tags=[args.model_type, tokenizer_tag],
        hyperparameters={"model": args.model_type, "tokenizer": args.tokenizer_kind, "vocab_size": len(tokenizer)},
    )
