"""Word2Vec word vectors: skip-gram and CBOW with negative sampling."""

from .configuration_word2vec import Word2VecConfig
from .modeling_word2vec import Word2VecModel, Word2VecOutput, Word2VecPreTrainedModel

__all__ = ["Word2VecConfig", "Word2VecModel", "Word2VecOutput", "Word2VecPreTrainedModel"]
