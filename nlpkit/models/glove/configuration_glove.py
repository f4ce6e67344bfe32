"""Configuration of nlpkit's GloVe (Pennington, Socher and Manning, 2014)."""

from transformers import PreTrainedConfig


class GloVeConfig(PreTrainedConfig):
    """Configuration of [`GloVeModel`].

    The model fits w_i·w~_j + b_i + b~_j to log X_ij over the nonzero co-occurrence counts X_ij, each entry weighted
    by f(X_ij) = min(1, (X_ij / x_max)^alpha). `window` is read by the data side, which counts the co-occurrences; it
    is kept here so that the saved config says how the vectors were trained.

    Args:
        vocab_size: Number of words in the vocabulary (rows of the word and context matrices).
        embedding_size: Width of the word vectors (the paper's d; 100 here, 300 for its best results).
        x_max: Count from which an entry gets the full weight 1 in the loss (the paper's 100). Rarer pairs, whose
            counts are noisy, weigh less.
        alpha: Exponent of the weighting function below x_max (the paper's 0.75, found better than 1).
        window: Largest distance between two words counted as co-occurring; a pair at distance k adds 1/k to the
            count, as in GloVe's cooccur tool (the paper's 10, on each side).
    """

    model_type = "glove"

    vocab_size: int = 30_000
    embedding_size: int = 100
    x_max: float = 100.0
    alpha: float = 0.75
    window: int = 10

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        for name in ("vocab_size", "embedding_size", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.x_max <= 0:
            raise ValueError(f"x_max must be positive, got {self.x_max}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be 0 or positive, got {self.alpha}")
