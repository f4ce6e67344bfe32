"""nlpkit's LSTM language model (char-rnn style) as a Hugging Face model.

Token embedding -> N-layer LSTM -> linear output projection (optionally tied to the embedding). The generation cache
is the recurrent state `(h, c)` itself, so each new token costs one LSTM step, whatever the length so far. Beam
search reorders that state through `_reorder_cache`.

Padding (attention_mask == 0) is skipped, not read: each row's tokens are packed and run as if the padding were
absent, so a left-padded prompt in a batch ends in the same state it reaches alone.
"""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_lstm_lm import LSTMLMConfig

LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (num_layers, batch, hidden_size)

# transformers 5.24 renamed `past_key_values` to `cache`, as a forward argument and as a model output field. The model
# here takes both arguments and fills whichever field exists, so this file (shipped as remote code) runs on any 5.x.
CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def lstm_skipping_padding(
    lstm: nn.LSTM, inputs: torch.Tensor, mask: torch.Tensor, state: LSTMState | None
) -> tuple[torch.Tensor, LSTMState]:
    """Run a batch-first `lstm` over the positions where `mask` is True only; masked positions get zero outputs.

    Each row's tokens are moved to the front (keeping their order), packed, run, and put back in place.
    """
    seq_len = inputs.shape[1]
    lengths = mask.sum(dim=1)
    order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices  # token positions first
    gathered = inputs.gather(1, order[..., None].expand_as(inputs))
    packed = pack_padded_sequence(gathered, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
    packed_outputs, (h, c) = lstm(packed, state)
    outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=seq_len)
    outputs = torch.zeros_like(outputs).scatter(1, order[..., None].expand_as(outputs), outputs)
    empty_rows = lengths == 0  # packing needs one step per row: undo it where the row had no token at all
    if empty_rows.any():
        if state is None:
            state = (torch.zeros_like(h), torch.zeros_like(c))
        keep = empty_rows[None, :, None]
        h, c = torch.where(keep, state[0], h), torch.where(keep, state[1], c)
    return outputs, (h, c)


class LSTMPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the class attributes of the LSTM language model."""

    config_class = LSTMLMConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = False  # one fused multi-layer nn.LSTM; its activations are small anyway
    _gradient_checkpointing_refusal = "one fused nn.LSTM call holds its activations"  # nlpkit's recipe check says it
    _no_split_modules = ["LSTM"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.LSTM):
            # PyTorch's uniform(-1/sqrt(hidden), 1/sqrt(hidden)) for the matrices; a forget-gate bias of 1 so the
            # cell state is kept early in training (Jozefowicz et al., 2015). Gate order is input, forget, cell, output.
            bound = module.hidden_size**-0.5
            for name, param in module.named_parameters():
                if name.startswith("weight"):
                    init.uniform_(param, -bound, bound)
                else:
                    bias = torch.zeros_like(param)
                    if name.startswith("bias_ih"):
                        bias[module.hidden_size : 2 * module.hidden_size] = 1.0
                    init.copy_(param, bias)  # one call on the whole tensor, so loaded weights are left alone
        elif isinstance(module, nn.Embedding):
            # Unit variance, PyTorch's default: the LSTM's input weights are scaled for unit-variance inputs, and
            # small embeddings make it learn far more slowly. (A tied output projection shares this init.)
            init.normal_(module.weight, mean=0.0, std=1.0)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)


class LSTMForCausalLM(LSTMPreTrainedModel, GenerationMixin):
    """An LSTM language model; `generate()` carries the LSTM state `(h, c)` as its cache."""

    _tied_weights_keys = {"lm_head.weight": "embed_tokens.weight"}
    # The loss is a sum divided by `num_items_in_batch` when the Trainer passes it (see `GPTForCausalLM`).
    accepts_loss_kwargs = True

    def __init__(self, config: LSTMLMConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_hidden_layers,
            dropout=config.dropout if config.num_hidden_layers > 1 else 0.0,
            batch_first=True,
        )
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # generate() must not hand us a key/value DynamicCache: our cache is the (h, c) tuple that forward returns.
        return False

    def _reorder_cache(self, cache: LSTMState, beam_idx: torch.LongTensor) -> LSTMState:
        """Beam search: keep the states of the surviving beams (the batch is dimension 1 of h and c)."""
        return tuple(state.index_select(1, beam_idx.to(state.device)) for state in cache)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: LSTMState | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int = 0,
        past_key_values: LSTMState | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        """Next-token logits, and the loss when `labels` are given.

        Args:
            input_ids: Token ids (batch, seq); only the new tokens when `cache` holds the earlier state.
            attention_mask: 1 for tokens and 0 for padding (batch, seq), or over earlier and new tokens as
                `generate()` passes it; padded positions leave the state unchanged.
            cache: The LSTM state `(h, c)` after the earlier tokens.
            inputs_embeds: Token embeddings to use instead of `input_ids`.
            labels: Targets, usually the `input_ids`; shifted inside, -100 is ignored. `shift_labels` and
                `num_items_in_batch` may come in `kwargs`.
            use_cache: Return the new state; defaults to `config.use_cache` at inference and False in training.
            logits_to_keep: Compute logits for the last `logits_to_keep` positions only (0 = all).
            past_key_values: `cache` under the name transformers before 5.24 passes.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training
        cache = cache if cache is not None else past_key_values
        hidden_states = self.dropout(inputs_embeds)
        step_mask = attention_mask[:, -hidden_states.shape[1] :].bool() if attention_mask is not None else None
        if step_mask is not None and torch.compiler.is_exporting():
            # Skipping padding packs rows by their lengths, which a graph cannot do; an exported step reads
            # unpadded rows (prompts of one length together), which gives each row the state padding would.
            raise ValueError("an exported LSTM LM step takes no attention_mask: feed prompts of one length together")
        if step_mask is None or bool(step_mask.all()):
            hidden_states, state = self.lstm(hidden_states, cache)
        else:
            hidden_states, state = lstm_skipping_padding(self.lstm, hidden_states, step_mask, cache)
        logits = self.lm_head(self.dropout(hidden_states[:, -logits_to_keep:]))

        loss = None
        if labels is not None or "shift_labels" in kwargs:
            loss = self.loss_function(logits, labels, vocab_size=self.config.vocab_size, **kwargs)
        output = CausalLMOutputWithPast(loss=loss, logits=logits, **{CACHE_FIELD: state if use_cache else None})
        return output if return_dict is not False else output.to_tuple()
