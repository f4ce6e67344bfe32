"""Translation models trained from scratch with a joint BPE tokenizer trained on both sides of the training pairs:
nlpkit's RNN encoder-decoder with attention (``model: rnn_seq2seq``), or a transformers encoder-decoder sized for a
small corpus: a pre-norm Transformer (``model: transformer``, transformers' M2M100 architecture), Marian or BART
(``model: marian`` / ``bart``, post-norm). Each is a stock transformers class, so tools that convert transformers
models (ONNX export, CTranslate2, ...) take the result as they take a Hub checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from transformers import AutoModelForSeq2SeqLM, BartConfig, M2M100Config, MarianConfig

from nlpkit.config import model_arguments
from nlpkit.data.loading import RawData
from nlpkit.data.translation import SOURCE, TARGET
from nlpkit.embeddings import (
    RESUMED_WORD_VECTORS,
    WORD_VECTORS_HELP,
    WordVectorArguments,
    start_from_word_vectors,
    word_vectors_field,
    word_vectors_name,
)
from nlpkit.models.rnn_seq2seq import RNNSeq2SeqConfig, RNNSeq2SeqForConditionalGeneration
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.translation import Arguments as TaskArguments
from nlpkit.tokenization import tokenizer_for_run, train_tokenizer
from nlpkit.training import Run


@dataclass
class TokenizerArguments(WordVectorArguments):
    """The joint BPE tokenizer trained on both languages of the training pairs, and the word vectors the RNN's
    embeddings may start from (``word_vectors``: the pieces that are whole words take the vectors of those words)."""

    word_vectors: str | None = word_vectors_field(f"{WORD_VECTORS_HELP} rnn_seq2seq only.")
    word_vector_models: ClassVar[tuple[str, ...]] = ("rnn_seq2seq",)
    vocab_size: int = field(default=8000, metadata={"help": "Size of the joint BPE vocabulary (both languages)."})
    lowercase: bool = field(default=False, metadata={"help": "Lowercase both sides before tokenizing."})


# A transformer the size of the small published Multi30k / IWSLT models (3+3 layers, width 256, 4 heads, FFN 1024),
# not transformers' defaults (M2M100's and Marian's are 12+12 layers of width 1024).
SMALL_TRANSFORMER = {
    "d_model": 256,
    "encoder_layers": 3,
    "decoder_layers": 3,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 1024,
    "decoder_ffn_dim": 1024,
}
# `model: transformer` is fairseq's transformer with pre-norm (normalize_before), which transformers ships as M2M100:
# pre-norm trains at a high learning rate after a short warmup, so it learns in the few thousand steps of a CPU
# budget. M2M100 drops whole layers at random (layerdrop 0.05) by default, which only pays off in deep models.
PRE_NORM_TRANSFORMER = {**SMALL_TRANSFORMER, "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0}
# Marian (post-norm) leaves its embeddings unscaled by default: initialised with std 0.02, they are drowned by the
# sinusoidal positions (amplitude 1) they are added to. The Transformer paper and opus-mt scale them by sqrt(d_model).
SMALL_MARIAN = {**SMALL_TRANSFORMER, "scale_embedding": True}

Arguments = model_arguments(
    "TranslationModelArguments",
    {"rnn_seq2seq": RNNSeq2SeqConfig, "transformer": M2M100Config, "marian": MarianConfig, "bart": BartConfig},
    base=TokenizerArguments,
    exclude=(
        "vocab_size", "decoder_vocab_size", "share_embeddings", "max_position_embeddings", "pad_token_id",
        "bos_token_id", "eos_token_id", "decoder_start_token_id", "forced_eos_token_id", "is_decoder", "use_cache",
    ),
    defaults={"transformer": PRE_NORM_TRANSFORMER, "marian": SMALL_MARIAN, "bart": SMALL_TRANSFORMER},
    choice_help="Architecture trained from scratch.",
)  # fmt: skip


def build(run: Run, data: RawData) -> ModelSetup:
    """The joint tokenizer (trained on the training pairs, or the checkpoint's) and a new model of the chosen kind."""
    if run.predict_only:  # do_train false: the trained model (model_name_or_path or output_dir's run)
        from nlpkit.tasks.translation import build_trained

        return build_trained(run)
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
    hyperparameters = {"model": args.model_type, "tokenizer": f"joint BPE of {len(tokenizer)} tokens"}
    if args.model_type == "rnn_seq2seq":
        model = RNNSeq2SeqForConditionalGeneration(args.make_config(share_embeddings=True, **special))  # one vocabulary
        if args.word_vectors:  # only rnn_seq2seq takes them (Arguments checked it)
            vectors = word_vectors_name(args.word_vectors)
            hyperparameters["word_vectors"] = RESUMED_WORD_VECTORS.format(name=vectors)
            if run.resume_checkpoint is None:  # a checkpoint's embeddings replace them anyway
                # Shared embeddings: one matrix for the source, the target and (tied) the output projection.
                hyperparameters["word_vectors"] = start_from_word_vectors(
                    args.word_vectors, tokenizer, model.get_input_embeddings(), lowercase=args.lowercase
                )
    else:
        longest = max(data_args.max_source_length, data_args.max_target_length) + 2
        config = args.make_config(max_position_embeddings=longest, forced_eos_token_id=None, **special)
        model = AutoModelForSeq2SeqLM.from_config(config)
    return ModelSetup(
        model,
        tokenizer,
        tags=["translation", args.model_type, f"{data_args.source_lang}-{data_args.target_lang}"],
        hyperparameters=hyperparameters,
    )
