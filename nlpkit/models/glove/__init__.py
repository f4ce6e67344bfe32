"""GloVe word vectors: a weighted least-squares fit of the log co-occurrence counts."""

from .configuration_glove import GloVeConfig
from .modeling_glove import GloVeModel, GloVeOutput, GloVePreTrainedModel

__all__ = ["GloVeConfig", "GloVeModel", "GloVeOutput", "GloVePreTrainedModel"]
