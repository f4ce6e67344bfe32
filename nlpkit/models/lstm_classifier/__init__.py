"""LSTM/GRU sentence classifier (the tutorial's packed-padded-sequences sentiment model)."""

from .configuration_lstm_classifier import LSTMClassifierConfig
from .modeling_lstm_classifier import (
    LSTMClassifierForSequenceClassification,
    LSTMClassifierModel,
    LSTMClassifierPreTrainedModel,
)

__all__ = [
    "LSTMClassifierConfig",
    "LSTMClassifierForSequenceClassification",
    "LSTMClassifierModel",
    "LSTMClassifierPreTrainedModel",
]
