"""Word2Vec as a Hugging Face model: the two matrices of word2vec and its negative-sampling loss.

    skip-gram: h = v[centre]                          CBOW: h = mean (or sum) of v[context words]
    loss = mean over examples of  -log σ(h·u[output]) - Σ_k log σ(-h·u[negative_k])

`v` (`input_embeddings`, word2vec's syn0) are the word vectors; `u` (`output_embeddings`, syn1neg) only serve
training. The examples (centre and context words, negatives) come ready-made from the data side, which does the
subsampling, the dynamic window and the negative draws; the model is a few large tensor operations, so one Trainer
step handles tens of thousands of examples. Both matrices are dense `nn.Embedding`s (the Trainer's optimizers do not
take sparse gradients) and are never tied.
"""

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_word2vec import Word2VecConfig


@dataclass
class Word2VecOutput(ModelOutput):
    """Output of [`Word2VecModel`].

    Args:
        loss: The negative-sampling loss, a mean over the examples of the batch.
        logits: `(N, 1 + K)` scores h·u: column 0 for the true output word, then one per negative. σ of a score is
            the model's probability that the pair was seen in the text.
        last_hidden_state: `(B, T, d)` the word vectors of `input_ids`, when the model is called with `input_ids`
            alone (what `pipeline("feature-extraction")` does).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


class Word2VecPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the class attributes of Word2Vec."""

    config_class = Word2VecConfig
    base_model_prefix = "word2vec"
    main_input_name = "input_ids"
    _no_split_modules: ClassVar[list[str]] = []
    # The loss is a plain mean over the examples of the batch: it does not use Trainer's `num_items_in_batch`.
    accepts_loss_kwargs = False
    # Read by nlpkit's recipe check, which refuses `gradient_checkpointing` with this reason before loading.
    supports_gradient_checkpointing = False
    _gradient_checkpointing_refusal = "no layers to recompute, only embedding lookups"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # Called on each embedding itself: transformers skips a remote-code module without parameters of its own
        # (all of none are "loaded"), so a branch on Word2VecModel would never run.
        if isinstance(module, nn.Embedding):
            if module is getattr(self, "output_embeddings", None):
                init.zeros_(module.weight)  # word2vec.c's syn1neg: every initial score is 0
            else:
                bound = 0.5 / self.config.embedding_size  # word2vec.c's syn0: uniform in [-0.5/d, 0.5/d]
                init.uniform_(module.weight, -bound, bound)


class Word2VecModel(Word2VecPreTrainedModel):
    """Word vectors (`input_embeddings`) and output vectors (`output_embeddings`) trained by negative sampling."""

    def __init__(self, config: Word2VecConfig):
        super().__init__(config)
        self.input_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.output_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.input_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.input_embeddings = value

    def get_output_embeddings(self) -> nn.Embedding:
        return self.output_embeddings

    def set_output_embeddings(self, value: nn.Embedding) -> None:
        self.output_embeddings = value

    def word_vectors(self) -> torch.Tensor:
        """The `(vocab_size, embedding_size)` word vectors: word2vec's syn0, what it writes to its vectors file."""
        return self.input_embeddings.weight

    def forward(
        self,
        input_ids: torch.LongTensor,
        output_ids: torch.LongTensor | None = None,
        negative_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        return_loss: bool = True,
        **kwargs,
    ) -> Word2VecOutput:
        """Score a batch of N examples against their true output word and K negatives; given `input_ids` alone,
        look up their word vectors (`last_hidden_state`).

        Args:
            input_ids: Skip-gram: `(N,)` centre words. CBOW: `(N, C)` context words, padded with `pad_token_id`.
            output_ids: `(N,)` the word to predict: skip-gram's context word, CBOW's centre word.
            negative_ids: `(N, K)` negative words.
            attention_mask: CBOW only: `(N, C)`, 1 for a context word and 0 for padding. When omitted, every
                position that is not `pad_token_id` is a context word.
            return_loss: Whether to compute the loss. Its default True makes Trainer compute an evaluation loss
                for this model, which has no labels.
            kwargs: Ignored (what Trainer may pass besides the batch).
        """
        config = self.config
        if output_ids is None and negative_ids is None:  # word vectors of a tokenized text
            return Word2VecOutput(last_hidden_state=self.input_embeddings(input_ids))
        if output_ids is None or negative_ids is None:
            raise ValueError("Word2VecModel scores examples given both output_ids and negative_ids")
        # Speed: a few large ops and no Python loop, so one step handles tens of thousands of examples. Rows are
        # gathered with `index_select` (its backward, one `index_add_`, beat `nn.Embedding`'s on CPU), CBOW contexts
        # are summed by `embedding_bag` (4x faster than gather-then-sum), and the scores are one `bmm` over the
        # contiguous (N, 1 + K, d) gather (einsum first copies it into another layout: 3x slower end to end).
        word_vectors = self.input_embeddings.weight
        if config.architecture == "skipgram":
            if input_ids.dim() != 1:
                raise ValueError(f"skip-gram input_ids must be (N,) centre words, got shape {tuple(input_ids.shape)}")
            hidden = word_vectors.index_select(0, input_ids)  # (N, d)
        else:
            if input_ids.dim() != 2:
                raise ValueError(f"CBOW input_ids must be (N, C) context words, got shape {tuple(input_ids.shape)}")
            if attention_mask is None:
                attention_mask = input_ids.ne(config.pad_token_id)
            mask = attention_mask.to(word_vectors.dtype)  # (N, C); padding gets weight 0: no value, no gradient
            # The sum of the context vectors (N, d), without an (N, C, d) gather: embedding_bag reduces as it reads.
            hidden = F.embedding_bag(input_ids, word_vectors, mode="sum", per_sample_weights=mask)
            if config.cbow_mean:
                hidden = hidden / mask.sum(dim=1, keepdim=True).clamp(min=1.0)

        if config.negative_block_size:
            return self._shared_negatives_loss(hidden, output_ids, negative_ids, return_loss)
        # The output vectors of the true word and of the negatives, (N, 1 + K, d), and their scores h·u.
        targets = torch.cat([output_ids.unsqueeze(1), negative_ids], dim=1)  # (N, 1 + K)
        output_vectors = self.output_embeddings.weight.index_select(0, targets.reshape(-1)).view(*targets.shape, -1)
        scores = torch.bmm(output_vectors, hidden.unsqueeze(-1)).squeeze(-1)  # (N, 1 + K)

        loss = None
        if return_loss:
            # -log σ(s) for the true word, -log σ(-s) for each negative: flip the sign of the negatives' scores.
            signs = torch.ones_like(scores[0])
            signs[1:] = -1.0
            loss = -F.logsigmoid(scores * signs).sum(dim=1).mean()
        return Word2VecOutput(loss=loss, logits=scores)

    def _shared_negatives_loss(
        self, hidden: torch.Tensor, output_ids: torch.LongTensor, negative_ids: torch.LongTensor, return_loss: bool
    ) -> Word2VecOutput:
        """`negative_block_size` B > 0: `negative_ids` is `(ceil(N / B), M)`, the M negatives that each block of B
        consecutive examples (the last block: the rest) shares. Logits `(N, 1 + M)`, the true word's score and the
        block's negatives', are returned in eval mode only (training skips that copy); they carry no gradient (the
        loss does)."""
        examples, block = hidden.shape[0], self.config.negative_block_size
        if negative_ids.shape[0] != -(-examples // block):
            raise ValueError(
                f"shared negatives: {examples} examples make {-(-examples // block)} blocks of {block}, but "
                f"negative_ids has {negative_ids.shape[0]} rows"
            )
        weight = self.config.negative / negative_ids.shape[1]  # M shared negatives stand for `negative` per example
        output_vectors = self.output_embeddings.weight
        # Autocast off: the hand-written backward multiplies the saved scores by the matrices in their own dtype.
        with torch.autocast(hidden.device.type, enabled=False):
            loss, positive, negative_scores = SharedNegativesLoss.apply(
                hidden.to(output_vectors.dtype), output_vectors, output_ids, negative_ids, block, weight
            )
        logits = None if self.training else torch.cat([positive.unsqueeze(1), negative_scores], dim=1)
        return Word2VecOutput(loss=loss if return_loss else None, logits=logits)


def _blocks(rows: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(N, ...)` rows as `(N // B, B, ...)` full blocks (a view) and the rest (a view, maybe empty)."""
    full = rows.shape[0] // block * block
    return rows[:full].view(-1, block, *rows.shape[1:]), rows[full:]


def shared_negative_scores(
    hidden: torch.Tensor,
    output_vectors: torch.Tensor,
    output_ids: torch.LongTensor,
    negative_ids: torch.LongTensor,
    block: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(N,)` scores h·u of the true words, `(N, M)` of each example's block's negatives, and the gathered
    output vectors they came from: `(N, d)` true words', `(N / B, M, d)` negatives'."""
    examples, width = hidden.shape
    blocks, shared = negative_ids.shape
    true_vectors = output_vectors.index_select(0, output_ids)
    positive = torch.linalg.vecdot(hidden, true_vectors)  # (N,); vecdot: 1.6x faster than mul-then-sum with grads
    negatives = output_vectors.index_select(0, negative_ids.reshape(-1)).view(blocks, shared, width)
    # One (B, d) x (d, M) product per block, written into one (N, M) tensor (the last, shorter block by an mm).
    scores = hidden.new_empty(examples, shared)
    full_hidden, rest_hidden = _blocks(hidden, block)
    full_scores, rest_scores = _blocks(scores, block)
    torch.bmm(full_hidden, negatives[: len(full_hidden)].transpose(1, 2), out=full_scores)
    if len(rest_hidden):
        torch.mm(rest_hidden, negatives[-1].T, out=rest_scores)
    return positive, scores, true_vectors, negatives


def shared_negatives_loss(positive: torch.Tensor, negative_scores: torch.Tensor, weight: float) -> torch.Tensor:
    """-log σ(h·u_true) - weight Σ_m log σ(-h·u_m), a mean over the examples."""
    return -(F.logsigmoid(positive).sum() + weight * F.logsigmoid(-negative_scores).sum()) / positive.shape[0]


class SharedNegativesLoss(torch.autograd.Function):
    """The shared-negatives loss (and, without gradient, the scores it came from) with a hand-written backward.

    Speed: autograd's backward of the same ops took 1.4x as long, most of it in memory traffic a hand-written one
    avoids: the slices into blocks fill a zero (N, d) gradient each, the true words' scores cost a broadcast
    multiply per operand, and the output matrix gets two dense gradients that are then added. Here every gradient
    is written once: d hidden (N, d) by the blocks' products plus one fused multiply-add, d output_vectors by two
    `index_add_`s into one zero matrix.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        hidden: torch.Tensor,
        output_vectors: torch.Tensor,
        output_ids: torch.LongTensor,
        negative_ids: torch.LongTensor,
        block: int,
        weight: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        positive, negative_scores, true_vectors, negatives = shared_negative_scores(
            hidden, output_vectors, output_ids, negative_ids, block
        )
        ctx.save_for_backward(hidden, output_ids, negative_ids, positive, negative_scores, true_vectors, negatives)
        ctx.block, ctx.weight, ctx.vocabulary_shape = block, weight, output_vectors.shape
        ctx.mark_non_differentiable(positive, negative_scores)
        return shared_negatives_loss(positive, negative_scores, weight), positive, negative_scores

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor, *_scores_grads: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        hidden, output_ids, negative_ids, positive, negative_scores, true_vectors, negatives = ctx.saved_tensors
        examples, width = hidden.shape
        # d loss / d score: (σ(s) - 1) / N for the true words, weight σ(s) / N for the negatives.
        grad_positive = torch.sigmoid(positive).sub_(1).mul_(grad / examples).unsqueeze(1)  # (N, 1)
        grad_scores = torch.sigmoid(negative_scores).mul_(grad * ctx.weight / examples)  # (N, M)

        grad_hidden = torch.empty_like(hidden)
        (full_grad_scores, rest_grad_scores), (full_hidden, rest_hidden) = (
            _blocks(grad_scores, ctx.block), _blocks(hidden, ctx.block)
        )  # fmt: skip
        full_grad_hidden, rest_grad_hidden = _blocks(grad_hidden, ctx.block)
        torch.bmm(full_grad_scores, negatives[: len(full_hidden)], out=full_grad_hidden)
        grad_negatives = torch.empty_like(negatives)
        torch.bmm(full_grad_scores.transpose(1, 2), full_hidden, out=grad_negatives[: len(full_hidden)])
        if len(rest_hidden):
            torch.mm(rest_grad_scores, negatives[-1], out=rest_grad_hidden)
            torch.mm(rest_grad_scores.T, rest_hidden, out=grad_negatives[-1])
        grad_hidden.addcmul_(grad_positive, true_vectors)

        grad_output_vectors = hidden.new_zeros(ctx.vocabulary_shape)
        grad_output_vectors.index_add_(0, output_ids, hidden * grad_positive)
        grad_output_vectors.index_add_(0, negative_ids.reshape(-1), grad_negatives.view(-1, width))
        return grad_hidden, grad_output_vectors, None, None, None, None


__all__ = ["Word2VecModel", "Word2VecOutput", "Word2VecPreTrainedModel"]
