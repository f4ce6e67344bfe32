"""BiLSTM-CRF sequence tagger (word + optional character features, linear-chain CRF)."""

from .configuration_bilstm_crf import BiLSTMCRFConfig
from .modeling_bilstm_crf import (
    BiLSTMCRFForTokenClassification,
    BiLSTMCRFPreTrainedModel,
    LinearChainCRF,
    bio_transition_constraints,
    words_to_char_ids,
)

AUTO_CLASSES = {"AutoModelForTokenClassification": BiLSTMCRFForTokenClassification}

__all__ = [
    "AUTO_CLASSES",
    "BiLSTMCRFConfig",
    "BiLSTMCRFForTokenClassification",
    "BiLSTMCRFPreTrainedModel",
    "LinearChainCRF",
    "bio_transition_constraints",
    "words_to_char_ids",
]
