"""Configuration of the BiLSTM-CRF sequence tagger (Lample et al. 2016; Ma & Hovy 2016)."""

from typing import Literal

from transformers import PreTrainedConfig

# The pipeline shipped in the modeling file: `pipeline("token-classification", model=folder, trust_remote_code=True)`
# then gives the model each word's characters and groups the tags into entities, as `nlpkit predict` does.
PIPELINE_TASK = "token-classification"
PIPELINE_IMPL = "modeling_bilstm_crf.BiLSTMCRFTokenClassificationPipeline"
CHAR_ENCODERS = ("cnn", "lstm", None)


class BiLSTMCRFConfig(PreTrainedConfig):
    """Configuration of [`BiLSTMCRFForTokenClassification`].

    The tagger reads one position per word: word embedding (+ character features) -> BiLSTM -> per-tag emission
    scores -> linear-chain CRF. The tag set comes from `id2label` / `label2id` / `num_labels`, as in every
    token-classification model. The defaults are the NER recipe's: a character CNN and IOB2-constrained decoding.
    The config names the pipeline shipped in the modeling file in `custom_pipelines`, so
    `pipeline("token-classification", model=folder, trust_remote_code=True)` passes each word's characters and groups
    the tags into entities.

    The names used before nlpkit gave every model the same ones (`word_embedding_dim`, `lstm_hidden_size`,
    `num_lstm_layers`, `char_embedding_dim`) are accepted as aliases, so a `config.json` saved with them still loads.

    Args:
        vocab_size: Size of the word vocabulary.
        pad_token_id: Word id of padding; its embedding is kept at zero.
        embedding_size: Width of a word embedding.
        hidden_size: Hidden size of each direction of the word BiLSTM.
        num_hidden_layers: Number of stacked BiLSTM layers.
        dropout: Dropout on the token features entering and leaving the BiLSTM (and between stacked layers).
        char_encoder: Encoder of each word's characters: `"cnn"` (convolution + max-pooling, Ma & Hovy), `"lstm"`
            (final states of a character BiLSTM, Lample et al.) or `None` (words only; `"none"` is read as `None`, as a
            config file or command line spells it).
        char_alphabet: Characters known to the character encoder. Character id 0 is padding, 1 an unknown
            character and `2 + i` is `char_alphabet[i]`; see `words_to_char_ids` in the modeling file. Build it from
            the training words, e.g. `"".join(sorted(set("".join(train_words))))`; when empty, every character is
            unknown and only a word's length shows.
        char_embedding_size: Width of a character embedding.
        char_hidden_size: Width of the feature vector of one word's characters (CNN filters, or both directions of
            the character BiLSTM together, so it must be even for `"lstm"`).
        char_kernel_size: Width of the character convolution.
        max_word_length: Number of characters kept per word (longer words are cut).
        constrain_bio_transitions: Whether the CRF forbids the moves that are invalid in IOB2 (`I-X` at the start of
            a sentence, after `O`, or after `B-Y`/`I-Y` with `Y != X`), derived from `id2label`, in training and in
            decoding. The labels must then be IOB2 (every `I-X` has a `B-X`): turn it off for IOB1 or IO tags, whose
            gold sequences would otherwise get a huge loss.
        initializer_range: Standard deviation of the normal initialisation of embeddings and linear layers.
    """

    model_type = "bilstm_crf"
    attribute_map = {
        "word_embedding_dim": "embedding_size",
        "lstm_hidden_size": "hidden_size",
        "num_lstm_layers": "num_hidden_layers",
        "char_embedding_dim": "char_embedding_size",
    }

    vocab_size: int = 10000
    pad_token_id: int = 0
    embedding_size: int = 100
    hidden_size: int = 100
    num_hidden_layers: int = 1
    dropout: float = 0.5
    char_encoder: Literal["cnn", "lstm", "none"] | None = "cnn"
    char_alphabet: str = ""
    char_embedding_size: int = 30
    char_hidden_size: int = 50
    char_kernel_size: int = 3
    max_word_length: int = 20
    constrain_bio_transitions: bool = True
    initializer_range: float = 0.1

    def __post_init__(self, **kwargs):
        pipeline = {"impl": PIPELINE_IMPL, "pt": ["AutoModelForTokenClassification"], "tf": [], "type": "text"}
        kwargs.setdefault("custom_pipelines", {PIPELINE_TASK: pipeline})
        super().__post_init__(**kwargs)  # also resolves the old names passed as keywords
        if self.char_encoder == "none":
            self.char_encoder = None
        if self.char_encoder not in CHAR_ENCODERS:
            raise ValueError(f"char_encoder must be 'cnn', 'lstm' or None, got {self.char_encoder!r}")
        if self.char_encoder == "lstm" and self.char_hidden_size % 2:
            raise ValueError(f"char_hidden_size must be even for the character BiLSTM, got {self.char_hidden_size}")
        if self.num_hidden_layers < 1:
            raise ValueError(f"num_hidden_layers must be at least 1, got {self.num_hidden_layers}")

    @property
    def char_vocab_size(self) -> int:
        """Rows of the character embedding: padding, unknown, then the alphabet."""
        return len(self.char_alphabet) + 2
