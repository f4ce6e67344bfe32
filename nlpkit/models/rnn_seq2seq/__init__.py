"""RNN encoder-decoder with attention (GRU/LSTM, Luong or Bahdanau attention) for translation."""

from .configuration_rnn_seq2seq import RNNSeq2SeqConfig
from .modeling_rnn_seq2seq import RNNSeq2SeqForConditionalGeneration, RNNSeq2SeqModel, RNNSeq2SeqPreTrainedModel

AUTO_CLASSES = {
    "AutoModelForSeq2SeqLM": RNNSeq2SeqForConditionalGeneration,
    "AutoModel": RNNSeq2SeqModel,
}

__all__ = [
    "AUTO_CLASSES",
    "RNNSeq2SeqConfig",
    "RNNSeq2SeqForConditionalGeneration",
    "RNNSeq2SeqModel",
    "RNNSeq2SeqPreTrainedModel",
]
