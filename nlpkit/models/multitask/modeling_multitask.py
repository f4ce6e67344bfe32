"""Multi-task model: one shared encoder, one head per task, one head run per forward call.

    tokens -> encoder (a transformers BERT-family model, or nlpkit's BiLSTM) -> token states (+ pooled vector)
    head "sentiment" (sequence_classification): dropout -> Linear over the pooled vector, cross-entropy
    head "score"     (regression):              dropout -> Linear(hidden, 1) over the pooled vector, MSE
    head "ner"       (token_classification):    dropout -> Linear over each token state, cross-entropy (or a CRF)
    head "qa"        (span):                    Linear(hidden, 2) over each token state: start/end logits

The pooled vector of a BERT-family encoder is its pooler's (dense + tanh over the first token), so a sequence head
computes exactly what `BertForSequenceClassification` does and `head_model` exports it as that stock model; token
and span heads are `BertForTokenClassification`'s and `BertForQuestionAnswering`'s. The BiLSTM's pooled vector is a
max over the non-padding token states: its first state has read one token forward (only the backward direction saw
the sentence), and max-pooling was the best BiLSTM sentence vector of Conneau et al. (2017, InferSent).

A CRF head's loss is the linear-chain CRF negative log-likelihood (mean over sentences). Its chain runs over the
positions that carry a label (labels != -100: the first subword of each word; padding, special tokens and subword
continuations are skipped), or over every attended position when no labels are given (pipelines; a word-level
tokenizer without special tokens gives both the same chain). Its logits are the Viterbi path one-hot (1 at the
path's tag, 0 elsewhere and off the chain), so argmax reads the path; they are not confidences.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_multitask import MultiTaskConfig

SEQUENCE_KINDS = ("sequence_classification", "regression")
HEAD_AUTO_CLASSES = {
    "sequence_classification": "AutoModelForSequenceClassification",
    "regression": "AutoModelForSequenceClassification",
    "token_classification": "AutoModelForTokenClassification",
    "span": "AutoModelForQuestionAnswering",
}


@dataclass
class MultiTaskOutput(ModelOutput):
    """Output of one head: `logits` for classification/regression heads, `start_logits`/`end_logits` for spans."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None


class CRF(nn.Module):
    """Linear-chain CRF over `num_tags` tags; every method takes a right-padded chain mask `(batch, seq_len)`."""

    def __init__(self, num_tags: int):
        super().__init__()
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))  # [from_tag, to_tag]
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))

    def neg_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`-log p(tags | emissions)` per sequence `(batch,)`; 0 for a sequence with an empty chain."""
        emissions, tags = emissions.float(), tags.clamp(min=0)
        batch = torch.arange(len(tags), device=tags.device)
        gold = self.start_transitions[tags[:, 0]] + emissions[batch, 0, tags[:, 0]]
        log_alpha = self.start_transitions + emissions[:, 0]
        for t in range(1, emissions.shape[1]):
            step_gold = self.transitions[tags[:, t - 1], tags[:, t]] + emissions[batch, t, tags[:, t]]
            gold = gold + step_gold * mask[:, t]
            step = torch.logsumexp(log_alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1)
            log_alpha = torch.where(mask[:, t, None], step, log_alpha)
        last = tags[batch, (mask.sum(1) - 1).clamp(min=0)]
        gold = gold + self.end_transitions[last]
        nll = torch.logsumexp(log_alpha + self.end_transitions, dim=1) - gold
        return nll * mask[:, 0]

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The best tag sequence `(batch, seq_len)` (positions off the chain repeat the last tag)."""
        emissions = emissions.float()
        score, backpointers = self.start_transitions + emissions[:, 0], []
        for t in range(1, emissions.shape[1]):
            best, previous = (score.unsqueeze(2) + self.transitions).max(dim=1)
            keep = torch.arange(score.shape[1], device=score.device).expand_as(previous)
            backpointers.append(torch.where(mask[:, t, None], previous, keep))
            score = torch.where(mask[:, t, None], best + emissions[:, t], score)
        tag = (score + self.end_transitions).argmax(dim=1)
        path = [tag]
        for pointers in reversed(backpointers):
            tag = pointers.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        return torch.stack(path[::-1], dim=1)


def compact(mask: torch.Tensor) -> torch.Tensor:
    """Indices that move the positions of `mask` to the front of each row, in order (a right-padded chain)."""
    return torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices


class BiLSTMEncoder(nn.Module):
    """Embedding -> dropout -> BiLSTM -> dropout: token states `(batch, seq_len, 2 * hidden_size)`."""

    def __init__(self, settings: dict[str, Any]):
        super().__init__()
        self.embeddings = nn.Embedding(settings["vocab_size"], settings["embedding_size"], settings["pad_token_id"])
        self.dropout = nn.Dropout(settings["dropout"])
        self.lstm = nn.LSTM(
            settings["embedding_size"],
            settings["hidden_size"],
            num_layers=settings["num_layers"],
            dropout=settings["dropout"] if settings["num_layers"] > 1 else 0.0,
            batch_first=True,
            bidirectional=True,
        )

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1)
        if not torch.equal(mask, torch.arange(mask.shape[1], device=mask.device) < lengths.unsqueeze(1)):
            raise ValueError("the BiLSTM encoder needs right-padded inputs (tokenizer.padding_side = 'right')")
        packed = pack_padded_sequence(
            self.dropout(self.embeddings(input_ids)), lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False
        )
        states, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=input_ids.shape[1])
        return self.dropout(states)


class MultiTaskHead(nn.Module):
    """One task's layers: `dropout` + `classifier` (classification, regression), or `qa_outputs` (span), as named
    in transformers' BERT heads so that `head_model` copies them by name; `crf` for a CRF head."""

    def __init__(self, head: dict[str, Any], hidden_size: int, dropout: float):
        super().__init__()
        self.kind = head["kind"]
        if self.kind == "span":
            self.qa_outputs = nn.Linear(hidden_size, 2)
            return
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, 1 if self.kind == "regression" else len(head["labels"]))
        self.crf = CRF(len(head["labels"])) if head["crf"] else None


class MultiTaskPreTrainedModel(PreTrainedModel):
    """Weight init and Hugging Face plumbing of the multi-task model."""

    config_class = MultiTaskConfig
    base_model_prefix = "multitask"
    main_input_name = "input_ids"
    _no_split_modules: ClassVar[list[str]] = []
    accepts_loss_kwargs = False  # every loss is a mean (over sentences, tokens or labels): no num_items_in_batch
    # Read by nlpkit's recipe check, which refuses `gradient_checkpointing` with this reason before loading.
    supports_gradient_checkpointing = False
    _gradient_checkpointing_refusal = "checkpointing its shared encoder is not wired up"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)  # a transformers encoder is initialised by its own _init_weights
        if isinstance(module, CRF):
            for parameter in (module.transitions, module.start_transitions, module.end_transitions):
                init.uniform_(parameter, -0.1, 0.1)
        elif isinstance(module, nn.LSTM):  # forget-gate bias 1 (Jozefowicz et al. 2015)
            for name, bias in module.named_parameters():
                if name.startswith("bias_ih") and not getattr(bias, "_is_hf_initialized", False):
                    bias[module.hidden_size : 2 * module.hidden_size] = 1.0


def pretrained_encoder(encoder_config) -> PreTrainedModel:
    """The transformers base model of `encoder_config`, with its pooler where the architecture has one."""
    model_class = AutoModel._model_mapping[type(encoder_config)]
    if "add_pooling_layer" in inspect.signature(model_class.__init__).parameters:
        return model_class(encoder_config, add_pooling_layer=True)
    return model_class(encoder_config)


class MultiTaskModel(MultiTaskPreTrainedModel):
    """A shared encoder with one head per task (`config.heads`); `forward(..., task=name)` runs one head."""

    def __init__(self, config: MultiTaskConfig):
        super().__init__(config)
        if config.encoder_type == "bilstm":
            self.encoder = BiLSTMEncoder(config.encoder)
        else:
            self.encoder = pretrained_encoder(config.encoder)
        hidden_size, dropout = config.encoder_hidden_size, config.head_dropout
        self.heads = nn.ModuleDict({head["name"]: MultiTaskHead(head, hidden_size, dropout) for head in config.heads})
        self.post_init()

    @classmethod
    def from_pretrained_encoder(
        cls, path_or_name: str, heads: list[dict[str, Any]], **config_kwargs: Any
    ) -> MultiTaskModel:
        """A multi-task model whose encoder has the weights of the transformers model at `path_or_name` (a local
        folder, e.g. `nlpkit.pretrained.resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")`) and whose
        `heads` are new. `config_kwargs` go to `MultiTaskConfig` (e.g. `classifier_dropout`)."""
        encoder_config = AutoConfig.from_pretrained(path_or_name)
        model = cls(MultiTaskConfig(encoder_type="pretrained", encoder=encoder_config, heads=heads, **config_kwargs))
        pretrained = AutoModel.from_pretrained(path_or_name, config=encoder_config)
        missing, unexpected = model.encoder.load_state_dict(pretrained.state_dict(), strict=False)
        if unexpected or any(not key.startswith("pooler.") for key in missing):
            raise ValueError(f"{path_or_name}: encoder weights do not fit (missing {missing}, unexpected {unexpected})")
        return model

    def get_input_embeddings(self) -> nn.Module:
        if self.config.encoder_type == "bilstm":
            return self.encoder.embeddings
        return self.encoder.get_input_embeddings()

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """The encoder's parameters (shared by every task)."""
        return self.encoder.parameters()

    def head_parameters(self, name: str) -> Iterator[nn.Parameter]:
        """The parameters of head `name` only."""
        self.config.head(name)
        return self.heads[name].parameters()

    def _task(self, task: str | None) -> dict[str, Any]:
        if task is None:
            if len(self.config.heads) != 1:
                names = ", ".join(self.config.task_names) or "(none)"
                raise ValueError(f"pass task=<name> to a model with {len(self.config.heads)} heads ({names})")
            return self.config.heads[0]
        return self.config.head(task)

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states `(batch, seq_len, hidden)` and the pooled sentence vector `(batch, hidden)`."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if self.config.encoder_type == "bilstm":
            mask = attention_mask.bool()
            states = self.encoder(input_ids, mask)
            pooled = states.masked_fill(~mask.unsqueeze(-1), torch.finfo(states.dtype).min).amax(dim=1)
            return states, pooled
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        outputs = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra)
        pooled = getattr(outputs, "pooler_output", None)
        return outputs.last_hidden_state, outputs.last_hidden_state[:, 0] if pooled is None else pooled

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        task: str | None = None,
        labels: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> MultiTaskOutput:
        r"""
        task (`str`, *optional*): the head to run (one of `config.task_names`); may be left out with one head.
        labels: class ids `(batch,)` (sequence classification), floats `(batch,)` (regression) or tag ids
            `(batch, seq_len)` with -100 where there is no tag (token classification).
        start_positions, end_positions (`(batch,)`): the answer span's token positions (span heads).
        """
        head = self._task(task)
        layers = self.heads[head["name"]]
        states, pooled = self.encode(input_ids, attention_mask, token_type_ids)
        if head["kind"] == "span":
            start_logits, end_logits = (t.squeeze(-1) for t in layers.qa_outputs(states).split(1, dim=-1))
            loss = None
            if start_positions is not None and end_positions is not None:
                ignored = start_logits.shape[1]  # positions outside the sequence are clamped and ignored, as in BERT
                start = F.cross_entropy(start_logits, start_positions.clamp(0, ignored), ignore_index=ignored)
                end = F.cross_entropy(end_logits, end_positions.clamp(0, ignored), ignore_index=ignored)
                loss = (start + end) / 2
            return MultiTaskOutput(loss=loss, start_logits=start_logits, end_logits=end_logits)
        if head["kind"] in SEQUENCE_KINDS:
            logits = layers.classifier(layers.dropout(pooled))
            loss = None
            if labels is not None and head["kind"] == "regression":
                loss = F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype).reshape(-1))
            elif labels is not None:
                loss = F.cross_entropy(logits, labels.reshape(-1))
            return MultiTaskOutput(loss=loss, logits=logits)
        emissions = layers.classifier(layers.dropout(states))
        if layers.crf is None:
            loss = None if labels is None else F.cross_entropy(emissions.flatten(0, 1), labels.reshape(-1))
            return MultiTaskOutput(loss=loss, logits=emissions)
        return self._crf_output(layers.crf, emissions, attention_mask, labels)

    @staticmethod
    def _crf_output(
        crf: CRF, emissions: torch.Tensor, attention_mask: torch.Tensor | None, labels: torch.Tensor | None
    ) -> MultiTaskOutput:
        attended = torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
        if attention_mask is not None:
            attended = attention_mask.bool()
        on_chain = attended if labels is None else attended & (labels != -100)
        order = compact(on_chain)
        chain_mask = on_chain.gather(1, order)
        chain_emissions = emissions.gather(1, order.unsqueeze(-1).expand_as(emissions))
        loss = None
        if labels is not None:
            nll = crf.neg_log_likelihood(chain_emissions, labels.gather(1, order), chain_mask)
            loss = nll.sum() / chain_mask[:, 0].sum().clamp(min=1)  # mean over the sentences with a tag
        with torch.no_grad():
            path = crf.viterbi(chain_emissions, chain_mask)
            one_hot = F.one_hot(path, emissions.shape[-1]).to(emissions.dtype) * chain_mask.unsqueeze(-1)
            logits = torch.zeros_like(emissions).scatter(1, order.unsqueeze(-1).expand_as(one_hot), one_hot)
        return MultiTaskOutput(loss=loss, logits=logits)

    def head_model(self, name: str) -> PreTrainedModel:
        """Head `name` as a single-task model with copies of the encoder's and the head's weights.

        With a BERT-family encoder and a head without CRF: the stock transformers model of the encoder's
        architecture (`AutoModelForSequenceClassification`, `...ForTokenClassification`, `...ForQuestionAnswering`;
        regression: sequence classification with one label and `problem_type="regression"`), which any transformers
        user loads. It is checked to give this model's logits on a probe batch; an architecture whose stock head
        computes otherwise (e.g. RoBERTa's two-layer classification head) gets the one-head model instead.
        Otherwise (BiLSTM encoder, CRF head): a one-head `MultiTaskModel` with the head's labels in its config.
        """
        head = self.config.head(name)
        if self.config.encoder_type == "pretrained" and not head["crf"]:
            stock = self._stock_head_model(head)
            if stock is not None:
                return stock
        config = MultiTaskConfig(
            encoder_type=self.config.encoder_type,
            encoder=copy.deepcopy(self.config.encoder),
            heads=[head],
            classifier_dropout=self.config.classifier_dropout,
        )
        # Saved folders then load with the head's Auto class (pipelines use it) as remote code, without nlpkit.
        config.auto_map = {HEAD_AUTO_CLASSES[head["kind"]]: f"modeling_multitask.{MultiTaskModel.__name__}"}
        single = MultiTaskModel(config).to(self.device, self.dtype)
        single.encoder.load_state_dict(self.encoder.state_dict())
        single.heads[name].load_state_dict(self.heads[name].state_dict())
        return single.train(self.training)

    def _stock_head_model(self, head: dict[str, Any]) -> PreTrainedModel | None:
        settings = self.config.encoder.to_dict()
        settings.pop("transformers_version", None)
        settings.pop("architectures", None)  # the encoder's (BertModel): the export names its own class
        model_type = settings.pop("model_type")
        if head["kind"] == "span":
            auto_class, labels = AutoModelForQuestionAnswering, {}
        else:
            names = head["labels"] or ["LABEL_0"]
            labels = {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
            labels["problem_type"] = "regression" if head["kind"] == "regression" else None
            if head["kind"] == "token_classification":
                auto_class = AutoModelForTokenClassification
            else:
                auto_class = AutoModelForSequenceClassification
        config = AutoConfig.for_model(
            model_type, **{**settings, **labels, "classifier_dropout": self.config.head_dropout}
        )
        stock = auto_class.from_config(config).to(self.device, self.dtype)
        prefix = stock.base_model_prefix
        base_keys = set(stock.base_model.state_dict())
        state = {f"{prefix}.{key}": value for key, value in self.encoder.state_dict().items() if key in base_keys}
        state.update(self.heads[head["name"]].state_dict())
        if set(state) != set(stock.state_dict()):
            return None
        stock.load_state_dict(state)
        probe = torch.randint(1, min(config.vocab_size, 100), (2, 5), generator=torch.Generator().manual_seed(0))
        probe = probe.to(self.device)
        was_training = self.training
        self.eval()
        stock.eval()
        with torch.no_grad():
            mine, theirs = self(probe, task=head["name"]), stock(probe)
        self.train(was_training)
        for key in ("logits", "start_logits", "end_logits"):
            ours = getattr(mine, key)
            if ours is not None and not torch.allclose(ours.reshape(theirs[key].shape), theirs[key]):
                return None
        return stock.train(was_training)


__all__ = ["CRF", "BiLSTMEncoder", "MultiTaskModel", "MultiTaskOutput", "MultiTaskPreTrainedModel"]
