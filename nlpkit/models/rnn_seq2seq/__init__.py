"""RNN encoder-decoder with attention (GRU/LSTM, Luong or Bahdanau attention) for translation."""

from .configuration_rnn_seq2seq import RNNSeq2SeqConfig
from .modeling_rnn_seq2seq import RNNSeq2SeqForConditionalGeneration, RNNSeq2SeqModel, RNNSeq2SeqPreTrainedModel

__all__ = [
    "RNNSeq2SeqConfig",
    "RNNSeq2SeqForConditionalGeneration",
    "RNNSeq2SeqModel",
    "RNNSeq2SeqPreTrainedModel",
]
