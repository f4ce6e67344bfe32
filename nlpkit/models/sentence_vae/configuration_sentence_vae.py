"""Configuration of the sentence VAE (Bowman et al. 2016, "Generating Sentences from a Continuous Space")."""

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


class SentenceVAEConfig(PreTrainedConfig):
    """Sizes, regularisers and the KL schedule of a sentence VAE.

    The defaults are Bowman et al.'s model at the size of timbmg/Sentence-VAE: 300-wide word embeddings shared by
    the encoder and the decoder, a one-layer bidirectional GRU encoder, a 16-dimensional Gaussian latent code that
    sets the initial state of a one-layer GRU decoder, and a logistic KL weight reaching ~1 after 5000 steps.

    `num_layers` is accepted as an alias of `num_hidden_layers`.

    Args:
        vocab_size: Number of tokens in the vocabulary.
        embedding_size: Width of the token embeddings (one matrix for the encoder and the decoder).
        hidden_size: Width of the encoder RNN (per direction) and of the decoder RNN.
        num_hidden_layers: Number of stacked RNN layers, in the encoder and in the decoder.
        rnn_type: Recurrent cell of the encoder and the decoder, `"gru"` or `"lstm"`.
        bidirectional: Whether the encoder reads the sentence in both directions.
        latent_size: Dimension of the latent code z.
        word_dropout: Probability, in training, that a decoder input token is replaced by `unk_token_id` (Bowman et
            al.'s word dropout, which makes the decoder rely on z). Beginning, end and padding tokens are kept.
        embedding_dropout: Dropout on the decoder's input embeddings (as timbmg/Sentence-VAE).
        feed_latent: Whether z is also concatenated to every decoder input, not only used for the initial state.
        kl_annealing: Schedule of the KL weight over training steps: `"none"` (always 1), `"linear"` (0 to 1 over
            `kl_anneal_steps`), `"logistic"` (1 / (1 + exp(-k (step - x0)))) or `"cyclical"` (Fu et al. 2019).
        kl_anneal_steps: Steps over which the KL weight anneals: linear reaches 1 there, logistic's defaults of k
            and x0 are derived from it, cyclical's cycles share it (the weight stays 1 afterwards).
        kl_logistic_k: Steepness k of the logistic schedule; `None` means 12.5 / `kl_anneal_steps` (timbmg's 0.0025
            for 5000 steps).
        kl_logistic_x0: Step x0 where the logistic weight is 0.5; `None` means `kl_anneal_steps` / 2.
        kl_cycles: Number of cycles of the cyclical schedule.
        kl_cycle_ratio: Fraction of each cycle over which the cyclical weight rises linearly from 0 to 1 (it stays
            at 1 for the rest of the cycle).
        free_bits: Free bits (Kingma et al. 2016), in nats per latent dimension: the KL of each dimension, averaged
            over the batch, is counted as at least this much in the loss. 0 turns it off.
        initializer_range: Standard deviation of the normal initialisation of the linear layers (the embeddings start
            at unit variance, the RNNs at PyTorch's uniform initialisation).
        tie_word_embeddings: Whether the output projection shares the embedding matrix (needs
            `embedding_size == hidden_size`).
        use_cache: Whether forward returns the decoder state at inference (generation is then O(1) per token).
        pad_token_id: Id of the padding token.
        unk_token_id: Id of the unknown token, which word dropout puts in place of decoder inputs.
        bos_token_id: Id of the beginning-of-sequence token, the decoder's first input.
        eos_token_id: Id of the end-of-sequence token, which ends generation.
        decoder_start_token_id: Id of the decoder's first input; `None` means `bos_token_id`.
        is_encoder_decoder: Always True: `generate()` encodes `input_ids` into a latent code, then decodes it.
    """

    model_type = "sentence_vae"
    # Trainer's prediction loop gathers every other output field; the scalars and the cache do not concatenate.
    keys_to_ignore_at_inference = ["cache", "past_key_values", "reconstruction_loss", "kl", "kl_weight"]
    attribute_map = {"num_layers": "num_hidden_layers"}

    vocab_size: int = 10_000
    embedding_size: int = 300
    hidden_size: int = 256
    num_hidden_layers: int = 1
    rnn_type: Literal["gru", "lstm"] = "gru"
    bidirectional: bool = True
    latent_size: int = 16
    word_dropout: float = 0.0
    embedding_dropout: float = 0.0
    feed_latent: bool = False
    kl_annealing: Literal["none", "linear", "logistic", "cyclical"] = "logistic"
    kl_anneal_steps: int = 5000
    kl_logistic_k: float | None = None
    kl_logistic_x0: float | None = None
    kl_cycles: int = 4
    kl_cycle_ratio: float = 0.5
    free_bits: float = 0.0
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False
    use_cache: bool = True
    pad_token_id: int = 0
    unk_token_id: int | None = 1
    bos_token_id: int = 2
    eos_token_id: int = 3
    decoder_start_token_id: int | None = None
    is_encoder_decoder: bool = True

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)  # also resolves `num_layers`
        if self.decoder_start_token_id is None:
            self.decoder_start_token_id = self.bos_token_id
        if self.kl_logistic_k is None:
            self.kl_logistic_k = 12.5 / self.kl_anneal_steps
        if self.kl_logistic_x0 is None:
            self.kl_logistic_x0 = self.kl_anneal_steps / 2
        check_choices(self, "rnn_type", "kl_annealing")
        if self.num_hidden_layers < 1:
            raise ValueError(f"num_hidden_layers must be at least 1, got {self.num_hidden_layers}")
        if self.kl_anneal_steps < 1 or self.kl_cycles < 1:
            raise ValueError(
                f"kl_anneal_steps ({self.kl_anneal_steps}) and kl_cycles ({self.kl_cycles}) must be at least 1"
            )
        if not 0.0 < self.kl_cycle_ratio <= 1.0:
            raise ValueError(f"kl_cycle_ratio must be in (0, 1], got {self.kl_cycle_ratio}")
        if not 0.0 <= self.word_dropout <= 1.0:
            raise ValueError(f"word_dropout must be in [0, 1], got {self.word_dropout}")
        if self.word_dropout > 0 and self.unk_token_id is None:
            raise ValueError("word_dropout needs unk_token_id (the token that replaces dropped words)")
        if self.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0 nats, got {self.free_bits}")
        if self.tie_word_embeddings and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"tie_word_embeddings needs embedding_size ({self.embedding_size}) == hidden_size ({self.hidden_size})"
            )
