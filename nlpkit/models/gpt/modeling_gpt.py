"""nlpkit's GPT: a decoder-only transformer language model, written like nanoGPT's model.py, as a Hugging Face model.

Token (+ learned or rotary position) embeddings -> N pre-LayerNorm blocks (causal self-attention through PyTorch's
fused `scaled_dot_product_attention`, GELU MLP) -> final LayerNorm -> output projection tied to the token embeddings.

Speed notes, since small models on CPU are dominated by per-operation overhead: one fused q/k/v projection; the fused
causal attention kernel (`is_causal=True`) whenever no padding mask is needed, an explicit mask only for padded batches
or multi-token steps on top of a cache; rotary position embeddings applied to queries and keys in one complex multiply;
no key/value cache built by training forwards; dropout modules only when dropout is on.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from .configuration_gpt import GPTConfig

# transformers 5.24 renamed `past_key_values` to `cache`, as a forward argument and as a model output field. The models
# here take both arguments and fill whichever field exists, so this file (shipped as remote code) runs on any 5.x.
CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def rotary_frequencies(position_ids: torch.Tensor, head_dim: int, theta: float) -> torch.Tensor:
    """Unit complex numbers e^(i * position * frequency), shaped (batch or 1, seq, 1, head_dim / 2) to broadcast.

    Under torch.export (ONNX, which has no complex numbers) they are real (cos, sin) pairs in a last axis of 2.
    """
    inv_freq = theta ** -(torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float32) / head_dim)
    angles = position_ids[..., None].float() * inv_freq
    if torch.compiler.is_exporting():
        return torch.stack([angles.cos(), angles.sin()], dim=-1)[:, :, None]
    return torch.polar(torch.ones_like(angles), angles)[:, :, None, :]


def apply_rotary(x: torch.Tensor, frequencies: torch.Tensor) -> torch.Tensor:
    """Rotate each consecutive pair of features of `x` (batch, seq, heads, head_dim) by its position's angle."""
    if not frequencies.is_complex():  # the (cos, sin) pairs of an exported graph: the same rotation in real numbers
        even, odd = x.float().unflatten(-1, (-1, 2)).unbind(-1)
        cos, sin = frequencies.unbind(-1)
        return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2).type_as(x)
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * frequencies).flatten(-2).type_as(x)


def attention_mask_for_sdpa(
    attention_mask: torch.Tensor | None, query_length: int, past_length: int, device: torch.device
) -> tuple[torch.Tensor | None, bool]:
    """The `(attn_mask, is_causal)` pair for `scaled_dot_product_attention`, from a 2-D padding mask (1 = token).

    Without padding the mask is None: the fused causal kernel (`is_causal=True`) is much faster than any explicit
    mask, and a single new token on top of a cache may see every cached key, so it needs no mask at all.
    """
    if attention_mask is not None and attention_mask.dim() == 4:  # a ready-made (batch, 1 or heads, q, kv) mask
        return attention_mask, False
    # Under torch.export (ONNX) the lengths are symbolic and the mask's values unknown: the shortcuts would branch on
    # them (and `is_causal` would be a SymBool), so an exported graph always takes the explicit mask, which attends
    # exactly as the shortcuts do.
    if not torch.compiler.is_exporting():
        # Reading the mask's values would break a torch.compile graph: compiled, an all-ones mask stays explicit.
        if attention_mask is not None and not torch.compiler.is_compiling() and bool(attention_mask.all()):
            attention_mask = None
        if attention_mask is None and (past_length == 0 or query_length == 1):
            return None, past_length == 0 and query_length > 1
    key_length = past_length + query_length
    # Query i (absolute position past_length + i) sees keys 0 .. past_length + i (built from aranges, not `tril`,
    # whose diagonal cannot be a symbolic length).
    query_positions = torch.arange(query_length, device=device)[:, None] + past_length
    mask = torch.arange(key_length, device=device)[None, :] <= query_positions
    if attention_mask is None:
        return mask, False
    mask = mask & attention_mask[:, None, None, -key_length:].bool()
    # A query on a left-padding position sees no key at all and SDPA would return NaN there; let it see every key
    # instead (its output is never used, and no real token attends to it).
    return mask | ~mask.any(dim=-1, keepdim=True), False


def residual_projection_std(config: GPTConfig) -> float:
    """Init std of the two projections that write into the residual stream in each block, scaled by
    1/sqrt(2 * layers) so that the stream's variance does not grow with depth (GPT-2 paper, nanoGPT)."""
    return config.initializer_range / math.sqrt(2 * config.num_hidden_layers)


class GPTAttention(nn.Module):
    """Multi-head causal self-attention with a fused q/k/v projection and an optional key/value cache."""

    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout = config.dropout
        self.qkv_proj = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.bias)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.bias)
        self.o_proj.init_std = residual_projection_std(config)
        self.resid_dropout = nn.Dropout(config.dropout) if config.dropout > 0 else None

    def forward(
        self,
        hidden_states: torch.Tensor,
        rotary: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        is_causal: bool,
        cache: Cache | None,
    ) -> torch.Tensor:
        batch_size, seq_len, hidden_size = hidden_states.shape
        qkv = self.qkv_proj(hidden_states).view(batch_size, seq_len, 3 * self.num_heads, self.head_dim)
        if rotary is None:
            query, key, value = qkv.split(self.num_heads, dim=2)
        else:
            query_key = apply_rotary(qkv[:, :, : 2 * self.num_heads], rotary)  # queries and keys in one go
            query, key = query_key.split(self.num_heads, dim=2)
            value = qkv[:, :, 2 * self.num_heads :]
        # (batch, seq, heads, head_dim) -> (batch, heads, seq, head_dim)
        query, key, value = query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)
        attn_output = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attention_mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=is_causal,
        )
        attn_output = self.o_proj(attn_output.transpose(1, 2).reshape(batch_size, seq_len, hidden_size))
        return self.resid_dropout(attn_output) if self.resid_dropout is not None else attn_output


class GPTMLP(nn.Module):
    """Position-wise feed-forward network: up-projection, GELU, down-projection."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=config.bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.bias)
        self.down_proj.init_std = residual_projection_std(config)
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.down_proj(F.gelu(self.up_proj(hidden_states)))
        return self.dropout(hidden_states) if self.dropout is not None else hidden_states


class GPTBlock(GradientCheckpointingLayer):
    """A pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.attn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = GPTAttention(config, layer_idx)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = GPTMLP(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        rotary: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        is_causal: bool = True,
        cache: Cache | None = None,
    ) -> torch.Tensor:
        hidden_states = hidden_states + self.attn(
            self.attn_norm(hidden_states), rotary, attention_mask, is_causal, cache
        )
        return hidden_states + self.mlp(self.mlp_norm(hidden_states))


class GPTPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the class attributes shared by the GPT models."""

    config_class = GPTConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["GPTBlock"]
    _skip_keys_device_placement = ["cache", "past_key_values"]
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=getattr(module, "init_std", std))
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)


class GPTModel(GPTPreTrainedModel):
    """The GPT transformer: embeddings, blocks and final LayerNorm, returning the last hidden states."""

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        if config.position_embedding_type == "learned":
            self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else None
        self.layers = nn.ModuleList(GPTBlock(config, layer_idx) for layer_idx in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, bias=config.bias)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast | tuple:
        """Run the transformer.

        Args:
            input_ids: Token ids (batch, seq); only the new tokens when `cache` holds the earlier ones.
            attention_mask: 1 for tokens and 0 for padding, over the cached and the new tokens (batch, past + seq).
            position_ids: Positions of the new tokens; derived from `attention_mask` (so left padding is skipped)
                or from the cache length when not given.
            cache: A `Cache` (e.g. `DynamicCache`) with the keys and values of earlier tokens.
            inputs_embeds: Token embeddings to use instead of `input_ids`.
            use_cache: Return the updated cache; defaults to `config.use_cache` at inference and False in training.
            output_hidden_states: Also return the input of every block and the final output.
            past_key_values: `cache` under the name transformers before 5.24 passes.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        seq_len = inputs_embeds.shape[1]
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training
        cache = cache if cache is not None else past_key_values
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        past_length = cache.get_seq_length() if cache is not None else 0
        if (
            self.config.position_embedding_type == "learned"
            and past_length + seq_len > self.config.max_position_embeddings
        ):
            # The learned table has no row past the trained context; rotary positions extend past it.
            raise ValueError(
                f"GPT with learned positions sees at most max_position_embeddings={self.config.max_position_embeddings}"
                f" tokens, got {past_length + seq_len}: shorten the input (or max_new_tokens)"
            )

        if position_ids is None:
            if attention_mask is not None and attention_mask.dim() == 2:
                # Counting real tokens makes a left-padded row use the positions it would have alone.
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -seq_len:]
            else:
                position_ids = torch.arange(past_length, past_length + seq_len, device=inputs_embeds.device)[None]

        hidden_states = inputs_embeds
        rotary = None
        if self.config.position_embedding_type == "learned":
            hidden_states = hidden_states + self.embed_positions(position_ids)
        else:
            rotary = rotary_frequencies(
                position_ids, self.config.hidden_size // self.config.num_attention_heads, self.config.rope_theta
            )
        if self.dropout is not None:
            hidden_states = self.dropout(hidden_states)
        mask, is_causal = attention_mask_for_sdpa(attention_mask, seq_len, past_length, hidden_states.device)

        all_hidden_states = [] if output_hidden_states else None
        for layer in self.layers:
            if all_hidden_states is not None:
                all_hidden_states.append(hidden_states)
            hidden_states = layer(hidden_states, rotary, mask, is_causal, cache=cache)
        hidden_states = self.norm(hidden_states)
        if all_hidden_states is not None:
            all_hidden_states.append(hidden_states)

        output = BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            **{CACHE_FIELD: cache if use_cache else None},
            hidden_states=tuple(all_hidden_states) if all_hidden_states is not None else None,
        )
        return output if return_dict is not False else output.to_tuple()


class GPTForCausalLM(GPTPreTrainedModel, GenerationMixin):
    """GPT with a language-modelling head (tied to the token embeddings by default); works with `generate()`."""

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    # The loss is a sum divided by `num_items_in_batch` when the Trainer passes it, so gradient accumulation and
    # multi-device training average over tokens correctly.
    accepts_loss_kwargs = True

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.model = GPTModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int = 0,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        """Next-token logits, and the loss when `labels` are given.

        Args:
            labels: Targets (batch, seq), usually the `input_ids` themselves: they are shifted inside, and -100 marks
                positions to ignore. `shift_labels` (already shifted) and `num_items_in_batch` may come in `kwargs`.
            logits_to_keep: Compute logits for the last `logits_to_keep` positions only (0 = all); `generate`
                asks for 1.
            Others: as in [`GPTModel.forward`].
        """
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache if cache is not None else past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
        )
        logits = self.lm_head(outputs.last_hidden_state[:, -logits_to_keep:])
        loss = None
        if labels is not None or "shift_labels" in kwargs:
            loss = self.loss_function(logits, labels, vocab_size=self.config.vocab_size, **kwargs)
        output = CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: getattr(outputs, CACHE_FIELD)},
            hidden_states=outputs.hidden_states,
        )
        return output if return_dict is not False else output.to_tuple()
