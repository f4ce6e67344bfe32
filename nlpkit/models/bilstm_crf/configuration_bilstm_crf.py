"""Configuration of the BiLSTM-CRF sequence tagger (Lample et al. 2016; Ma & Hovy 2016)."""

from __future__ import annotations

from transformers import PreTrainedConfig


class BiLSTMCRFConfig(PreTrainedConfig):
    r"""Configuration of [`BiLSTMCRFForTokenClassification`].

    The tagger reads one position per word: word embedding (+ optional character features) -> BiLSTM -> per-tag
    emission scores -> linear-chain CRF. The tag set comes from `id2label` / `label2id` / `num_labels`, as in every
    token-classification model.

    Args:
        vocab_size (`int`, defaults to 10000): size of the word vocabulary.
        pad_token_id (`int`, defaults to 0): word id of padding; its embedding is kept at zero.
        word_embedding_dim (`int`, defaults to 100): size of a word embedding.
        lstm_hidden_size (`int`, defaults to 100): hidden size of each direction of the word BiLSTM.
        num_lstm_layers (`int`, defaults to 1): stacked BiLSTM layers.
        dropout (`float`, defaults to 0.5): dropout on the token features entering and leaving the BiLSTM (and
            between stacked layers).
        char_encoder (`str` or `None`, defaults to `None`): `"cnn"` (convolution + max-pooling over a word's
            characters, Ma & Hovy), `"lstm"` (final states of a character BiLSTM, Lample et al.) or `None` (words only).
        char_alphabet (`str`, defaults to `""`): the characters known to the character encoder. Character id 0 is
            padding, 1 an unknown character and `2 + i` is `char_alphabet[i]`; see `words_to_char_ids` in the
            modeling file. Build it from the training words, e.g. `"".join(sorted(set("".join(train_words))))`.
        char_embedding_dim (`int`, defaults to 30): size of a character embedding.
        char_hidden_size (`int`, defaults to 30): size of the feature vector of one word's characters (CNN filters,
            or both directions of the character BiLSTM together, so it must be even for `"lstm"`).
        char_kernel_size (`int`, defaults to 3): width of the character convolution.
        max_word_length (`int`, defaults to 20): characters kept per word (longer words are cut).
        constrain_bio_transitions (`bool`, defaults to `False`): forbid the CRF moves that are invalid in IOB2
            (`I-X` at the start of a sentence, after `O`, or after `B-Y`/`I-Y` with `Y != X`), derived from
            `id2label`, in training and in decoding. The labels must then be IOB2 (every `I-X` has a `B-X`); gold
            sequences that break the rule (IOB1 data) get a huge loss.
        initializer_range (`float`, defaults to 0.1): std of the normal init of embeddings and linear layers.
    """

    model_type = "bilstm_crf"

    def __init__(
        self,
        vocab_size: int = 10000,
        pad_token_id: int = 0,
        word_embedding_dim: int = 100,
        lstm_hidden_size: int = 100,
        num_lstm_layers: int = 1,
        dropout: float = 0.5,
        char_encoder: str | None = None,
        char_alphabet: str = "",
        char_embedding_dim: int = 30,
        char_hidden_size: int = 30,
        char_kernel_size: int = 3,
        max_word_length: int = 20,
        constrain_bio_transitions: bool = False,
        initializer_range: float = 0.1,
        **kwargs,
    ):
        if char_encoder not in (None, "cnn", "lstm"):
            raise ValueError(f"char_encoder must be 'cnn', 'lstm' or None, got {char_encoder!r}")
        if char_encoder == "lstm" and char_hidden_size % 2:
            raise ValueError(f"char_hidden_size must be even for the character BiLSTM, got {char_hidden_size}")
        self.vocab_size = vocab_size
        self.word_embedding_dim = word_embedding_dim
        self.lstm_hidden_size = lstm_hidden_size
        self.num_lstm_layers = num_lstm_layers
        self.dropout = dropout
        self.char_encoder = char_encoder
        self.char_alphabet = char_alphabet
        self.char_embedding_dim = char_embedding_dim
        self.char_hidden_size = char_hidden_size
        self.char_kernel_size = char_kernel_size
        self.max_word_length = max_word_length
        self.constrain_bio_transitions = constrain_bio_transitions
        self.initializer_range = initializer_range
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    @property
    def char_vocab_size(self) -> int:
        """Rows of the character embedding: padding, unknown, then the alphabet."""
        return len(self.char_alphabet) + 2
