"""LSTM language model (char-rnn style) whose generation cache is the recurrent state."""

from .configuration_lstm_lm import LSTMLMConfig
from .modeling_lstm_lm import LSTMForCausalLM, LSTMPreTrainedModel

__all__ = ["LSTMForCausalLM", "LSTMLMConfig", "LSTMPreTrainedModel"]
