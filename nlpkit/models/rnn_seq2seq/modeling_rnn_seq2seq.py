"""RNN encoder-decoder with attention for translation, the model of the classic seq2seq tutorials, made fast.

The tutorial recipe (Bahdanau et al. 2015) computes attention from the previous decoder state and feeds the context
into the next RNN step, so training walks the target one token at a time in Python. Here the default is Luong et al.
(2015) without input feeding: attention reads the decoder RNN's *output*, so under teacher forcing

    decoder RNN over the whole target (one nn.GRU call)
      -> attention of every target position over the encoder states (one batched matmul)
      -> attentional vector tanh(W_c [context; output]) -> output projection

is a handful of big batched ops. Generation runs the same modules one token at a time, carrying the RNN state in
`cache` (an `RNNDecoderState`), and gives the same logits as the full-sequence pass. Additive (Bahdanau)
scoring and Luong input feeding (a per-step loop) are options.

Exported graphs (`torch.export`, `nlpkit export`) cannot branch on data or pack sequences: while exporting, the
encoder reverses each row's real tokens for the backward direction instead of packing (the same states), and the
right-padding check is left to the caller.

Shapes: B batch, S source length, T target length, H decoder hidden size, D encoder output size, A attentional size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput

from .configuration_rnn_seq2seq import RNNSeq2SeqConfig

RNN_CLASSES = {"gru": nn.GRU, "lstm": nn.LSTM}
RNN_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # of each layer and direction, in nn.GRU's order

# transformers 5.24 renamed `past_key_values` to `cache`, as a forward argument and as a model output field. The models
# here take both arguments and fill whichever field exists, so this file (shipped as remote code) runs on any 5.x.
CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


class RNNDecoderState(NamedTuple):
    """What the decoder carries from one target token to the next (the `cache` of this model).

    Every tensor is batch-first, so beam search reorders the whole state with one `index_select` on dim 0.
    """

    hidden: torch.Tensor  # (B, num_decoder_layers, H)
    cell: torch.Tensor | None  # (B, num_decoder_layers, H), LSTM only
    input_feed: torch.Tensor | None  # (B, A), the previous attentional vector; input feeding only

    @classmethod
    def from_rnn(cls, hx: torch.Tensor | tuple[torch.Tensor, torch.Tensor], input_feed: torch.Tensor | None):
        hidden, cell = hx if isinstance(hx, tuple) else (hx, None)
        return cls(hidden.transpose(0, 1), None if cell is None else cell.transpose(0, 1), input_feed)

    def rnn_hx(self) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The state in the (layers, B, H) layout nn.GRU / nn.LSTM expect."""
        hidden = self.hidden.transpose(0, 1).contiguous()
        return hidden if self.cell is None else (hidden, self.cell.transpose(0, 1).contiguous())

    def index_select(self, index: torch.Tensor) -> RNNDecoderState:
        return RNNDecoderState(*(None if t is None else t.index_select(0, index.to(t.device)) for t in self))


def source_lengths(attention_mask: torch.Tensor) -> torch.Tensor:
    """Real tokens per row. The RNNs read each row from its first position, so the source must be right-padded
    (checked in eager mode; an exported graph cannot raise on data, so its runtime pads right)."""
    if not torch.compiler.is_exporting() and attention_mask.shape[1] > 1:
        if bool((attention_mask[:, 1:] > attention_mask[:, :-1]).any()):
            raise ValueError("RNNSeq2Seq needs right-padded sources (set tokenizer.padding_side = 'right')")
    return attention_mask.sum(-1).clamp(min=1)


def reversal_index(lengths: torch.Tensor, length: int) -> torch.Tensor:
    """(B, S) positions that read each row's first `lengths` tokens in reverse order and leave the padding after
    them in place. Applied twice it is the identity, so it also maps a backward RNN's outputs back to source order."""
    positions = torch.arange(length, device=lengths.device).unsqueeze(0)  # (1, S)
    last = lengths.unsqueeze(1) - 1
    return torch.where(positions <= last, last - positions, positions)


def reverse_real_tokens(sequences: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`sequences` (B, S, F) reordered by a `reversal_index`. The gather takes its shape from `index` (built from
    the input's shape), not from an RNN output, whose length torch.export records as a constant."""
    return sequences.gather(1, index.unsqueeze(-1).expand(-1, -1, sequences.shape[-1]))


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Teacher-forcing decoder inputs: the labels moved one step right behind the start token (-100 -> pad)."""
    decoder_input_ids = labels.new_full(labels.shape, decoder_start_token_id)
    decoder_input_ids[:, 1:] = labels[:, :-1]
    return decoder_input_ids.masked_fill(decoder_input_ids == -100, pad_token_id)


class RNNSeq2SeqEncoder(nn.Module):
    """Source embeddings and a (bidirectional) GRU/LSTM over the packed source, so padding never enters a state."""

    main_input_name = "input_ids"

    def __init__(self, config: RNNSeq2SeqConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = RNN_CLASSES[config.rnn_type](
            config.embedding_size,
            config.encoder_hidden_size,
            num_layers=config.num_hidden_layers,
            dropout=config.dropout if config.num_hidden_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
            batch_first=True,
        )

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,  # generate() passes these two; an RNN encoder has neither
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput:
        embedded = self.dropout(self.embed_tokens(input_ids))  # (B, S, E)
        lengths = None if attention_mask is None else source_lengths(attention_mask)
        if torch.compiler.is_exporting():
            states = self.rnn_without_packing(embedded, lengths)
        elif lengths is None or bool((lengths == input_ids.shape[1]).all()):
            states, _ = self.rnn(embedded)
        else:
            packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
            states, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=input_ids.shape[1])
        return BaseModelOutput(last_hidden_state=states)  # (B, S, D), zeros at padding

    def rnn_without_packing(self, embedded: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """The packed RNN's outputs computed without packing, for graphs that cannot pack (torch.export, ONNX).

        Padding follows the real tokens, so a forward RNN over the padded rows gives the packed states at every real
        position. The backward direction reads each row's real tokens reversed (`reverse_real_tokens`) and is mapped
        back; each layer and direction runs alone because the next layer reads both directions at real positions
        only. Padding positions are zeroed, as `pad_packed_sequence` leaves them."""
        if lengths is None:
            return self.rnn(embedded)[0]
        rnn, layer_input = self.rnn, embedded
        reversal = reversal_index(lengths, embedded.shape[1])
        weights = dict(zip(rnn._flat_weights_names, rnn._flat_weights))
        directions = ("", "_reverse") if rnn.bidirectional else ("",)
        for layer in range(rnn.num_layers):
            if layer > 0:
                layer_input = F.dropout(layer_input, rnn.dropout, self.training)
            outputs = []
            for suffix in directions:
                params = [weights[f"{name}_l{layer}{suffix}"] for name in RNN_PARAMETERS]
                reverse = suffix == "_reverse"
                inputs = reverse_real_tokens(layer_input, reversal) if reverse else layer_input
                output = self.one_direction(inputs, params)
                outputs.append(reverse_real_tokens(output, reversal) if reverse else output)
            layer_input = torch.cat(outputs, dim=-1)
        real = torch.arange(embedded.shape[1], device=embedded.device).unsqueeze(0) < lengths.unsqueeze(1)
        return layer_input * real.unsqueeze(-1).to(layer_input.dtype)

    def one_direction(self, inputs: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        """One layer and direction of the encoder RNN over (B, S, F), from a zero state: the op nn.GRU / nn.LSTM
        call themselves (`torch._VF`), on that direction's weights."""
        hidden = inputs.new_zeros(1, inputs.shape[0], self.rnn.hidden_size)
        if isinstance(self.rnn, nn.LSTM):
            return torch._VF.lstm(inputs, (hidden, hidden), params, True, 1, 0.0, False, False, True)[0]
        return torch._VF.gru(inputs, hidden, params, True, 1, 0.0, False, False, True)[0]


class RNNSeq2SeqAttention(nn.Module):
    """Scores each query against every encoder state and returns the weighted sum of the states.

    general: q W k (Luong)    dot: q k (Luong)    additive: v tanh(W q + U k) (Bahdanau)
    """

    def __init__(self, config: RNNSeq2SeqConfig):
        super().__init__()
        self.attention_type = config.attention_type
        if config.attention_type == "general":
            # q W k computed as (W^T q) k: projecting the T queries, not the S keys, costs nothing per generated token
            self.query_projection = nn.Linear(config.hidden_size, config.encoder_output_size, bias=False)
        elif config.attention_type == "additive":
            self.query_projection = nn.Linear(config.hidden_size, config.attention_size, bias=False)
            self.key_projection = nn.Linear(config.encoder_output_size, config.attention_size)
            self.energy = nn.Linear(config.attention_size, 1, bias=False)

    def forward(
        self, queries: torch.Tensor, encoder_states: torch.Tensor, encoder_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries (B, T, H) over encoder_states (B, S, D) where encoder_mask (B, S) is True.

        Returns the context (B, T, D) and the attention weights (B, T, S)."""
        if self.attention_type == "additive":
            keys = self.key_projection(encoder_states).unsqueeze(1)  # (B, 1, S, A)
            scores = self.energy(torch.tanh(self.query_projection(queries).unsqueeze(2) + keys)).squeeze(-1)
        else:
            if self.attention_type == "general":
                queries = self.query_projection(queries)
            scores = torch.bmm(queries, encoder_states.transpose(1, 2))
        scores = scores.masked_fill(~encoder_mask.unsqueeze(1), torch.finfo(scores.dtype).min)
        weights = scores.softmax(dim=-1)
        return torch.bmm(weights, encoder_states), weights


class RNNSeq2SeqDecoder(nn.Module):
    """Decoder RNN, attention over the encoder states and Luong's attentional layer tanh(W_c [context; output])."""

    def __init__(self, config: RNNSeq2SeqConfig):
        super().__init__()
        self.rnn_type = config.rnn_type
        self.input_feeding = config.input_feeding
        self.num_layers = config.num_decoder_layers
        self.encoder_hidden_size = config.encoder_hidden_size
        self.bidirectional = config.bidirectional
        self.attentional_size = config.attentional_size
        self.dropout = nn.Dropout(config.dropout)
        rnn_input_size = config.embedding_size + (config.attentional_size if config.input_feeding else 0)
        self.rnn = RNN_CLASSES[config.rnn_type](
            rnn_input_size,
            config.hidden_size,
            num_layers=config.num_decoder_layers,
            dropout=config.dropout if config.num_decoder_layers > 1 else 0.0,
            batch_first=True,
        )
        # The initial state of every decoder layer (and LSTM cell) comes from the encoder's final states.
        states_per_layer = 2 if config.rnn_type == "lstm" else 1
        self.bridge = nn.Linear(
            config.encoder_output_size, config.num_decoder_layers * states_per_layer * config.hidden_size
        )
        self.attention = RNNSeq2SeqAttention(config)
        self.combine = nn.Linear(config.encoder_output_size + config.hidden_size, config.attentional_size, bias=False)

    def initial_state(self, encoder_states: torch.Tensor, encoder_mask: torch.Tensor) -> RNNDecoderState:
        """tanh(bridge(final encoder states)): the forward RNN's at the last real token, the backward RNN's at 0."""
        batch_size = encoder_states.shape[0]
        last_position = source_lengths(encoder_mask) - 1
        final_states = encoder_states[torch.arange(batch_size, device=encoder_states.device), last_position]
        if self.bidirectional:
            final_states = torch.cat(
                [final_states[:, : self.encoder_hidden_size], encoder_states[:, 0, self.encoder_hidden_size :]], dim=-1
            )
        initial = torch.tanh(self.bridge(final_states)).view(batch_size, self.num_layers, -1)
        hidden, cell = initial.chunk(2, dim=-1) if self.rnn_type == "lstm" else (initial, None)
        input_feed = encoder_states.new_zeros(batch_size, self.attentional_size) if self.input_feeding else None
        return RNNDecoderState(hidden.contiguous(), None if cell is None else cell.contiguous(), input_feed)

    def attend(
        self, rnn_outputs: torch.Tensor, encoder_states: torch.Tensor, encoder_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        context, weights = self.attention(rnn_outputs, encoder_states, encoder_mask)
        return torch.tanh(self.combine(torch.cat([context, rnn_outputs], dim=-1))), weights

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        encoder_states: torch.Tensor,
        encoder_mask: torch.Tensor,
        state: RNNDecoderState | None = None,
    ) -> tuple[torch.Tensor, RNNDecoderState, torch.Tensor]:
        """Embedded targets (B, T, E) -> attentional vectors (B, T, A), the state after them, weights (B, T, S)."""
        if state is None:
            state = self.initial_state(encoder_states, encoder_mask)
        inputs_embeds = self.dropout(inputs_embeds)
        if not self.input_feeding:
            rnn_outputs, hx = self.rnn(inputs_embeds, state.rnn_hx())  # the whole target in one call
            attentional, weights = self.attend(rnn_outputs, encoder_states, encoder_mask)
            return attentional, RNNDecoderState.from_rnn(hx, None), weights

        # Input feeding: step t reads the attentional vector of step t-1, so walk the target one token at a time.
        hx, input_feed = state.rnn_hx(), state.input_feed
        attentional_steps, weight_steps = [], []
        for step_embeds in inputs_embeds.split(1, dim=1):
            rnn_output, hx = self.rnn(torch.cat([step_embeds, input_feed.unsqueeze(1)], dim=-1), hx)
            attentional, weights = self.attend(rnn_output, encoder_states, encoder_mask)
            input_feed = attentional.squeeze(1)
            attentional_steps.append(attentional)
            weight_steps.append(weights)
        state = RNNDecoderState.from_rnn(hx, input_feed)
        return torch.cat(attentional_steps, dim=1), state, torch.cat(weight_steps, dim=1)


class RNNSeq2SeqPreTrainedModel(PreTrainedModel):
    """Weight init and loading glue shared by the RNN seq2seq models."""

    config_class = RNNSeq2SeqConfig
    config: RNNSeq2SeqConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _no_split_modules = ["RNNSeq2SeqEncoder", "RNNSeq2SeqDecoder"]
    accepts_loss_kwargs = False  # the loss is a plain token mean; it does not use num_items_in_batch
    # Read by nlpkit's recipe check, which refuses `gradient_checkpointing` with this reason before loading.
    supports_gradient_checkpointing = False
    _gradient_checkpointing_refusal = "fused nn.LSTM/nn.GRU calls hold its activations"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # U(-0.1, 0.1) for every weight (Luong et al.; also the RNNs, which the default init skips), zero biases.
        if isinstance(module, (nn.Linear, nn.Embedding, nn.GRU, nn.LSTM)):
            for name, param in module.named_parameters(recurse=False):
                if name.startswith("bias"):
                    init.zeros_(param)
                else:
                    init.uniform_(param, -self.config.initializer_range, self.config.initializer_range)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            if not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])


class RNNSeq2SeqModel(RNNSeq2SeqPreTrainedModel):
    """Encoder and decoder without the output projection: returns the decoder's attentional vectors."""

    def __init__(self, config: RNNSeq2SeqConfig):
        super().__init__(config)
        self.encoder = RNNSeq2SeqEncoder(config)
        if not config.share_embeddings:  # with shared embeddings the decoder reads encoder.embed_tokens
            self.decoder_embed_tokens = nn.Embedding(
                config.decoder_vocab_size, config.embedding_size, padding_idx=config.pad_token_id
            )
        self.decoder = RNNSeq2SeqDecoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.embed_tokens = value

    def get_decoder_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embed_tokens if self.config.share_embeddings else self.decoder_embed_tokens

    def get_encoder(self, modality: str | None = None) -> RNNSeq2SeqEncoder:
        return self.encoder

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: RNNDecoderState | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: RNNDecoderState | None = None,
    ) -> Seq2SeqModelOutput:
        """`decoder_attention_mask` is accepted and not needed: the decoder is causal and targets are right-padded,
        so padding only follows the positions whose labels count. `cache` is the state after the tokens already
        decoded; then `decoder_input_ids` holds only the new tokens. `past_key_values` is `cache` under the name
        transformers before 5.24 passes."""
        if decoder_input_ids is None:
            raise ValueError("pass decoder_input_ids, or labels to RNNSeq2SeqForConditionalGeneration")
        use_cache = self.config.use_cache if use_cache is None else use_cache
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids, attention_mask)
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(last_hidden_state=encoder_outputs[0])
        encoder_states = encoder_outputs.last_hidden_state
        if attention_mask is None:
            encoder_mask = encoder_states.new_ones(encoder_states.shape[:2], dtype=torch.bool)
        else:
            encoder_mask = attention_mask.bool()

        inputs_embeds = self.get_decoder_input_embeddings()(decoder_input_ids)
        cache = cache if cache is not None else past_key_values
        attentional, state, weights = self.decoder(inputs_embeds, encoder_states, encoder_mask, cache)
        output = Seq2SeqModelOutput(
            last_hidden_state=attentional,
            **{CACHE_FIELD: state if use_cache else None},
            cross_attentions=(weights.unsqueeze(1),) if output_attentions else None,  # (B, 1 head, T, S)
            encoder_last_hidden_state=encoder_states,
        )
        return output if return_dict is not False else output.to_tuple()


class RNNSeq2SeqForConditionalGeneration(RNNSeq2SeqPreTrainedModel, GenerationMixin):
    """The translation model: `RNNSeq2SeqModel` plus the output projection, a loss and `generate()`."""

    _tied_weights_keys = {"lm_head.weight": "model.decoder_embed_tokens.weight"}

    def __init__(self, config: RNNSeq2SeqConfig):
        super().__init__(config)
        if config.share_embeddings:
            self._tied_weights_keys = {"lm_head.weight": "model.encoder.embed_tokens.weight"}
        self.model = RNNSeq2SeqModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.attentional_size, config.decoder_vocab_size)
        self.post_init()

    def get_encoder(self, modality: str | None = None) -> RNNSeq2SeqEncoder:
        return self.model.encoder

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Used by DataCollatorForSeq2Seq to add `decoder_input_ids` to a batch."""
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: RNNDecoderState | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: RNNDecoderState | None = None,
    ) -> Seq2SeqLMOutput:
        """With `labels` (target ids, -100 where ignored) and no `decoder_input_ids`, the decoder inputs are the labels
        shifted right behind `decoder_start_token_id`, as in Marian/BART. In training mode with `labels` the output is
        the loss alone (`logits` is None), as with Trainer's `use_liger_kernel`; eval mode returns both."""
        if labels is not None:
            use_cache = False
            if decoder_input_ids is None:
                decoder_input_ids = shift_tokens_right(
                    labels, self.config.pad_token_id, self.config.decoder_start_token_id
                )
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            encoder_outputs=encoder_outputs,
            cache=cache if cache is not None else past_key_values,
            use_cache=use_cache,
            output_attentions=output_attentions,
        )
        attentional = self.dropout(outputs.last_hidden_state)  # (B, T, A)
        loss = logits = None
        if labels is not None and self.training:
            # Like Liger's fused-loss forward, training skips the full logits: the output layer is the costliest op
            # and padding is often half of a batch, so it runs only where a label counts.
            counted = labels != -100
            loss = F.cross_entropy(self.lm_head(attentional[counted]).float(), labels[counted])
        else:
            logits = self.lm_head(attentional)  # (B, T, V)
            if labels is not None:
                loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        output = Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: getattr(outputs, CACHE_FIELD)},
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
        )
        return output if return_dict is not False else output.to_tuple()

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # The decoder carries an RNNDecoderState, not a key/value cache: let the model create and return it.
        return False

    def _reorder_cache(self, cache: RNNDecoderState, beam_idx: torch.LongTensor) -> RNNDecoderState:
        return cache.index_select(beam_idx)


__all__ = [
    "RNNSeq2SeqEncoder",
    "RNNSeq2SeqForConditionalGeneration",
    "RNNSeq2SeqModel",
    "RNNSeq2SeqPreTrainedModel",
]
