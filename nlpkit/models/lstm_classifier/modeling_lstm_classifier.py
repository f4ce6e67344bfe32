"""LSTM/GRU sentence classifier: the classic "packed padded sequences" sentiment model as a Hugging Face model.

    token ids -> embedding -> dropout -> (bi)LSTM/GRU over packed sequences -> pool -> dropout -> linear -> logits

Padding never reaches the recurrent layers: the attention mask gives each sequence's length, the ids are packed
(left-padded rows are first shifted to the left), and only real tokens are embedded and run. A sentence therefore
gets the same logits alone or inside any right- or left-padded batch.

Under `torch.export` (ONNX export) the same computation runs without packing, which exporters cannot trace, and
without branches on the data: `rnn_over_lengths` runs each direction of each layer by itself, the backward one over
each sequence reversed within its length, so padding still never reaches a token (the outputs match to float
rounding; see `LSTMClassifierModel.forward`).
"""

from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput
from transformers.utils import can_return_tuple

from .configuration_lstm_classifier import LSTMClassifierConfig


class LSTMClassifierPreTrainedModel(PreTrainedModel):
    """Weight initialisation and shared settings of the LSTM classifier models."""

    config_class = LSTMClassifierConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _no_split_modules: ClassVar[list[str]] = ["LSTMClassifierModel"]
    # The loss is a plain mean over the batch: it does not use Trainer's `num_items_in_batch`.
    accepts_loss_kwargs = False
    # Read by nlpkit's recipe check, which refuses `gradient_checkpointing` with this reason before loading.
    supports_gradient_checkpointing = False
    _gradient_checkpointing_refusal = "one fused nn.LSTM call holds its activations"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        config = self.config
        if isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=config.embedding_init_std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.LSTM, nn.GRU)):
            _init_recurrent_weights(module, forget_bias=config.forget_bias if isinstance(module, nn.LSTM) else 0.0)


def _init_recurrent_weights(rnn: nn.RNNBase, forget_bias: float) -> None:
    """Xavier input weights, orthogonal recurrent weights (one block per gate), zero biases except the forget gate.

    Tensors are built whole and copied in with `init.copy_`, which skips weights already loaded from a checkpoint.
    """
    num_gates = 4 if isinstance(rnn, nn.LSTM) else 3
    for name, param in rnn.named_parameters():
        if getattr(param, "_is_hf_initialized", False):  # loaded from a checkpoint
            continue
        value = torch.empty(param.shape, dtype=torch.float32, device=param.device)  # QR needs float32
        if name.startswith("weight_ih"):
            for gate in value.chunk(num_gates, dim=0):
                nn.init.xavier_uniform_(gate)
        elif name.startswith("weight_hh"):
            for gate in value.chunk(num_gates, dim=0):
                nn.init.orthogonal_(gate)
        else:
            value.zero_()
            # PyTorch's LSTM gate order is (input, forget, cell, output); bias_ih and bias_hh are added, so set one.
            if forget_bias and name.startswith("bias_ih"):
                value.chunk(num_gates)[1].fill_(forget_bias)
        init.copy_(param, value)


def rnn_over_lengths(
    rnn: nn.LSTM | nn.GRU, inputs: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`rnn` (batch_first) over left-aligned sequences of `lengths` (each >= 1), as packing runs it, with ops that
    `torch.export` traces (no packed sequence, no branch on the data).

    Each direction of each layer is its own single-layer call (aten::lstm / aten::gru, ONNX LSTM / GRU). The backward
    direction reads each sequence reversed within its length, so it starts at the last token rather than at the
    padding. Returns the outputs `(batch, seq_len, directions * hidden)`, meaningful at the first `lengths` positions
    only, and the final hidden state of every layer and direction `(layers * directions, batch, hidden)`, packing's
    `h_n`: the forward state after each sequence's last token, the backward state after its first.
    """
    batch_size, seq_len = inputs.shape[:2]
    positions = torch.arange(seq_len, device=inputs.device).expand(batch_size, seq_len)
    inside = positions < lengths.unsqueeze(1)
    # Position t of a sequence of length n reads position n - 1 - t; padding stays where it is (its own inverse).
    reversed_positions = torch.where(inside, lengths.unsqueeze(1) - 1 - positions, positions)
    last_positions = (lengths - 1).view(batch_size, 1, 1)
    is_lstm = isinstance(rnn, nn.LSTM)
    initial = inputs.new_zeros(1, batch_size, rnn.hidden_size)
    layer_inputs, final_states = inputs, []
    for layer in range(rnn.num_layers):
        directions = []
        for suffix in ("", "_reverse") if rnn.bidirectional else ("",):
            weights = [getattr(rnn, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh")]
            if rnn.bias:
                weights += [getattr(rnn, f"{name}_l{layer}{suffix}") for name in ("bias_ih", "bias_hh")]
            backward = suffix == "_reverse"
            steps = _gather_steps(layer_inputs, reversed_positions) if backward else layer_inputs
            if is_lstm:
                outputs = torch.lstm(steps, (initial, initial), weights, rnn.bias, 1, 0.0, False, False, True)[0]
            else:
                outputs = torch.gru(steps, initial, weights, rnn.bias, 1, 0.0, False, False, True)[0]
            # The state after the sequence's last step: at position n - 1 of the read order.
            final = outputs.gather(1, last_positions.expand(-1, 1, outputs.size(-1))).squeeze(1)
            directions.append(_gather_steps(outputs, reversed_positions) if backward else outputs)
            final_states.append(final)
        layer_inputs = torch.cat(directions, dim=-1)
        if layer < rnn.num_layers - 1 and rnn.dropout:
            layer_inputs = nn.functional.dropout(layer_inputs, rnn.dropout, rnn.training)
    return layer_inputs, torch.stack(final_states)


def _gather_steps(steps: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """`steps[b, positions[b, t]]` for every `(b, t)`: `(batch, seq_len, features)`."""
    return steps.gather(1, positions.unsqueeze(-1).expand(-1, -1, steps.size(-1)))


class LSTMClassifierModel(LSTMClassifierPreTrainedModel):
    """Embedding + stacked (bi)LSTM/GRU encoder; returns the per-token outputs and the pooled sentence vector."""

    def __init__(self, config: LSTMClassifierConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        rnn_class = nn.LSTM if config.rnn_type == "lstm" else nn.GRU
        self.rnn = rnn_class(
            input_size=config.embedding_size,
            hidden_size=config.hidden_size,
            num_layers=config.num_hidden_layers,
            bidirectional=config.bidirectional,
            dropout=config.rnn_dropout if config.num_hidden_layers > 1 else 0.0,
            batch_first=True,
        )
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    @can_return_tuple
    def forward(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None
    ) -> BaseModelOutputWithPooling:
        """Encode a padded batch.

        Args:
            input_ids: `(batch, seq_len)` token ids, padded on either side.
            attention_mask: `(batch, seq_len)`, 1 for tokens and 0 for padding. When omitted, every position that is
                not `pad_token_id` is a token.

        Returns:
            `last_hidden_state` `(batch, seq_len, output_size)` (zeros at padding) and `pooler_output`
            `(batch, output_size)`. A sequence without any token pools to zeros.
        """
        if attention_mask is None:
            pad_id = self.config.pad_token_id
            attention_mask = input_ids.ne(pad_id) if pad_id is not None else torch.ones_like(input_ids)
        mask = attention_mask.bool()
        if torch.compiler.is_exporting():
            return self._forward_unpacked(input_ids, mask)
        lengths = mask.sum(dim=1).cpu()  # pack_padded_sequence wants lengths on the CPU
        empty_rows = lengths == 0
        has_empty_rows = bool(empty_rows.any())

        # pack_padded_sequence takes the first `length` positions of each row, so move the tokens of rows that are
        # not right-padded (left padding, holes) to the front. A stable sort of "is padding" keeps token order.
        token_positions = None
        if not bool((mask[:, 1:] <= mask[:, :-1]).all()):
            token_positions = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
            input_ids = input_ids.gather(1, token_positions)

        # Pack the ids rather than the embeddings: only real tokens get embedded, and no padded copy is made.
        packed_ids = pack_padded_sequence(input_ids, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        embedded = self.embedding_dropout(self.embed_tokens(packed_ids.data))
        packed_outputs, final_state = self.rnn(packed_ids._replace(data=embedded))

        hidden, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=input_ids.size(1))
        if token_positions is not None:  # back to the caller's positions; padding outputs are zeros
            index = token_positions.unsqueeze(-1).expand_as(hidden)
            hidden = torch.empty_like(hidden).scatter_(1, index, hidden)
        if has_empty_rows:  # such rows ran over one padding token (length clamped to 1): drop that output
            hidden = hidden.masked_fill(~mask.unsqueeze(-1), 0.0)

        pooled = self._pool(hidden, mask, lengths, final_state)
        if has_empty_rows:
            pooled = pooled.masked_fill(empty_rows.to(pooled.device).unsqueeze(-1), 0.0)
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)

    def _forward_unpacked(self, input_ids: torch.LongTensor, mask: torch.Tensor) -> BaseModelOutputWithPooling:
        """`forward` for `torch.export`: the same outputs, from ops that it traces (see `rnn_over_lengths`)."""
        lengths = mask.sum(dim=1)
        # Tokens first, in order, then the padding: the new position of each position (a stable sort of "is
        # padding", as in `forward`), and the position each new position reads.
        new_positions = torch.where(mask, mask.cumsum(dim=1) - 1, lengths.unsqueeze(1) + (~mask).cumsum(dim=1) - 1)
        positions = torch.arange(mask.size(1), device=mask.device).expand_as(new_positions)
        token_positions = torch.empty_like(new_positions).scatter(1, new_positions, positions)
        embedded = self.embedding_dropout(self.embed_tokens(input_ids.gather(1, token_positions)))
        # An empty row runs over one padding token, as the packed path does; its outputs are dropped below.
        hidden, final_hidden = rnn_over_lengths(self.rnn, embedded, lengths.clamp(min=1))
        hidden = _gather_steps(hidden, new_positions).masked_fill(~mask.unsqueeze(-1), 0.0)  # caller's positions
        pooled = self._pool(hidden, mask, lengths, final_hidden).masked_fill((lengths == 0).unsqueeze(-1), 0.0)
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)

    def _pool(
        self,
        hidden: torch.Tensor,
        mask: torch.Tensor,
        lengths: torch.Tensor,
        final_state: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        pooling = self.config.pooling
        if pooling == "last":
            # The final hidden state of the last layer: after the last token going forward, after the first token
            # going backward. Packing makes these the states at each sequence's true ends.
            final_hidden = final_state[0] if isinstance(final_state, tuple) else final_state
            num_directions = 2 if self.config.bidirectional else 1
            last_layer = final_hidden[-num_directions:]  # (directions, batch, hidden)
            return last_layer.transpose(0, 1).reshape(hidden.size(0), -1)
        if pooling == "max":
            return hidden.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
        # mean: padding outputs are already zeros
        return hidden.sum(dim=1) / lengths.clamp(min=1).unsqueeze(-1).to(hidden.device, hidden.dtype)


class LSTMClassifierForSequenceClassification(LSTMClassifierPreTrainedModel):
    """[`LSTMClassifierModel`] with a linear head on the pooled vector, for single-label classification,
    multi-label classification or regression (chosen like transformers' `*ForSequenceClassification` models)."""

    def __init__(self, config: LSTMClassifierConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = LSTMClassifierModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.output_size, config.num_labels)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.set_input_embeddings(value)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        """Classify a padded batch.

        Args:
            input_ids: `(batch, seq_len)` token ids, padded on either side.
            attention_mask: `(batch, seq_len)`, 1 for tokens and 0 for padding.
            labels: `(batch,)` class ids (single-label), `(batch, num_labels)` floats in [0, 1] (multi-label) or
                `(batch,)` / `(batch, num_labels)` floats (regression). `config.problem_type` decides, and is
                inferred from `num_labels` and the label dtype on the first call when unset.
        """
        outputs = self.model(input_ids, attention_mask=attention_mask)
        logits = self.classifier(self.dropout(outputs.pooler_output))

        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            if self.config.problem_type is None:
                if self.num_labels == 1:
                    self.config.problem_type = "regression"
                elif labels.dtype in (torch.long, torch.int):
                    self.config.problem_type = "single_label_classification"
                else:
                    self.config.problem_type = "multi_label_classification"

            if self.config.problem_type == "regression":
                if self.num_labels == 1:
                    loss = nn.functional.mse_loss(logits.view(-1), labels.view(-1).to(logits.dtype))
                else:
                    loss = nn.functional.mse_loss(logits, labels.to(logits.dtype))
            elif self.config.problem_type == "single_label_classification":
                loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
            elif self.config.problem_type == "multi_label_classification":
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))

        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=None)


__all__ = [
    "LSTMClassifierForSequenceClassification",
    "LSTMClassifierModel",
    "LSTMClassifierPreTrainedModel",
    "rnn_over_lengths",
]
