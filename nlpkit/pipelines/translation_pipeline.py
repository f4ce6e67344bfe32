"""The "translation" / "text2text-generation" pipeline of any seq2seq model, as transformers 4 had it.

transformers 5 removed its translation and text2text pipelines. This file imports only torch and transformers, so it
ships beside a saved model's weights (``translation_pipeline.py``), named by the ``custom_pipelines`` entry of its
``config.json``; then, without nlpkit installed,

    pipe = pipeline("translation", model=folder, trust_remote_code=True)
    pipe("Hello")                   # [{"translation_text": "..."}]
    pipe(["Hello", "Bye"])          # [{"translation_text": "..."}, {"translation_text": "..."}]
    pipe("Hello", num_return_sequences=2, num_beams=2)   # [{...}, {...}]: each input gives a list

as transformers 4's TranslationPipeline did; ``"text2text-generation"`` gives ``generated_text`` keys. For a model in
memory: ``TranslationPipeline(model=model, tokenizer=tokenizer, task="translation")``.

Generation keywords (``num_beams``, ``max_new_tokens``...) pass through to ``generate()`` on top of the model's saved
generation config (nlpkit's recipes save the beams and the maximum length they evaluated with); ``config.prefix``
(T5's "translate English to German: ") is put before each text; a multilingual tokenizer (mBART, M2M100, NLLB) takes
``src_lang=`` / ``tgt_lang=`` language codes.

Beam search on transformers' own encoder-decoder models (Marian, M2M100, BART, T5...) runs with a
:class:`BeamSearchCache`, which skips a reordering that changes nothing (see there): the same translations, about 15%
faster at 5 beams on nlpkit's 3+3-layer Transformer.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache, EncoderDecoderCache, Pipeline
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.utils import logging

logger = logging.get_logger(__name__)

# transformers 5.24 renamed generate()'s `past_key_values` to `cache` (the old name still works, with a warning)
CACHE_ARGUMENT = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


class BeamSearchCache(EncoderDecoderCache):
    """An encoder-decoder cache whose beam reordering moves only the decoder's self-attention keys and values.

    Beam search reorders the cache after every step so that each beam row holds its hypothesis' history.
    transformers' cache reorders the cross-attention keys and values too: two copies of (beams x batch, heads, source
    length, head size) per layer per step. Beams only trade places among the rows of one source sentence, and those
    rows hold the same encoder states (generate() repeats each source once per beam), so the copy changes nothing.
    """

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.self_attention_cache.reorder_cache(beam_idx)


def beam_search_cache(model: Any, **generate_kwargs: Any) -> dict[str, Any]:
    """The generate() keyword that gives one call a fresh :class:`BeamSearchCache`: for transformers' own
    encoder-decoder models (other models keep their own caches, such as nlpkit's RNN state), unless the call or the
    model's generation config already chooses a cache or turns it off."""
    generation_config = model.generation_config
    chooses_cache = any(
        generate_kwargs.get(key) is not None for key in ("cache", "past_key_values", "cache_implementation")
    )
    if (
        not model.config.is_encoder_decoder
        or not type(model).__module__.startswith("transformers.")
        or chooses_cache
        or generation_config.cache_implementation is not None
        or generate_kwargs.get("use_cache", generation_config.use_cache) is False
    ):
        return {}
    decoder_config = model.config.get_text_config(decoder=True)
    return {CACHE_ARGUMENT: BeamSearchCache(DynamicCache(config=decoder_config), DynamicCache(config=decoder_config))}


def language_code_id(tokenizer: Any, code: str) -> int | None:
    """The id of the token that marks language ``code`` (M2M100 maps "fr" to "__fr__"; mBART and NLLB codes are
    tokens), None if the tokenizer has no such code."""
    if hasattr(tokenizer, "get_lang_id"):  # M2M100
        try:
            return tokenizer.get_lang_id(code)
        except KeyError:
            return None
    token_id = tokenizer.convert_tokens_to_ids(code)
    return None if token_id is None or token_id == tokenizer.unk_token_id else token_id


class TranslationPipeline(Pipeline):
    """Text in, generated text out, for any encoder-decoder model (``AutoModelForSeq2SeqLM``)."""

    # Generation is handled here rather than by the base class's generation plumbing (`_pipeline_calls_generate`),
    # which changed within 5.x: the keywords of the call and of pipeline() reach generate() as they are.
    _pipeline_calls_generate = False
    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Batches are padded with the tokenizer's side; seq2seq encoders read right-padded sources (nlpkit's RNN
        # encoder refuses left padding).
        if self.tokenizer is not None and self.tokenizer.padding_side != "right":
            self.tokenizer.padding_side = "right"

    def __call__(self, inputs: str | list[str] | Any, **kwargs: Any) -> Any:
        """A text gives a list of dicts (one per returned sequence); a list of texts gives one dict per text, or one
        list per text with ``num_return_sequences`` > 1."""
        outputs = super().__call__(inputs, **kwargs)
        if isinstance(inputs, list) and all(isinstance(text, str) for text in inputs):
            if all(len(output) == 1 for output in outputs):
                return [output[0] for output in outputs]
        return outputs

    def _sanitize_parameters(
        self,
        src_lang: str | None = None,
        tgt_lang: str | None = None,
        truncation: bool | str | None = None,
        skip_special_tokens: bool | None = None,
        clean_up_tokenization_spaces: bool | None = None,
        **generate_kwargs: Any,
    ) -> tuple[dict, dict, dict]:
        preprocess: dict[str, Any] = {}
        if truncation is not None:
            preprocess["truncation"] = truncation
        if (src_lang or tgt_lang) and not hasattr(self.tokenizer, "src_lang"):
            # As transformers 4 did for tokenizers without language codes (Marian, T5): the model knows its pair.
            logger.warning_once(f"{type(self.tokenizer).__name__} has no language codes: src_lang/tgt_lang ignored")
        else:
            if src_lang is not None:
                preprocess["src_lang"] = src_lang
            if tgt_lang is not None:  # the decoder's first token is the target language's code
                generate_kwargs["forced_bos_token_id"] = self._language_id(tgt_lang)
        postprocess = {
            key: value
            for key, value in (
                ("skip_special_tokens", skip_special_tokens),
                ("clean_up_tokenization_spaces", clean_up_tokenization_spaces),
            )
            if value is not None
        }
        return preprocess, generate_kwargs, postprocess

    def _language_id(self, language: str) -> int:
        token_id = language_code_id(self.tokenizer, language)
        if token_id is None:
            raise ValueError(f"tgt_lang={language!r} is not a language code of {type(self.tokenizer).__name__}")
        return token_id

    def preprocess(
        self, text: str, src_lang: str | None = None, truncation: bool | str = True
    ) -> dict[str, torch.Tensor]:
        if not isinstance(text, str):
            raise TypeError(f"{type(self).__name__} translates a str or a list of str, got {type(text).__name__}")
        if src_lang is not None:
            self.tokenizer.src_lang = src_lang  # the setter of multilingual tokenizers switches the language tokens
        prefix = getattr(self.model.config, "prefix", None) or ""  # what a T5-style model was trained to read
        encoded = self.tokenizer(prefix + text, truncation=truncation, return_tensors="pt")
        return {key: encoded[key] for key in ("input_ids", "attention_mask") if key in encoded}

    def _forward(self, model_inputs: dict[str, torch.Tensor], **generate_kwargs: Any) -> dict[str, torch.Tensor]:
        cache = beam_search_cache(self.model, **generate_kwargs)
        output = self.model.generate(
            **model_inputs, **cache, **generate_kwargs
        )  # on top of the model's generation config
        output_ids = output if isinstance(output, torch.Tensor) else output.sequences
        # (inputs, sequences per input, length): the base class splits a batch on the first dimension
        return {"output_ids": output_ids.reshape(model_inputs["input_ids"].shape[0], -1, output_ids.shape[-1])}

    def postprocess(
        self,
        model_outputs: dict[str, torch.Tensor],
        skip_special_tokens: bool = True,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> list[dict[str, str]]:
        key = "generated_text" if self.task.startswith("text2text") else "translation_text"
        options = {"skip_special_tokens": skip_special_tokens}
        if clean_up_tokenization_spaces is not None:
            options["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        return [{key: self.tokenizer.decode(ids, **options)} for ids in model_outputs["output_ids"][0]]
