"""Multi-task model: one shared encoder (BERT family or BiLSTM), one head per task."""

from .configuration_multitask import MultiTaskConfig
from .modeling_multitask import CRF, BiLSTMEncoder, MultiTaskModel, MultiTaskOutput, MultiTaskPreTrainedModel

__all__ = ["CRF", "BiLSTMEncoder", "MultiTaskConfig", "MultiTaskModel", "MultiTaskOutput", "MultiTaskPreTrainedModel"]
