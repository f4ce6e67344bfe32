"""GloVe as a Hugging Face model: word and context vectors and biases fitted to the log co-occurrence counts.

    loss = mean over the batch's entries (i, j, X_ij) of  f(X_ij) (w_i·w~_j + b_i + b~_j - log X_ij)^2,
    f(x) = min(1, (x / x_max)^alpha)

The batch is N nonzero entries of the co-occurrence matrix, counted once by the data side. The word vectors are
W + W~, the sum the paper found slightly better than W alone. (The reference C code minimises half this cost; the
factor only rescales the learning rate.) Everything is dense and a few tensor operations, so one step handles tens of
thousands of entries.
"""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_glove import GloVeConfig


@dataclass
class GloVeOutput(ModelOutput):
    """Output of [`GloVeModel`].

    Args:
        loss: The weighted least-squares loss, a mean over the entries of the batch.
        logits: `(N,)` w_i·w~_j + b_i + b~_j, the model's estimate of log X_ij.
        last_hidden_state: `(B, T, d)` the word vectors (W + W~) of `input_ids`, when the model is called with
            `input_ids` alone (what `pipeline("feature-extraction")` does).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


class GloVePreTrainedModel(PreTrainedModel):
    """Weight initialisation and the class attributes of GloVe."""

    config_class = GloVeConfig
    base_model_prefix = "glove"
    main_input_name = "input_ids"
    _no_split_modules: ClassVar[list[str]] = []
    # The loss is a plain mean over the entries of the batch: it does not use Trainer's `num_items_in_batch`.
    accepts_loss_kwargs = False
    # Read by nlpkit's recipe check, which refuses `gradient_checkpointing` with this reason before loading.
    supports_gradient_checkpointing = False
    _gradient_checkpointing_refusal = "no layers to recompute, only embedding lookups"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Embedding):  # word and context vectors, as glove.c: uniform in [-0.5/d, 0.5/d]
            bound = 0.5 / self.config.embedding_size
            init.uniform_(module.weight, -bound, bound)
        elif isinstance(module, GloVeModel):  # the biases, parameters of the model itself
            init.zeros_(module.word_biases)
            init.zeros_(module.context_biases)


class GloVeModel(GloVePreTrainedModel):
    """Word vectors W (`word_embeddings`), context vectors W~ (`context_embeddings`) and their biases b, b~."""

    def __init__(self, config: GloVeConfig):
        super().__init__(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.context_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.word_biases = nn.Parameter(torch.zeros(config.vocab_size))
        self.context_biases = nn.Parameter(torch.zeros(config.vocab_size))
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.word_embeddings = value

    def get_output_embeddings(self) -> nn.Embedding:
        return self.context_embeddings

    def set_output_embeddings(self, value: nn.Embedding) -> None:
        self.context_embeddings = value

    def word_vectors(self) -> torch.Tensor:
        """The `(vocab_size, embedding_size)` word vectors W + W~ (the paper's choice; the matrix is symmetric, so
        both halves learn the same kind of vector and their sum averages out some of the noise of each)."""
        return self.word_embeddings.weight + self.context_embeddings.weight

    def forward(
        self,
        input_ids: torch.LongTensor,
        output_ids: torch.LongTensor | None = None,
        cooccurrence: torch.Tensor | None = None,
        return_loss: bool = True,
        **kwargs,
    ) -> GloVeOutput:
        """Fit a batch of N co-occurrence entries; given `input_ids` alone, look up their word vectors
        (`last_hidden_state`).

        Args:
            input_ids: `(N,)` row words i.
            output_ids: `(N,)` column (context) words j.
            cooccurrence: `(N,)` the counts X_ij, all positive (the matrix's zeros are not trained on).
            return_loss: Whether to compute the loss. Its default True makes Trainer compute an evaluation loss
                for this model, which has no labels.
            kwargs: Ignored (what Trainer may pass besides the batch).
        """
        config = self.config
        if output_ids is None and cooccurrence is None:  # word vectors of a tokenized text
            vectors = self.word_embeddings(input_ids) + self.context_embeddings(input_ids)
            return GloVeOutput(last_hidden_state=vectors)
        if output_ids is None or cooccurrence is None:
            raise ValueError("GloVeModel fits co-occurrence entries given both output_ids and cooccurrence")
        # index_select rather than nn.Embedding's forward: its backward (one index_add_) was faster on CPU.
        words = self.word_embeddings.weight.index_select(0, input_ids)  # (N, d)
        contexts = self.context_embeddings.weight.index_select(0, output_ids)  # (N, d)
        biases = self.word_biases.index_select(0, input_ids) + self.context_biases.index_select(0, output_ids)
        predicted = (words * contexts).sum(dim=-1) + biases  # (N,)

        loss = None
        if return_loss:
            counts = cooccurrence.to(predicted.dtype)
            weights = (counts / config.x_max).pow(config.alpha).clamp(max=1.0)
            loss = (weights * (predicted - counts.log()).square()).mean()
        return GloVeOutput(loss=loss, logits=predicted)


__all__ = ["GloVeModel", "GloVeOutput", "GloVePreTrainedModel"]
