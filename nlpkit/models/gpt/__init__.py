"""GPT: a nanoGPT-style decoder-only transformer language model."""

from .configuration_gpt import GPTConfig
from .modeling_gpt import GPTForCausalLM, GPTModel, GPTPreTrainedModel

__all__ = ["GPTConfig", "GPTForCausalLM", "GPTModel", "GPTPreTrainedModel"]
