"""BiLSTM-CRF sequence tagger (Lample et al. 2016, Ma & Hovy 2016) as a Hugging Face token-classification model.

One position per word:

    word embedding (+ character features of the word) -> dropout -> BiLSTM -> dropout -> linear -> emission scores
    emission scores + tag-transition scores -> linear-chain CRF

Loss: the CRF negative log-likelihood of the gold tag sequence, averaged over the sequences of the batch (the CRF is a
distribution over whole sequences, so a sequence is the unit). Label -100 marks a position without a gold tag: outside
the attention mask it is padding; inside it the loss sums over every tag there (a partially labelled sequence).

Logits: `pipeline("token-classification")` and `argmax(-1)` read one tag per position, while a CRF predicts the whole
sequence at once (Viterbi). So the logits are the *max-marginals*: `logits[b, t, k]` is the score of the best complete
tag sequence that puts tag `k` at position `t`. The Viterbi path goes through every position, so its tag has the
highest max-marginal at every position and `logits.argmax(-1)` is exactly the Viterbi path (the decoded tag is lifted
by one float step where several paths tie). The pipeline's softmax over them is a real confidence:
`1 / sum_k exp(logits[t, k] - best_score)`, near 1 when any other tag at `t` forces a much worse sentence, 1/2 when the
best sentence with another tag there is as good. Logits are computed without gradient (train through the loss) and
are 0 at padded positions.

Pipeline: `BiLSTMCRFTokenClassificationPipeline` (at the end of this file, registered in the config's
`custom_pipelines`) gives the model each word's characters cut from the text and groups the tags into entities.

Export: under `torch.export` (ONNX export of `emissions`), the LSTMs run without packing, which exporters cannot
trace, through `rnn_over_lengths` (each direction by itself, the backward one over each sequence reversed within its
length: the same outputs to float rounding), and the right-padding check, a branch on the data, is skipped. The CRF's
Viterbi loop runs over the sequence in Python, so an exported tagger decodes the emissions outside the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PreTrainedModel, TokenClassificationPipeline
from transformers import initialization as init
from transformers.modeling_outputs import TokenClassifierOutput

from .configuration_bilstm_crf import BiLSTMCRFConfig

# Score of a forbidden move: finite, so a forbidden gold sequence gives a huge loss instead of inf/NaN gradients.
IMPOSSIBLE = -10000.0
CHAR_PAD_ID, CHAR_UNK_ID = 0, 1


def words_to_char_ids(words: Sequence[str], char_alphabet: str, max_word_length: int) -> torch.Tensor:
    """Character ids of `words`, shape `(len(words), max_word_length)`: 0 pads, 1 is an unknown character.

    A collator builds the model's `char_ids` input by calling this on each sentence's words and padding the sentences
    to the batch length with rows of zeros.
    """
    char_index = {char: i + 2 for i, char in enumerate(char_alphabet)}
    rows = []
    for word in words:
        ids = [char_index.get(char, CHAR_UNK_ID) for char in word[:max_word_length]]
        rows.append(ids + [CHAR_PAD_ID] * (max_word_length - len(ids)))
    return torch.tensor(rows, dtype=torch.long).reshape(len(words), max_word_length)


def bio_transition_constraints(id2label: Mapping[int, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Allowed IOB2 moves: `(allowed[from_tag, to_tag], allowed_start[tag])` as boolean tensors.

    `I-X` may only follow `B-X` or `I-X`; every other tag may follow anything and start a sentence. Tags that are
    neither `B-...` nor `I-...` (such as `O`) count as outside an entity.
    """
    parts = []
    for tag_id in range(len(id2label)):
        label = id2label[tag_id]
        parts.append((label[0], label[2:]) if label[:2] in ("B-", "I-") else ("O", None))
    begun = {entity for prefix, entity in parts if prefix == "B"}
    unbegun = sorted({entity for prefix, entity in parts if prefix == "I" and entity not in begun})
    if unbegun:
        raise ValueError(
            f"constrain_bio_transitions needs IOB2 labels, but there is no B- tag for {unbegun} "
            "(set constrain_bio_transitions=False for IO or IOB1 tags)"
        )
    allowed = torch.tensor(
        [
            [
                to_prefix != "I" or (from_prefix in ("B", "I") and from_entity == to_entity)
                for to_prefix, to_entity in parts
            ]
            for from_prefix, from_entity in parts
        ]
    )
    allowed_start = torch.tensor([prefix != "I" for prefix, _ in parts])
    return allowed, allowed_start


def transition_constraints(config: BiLSTMCRFConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The CRF's allowed moves for `config`: the IOB2 rules if `constrain_bio_transitions`, otherwise all."""
    if config.constrain_bio_transitions:
        return bio_transition_constraints(config.id2label)
    num_tags = config.num_labels
    return torch.ones(num_tags, num_tags, dtype=torch.bool), torch.ones(num_tags, dtype=torch.bool)


class LinearChainCRF(nn.Module):
    """Linear-chain CRF over `num_tags` tags, with start and end transition scores and optional forbidden moves.

    Every method takes emissions `(batch, seq_len, num_tags)` and a right-padded boolean `mask` `(batch, seq_len)`;
    it is vectorised over the batch and the tags and loops over time only. Scores are computed in float32.
    """

    def __init__(self, num_tags: int, allowed_transitions: torch.Tensor, allowed_starts: torch.Tensor):
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))  # [from_tag, to_tag]
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        # Derived from the config, not learned: not saved, rebuilt by `_init_weights` when loading.
        self.register_buffer("allowed_transitions", allowed_transitions, persistent=False)
        self.register_buffer("allowed_starts", allowed_starts, persistent=False)

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Transition, start and end scores with the forbidden moves set to IMPOSSIBLE."""
        transitions = self.transitions.float().masked_fill(~self.allowed_transitions, IMPOSSIBLE)
        starts = self.start_transitions.float().masked_fill(~self.allowed_starts, IMPOSSIBLE)
        return transitions, starts, self.end_transitions.float()

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log of the summed exp-scores of all tag sequences (forward algorithm), shape `(batch,)`."""
        transitions, starts, ends = self.scores()
        emissions = emissions.float()
        log_alpha = starts + emissions[:, 0]  # (batch, tags): all sequences ending in each tag
        for t in range(1, emissions.shape[1]):
            # (batch, from, 1) + (from, to) + (batch, 1, to), summed over `from`
            step = torch.logsumexp(log_alpha.unsqueeze(2) + transitions + emissions[:, t].unsqueeze(1), dim=1)
            log_alpha = torch.where(mask[:, t, None], step, log_alpha)
        return torch.logsumexp(log_alpha + ends, dim=1)

    def neg_log_likelihood(self, emissions: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`-log p(labels | emissions)` per sequence, shape `(batch,)`; -100 labels are summed over (see module doc)."""
        emissions = emissions.float()
        known = mask & (labels != -100)
        gold = F.one_hot(labels.clamp(min=0), self.num_tags).bool()
        # The gold score as a partition function over the sequences that agree with the known labels: one sequence
        # when every label is known. Both partitions run as one batch, so the time loop runs once.
        gold_emissions = emissions.masked_fill(known.unsqueeze(2) & ~gold, IMPOSSIBLE)
        log_z = self.log_partition(torch.cat([emissions, gold_emissions]), torch.cat([mask, mask]))
        all_paths, gold_paths = log_z.chunk(2)
        return all_paths - gold_paths

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Best tag sequence `(batch, seq_len)` (padded positions repeat the last tag) and the max-marginals
        `(batch, seq_len, tags)`: the score of the best sequence through each tag at each position."""
        transitions, starts, ends = self.scores()
        emissions = emissions.float()
        batch_size, seq_len, num_tags = emissions.shape
        keep_tag = torch.arange(num_tags, device=emissions.device).expand(batch_size, num_tags)

        score = starts + emissions[:, 0]  # best prefix ending in each tag
        prefix_scores, backpointers = [score], []
        for t in range(1, seq_len):
            best_previous, previous_tag = (score.unsqueeze(2) + transitions).max(dim=1)
            step = mask[:, t, None]
            score = torch.where(step, best_previous + emissions[:, t], score)
            backpointers.append(torch.where(step, previous_tag, keep_tag))  # padding points to the same tag
            prefix_scores.append(score)

        tag = (score + ends).argmax(dim=1)
        path = [tag]
        for previous_tag in reversed(backpointers):
            tag = previous_tag.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        path = torch.stack(path[::-1], dim=1)

        suffix = ends.expand(batch_size, num_tags)  # best continuation after each tag, emission excluded
        suffix_scores = [suffix]
        for t in range(seq_len - 1, 0, -1):
            best_next = (transitions + (emissions[:, t] + suffix).unsqueeze(1)).max(dim=2).values
            suffix = torch.where(mask[:, t, None], best_next, suffix)
            suffix_scores.append(suffix)
        max_marginals = torch.stack(prefix_scores, dim=1) + torch.stack(suffix_scores[::-1], dim=1)
        return path, max_marginals

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Viterbi tag ids of each sequence, without padding."""
        path, _ = self.viterbi(emissions, mask)
        return [tags[:length] for tags, length in zip(path.tolist(), mask.sum(dim=1).tolist())]


def viterbi_logits(path: torch.Tensor, max_marginals: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max-marginals with the path's tag made the strict maximum (ties, rounding), 0 at padding."""
    on_path = F.one_hot(path, max_marginals.shape[-1]).bool()
    best_elsewhere = max_marginals.masked_fill(on_path, float("-inf")).amax(dim=-1, keepdim=True)
    lifted = torch.maximum(
        max_marginals, torch.nextafter(best_elsewhere, torch.full_like(best_elsewhere, float("inf")))
    )
    logits = torch.where(on_path, lifted, max_marginals)
    return logits.masked_fill(~mask.unsqueeze(2), 0.0)


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


class CharCNN(nn.Module):
    """A word's character features: convolution over its character embeddings, max-pooled over the characters."""

    def __init__(self, config: BiLSTMCRFConfig):
        super().__init__()
        self.embeddings = nn.Embedding(config.char_vocab_size, config.char_embedding_size, padding_idx=CHAR_PAD_ID)
        self.conv = nn.Conv1d(
            config.char_embedding_size, config.char_hidden_size, config.char_kernel_size, padding="same"
        )

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:  # (words, chars) -> (words, char_hidden_size)
        is_char = char_ids != CHAR_PAD_ID
        features = self.conv(self.embeddings(char_ids).transpose(1, 2))  # (words, hidden, chars)
        pooled = features.masked_fill(~is_char.unsqueeze(1), float("-inf")).amax(dim=2)
        return pooled.masked_fill(~is_char.any(dim=1, keepdim=True), 0.0)  # padding/special words: no characters


class CharLSTM(nn.Module):
    """A word's character features: final forward and backward states of a BiLSTM over its characters."""

    def __init__(self, config: BiLSTMCRFConfig):
        super().__init__()
        self.hidden_size = config.char_hidden_size
        self.embeddings = nn.Embedding(config.char_vocab_size, config.char_embedding_size, padding_idx=CHAR_PAD_ID)
        self.lstm = nn.LSTM(config.char_embedding_size, self.hidden_size // 2, batch_first=True, bidirectional=True)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:  # (words, chars) -> (words, char_hidden_size)
        lengths = (char_ids != CHAR_PAD_ID).sum(dim=1)
        if torch.compiler.is_exporting():  # every word runs (at least one step); those without characters get zeros
            _, final_states = rnn_over_lengths(self.lstm, self.embeddings(char_ids), lengths.clamp(min=1))
            features = torch.cat([final_states[0], final_states[1]], dim=1)
            return features.masked_fill((lengths == 0).unsqueeze(1), 0.0)
        words = lengths.nonzero().squeeze(1)  # padding/special words have no characters and keep zero features
        features = char_ids.new_zeros(len(char_ids), self.hidden_size, dtype=self.embeddings.weight.dtype)
        if len(words) == 0:
            return features
        packed = pack_padded_sequence(
            self.embeddings(char_ids[words]), lengths[words].cpu(), batch_first=True, enforce_sorted=False
        )
        _, (final_states, _) = self.lstm(packed)  # (2, words, hidden / 2): forward, backward
        return features.index_copy(0, words, torch.cat([final_states[0], final_states[1]], dim=1))


class BiLSTMCRFPreTrainedModel(PreTrainedModel):
    """Weight init and Hugging Face plumbing shared by the BiLSTM-CRF classes."""

    config_class = BiLSTMCRFConfig
    base_model_prefix = "bilstm_crf"
    main_input_name = "input_ids"
    _input_embed_layer = "word_embeddings"
    _no_split_modules: ClassVar[list[str]] = []  # embeddings, LSTMs and the CRF are leaf modules
    accepts_loss_kwargs = False  # the loss is a mean over sequences and ignores num_items_in_batch
    # Read by nlpkit's recipe check, which refuses `gradient_checkpointing` with this reason before loading.
    supports_gradient_checkpointing = False
    _gradient_checkpointing_refusal = "fused nn.LSTM calls over characters and words hold its activations"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)  # normal Linear/Conv1d/Embedding (zero padding row), xavier LSTM, zero biases
        if isinstance(module, nn.LSTM):
            # Forget-gate bias 1 (Jozefowicz et al. 2015); the slice loses the loaded-weight flag, so check it here.
            for name, bias in module.named_parameters():
                if name.startswith("bias_ih") and not getattr(bias, "_is_hf_initialized", False):
                    bias[module.hidden_size : 2 * module.hidden_size] = 1.0
        elif isinstance(module, LinearChainCRF):
            for parameter in (module.transitions, module.start_transitions, module.end_transitions):
                init.uniform_(parameter, -0.1, 0.1)
            allowed_transitions, allowed_starts = transition_constraints(self.config)
            init.copy_(module.allowed_transitions, allowed_transitions)
            init.copy_(module.allowed_starts, allowed_starts)
        elif isinstance(module, BiLSTMCRFForTokenClassification) and module.char_encoder is not None:
            init.zeros_(module.word_char_ids)


class BiLSTMCRFForTokenClassification(BiLSTMCRFPreTrainedModel):
    """BiLSTM-CRF tagger: `forward` returns the CRF loss and Viterbi-consistent logits, `decode` the tag ids."""

    def __init__(self, config: BiLSTMCRFConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, config.pad_token_id)
        token_size = config.embedding_size
        self.char_encoder = None
        if config.char_encoder is not None:
            self.char_encoder = CharCNN(config) if config.char_encoder == "cnn" else CharLSTM(config)
            token_size += config.char_hidden_size
            # The characters of every vocabulary word (filled by `set_word_vocabulary`, saved with the weights), so
            # inputs without `char_ids`, such as pipeline()'s, still get character features (except unknown words).
            self.register_buffer(
                "word_char_ids", torch.zeros(config.vocab_size, config.max_word_length, dtype=torch.long)
            )
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            token_size,
            config.hidden_size,
            num_layers=config.num_hidden_layers,
            dropout=config.dropout if config.num_hidden_layers > 1 else 0.0,
            batch_first=True,
            bidirectional=True,
        )
        self.classifier = nn.Linear(2 * config.hidden_size, config.num_labels)
        self.crf = LinearChainCRF(config.num_labels, *transition_constraints(config))
        self.post_init()

    def set_word_vocabulary(self, vocab: Mapping[str, int], special_tokens: Iterable[str] = ()) -> None:
        """Store the characters of each vocabulary word (e.g. `tokenizer.get_vocab()`, minus `special_tokens`)."""
        if self.char_encoder is None:
            raise ValueError("set_word_vocabulary needs character features (config.char_encoder)")
        words = [""] * self.config.vocab_size
        special_tokens = set(special_tokens)
        for word, word_id in vocab.items():
            if word_id >= len(words):
                raise ValueError(f"word {word!r} has id {word_id}, beyond vocab_size={self.config.vocab_size}")
            words[word_id] = "" if word in special_tokens else word
        char_ids = words_to_char_ids(words, self.config.char_alphabet, self.config.max_word_length)
        self.word_char_ids.copy_(char_ids)

    def emissions(
        self, input_ids: torch.Tensor, mask: torch.Tensor, char_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-position tag scores `(batch, seq_len, num_labels)` before the CRF."""
        lengths = mask.sum(dim=1)
        positions = torch.arange(mask.shape[1], device=mask.device)
        exporting = torch.compiler.is_exporting()  # no branch on the data there: the runtime pads on the right
        if not exporting and not torch.equal(mask, positions < lengths.unsqueeze(1)):
            raise ValueError("BiLSTM-CRF needs right-padded inputs (tokenizer.padding_side = 'right')")
        features = self.word_embeddings(input_ids)
        if self.char_encoder is not None:
            if char_ids is None:
                char_ids = self.word_char_ids[input_ids]
            words = char_ids.reshape(-1, char_ids.shape[-1])
            char_features = self.char_encoder(words).reshape(*input_ids.shape, -1)
            features = torch.cat([features, char_features], dim=-1)
        # Packing keeps padding out of the backward direction; an empty sequence runs one (masked) step.
        if exporting:  # the same outputs; pad_packed_sequence's zeros at padding made explicit
            hidden, _ = rnn_over_lengths(self.lstm, self.dropout(features), lengths.clamp(min=1))
            hidden = hidden.masked_fill((positions >= lengths.clamp(min=1).unsqueeze(1)).unsqueeze(-1), 0.0)
            return self.classifier(self.dropout(hidden))
        packed = pack_padded_sequence(
            self.dropout(features), lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False
        )
        hidden, _ = self.lstm(packed)
        hidden, _ = pad_packed_sequence(hidden, batch_first=True, total_length=input_ids.shape[1])
        return self.classifier(self.dropout(hidden))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        char_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> TokenClassifierOutput:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): word ids, one per word, right-padded.
        attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*): 1 for words, 0 for padding.
        char_ids (`torch.LongTensor` of shape `(batch_size, seq_len, max_word_len)`, *optional*): character ids of
            each word from `words_to_char_ids(words, config.char_alphabet, config.max_word_length)` (characters at
            the start of each row, 0 after them and for padding words). Gives unknown words their characters; when
            left out they come from the vocabulary table (`set_word_vocabulary`). Pass them in both training and
            evaluation, or in neither, so the two see the same features.
        labels (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*): tag ids; -100 for padding (or an
            unknown tag inside the sequence).

        Returns `TokenClassifierOutput` with the CRF loss (mean over sequences) and max-marginal logits whose argmax
        is the Viterbi path (see the module docstring).
        """
        mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        emissions = self.emissions(input_ids, mask, char_ids)
        loss = None
        if labels is not None:
            loss = self.crf.neg_log_likelihood(emissions, labels, mask).mean()
        with torch.no_grad():
            path, max_marginals = self.crf.viterbi(emissions, mask)
            logits = viterbi_logits(path, max_marginals, mask)
        return TokenClassifierOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def decode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        char_ids: torch.Tensor | None = None,
    ) -> list[list[int]]:
        """Viterbi tag ids of each sequence, without padding (call `model.eval()` first to turn dropout off)."""
        mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        return self.crf.decode(self.emissions(input_ids, mask, char_ids), mask)


class BiLSTMCRFTokenClassificationPipeline(TokenClassificationPipeline):
    """`pipeline("token-classification")` for the BiLSTM-CRF: entities, with character offsets, from raw text.

    Two differences from transformers' token-classification pipeline:

    - The model gets each token's characters (`char_ids`), cut from the text at the token's offsets, so a word
      outside the vocabulary still shows its spelling, as in training and evaluation. (Without them the model reads
      each word's characters from its vocabulary table, where an unknown word has none.)
    - `aggregation_strategy` defaults to `"simple"`: a token is a word, and consecutive `B-X I-X ...` words are
      grouped into one entity. Pass `aggregation_strategy="none"` for one result per word.

    A saved config names this class in `custom_pipelines`, so `pipeline("token-classification", model=folder,
    trust_remote_code=True)` builds it from the copy of this file next to the weights. For a model object in
    memory, pass `pipeline_class=BiLSTMCRFTokenClassificationPipeline` to `pipeline()`.
    """

    def __init__(self, *args: Any, aggregation_strategy: Any = "simple", **kwargs: Any):
        # A default of the constructor, not of `_sanitize_parameters`: that one also runs on every call, where a
        # default would override the strategy chosen when the pipeline was built.
        super().__init__(*args, aggregation_strategy=aggregation_strategy, **kwargs)

    def preprocess(self, sentence: Any, offset_mapping: Any = None, **preprocess_params: Any) -> Iterator[dict]:
        config = self.model.config
        split = preprocess_params.get("is_split_into_words", False)
        text = preprocess_params.get("delimiter", " ").join(sentence) if split else sentence
        for model_inputs in super().preprocess(sentence, offset_mapping, **preprocess_params):
            offsets = model_inputs.get("offset_mapping")
            if config.char_encoder is None or offsets is None:  # no offsets (slow tokenizer): the vocabulary table
                yield model_inputs
                continue
            word_ids, word_spans = model_inputs.get("word_ids"), model_inputs.get("word_to_chars_map")
            special = model_inputs["special_tokens_mask"].reshape(-1).tolist()
            words = []
            for index, (start, end) in enumerate(torch.as_tensor(offsets).reshape(-1, 2).tolist()):
                if special[index]:
                    words.append("")
                    continue
                # Split into words, the offsets count from the start of each word.
                shift = word_spans[word_ids[index]][0] if word_ids is not None and word_spans else 0
                words.append(text[start + shift : end + shift])
            model_inputs["char_ids"] = words_to_char_ids(words, config.char_alphabet, config.max_word_length)[None]
            yield model_inputs


__all__ = [
    "BiLSTMCRFForTokenClassification",
    "BiLSTMCRFPreTrainedModel",
    "BiLSTMCRFTokenClassificationPipeline",
    "LinearChainCRF",
    "bio_transition_constraints",
    "rnn_over_lengths",
    "words_to_char_ids",
]
