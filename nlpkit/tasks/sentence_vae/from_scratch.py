"""A sentence VAE trained from scratch with a word-level tokenizer (bos/eos/unk/pad) trained on the sentences."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nlpkit.config import model_arguments
from nlpkit.models.sentence_vae import SentenceVAEConfig, SentenceVAEModel
from nlpkit.tasks import ModelSetup
from nlpkit.tokenization import tokenizer_for_run, train_tokenizer
from nlpkit.training import Run


@dataclass
class TokenizerArguments:
    """The word-level tokenizer trained on the training sentences."""

    tokenizer_vocab_size: int = field(default=10_000, metadata={"help": "Largest vocabulary, special tokens included."})
    tokenizer_min_frequency: int = field(default=1, metadata={"help": "Fewest occurrences of a kept word."})
    lowercase: bool = field(default=True, metadata={"help": "Lowercase the sentences."})


Arguments = model_arguments(
    "SentenceVAEArguments",
    {"sentence_vae": SentenceVAEConfig},
    base=TokenizerArguments,
    exclude=("vocab_size", "pad_token_id", "unk_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id",
             "is_encoder_decoder", "use_cache"),
)  # fmt: skip


def build(run: Run, data: Any) -> ModelSetup:
    """A word tokenizer trained on the training sentences (or the checkpoint's) and a new sentence VAE over it."""
    args = run.get(Arguments)
    tokenizer = tokenizer_for_run(
        lambda: train_tokenizer(
            list(data["train"]["text"]), kind="word", vocab_size=args.tokenizer_vocab_size,
            min_frequency=args.tokenizer_min_frequency, lowercase=args.lowercase, bos_token="<s>", eos_token="</s>",
            add_bos_token=True, add_eos_token=True,
        ),
        resume_checkpoint=run.resume_checkpoint,
    )  # fmt: skip
    config = args.make_config(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, unk_token_id=tokenizer.unk_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = SentenceVAEModel(config)
    return ModelSetup(
        model, tokenizer, tags=["sentence-vae", config.rnn_type],
        description="A sentence VAE (Bowman et al. 2016) trained with nlpkit.",
        hyperparameters={"latent_size": config.latent_size, "hidden_size": config.hidden_size,
                         "word_dropout": config.word_dropout, "kl_annealing": config.kl_annealing,
                         "vocab_size": len(tokenizer)},
    )  # fmt: skip
