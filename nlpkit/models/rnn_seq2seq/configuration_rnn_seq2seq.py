"""Configuration of the RNN encoder-decoder with attention (Bahdanau et al. 2015, Luong et al. 2015)."""

from __future__ import annotations

from transformers import PreTrainedConfig

RNN_TYPES = ("gru", "lstm")
ATTENTION_TYPES = ("general", "dot", "additive")
# transformers 5 removed its translation / text2text pipelines; a saved config points those task names at the
# pipeline shipped in the modeling file, so `pipeline("translation", model=folder, trust_remote_code=True)` works.
PIPELINE_TASKS = ("translation", "text2text-generation")
PIPELINE_IMPL = "modeling_rnn_seq2seq.RNNSeq2SeqTranslationPipeline"


class RNNSeq2SeqConfig(PreTrainedConfig):
    """Sizes and switches of an RNN encoder-decoder translation model.

    The defaults describe the fast CPU model: a bidirectional GRU encoder (256 per direction), a one-layer GRU decoder
    (256) run over the whole target at once, Luong "general" attention read from the decoder's output, no input
    feeding, and the output projection tied to the 256-wide target embeddings.

    Args:
        vocab_size: Source vocabulary size (the shared vocabulary when `share_embeddings`).
        decoder_vocab_size: Target vocabulary size; `None` means `vocab_size`.
        share_embeddings: One embedding matrix for source and target (needs one shared vocabulary).
        embedding_size: Width of the token embeddings.
        encoder_hidden_size: Hidden size of the encoder RNN per direction.
        hidden_size: Hidden size of the decoder RNN.
        encoder_layers / decoder_layers: Number of stacked RNN layers.
        rnn_type: `"gru"` or `"lstm"`.
        bidirectional: Whether the encoder reads the source in both directions.
        attention_type: `"general"` (Luong, q W k), `"dot"` (Luong, q k; needs equal sizes) or `"additive"`
            (Bahdanau, v tanh(W q + U k)).
        attention_size: Width of the additive attention's hidden layer; `None` means `hidden_size`.
        input_feeding: Feed the previous attentional vector into the decoder RNN (Luong 2015). Better alignment on
            long sentences, but the decoder then runs one step at a time in a Python loop, which is much slower.
        dropout: Dropout on embeddings, between stacked RNN layers and on the attentional vector.
        init_range: Weights are drawn from U(-init_range, init_range); biases start at zero.
        tie_word_embeddings: Share the output projection with the target embeddings. The attentional vector is then
            `embedding_size` wide, otherwise `hidden_size` wide.
    """

    model_type = "rnn_seq2seq"
    keys_to_ignore_at_inference = ["cache", "past_key_values", "encoder_last_hidden_state"]  # cache: its 5.24 name

    def __init__(
        self,
        vocab_size: int = 8000,
        decoder_vocab_size: int | None = None,
        share_embeddings: bool = False,
        embedding_size: int = 256,
        encoder_hidden_size: int = 256,
        hidden_size: int = 256,
        encoder_layers: int = 1,
        decoder_layers: int = 1,
        rnn_type: str = "gru",
        bidirectional: bool = True,
        attention_type: str = "general",
        attention_size: int | None = None,
        input_feeding: bool = False,
        dropout: float = 0.3,
        init_range: float = 0.1,
        tie_word_embeddings: bool = True,
        use_cache: bool = True,
        pad_token_id: int = 0,
        bos_token_id: int = 1,
        eos_token_id: int = 2,
        decoder_start_token_id: int | None = None,
        is_encoder_decoder: bool = True,
        **kwargs,
    ):
        decoder_vocab_size = vocab_size if decoder_vocab_size is None else decoder_vocab_size
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {RNN_TYPES}, got {rnn_type!r}")
        if attention_type not in ATTENTION_TYPES:
            raise ValueError(f"attention_type must be one of {ATTENTION_TYPES}, got {attention_type!r}")
        if share_embeddings and decoder_vocab_size != vocab_size:
            raise ValueError(
                f"share_embeddings needs one vocabulary, got vocab_size={vocab_size} and "
                f"decoder_vocab_size={decoder_vocab_size}"
            )
        encoder_output_size = encoder_hidden_size * (2 if bidirectional else 1)
        if attention_type == "dot" and encoder_output_size != hidden_size:
            raise ValueError(
                f"dot attention needs the encoder output size ({encoder_output_size}) to equal hidden_size "
                f"({hidden_size}); use attention_type='general' otherwise"
            )
        self.vocab_size = vocab_size
        self.decoder_vocab_size = decoder_vocab_size
        self.share_embeddings = share_embeddings
        self.embedding_size = embedding_size
        self.encoder_hidden_size = encoder_hidden_size
        self.hidden_size = hidden_size
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.rnn_type = rnn_type
        self.bidirectional = bidirectional
        self.attention_type = attention_type
        self.attention_size = hidden_size if attention_size is None else attention_size
        self.input_feeding = input_feeding
        self.dropout = dropout
        self.init_range = init_range
        self.tie_word_embeddings = tie_word_embeddings
        self.use_cache = use_cache
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.decoder_start_token_id = bos_token_id if decoder_start_token_id is None else decoder_start_token_id
        kwargs.setdefault(
            "custom_pipelines",
            {
                task: {"impl": PIPELINE_IMPL, "pt": ["AutoModelForSeq2SeqLM"], "tf": [], "type": "text"}
                for task in PIPELINE_TASKS
            },
        )
        super().__init__(is_encoder_decoder=is_encoder_decoder, **kwargs)

    @property
    def encoder_output_size(self) -> int:
        """Width of the encoder states the decoder attends over."""
        return self.encoder_hidden_size * (2 if self.bidirectional else 1)

    @property
    def attentional_size(self) -> int:
        """Width of the attentional vector fed to the output projection (and, with input feeding, back in)."""
        return self.embedding_size if self.tie_word_embeddings else self.hidden_size
