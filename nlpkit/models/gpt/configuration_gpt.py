"""Configuration of nlpkit's GPT, a small decoder-only transformer language model (nanoGPT-style)."""

from typing import Literal

from transformers import PreTrainedConfig


class GPTConfig(PreTrainedConfig):
    """Configuration of [`GPTModel`] and [`GPTForCausalLM`].

    The defaults describe nanoGPT's character-level Shakespeare model (6 layers, 6 heads, width 384, context 256).
    nanoGPT's names (`n_layer`, `n_head`, `n_embd`, `block_size`) are accepted as aliases.

    Args:
        vocab_size: Number of tokens in the vocabulary.
        max_position_embeddings: Longest sequence the model is trained on (size of the learned position table).
        hidden_size: Width of the residual stream.
        num_hidden_layers: Number of transformer blocks.
        num_attention_heads: Number of attention heads; must divide `hidden_size`.
        intermediate_size: Width of the MLP; `None` means `4 * hidden_size`.
        dropout: Dropout on embeddings, attention weights and both residual branches.
        bias: Whether linear layers and LayerNorms have biases (False is a little faster and no worse).
        position_embedding_type: How the model knows positions: `"learned"` (absolute table added to the token
            embeddings, like GPT-2) or `"rotary"` (RoPE applied to queries and keys; no position table).
        rope_theta: Base of the rotary frequencies.
        layer_norm_eps: Epsilon of the LayerNorms.
        initializer_range: Standard deviation of the normal initialisation; residual projections are scaled down by
            `sqrt(2 * num_hidden_layers)` (GPT-2 paper).
        use_cache: Whether forward returns the key/value cache at inference.
        tie_word_embeddings: Whether the output projection shares the input embedding matrix.
        pad_token_id: Id of the padding token, if the tokenizer has one.
        bos_token_id: Id of the beginning-of-sequence token, if the tokenizer has one.
        eos_token_id: Id (or ids) of the end-of-sequence token, which ends generation.
    """

    model_type = "gpt"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]  # its name from transformers 5.24, and before
    attribute_map = {
        "n_layer": "num_hidden_layers",
        "n_head": "num_attention_heads",
        "n_embd": "hidden_size",
        "block_size": "max_position_embeddings",
    }

    vocab_size: int = 256
    max_position_embeddings: int = 256
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 6
    intermediate_size: int | None = None
    dropout: float = 0.0
    bias: bool = False
    position_embedding_type: Literal["learned", "rotary"] = "learned"
    rope_theta: float = 10000.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    use_cache: bool = True
    tie_word_embeddings: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)  # also resolves the nanoGPT aliases passed as keywords
        if self.intermediate_size is None:
            self.intermediate_size = 4 * self.hidden_size
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.position_embedding_type not in ("learned", "rotary"):
            raise ValueError(
                f"position_embedding_type must be 'learned' or 'rotary', got {self.position_embedding_type!r}"
            )
        if self.position_embedding_type == "rotary" and (self.hidden_size // self.num_attention_heads) % 2 != 0:
            raise ValueError("rotary position embeddings need an even head size (hidden_size / num_attention_heads)")
