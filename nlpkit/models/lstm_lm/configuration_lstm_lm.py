"""Configuration of nlpkit's LSTM language model (char-rnn style)."""

from transformers import PreTrainedConfig


class LSTMLMConfig(PreTrainedConfig):
    """Configuration of [`LSTMForCausalLM`].

    Args:
        vocab_size: Number of tokens in the vocabulary.
        embedding_size: Width of the token embeddings.
        hidden_size: Width of the LSTM state.
        num_hidden_layers: Number of stacked LSTM layers.
        dropout: Dropout on the embeddings, between LSTM layers and before the output projection.
        initializer_range: Standard deviation of the normal initialisation of the output projection (the
            embeddings start at unit variance).
        use_cache: Whether forward returns the recurrent state at inference (generation is then O(1) per token).
        tie_word_embeddings: Whether the output projection shares the embedding matrix (needs
            `embedding_size == hidden_size`).
        pad_token_id: Id of the padding token, if the tokenizer has one.
        bos_token_id: Id of the beginning-of-sequence token, if the tokenizer has one.
        eos_token_id: Id (or ids) of the end-of-sequence token, which ends generation.
    """

    model_type = "lstm_lm"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]  # its name from transformers 5.24, and before

    vocab_size: int = 256
    embedding_size: int = 256
    hidden_size: int = 512
    num_hidden_layers: int = 2
    dropout: float = 0.0
    initializer_range: float = 0.02
    use_cache: bool = True
    tie_word_embeddings: bool = False
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.tie_word_embeddings and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"tie_word_embeddings needs embedding_size ({self.embedding_size}) == hidden_size ({self.hidden_size})"
            )
