"""LSTM language model (char-rnn style) whose generation cache is the recurrent state."""

from .configuration_lstm_lm import LSTMLMConfig
from .modeling_lstm_lm import LSTMForCausalLM, LSTMPreTrainedModel

AUTO_CLASSES = {"AutoModelForCausalLM": LSTMForCausalLM}

__all__ = ["AUTO_CLASSES", "LSTMForCausalLM", "LSTMLMConfig", "LSTMPreTrainedModel"]
