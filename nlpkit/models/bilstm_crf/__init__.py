"""BiLSTM-CRF sequence tagger (word + optional character features, linear-chain CRF)."""

from .configuration_bilstm_crf import BiLSTMCRFConfig
from .modeling_bilstm_crf import (
    BiLSTMCRFForTokenClassification,
    BiLSTMCRFPreTrainedModel,
    LinearChainCRF,
    bio_transition_constraints,
    words_to_char_ids,
)

__all__ = [
    "BiLSTMCRFConfig",
    "BiLSTMCRFForTokenClassification",
    "BiLSTMCRFPreTrainedModel",
    "LinearChainCRF",
    "bio_transition_constraints",
    "words_to_char_ids",
]
