"""Sentence VAE (Bowman et al. 2016): an RNN encoder to a Gaussian latent code, an RNN decoder from it."""

from .configuration_sentence_vae import SentenceVAEConfig
from .modeling_sentence_vae import (
    SentenceVAEDecoderState,
    SentenceVAEEncoder,
    SentenceVAEEncoderOutput,
    SentenceVAEModel,
    SentenceVAEOutput,
    SentenceVAEPreTrainedModel,
    active_units,
    gaussian_kl,
    interpolate,
    kl_annealing_weight,
)

__all__ = [
    "SentenceVAEConfig",
    "SentenceVAEDecoderState",
    "SentenceVAEEncoder",
    "SentenceVAEEncoderOutput",
    "SentenceVAEModel",
    "SentenceVAEOutput",
    "SentenceVAEPreTrainedModel",
    "active_units",
    "gaussian_kl",
    "interpolate",
    "kl_annealing_weight",
]
