"""GPT: a nanoGPT-style decoder-only transformer language model."""

from .configuration_gpt import GPTConfig
from .modeling_gpt import GPTForCausalLM, GPTModel, GPTPreTrainedModel

AUTO_CLASSES = {"AutoModelForCausalLM": GPTForCausalLM, "AutoModel": GPTModel}

__all__ = ["AUTO_CLASSES", "GPTConfig", "GPTForCausalLM", "GPTModel", "GPTPreTrainedModel"]
