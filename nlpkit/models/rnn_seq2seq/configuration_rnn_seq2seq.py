"""Configuration of the RNN encoder-decoder with attention (Bahdanau et al. 2015, Luong et al. 2015)."""

import dataclasses
import typing
from typing import Literal

from transformers import PreTrainedConfig


def check_choices(config: PreTrainedConfig, *names: str) -> None:
    """Raise a ValueError if a field named in `names` holds a value outside the choices of its `Literal` annotation."""
    annotations = {field.name: field.type for field in dataclasses.fields(config)}
    for name in names:
        choices = typing.get_args(annotations[name])
        if getattr(config, name) not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {getattr(config, name)!r}")


class RNNSeq2SeqConfig(PreTrainedConfig):
    """Sizes and switches of an RNN encoder-decoder translation model.

    The defaults describe the fast CPU model: a bidirectional GRU encoder (256 per direction), a one-layer GRU decoder
    (256) run over the whole target at once, Luong "general" attention read from the decoder's output, no input
    feeding, and the output projection tied to the 256-wide target embeddings.

    The names used before nlpkit gave every model the same ones (`encoder_layers`, `decoder_layers`, `init_range`)
    are accepted as aliases, so a `config.json` saved with them still loads.

    Args:
        vocab_size: Source vocabulary size (the shared vocabulary when `share_embeddings`).
        decoder_vocab_size: Target vocabulary size; `None` means `vocab_size`.
        share_embeddings: Whether source and target share one embedding matrix (needs one shared vocabulary).
        embedding_size: Width of the token embeddings.
        encoder_hidden_size: Hidden size of the encoder RNN per direction; `None` means `hidden_size`.
        hidden_size: Hidden size of the decoder RNN.
        num_hidden_layers: Number of stacked encoder RNN layers (and decoder layers, unless `num_decoder_layers` is
            set).
        num_decoder_layers: Number of stacked decoder RNN layers; `None` means `num_hidden_layers`.
        rnn_type: Recurrent cell of the encoder and the decoder, `"gru"` or `"lstm"`.
        bidirectional: Whether the encoder reads the source in both directions.
        attention_type: How a decoder state scores the encoder states: `"general"` (Luong, q W k), `"dot"` (Luong,
            q k; needs equal sizes) or `"additive"` (Bahdanau, v tanh(W q + U k)).
        attention_size: Width of the additive attention's hidden layer; `None` means `hidden_size`.
        input_feeding: Whether the previous attentional vector is fed into the decoder RNN (Luong 2015). Better
            alignment on long sentences, but the decoder then runs one step at a time in a Python loop, which is
            much slower.
        dropout: Dropout on embeddings, between stacked RNN layers and on the attentional vector.
        initializer_range: Half-width of the uniform initialisation: weights are drawn from
            U(-initializer_range, initializer_range); biases start at zero.
        tie_word_embeddings: Whether the output projection shares the target embeddings. The attentional vector is
            then `embedding_size` wide, otherwise `hidden_size` wide.
        use_cache: Whether forward returns the decoder state at inference (generation is then O(1) per token).
        pad_token_id: Id of the padding token, in both vocabularies; its embeddings are kept at zero.
        bos_token_id: Id of the beginning-of-sequence token.
        eos_token_id: Id of the end-of-sequence token, which ends generation.
        decoder_start_token_id: Id of the first decoder input; `None` means `bos_token_id`.
    """

    model_type = "rnn_seq2seq"
    keys_to_ignore_at_inference = ["cache", "past_key_values", "encoder_last_hidden_state"]  # cache: its 5.24 name
    attribute_map = {
        "encoder_layers": "num_hidden_layers",
        "decoder_layers": "num_decoder_layers",
        "init_range": "initializer_range",
    }

    vocab_size: int = 8000
    decoder_vocab_size: int | None = None
    share_embeddings: bool = False
    embedding_size: int = 256
    encoder_hidden_size: int | None = None
    hidden_size: int = 256
    num_hidden_layers: int = 1
    num_decoder_layers: int | None = None
    rnn_type: Literal["gru", "lstm"] = "gru"
    bidirectional: bool = True
    attention_type: Literal["general", "dot", "additive"] = "general"
    attention_size: int | None = None
    input_feeding: bool = False
    dropout: float = 0.3
    initializer_range: float = 0.1
    tie_word_embeddings: bool = True
    use_cache: bool = True
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2
    decoder_start_token_id: int | None = None
    is_encoder_decoder: bool = True

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)  # also resolves the old names passed as keywords
        if self.decoder_vocab_size is None:
            self.decoder_vocab_size = self.vocab_size
        if self.encoder_hidden_size is None:
            self.encoder_hidden_size = self.hidden_size
        if self.num_decoder_layers is None:
            self.num_decoder_layers = self.num_hidden_layers
        if self.attention_size is None:
            self.attention_size = self.hidden_size
        if self.decoder_start_token_id is None:
            self.decoder_start_token_id = self.bos_token_id
        check_choices(self, "rnn_type", "attention_type")
        if min(self.num_hidden_layers, self.num_decoder_layers) < 1:
            raise ValueError(
                f"num_hidden_layers ({self.num_hidden_layers}) and num_decoder_layers ({self.num_decoder_layers}) "
                "must be at least 1"
            )
        if self.share_embeddings and self.decoder_vocab_size != self.vocab_size:
            raise ValueError(
                f"share_embeddings needs one vocabulary, got vocab_size={self.vocab_size} and "
                f"decoder_vocab_size={self.decoder_vocab_size}"
            )
        if self.attention_type == "dot" and self.encoder_output_size != self.hidden_size:
            raise ValueError(
                f"dot attention needs the encoder output size ({self.encoder_output_size}) to equal hidden_size "
                f"({self.hidden_size}); use attention_type='general' otherwise"
            )

    @property
    def encoder_output_size(self) -> int:
        """Width of the encoder states the decoder attends over."""
        return self.encoder_hidden_size * (2 if self.bidirectional else 1)

    @property
    def attentional_size(self) -> int:
        """Width of the attentional vector fed to the output projection (and, with input feeding, back in)."""
        return self.embedding_size if self.tie_word_embeddings else self.hidden_size
