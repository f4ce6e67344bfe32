"""Sentence VAE (Bowman et al. 2016, "Generating Sentences from a Continuous Space") as a Hugging Face model.

    input_ids -> embeddings -> encoder RNN (packed, optionally bidirectional) -> final states of every layer and
      direction -> mean and log-variance heads -> z = mean + exp(logvar / 2) * eps (training; the mean in eval)
    z -> Linear -> initial decoder state; decoder RNN over bos + sentence (teacher forcing, word dropout, z also
      fed at every step with `feed_latent`) -> output projection (optionally tied to the embeddings) -> logits

The loss is the negative ELBO per sentence: the reconstruction NLL summed over a sentence's tokens and averaged over
the batch, plus `kl_weight` times the closed-form KL(q(z|x) || N(0, I)), with free bits if configured. The KL weight
comes from the annealing schedule of the config at `kl_step`, a saved buffer that counts the training forwards (each
micro-batch, so with gradient accumulation it runs ahead of the optimizer steps), unless the caller passes
`kl_weight`.

Generation is transformers' encoder-decoder `generate()` (greedy, sampling, beams): `generate(input_ids,
attention_mask)` encodes the sentences (the posterior mean, or a sample with `sample_latent=True`) and decodes from
bos; `generate(latent=z)` decodes given codes, such as `sample_prior(n)` or `interpolate(z1, z2, steps)`. The latent
code travels as the encoder output (one "position" of width Z), the decoder state as `cache` (a
`SentenceVAEDecoderState`), so each new token costs one RNN step; beam search reorders that state.

Speed: the encoder is one packed cuDNN call, the decoder one call over the whole target (right padding comes after
the real tokens, so it needs no packing), and the output projection one matmul over all positions.

Shapes: B batch, T sentence length (real tokens and padding), E embedding size, H hidden size, L layers, Z latent size,
V vocabulary size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.utils import ModelOutput

from .configuration_sentence_vae import SentenceVAEConfig

RNN_CLASSES = {"gru": nn.GRU, "lstm": nn.LSTM}

# transformers 5.24 renamed `past_key_values` to `cache`, as a forward argument and as a model output field. The model
# here takes both arguments and fills whichever field exists, so this file (shipped as remote code) runs on any 5.x.
CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


# ---------------------------------------------------------------------------------------------------------------------
# The VAE's arithmetic, as functions the task layer can use on saved means and log-variances.


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) of each dimension, in nats: 0.5 (mean^2 + exp(logvar) - 1 - logvar).

    (..., Z) -> (..., Z); sum over the last dimension for the KL of a diagonal Gaussian."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_annealing_weight(config: SentenceVAEConfig, step: int) -> float:
    """The KL weight of the config's schedule at training step `step` (0-based).

    linear: min(1, step / kl_anneal_steps). logistic (Bowman et al.; timbmg/Sentence-VAE's form):
    1 / (1 + exp(-k (step - x0))). cyclical (Fu et al. 2019): `kl_cycles` cycles over `kl_anneal_steps`, each rising
    linearly from 0 to 1 over its first `kl_cycle_ratio` and staying at 1 for the rest; 1 after the last cycle."""
    schedule, total = config.kl_annealing, config.kl_anneal_steps
    if schedule == "none":
        return 1.0
    if schedule == "linear":
        return min(1.0, step / total)
    if schedule == "logistic":
        exponent = -config.kl_logistic_k * (step - config.kl_logistic_x0)
        return 1.0 / (1.0 + math.exp(exponent)) if exponent < 700 else 0.0  # exp overflows past ~709
    if step >= total:
        return 1.0
    period = total / config.kl_cycles
    position = (step % period) / period  # where in its cycle the step is, in [0, 1)
    return min(1.0, position / config.kl_cycle_ratio)


def active_units(means: torch.Tensor, threshold: float = 0.01) -> int:
    """How many latent dimensions are active (Burda et al. 2016): those whose posterior mean E_q[z_d | x] varies over
    the data by more than `threshold` (population variance of `means`, (N, Z) over N sentences)."""
    if means.ndim != 2 or means.shape[0] < 2:
        raise ValueError(f"active_units needs the means of at least 2 sentences as (N, Z), got {tuple(means.shape)}")
    return int((means.double().var(dim=0, unbiased=False) > threshold).sum())


def interpolate(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` codes on the line from `start` to `end` (each (Z,)), both included: (steps, Z)."""
    if start.shape != end.shape or start.ndim != 1:
        raise ValueError(f"interpolate needs two (Z,) codes, got {tuple(start.shape)} and {tuple(end.shape)}")
    if steps < 2:
        raise ValueError(f"interpolate needs steps >= 2 (the two ends), got {steps}")
    weights = torch.linspace(0.0, 1.0, steps, device=start.device, dtype=start.dtype).unsqueeze(1)  # (steps, 1)
    return torch.lerp(start.unsqueeze(0), end.unsqueeze(0), weights)


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Teacher-forcing decoder inputs: the labels moved one step right behind the start token (-100 -> pad)."""
    decoder_input_ids = labels.new_full(labels.shape, decoder_start_token_id)
    decoder_input_ids[:, 1:] = labels[:, :-1]
    return decoder_input_ids.masked_fill(decoder_input_ids == -100, pad_token_id)


def sentence_lengths(attention_mask: torch.Tensor) -> torch.Tensor:
    """Real tokens per row (B,). The encoder packs each row from its first position, so rows must be right-padded."""
    if attention_mask.shape[1] > 1 and bool((attention_mask[:, 1:] > attention_mask[:, :-1]).any()):
        raise ValueError("SentenceVAE needs right-padded sentences (set tokenizer.padding_side = 'right')")
    return attention_mask.sum(-1).clamp(min=1)


# ---------------------------------------------------------------------------------------------------------------------
# Outputs and the decoder state.


@dataclass
class SentenceVAEEncoderOutput(ModelOutput):
    """What the encoder gives the decoder. `last_hidden_state` is the latent code as a one-position sequence, the
    shape generate() reads an encoder output's batch size from."""

    last_hidden_state: torch.Tensor | None = None  # (B, 1, Z): z
    mean: torch.Tensor | None = None  # (B, Z); None for a latent given by the caller
    logvar: torch.Tensor | None = None  # (B, Z)


@dataclass
class SentenceVAEOutput(ModelOutput):
    """Output of `SentenceVAEModel.forward`.

    Args:
        loss: reconstruction_loss + kl_weight * KL (the KL with free bits, when configured); the negative ELBO per
            sentence at kl_weight 1 without free bits.
        reconstruction_loss: Token NLL summed over each sentence, averaged over the batch (nats).
        kl: KL(q(z|x) || p(z)) per sentence, averaged over the batch (nats), before weighting and free bits.
        kl_weight: The weight the KL got in `loss`.
        logits: (B, T, V) next-token scores of the decoder.
        mean, logvar: (B, Z) the posterior q(z|x) = N(mean, exp(logvar)).
        latent: (B, Z) the code the decoder read.
        cache: The decoder state after the last position (a `SentenceVAEDecoderState`), at inference; the field is
            `past_key_values` before transformers 5.24, where generate() reads it under that name.
    """

    loss: torch.Tensor | None = None
    reconstruction_loss: torch.Tensor | None = None
    kl: torch.Tensor | None = None
    kl_weight: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    mean: torch.Tensor | None = None
    logvar: torch.Tensor | None = None
    latent: torch.Tensor | None = None
    if CACHE_FIELD == "cache":  # one field only: 5.24's ModelOutput maps `past_key_values` to `cache` (and warns)
        cache: SentenceVAEDecoderState | None = None
    else:
        past_key_values: SentenceVAEDecoderState | None = None


class SentenceVAEDecoderState(NamedTuple):
    """What the decoder carries from one token to the next (the `cache` of this model).

    Batch-first, so beam search reorders the whole state with one `index_select` on dim 0."""

    hidden: torch.Tensor  # (B, L, H)
    cell: torch.Tensor | None  # (B, L, H), LSTM only

    @classmethod
    def from_rnn(cls, hx: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> SentenceVAEDecoderState:
        hidden, cell = hx if isinstance(hx, tuple) else (hx, None)
        return cls(hidden.transpose(0, 1), None if cell is None else cell.transpose(0, 1))

    def rnn_hx(self) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The state in the (L, B, H) layout nn.GRU / nn.LSTM expect."""
        hidden = self.hidden.transpose(0, 1).contiguous()
        return hidden if self.cell is None else (hidden, self.cell.transpose(0, 1).contiguous())

    def index_select(self, index: torch.Tensor) -> SentenceVAEDecoderState:
        return SentenceVAEDecoderState(*(None if t is None else t.index_select(0, index.to(t.device)) for t in self))


# ---------------------------------------------------------------------------------------------------------------------
# Modules.


class SentenceVAEEncoder(nn.Module):
    """Token embeddings (shared with the decoder), an RNN over the packed sentence, and the q(z|x) heads."""

    main_input_name = "input_ids"

    def __init__(self, config: SentenceVAEConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size)
        self.rnn = RNN_CLASSES[config.rnn_type](
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_hidden_layers,
            bidirectional=config.bidirectional,
            batch_first=True,
        )
        # The final hidden state of every layer and direction, concatenated (as timbmg/Sentence-VAE).
        final_size = config.num_hidden_layers * (2 if config.bidirectional else 1) * config.hidden_size
        self.to_mean = nn.Linear(final_size, config.latent_size)
        self.to_logvar = nn.Linear(final_size, config.latent_size)

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        sample_latent: bool | None = None,
        output_attentions: bool | None = None,  # generate() passes these three; an RNN encoder has no such outputs
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SentenceVAEEncoderOutput:
        """(B, T) right-padded ids -> z (B, 1, Z), mean and logvar (B, Z). `sample_latent` (default: in training)
        draws z = mean + exp(logvar / 2) * eps from the global RNG; otherwise z is the mean."""
        embedded = self.embed_tokens(input_ids)  # (B, T, E)
        lengths = None if attention_mask is None else sentence_lengths(attention_mask)
        if lengths is None or bool((lengths == input_ids.shape[1]).all()):
            _, hx = self.rnn(embedded)
        else:
            _, hx = self.rnn(pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False))
        final = hx[0] if isinstance(hx, tuple) else hx  # (L * directions, B, H), in the batch's order
        final = final.transpose(0, 1).reshape(input_ids.shape[0], -1)
        mean, logvar = self.to_mean(final), self.to_logvar(final)
        sample_latent = self.training if sample_latent is None else sample_latent
        latent = mean + (0.5 * logvar).exp() * torch.randn_like(mean) if sample_latent else mean
        return SentenceVAEEncoderOutput(last_hidden_state=latent.unsqueeze(1), mean=mean, logvar=logvar)


class SentenceVAEDecoder(nn.Module):
    """An RNN language model whose initial state (and, with `feed_latent`, every input) comes from z."""

    def __init__(self, config: SentenceVAEConfig):
        super().__init__()
        self.rnn_type = config.rnn_type
        self.num_layers = config.num_hidden_layers
        self.feed_latent = config.feed_latent
        states = 2 if config.rnn_type == "lstm" else 1  # LSTM: h and c
        self.latent_to_state = nn.Linear(config.latent_size, states * config.num_hidden_layers * config.hidden_size)
        self.rnn = RNN_CLASSES[config.rnn_type](
            config.embedding_size + (config.latent_size if config.feed_latent else 0),
            config.hidden_size,
            num_layers=config.num_hidden_layers,
            batch_first=True,
        )

    def initial_state(self, latent: torch.Tensor) -> SentenceVAEDecoderState:
        """z (B, Z) -> the state before the first token, a linear map of z for every layer (and the LSTM cell)."""
        initial = self.latent_to_state(latent).view(latent.shape[0], self.num_layers, -1)
        hidden, cell = initial.chunk(2, dim=-1) if self.rnn_type == "lstm" else (initial, None)
        return SentenceVAEDecoderState(hidden.contiguous(), None if cell is None else cell.contiguous())

    def forward(
        self, inputs_embeds: torch.Tensor, latent: torch.Tensor, state: SentenceVAEDecoderState | None = None
    ) -> tuple[torch.Tensor, SentenceVAEDecoderState]:
        """Embedded inputs (B, T, E) and z (B, Z), after `state` (None: the start) -> outputs (B, T, H), new state."""
        if state is None:
            state = self.initial_state(latent)
        if self.feed_latent:
            inputs_embeds = torch.cat([inputs_embeds, latent.unsqueeze(1).expand(-1, inputs_embeds.shape[1], -1)], -1)
        outputs, hx = self.rnn(inputs_embeds, state.rnn_hx())
        return outputs, SentenceVAEDecoderState.from_rnn(hx)


class SentenceVAEPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the class attributes of the sentence VAE."""

    config_class = SentenceVAEConfig
    config: SentenceVAEConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False  # fused nn.GRU / nn.LSTM calls; their activations are small
    _gradient_checkpointing_refusal = "fused nn.GRU/nn.LSTM calls hold its activations"  # nlpkit's recipe check says it
    _no_split_modules = ["SentenceVAEEncoder", "SentenceVAEDecoder"]
    accepts_loss_kwargs = False  # the loss is a mean over sentences; it does not use num_items_in_batch

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.GRU, nn.LSTM)):
            # PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for the matrices (the default init skips RNNs); zero biases, but an
            # LSTM forget-gate bias of 1 (Jozefowicz et al., 2015). Gate order: input, forget, cell, output.
            bound = module.hidden_size**-0.5
            for name, param in module.named_parameters():
                if name.startswith("weight"):
                    init.uniform_(param, -bound, bound)
                else:
                    bias = torch.zeros_like(param)
                    if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                        bias[module.hidden_size : 2 * module.hidden_size] = 1.0
                    init.copy_(param, bias)  # one call on the whole tensor, so loaded weights are left alone
        elif isinstance(module, nn.Embedding):
            # Unit variance (PyTorch's default): the RNN input weights are scaled for unit-variance inputs.
            init.normal_(module.weight, mean=0.0, std=1.0)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)
        elif isinstance(module, SentenceVAEModel):
            init.zeros_(module.kl_step)


class SentenceVAEModel(SentenceVAEPreTrainedModel, GenerationMixin):
    """The sentence VAE: `forward` gives the negative ELBO and its parts, `generate()` decodes latent codes."""

    _tied_weights_keys = {"lm_head.weight": "encoder.embed_tokens.weight"}

    def __init__(self, config: SentenceVAEConfig):
        super().__init__(config)
        self.encoder = SentenceVAEEncoder(config)
        self.decoder = SentenceVAEDecoder(config)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        # Training forwards so far: the step of the KL annealing schedule. Saved, so a reloaded model resumes it.
        self.register_buffer("kl_step", torch.zeros((), dtype=torch.long))
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def get_encoder(self, modality: str | None = None) -> SentenceVAEEncoder:
        return self.encoder

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Used by DataCollatorForSeq2Seq to add `decoder_input_ids` to a batch."""
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    # -- the VAE's helpers --------------------------------------------------------------------------------------------

    def kl_weight(self, step: int | None = None) -> float:
        """The annealing schedule's KL weight at `step` (default: the model's `kl_step`)."""
        return kl_annealing_weight(self.config, int(self.kl_step) if step is None else step)

    @torch.no_grad()
    def encode(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior q(z|x) of right-padded sentences (B, T): mean and logvar, each (B, Z)."""
        encoded = self.encoder(input_ids, attention_mask, sample_latent=False)
        return encoded.mean, encoded.logvar

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` codes from the prior N(0, I): (n, Z) on the model's device; `generator` makes them reproducible."""
        device = generator.device if generator is not None else self.device
        latent = torch.randn(n, self.config.latent_size, generator=generator, device=device)
        return latent.to(device=self.device, dtype=self.dtype)

    interpolate = staticmethod(interpolate)

    def apply_word_dropout(self, decoder_input_ids: torch.LongTensor) -> torch.LongTensor:
        """In training, each decoder input becomes `unk_token_id` with probability `word_dropout`, except the start,
        end and padding tokens; in eval the inputs are returned unchanged."""
        rate = self.config.word_dropout
        if not self.training or rate == 0:
            return decoder_input_ids
        config = self.config
        special = [config.pad_token_id, config.bos_token_id, config.eos_token_id, config.decoder_start_token_id]
        special = torch.tensor([i for i in special if i is not None], device=decoder_input_ids.device)
        dropped = torch.rand(decoder_input_ids.shape, device=decoder_input_ids.device) < rate
        dropped &= ~torch.isin(decoder_input_ids, special)
        return decoder_input_ids.masked_fill(dropped, config.unk_token_id)

    # -- forward and generation ---------------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        latent: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: SentenceVAEEncoderOutput | tuple | None = None,
        cache: SentenceVAEDecoderState | None = None,
        kl_weight: float | torch.Tensor | None = None,
        sample_latent: bool | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: SentenceVAEDecoderState | None = None,
    ) -> SentenceVAEOutput | tuple:
        """Encode, sample, decode; the loss whenever there are targets.

        Args:
            input_ids: (B, T) right-padded sentences to encode. Without `labels` and `decoder_input_ids` they are
                also the targets (an autoencoder reconstructs its input), so the loss needs no `labels`.
            attention_mask: (B, T) 1 for tokens, 0 for padding.
            labels: (B, T) targets, -100 where ignored; usually `input_ids` with padding set to -100.
            latent: (B, Z) a code to decode instead of encoding `input_ids`; `loss` is then the reconstruction alone
                (there is no posterior), `kl`, `mean` and `logvar` are None.
            decoder_input_ids: (B, T') decoder inputs; default: the targets shifted right behind bos. With `cache`,
                only the new tokens.
            decoder_attention_mask: Accepted and not needed: the decoder is causal and padding follows the tokens.
            encoder_outputs: An encoder output (generate() passes it at every step) instead of `input_ids`.
            cache: The decoder state after the tokens already decoded.
            kl_weight: The KL weight; default: the annealing schedule at `kl_step`.
            sample_latent: Draw z from q(z|x) (default in training) rather than take its mean (default in eval).
            use_cache: Return the decoder state; default `config.use_cache` at inference, False with targets.
            output_attentions, output_hidden_states: Accepted for generate(); an RNN VAE has no such outputs.
            past_key_values: `cache` under the name transformers before 5.24 passes.

        In training mode a forward that computes the loss advances `kl_step` by one.
        """
        cache = cache if cache is not None else past_key_values
        mean = logvar = None
        if latent is None:
            if encoder_outputs is None:
                if input_ids is None:
                    raise ValueError("pass input_ids to encode, or a latent code to decode")
                encoder_outputs = self.encoder(input_ids, attention_mask, sample_latent=sample_latent)
            elif not isinstance(encoder_outputs, SentenceVAEEncoderOutput):  # a tuple: (z, mean, logvar)
                encoder_outputs = SentenceVAEEncoderOutput(*encoder_outputs)
            latent = encoder_outputs.last_hidden_state[:, 0]
            mean, logvar = encoder_outputs.mean, encoder_outputs.logvar

        targets = labels
        if targets is None and decoder_input_ids is None and input_ids is not None:
            targets = input_ids if attention_mask is None else input_ids.masked_fill(attention_mask == 0, -100)
        if decoder_input_ids is None:
            if targets is None:
                raise ValueError("pass decoder_input_ids, or input_ids / labels to reconstruct")
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(targets)
        if use_cache is None:
            use_cache = self.config.use_cache and targets is None

        inputs_embeds = self.embedding_dropout(self.encoder.embed_tokens(self.apply_word_dropout(decoder_input_ids)))
        outputs, state = self.decoder(inputs_embeds, latent, cache)
        logits = self.lm_head(outputs)  # (B, T', V)

        loss = reconstruction_loss = kl = None
        if targets is not None:
            token_nll = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="sum")
            reconstruction_loss = token_nll / targets.shape[0]  # ignore_index -100 is cross_entropy's default
            loss = reconstruction_loss
            if mean is not None:
                kl_per_dimension = gaussian_kl(mean.float(), logvar.float())  # (B, Z)
                kl = kl_per_dimension.sum(-1).mean()
                counted_kl = kl
                if self.config.free_bits > 0:
                    counted_kl = kl_per_dimension.mean(0).clamp(min=self.config.free_bits).sum()
                if kl_weight is None:
                    kl_weight = self.kl_weight()
                kl_weight = torch.as_tensor(kl_weight, dtype=loss.dtype, device=loss.device)
                loss = reconstruction_loss + kl_weight * counted_kl
            if self.training:
                self.kl_step += 1

        output = SentenceVAEOutput(
            loss=loss,
            reconstruction_loss=reconstruction_loss,
            kl=kl,
            kl_weight=kl_weight if kl is not None else None,
            logits=logits,
            mean=mean,
            logvar=logvar,
            latent=latent,
            **{CACHE_FIELD: state if use_cache else None},
        )
        return output if return_dict is not False else output.to_tuple()

    def generate(self, *args, latent: torch.Tensor | None = None, **kwargs):
        """transformers' `generate()`, which also takes `latent` (B, Z): codes to decode, from bos, instead of
        encoding `input_ids` (e.g. `generate(latent=model.sample_prior(4), max_new_tokens=20, num_beams=3)`)."""
        if latent is not None:
            if args or kwargs.get("input_ids") is not None or kwargs.get("encoder_outputs") is not None:
                raise ValueError("pass either latent or the sentences to encode (input_ids / encoder_outputs)")
            latent = latent.to(device=self.device, dtype=self.dtype)
            kwargs["encoder_outputs"] = SentenceVAEEncoderOutput(last_hidden_state=latent.unsqueeze(1))
        return super().generate(*args, **kwargs)

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # The decoder carries a SentenceVAEDecoderState, not a key/value cache: let the model create and return it.
        return False

    def _reorder_cache(self, cache: SentenceVAEDecoderState, beam_idx: torch.LongTensor) -> SentenceVAEDecoderState:
        return cache.index_select(beam_idx)


__all__ = [
    "SentenceVAEDecoderState",
    "SentenceVAEEncoder",
    "SentenceVAEEncoderOutput",
    "SentenceVAEModel",
    "SentenceVAEOutput",
    "SentenceVAEPreTrainedModel",
    "active_units",
    "gaussian_kl",
    "interpolate",
    "kl_annealing_weight",
]
