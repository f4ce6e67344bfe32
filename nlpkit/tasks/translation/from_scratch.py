"""Translation models trained from scratch with a joint BPE tokenizer trained on both sides of the training pairs:
nlpkit's RNN encoder-decoder with attention (``model: rnn_seq2seq``), or a transformers Marian / BART
(``model: marian`` / ``bart``) sized for a small corpus."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import AutoModelForSeq2SeqLM, BartConfig, MarianConfig

from nlpkit.config import model_arguments
from nlpkit.data.loading import RawData
from nlpkit.data.translation import SOURCE, TARGET
from nlpkit.models.rnn_seq2seq import RNNSeq2SeqConfig, RNNSeq2SeqForConditionalGeneration
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.translation import Arguments as TaskArguments
from nlpkit.tokenization import tokenizer_for_run, train_tokenizer
from nlpkit.training import Run


@dataclass
class TokenizerArguments:
    """The joint BPE tokenizer trained on both languages of the training pairs."""

    vocab_size: int = field(default=8000, metadata={"help": "Size of the joint BPE vocabulary (both languages)."})
    lowercase: bool = field(default=False, metadata={"help": "Lowercase both sides before tokenizing."})


# A transformer the size of the small published Multi30k / IWSLT models (3+3 layers, width 256, 4 heads, FFN 1024),
# not transformers' defaults (Marian's are opus-mt's 12+12 layers of width 1024).
SMALL_TRANSFORMER = {
    "d_model": 256,
    "encoder_layers": 3,
    "decoder_layers": 3,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 1024,
    "decoder_ffn_dim": 1024,
}

Arguments = model_arguments(
    "TranslationModelArguments",
    {"rnn_seq2seq": RNNSeq2SeqConfig, "marian": MarianConfig, "bart": BartConfig},
    base=TokenizerArguments,
    exclude=(
        "vocab_size", "decoder_vocab_size", "share_embeddings", "max_position_embeddings", "pad_token_id",
        "bos_token_id", "eos_token_id", "decoder_start_token_id", "forced_eos_token_id", "is_decoder", "use_cache",
    ),
    defaults={"marian": SMALL_TRANSFORMER, "bart": SMALL_TRANSFORMER},
    choice_help="Architecture trained from scratch.",
)  # fmt: skip


def build(run: Run, data: RawData) -> ModelSetup:
    """The joint tokenizer (trained on the training pairs, or the checkpoint's) and a new model of the chosen kind."""
    args, data_args = run.get(Arguments), run.get(TaskArguments)
    train_pairs = data.splits["train"]
    tokenizer = tokenizer_for_run(
        lambda: train_tokenizer(
            (text for column in (SOURCE, TARGET) for text in train_pairs[column]),
            kind="bpe",
            vocab_size=args.vocab_size,
            lowercase=args.lowercase,
            bos_token="<s>",
            eos_token="</s>",
            add_eos_token=True,  # sources and targets both end in </s>; the decoder starts from <s>
            model_max_length=max(data_args.max_source_length, data_args.max_target_length),
        ),
        resume_checkpoint=run.resume_checkpoint,
    )
    special = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.bos_token_id,
    }
    if args.model_type == "rnn_seq2seq":
        model = RNNSeq2SeqForConditionalGeneration(args.make_config(share_embeddings=True, **special))  # one vocabulary
    else:
        longest = max(data_args.max_source_length, data_args.max_target_length) + 2
        config = args.make_config(max_position_embeddings=longest, forced_eos_token_id=None, **special)
        model = AutoModelForSeq2SeqLM.from_config(config)
    return ModelSetup(
        model,
        tokenizer,
        tags=["translation", args.model_type, f"{data_args.source_lang}-{data_args.target_lang}"],
        hyperparameters={"model": args.model_type, "tokenizer": f"joint BPE of {len(tokenizer)} tokens"},
    )
