"""RNN seq2seq: incremental decoding against the teacher-forced pass, generate() and beam search with the RNN-state
cache, padding, save/load, remote code, pipeline() and Seq2SeqTrainer."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    AutoModelForSeq2SeqLM,
    DataCollatorForSeq2Seq,
    PreTrainedTokenizerFast,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    pipeline,
)
from transformers.modeling_outputs import BaseModelOutput

import nlpkit  # noqa: F401  (registers the Auto classes)
from nlpkit.models.rnn_seq2seq import RNNSeq2SeqConfig, RNNSeq2SeqForConditionalGeneration, RNNSeq2SeqModel
from nlpkit.models.rnn_seq2seq.modeling_rnn_seq2seq import shift_tokens_right
from nlpkit.pipelines import TranslationPipeline, add_translation_pipeline
from tests.helpers import REPO_ROOT, last_json_line, run_without_nlpkit

PAD, BOS, EOS = 0, 1, 2
TINY = {
    "vocab_size": 40,
    "decoder_vocab_size": 30,
    "embedding_size": 16,
    "encoder_hidden_size": 12,
    "hidden_size": 20,
    "dropout": 0.1,
    "initializer_range": 0.5,  # peaked distributions, so greedy choices are far from ties
}
VARIANTS = {
    "luong-general": {},
    "luong-dot": {"attention_type": "dot", "encoder_hidden_size": 10},
    "additive": {"attention_type": "additive"},
    "bahdanau-input-feeding": {"attention_type": "additive", "input_feeding": True},
    "lstm-2-layers-input-feeding": {
        "rnn_type": "lstm",
        "num_hidden_layers": 2,
        "num_decoder_layers": 2,
        "input_feeding": True,
    },
    "shared-untied-unidirectional": {
        "decoder_vocab_size": 40,
        "share_embeddings": True,
        "tie_word_embeddings": False,
        "bidirectional": False,
    },
}
# Right-padded sources of different lengths; every row ends with EOS.
SOURCE = torch.tensor([[5, 6, 7, 8, 9, 2], [10, 11, 12, 2, PAD, PAD], [13, 14, 2, PAD, PAD, PAD]])
SOURCE_MASK = (SOURCE != PAD).long()
BENCHMARK = REPO_ROOT / "benchmarks" / "seq2seq_tutorial_baseline.py"


def tiny_model(seed: int = 0, **overrides) -> RNNSeq2SeqForConditionalGeneration:
    torch.manual_seed(seed)
    return RNNSeq2SeqForConditionalGeneration(RNNSeq2SeqConfig(**{**TINY, **overrides})).eval()


def greedy(model, input_ids=SOURCE, attention_mask=SOURCE_MASK, **kwargs) -> torch.Tensor:
    # min_new_tokens keeps EOS away, so every step of every row is compared
    return model.generate(
        input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=8, min_new_tokens=8, **kwargs
    )


# ---------------------------------------------------------------------------------------------------------------------
# Incremental decoding == teacher-forced pass; generate() with the cache == without it.


@pytest.mark.parametrize("variant", VARIANTS)
def test_teacher_forced_logits_equal_incremental_logits(variant):
    model = tiny_model(**VARIANTS[variant])
    torch.manual_seed(1)
    decoder_input_ids = torch.randint(3, model.config.decoder_vocab_size, (3, 7))
    decoder_input_ids[:, 0] = model.config.decoder_start_token_id
    with torch.no_grad():
        full = model(input_ids=SOURCE, attention_mask=SOURCE_MASK, decoder_input_ids=decoder_input_ids).logits
        encoder_outputs = model.get_encoder()(SOURCE, SOURCE_MASK)
        assert isinstance(encoder_outputs, BaseModelOutput)
        past, steps = None, []
        for t in range(decoder_input_ids.shape[1]):
            out = model(
                attention_mask=SOURCE_MASK,
                encoder_outputs=encoder_outputs,
                decoder_input_ids=decoder_input_ids[:, t : t + 1],
                cache=past,
                use_cache=True,
            )
            past = out.cache
            steps.append(out.logits)
    assert full.shape == (3, 7, model.config.decoder_vocab_size)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_greedy_generation_with_cache_equals_without(variant):
    model = tiny_model(**VARIANTS[variant])
    cached = greedy(model, use_cache=True)
    recomputed = greedy(model, use_cache=False)  # runs the whole prefix again at every step
    assert cached.shape == (3, 9)
    assert (cached[:, 0] == model.config.decoder_start_token_id).all()
    assert torch.equal(cached, recomputed)


def test_greedy_and_one_beam_equal_a_hand_written_argmax_loop():
    model = tiny_model()
    expected = torch.full((3, 1), BOS)
    with torch.no_grad():
        for _ in range(8):
            logits = model(input_ids=SOURCE, attention_mask=SOURCE_MASK, decoder_input_ids=expected).logits[:, -1]
            logits[:, EOS] = -float("inf")  # what min_new_tokens does
            expected = torch.cat([expected, logits.argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(greedy(model), expected)
    assert torch.equal(greedy(model, num_beams=1), expected)


@pytest.mark.parametrize("variant", ["luong-general", "lstm-2-layers-input-feeding"])
def test_beam_search_reorders_the_cache(variant):
    """Four beams: same beams with the cache as without it, and scores equal to the teacher-forced log-probs."""
    model = tiny_model(**VARIANTS[variant])
    kwargs = {"num_beams": 4, "num_return_sequences": 4, "length_penalty": 0.0, "return_dict_in_generate": True}
    kwargs["output_scores"] = True
    cached = greedy(model, **kwargs)
    recomputed = greedy(model, use_cache=False, **kwargs)
    assert cached.sequences.shape == (12, 9)
    assert torch.equal(cached.sequences, recomputed.sequences)
    assert len(set(map(tuple, cached.sequences[:4].tolist()))) == 4  # four different hypotheses per source

    # With length_penalty 0 a beam's score is the sum of its token log-probabilities.
    sequences = cached.sequences
    with torch.no_grad():
        logits = model(
            input_ids=SOURCE.repeat_interleave(4, 0),
            attention_mask=SOURCE_MASK.repeat_interleave(4, 0),
            decoder_input_ids=sequences[:, :-1],
        ).logits
    log_probs = logits.log_softmax(-1).gather(-1, sequences[:, 1:, None]).squeeze(-1).sum(-1)
    torch.testing.assert_close(cached.sequences_scores, log_probs, atol=1e-4, rtol=1e-4)
    assert (cached.sequences_scores.view(3, 4).diff(dim=1) <= 1e-6).all()  # best first


def test_a_sentence_alone_and_in_a_padded_batch_give_the_same_output():
    model = tiny_model()
    alone, alone_mask = SOURCE[2:, :3], SOURCE_MASK[2:, :3]
    assert torch.equal(greedy(model)[2:], greedy(model, input_ids=alone, attention_mask=alone_mask))
    decoder_input_ids = torch.tensor([[BOS, 7, 8, 9]] * 3)
    with torch.no_grad():
        batch = model(input_ids=SOURCE, attention_mask=SOURCE_MASK, decoder_input_ids=decoder_input_ids)
        single = model(input_ids=alone, attention_mask=alone_mask, decoder_input_ids=decoder_input_ids[:1])
    torch.testing.assert_close(batch.logits[2:], single.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batch.encoder_last_hidden_state[2:, :3], single.encoder_last_hidden_state)
    assert (batch.encoder_last_hidden_state[2:, 3:] == 0).all()  # packed: padding never gets a state


def test_left_padded_sources_are_rejected():
    model = tiny_model()
    with pytest.raises(ValueError, match="right-padded"):
        model(input_ids=SOURCE.flip(1), attention_mask=SOURCE_MASK.flip(1), decoder_input_ids=SOURCE[:, :2])


# ---------------------------------------------------------------------------------------------------------------------
# Loss, labels and attentions.


def test_labels_are_shifted_right_into_decoder_inputs():
    labels = torch.tensor([[7, 8, 2], [9, 2, -100]])
    assert shift_tokens_right(labels, PAD, BOS).tolist() == [[BOS, 7, 8], [BOS, 9, 2]]
    model = tiny_model()
    with torch.no_grad():
        from_labels = model(input_ids=SOURCE[:2], attention_mask=SOURCE_MASK[:2], labels=labels)
        explicit = model(
            input_ids=SOURCE[:2], attention_mask=SOURCE_MASK[:2], decoder_input_ids=shift_tokens_right(labels, 0, 1)
        )
    torch.testing.assert_close(from_labels.logits, explicit.logits)
    counted = labels != -100
    expected = torch.nn.functional.cross_entropy(explicit.logits[counted], labels[counted])
    torch.testing.assert_close(from_labels.loss, expected)


def test_training_loss_without_full_logits_equals_eval_loss():
    model = tiny_model(dropout=0.0)
    labels = torch.tensor([[7, 8, 2, -100], [9, 10, 11, 2], [12, 2, -100, -100]])
    inputs = {"input_ids": SOURCE, "attention_mask": SOURCE_MASK, "labels": labels}
    eval_output = model(**inputs)
    train_output = model.train()(**inputs)
    assert train_output.logits is None  # training computes the output layer only where a label counts
    torch.testing.assert_close(train_output.loss, eval_output.loss)


def test_cross_attentions_have_the_right_shape_and_mask_padding():
    model = tiny_model()
    decoder_input_ids = torch.tensor([[BOS, 7, 8, 9]] * 3)
    with torch.no_grad():
        out = model(
            input_ids=SOURCE, attention_mask=SOURCE_MASK, decoder_input_ids=decoder_input_ids, output_attentions=True
        )
    (weights,) = out.cross_attentions
    assert weights.shape == (3, 1, 4, 6)  # (batch, one head, target, source)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 1, 4))
    assert (weights[SOURCE_MASK[:, None, None, :].expand_as(weights) == 0] == 0).all()
    assert (
        model(input_ids=SOURCE, attention_mask=SOURCE_MASK, decoder_input_ids=decoder_input_ids).cross_attentions
        is None
    )
    generated = greedy(model, return_dict_in_generate=True, output_attentions=True)
    assert len(generated.cross_attentions) == 8 and generated.cross_attentions[0][0].shape == (3, 1, 1, 6)


def test_config_rejects_inconsistent_sizes():
    with pytest.raises(ValueError, match="dot attention"):
        RNNSeq2SeqConfig(attention_type="dot", encoder_hidden_size=10, hidden_size=16)
    with pytest.raises(ValueError, match="one vocabulary"):
        RNNSeq2SeqConfig(vocab_size=40, decoder_vocab_size=30, share_embeddings=True)


def test_config_resolves_its_derived_sizes():
    config = RNNSeq2SeqConfig(vocab_size=50, hidden_size=24, num_hidden_layers=3, bos_token_id=4)
    assert (config.encoder_hidden_size, config.num_decoder_layers, config.attention_size) == (24, 3, 24)
    assert (config.decoder_vocab_size, config.decoder_start_token_id) == (50, 4)
    assert config.is_encoder_decoder is True
    assert not hasattr(config, "custom_pipelines")  # the translation task ships the pipeline with the final model
    config = RNNSeq2SeqConfig(hidden_size=24, encoder_hidden_size=8, num_hidden_layers=2, num_decoder_layers=1)
    assert (config.encoder_hidden_size, config.num_hidden_layers, config.num_decoder_layers) == (8, 2, 1)
    model = RNNSeq2SeqForConditionalGeneration(config)
    assert (model.model.encoder.rnn.num_layers, model.model.decoder.rnn.num_layers) == (2, 1)
    assert model.model.encoder.rnn.hidden_size == 8
    with pytest.raises(ValueError, match="rnn_type"):
        RNNSeq2SeqConfig(rnn_type="rnn")
    with pytest.raises(ValueError, match="attention_type"):
        RNNSeq2SeqConfig(attention_type="multiplicative")


OLD_NAMES = {
    "encoder_layers": "num_hidden_layers",
    "decoder_layers": "num_decoder_layers",
    "init_range": "initializer_range",
}


def test_config_saved_with_the_old_names_still_loads(tmp_path):
    config = RNNSeq2SeqConfig.from_dict({"encoder_layers": 3, "decoder_layers": 2, "init_range": 0.25})
    assert (config.num_hidden_layers, config.num_decoder_layers, config.initializer_range) == (3, 2, 0.25)
    assert config.decoder_layers == 2  # the alias reads the new field
    assert not set(OLD_NAMES) & set(config.to_dict())  # saved under the new names only
    # A folder whose config.json predates the rename loads the same weights into the same model.
    model = tiny_model(rnn_type="lstm", num_hidden_layers=2, num_decoder_layers=1)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    new_to_old = {new: old for old, new in OLD_NAMES.items()}
    old_saved = {new_to_old.get(key, key): value for key, value in saved.items()}
    assert set(OLD_NAMES) <= set(old_saved)
    (tmp_path / "config.json").write_text(json.dumps(old_saved))
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert (loaded.config.num_hidden_layers, loaded.config.num_decoder_layers) == (2, 1)
    assert loaded.config.initializer_range == 0.5
    torch.testing.assert_close(greedy(loaded), greedy(model), rtol=0, atol=0)


def test_recurrent_weights_are_initialised_by_the_model():
    model = tiny_model(initializer_range=0.05)
    for rnn in (model.model.encoder.rnn, model.model.decoder.rnn):
        for name, param in rnn.named_parameters():
            assert param.abs().max() <= 0.05 if name.startswith("weight") else (param == 0).all()
    assert (model.model.encoder.embed_tokens.weight[PAD] == 0).all()


# ---------------------------------------------------------------------------------------------------------------------
# Save / load and the base model.


@pytest.mark.parametrize("variant", ["luong-general", "shared-untied-unidirectional", "shared-tied"])
def test_save_and_load_round_trip(variant, tmp_path):
    overrides = VARIANTS.get(variant, {"decoder_vocab_size": 40, "share_embeddings": True})
    model = tiny_model(**overrides)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is RNNSeq2SeqForConditionalGeneration
    decoder_input_ids = torch.tensor([[BOS, 7, 8, 9]] * 3)

    @torch.no_grad()
    def logits(m):
        return m(input_ids=SOURCE, attention_mask=SOURCE_MASK, decoder_input_ids=decoder_input_ids).logits

    # Loaded tensors are not 64-byte aligned like fresh ones, so SIMD kernels may round differently: 1e-6, not 0.
    torch.testing.assert_close(logits(model), logits(loaded), atol=1e-6, rtol=1e-6)
    assert torch.equal(greedy(model), greedy(loaded))
    embeddings = loaded.model.get_decoder_input_embeddings().weight
    assert (loaded.lm_head.weight is embeddings) == loaded.config.tie_word_embeddings
    if loaded.config.share_embeddings:
        assert embeddings is loaded.model.encoder.embed_tokens.weight
        assert not hasattr(loaded.model, "decoder_embed_tokens")


def test_tied_weights_stay_tied_through_training_and_saving(tmp_path):
    model = tiny_model()
    assert model.lm_head.weight is model.model.decoder_embed_tokens.weight
    labels = torch.tensor([[7, 8, 2, -100], [9, 10, 11, 2], [12, 2, -100, -100]])
    model.train()(input_ids=SOURCE, attention_mask=SOURCE_MASK, labels=labels).loss.backward()
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert loaded.lm_head.weight is loaded.model.decoder_embed_tokens.weight
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)


def test_base_model_returns_attentional_vectors(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    base = RNNSeq2SeqModel.from_pretrained(tmp_path).eval()
    decoder_input_ids = torch.tensor([[BOS, 7, 8]] * 3)
    with torch.no_grad():
        hidden = base(input_ids=SOURCE, attention_mask=SOURCE_MASK, decoder_input_ids=decoder_input_ids)
        logits = model(input_ids=SOURCE, attention_mask=SOURCE_MASK, decoder_input_ids=decoder_input_ids).logits
    assert hidden.last_hidden_state.shape == (3, 3, model.config.attentional_size)
    torch.testing.assert_close(model.lm_head(hidden.last_hidden_state), logits)


# ---------------------------------------------------------------------------------------------------------------------
# A tiny translator: overfit, then pipeline(), remote code and Seq2SeqTrainer.

PAIRS = [
    ("ein hund läuft", "a dog runs"),
    ("eine katze schläft", "a cat sleeps"),
    ("zwei hunde spielen im park", "two dogs play in the park"),
    ("ein mann liest ein buch", "a man reads a book"),
    ("die frau singt", "the woman sings"),
]


def word_level_tokenizer() -> PreTrainedTokenizerFast:
    words = sorted({word for pair in PAIRS for sentence in pair for word in sentence.split()})
    vocab = {token: index for index, token in enumerate(["[PAD]", "<s>", "</s>", "[UNK]", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", EOS)])
    backend.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces on decode
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", bos_token="<s>", eos_token="</s>", unk_token="[UNK]"
    )


@pytest.fixture(scope="module")
def translator():
    """A tiny model trained until it has memorised PAIRS; returns (model, tokenizer, losses)."""
    tokenizer = word_level_tokenizer()
    torch.manual_seed(0)
    config = RNNSeq2SeqConfig(
        vocab_size=len(tokenizer), embedding_size=32, encoder_hidden_size=32, hidden_size=32, dropout=0.0
    )
    model = RNNSeq2SeqForConditionalGeneration(config)
    batch = tokenizer([s for s, _ in PAIRS], text_target=[t for _, t in PAIRS], padding=True, return_tensors="pt")
    labels = batch["labels"].masked_fill(batch["labels"] == tokenizer.pad_token_id, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), tokenizer, losses


def test_loss_decreases_when_overfitting_a_tiny_batch(translator):
    model, tokenizer, losses = translator
    assert losses[-1] < losses[0] / 20
    batch = tokenizer([s for s, _ in PAIRS], padding=True, return_tensors="pt")
    generated = model.generate(**batch, max_new_tokens=10)
    assert tokenizer.batch_decode(generated, skip_special_tokens=True) == [t for _, t in PAIRS]
    assert (generated[:, 0] == tokenizer.bos_token_id).all()


def test_translation_pipeline_on_a_saved_folder(translator, tmp_path):
    model, tokenizer, _ = translator
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    add_translation_pipeline(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_rnn_seq2seq.RNNSeq2SeqForConditionalGeneration"
    translate = pipeline("translation", model=str(tmp_path), trust_remote_code=True)
    assert translate(PAIRS[0][0]) == [{"translation_text": PAIRS[0][1]}]
    assert translate([s for s, _ in PAIRS], num_beams=2) == [{"translation_text": t} for _, t in PAIRS]
    in_memory = TranslationPipeline(model=model, tokenizer=tokenizer, task="translation")
    assert in_memory(PAIRS[1][0]) == [{"translation_text": PAIRS[1][1]}]
    generate = pipeline("text2text-generation", model=str(tmp_path), trust_remote_code=True)
    assert generate(PAIRS[2][0], max_new_tokens=2) == [{"generated_text": "two dogs"}]  # generation kwargs pass through


def test_remote_code_load_without_nlpkit(translator, tmp_path):
    model, tokenizer, _ = translator
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    add_translation_pipeline(folder)
    sources = [s for s, _ in PAIRS]
    batch = tokenizer(sources, text_target=[t for _, t in PAIRS], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}, decoder_input_ids=batch["labels"]).logits
    beams = model.generate(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], num_beams=3, max_new_tokens=10
    )
    output = run_without_nlpkit(
        f"""
        import json, torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline
        folder = {str(folder)!r}
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)  # it reads the custom config
        batch = tokenizer({sources!r}, text_target={[t for _, t in PAIRS]!r}, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           decoder_input_ids=batch["labels"]).logits
        beams = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], num_beams=3,
                               max_new_tokens=10)
        translations = pipeline("translation", model=folder, trust_remote_code=True)({sources!r})
        print(json.dumps({{"class": type(model).__module__, "logits": logits.tolist(), "beams": beams.tolist(),
                          "translations": [t["translation_text"] for t in translations]}}))
        """,
        tmp_path,
    )
    result = last_json_line(output)
    assert "nlpkit" not in result["class"]
    torch.testing.assert_close(torch.tensor(result["logits"]), logits, atol=1e-5, rtol=1e-5)
    assert result["beams"] == beams.tolist()
    assert result["translations"] == [t for _, t in PAIRS]


def test_seq2seq_trainer_predicts_with_beam_search(translator, tmp_path):
    _, tokenizer, _ = translator
    torch.manual_seed(0)
    model = RNNSeq2SeqForConditionalGeneration(
        RNNSeq2SeqConfig(vocab_size=len(tokenizer), embedding_size=16, encoder_hidden_size=16, hidden_size=16)
    )
    dataset = Dataset.from_dict({"source": [s for s, _ in PAIRS], "target": [t for _, t in PAIRS]}).map(
        lambda row: tokenizer(row["source"], text_target=row["target"]), remove_columns=["source", "target"]
    )
    seen = {}

    def compute_metrics(prediction):
        seen["predictions"] = prediction.predictions
        return {"exact_match": float((prediction.predictions[:, 1:4] == prediction.label_ids[:, :3]).all(1).mean())}

    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=2,
        per_device_eval_batch_size=2,
        learning_rate=1e-2,
        predict_with_generate=True,
        generation_num_beams=2,
        generation_max_length=6,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
    )
    train_result = trainer.train()
    assert train_result.global_step == 2 and train_result.training_loss > 0
    metrics = trainer.evaluate()
    assert metrics["eval_loss"] > 0 and "eval_exact_match" in metrics
    predictions = seen["predictions"]  # beam-searched ids, padded by the trainer to the generation config's length
    assert predictions.shape[0] == len(PAIRS) and (predictions[:, 6:] == tokenizer.pad_token_id).all()
    assert (predictions[:, 0] == tokenizer.bos_token_id).all()


# ---------------------------------------------------------------------------------------------------------------------
# The speed benchmark's two timing functions run on the same batches.


def test_benchmark_times_the_tutorial_model_and_ours_on_the_same_batches():
    spec = importlib.util.spec_from_file_location("seq2seq_tutorial_baseline", BENCHMARK)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    sentences = [["ein", "hund"], ["eine", "katze", "schläft"], ["ein", "hund", "läuft"], ["die", "katze"]]
    vocab = benchmark.build_vocab(sentences, min_freq=1)
    batches = benchmark.make_batches(sentences, vocab, batch_size=2, order=[0, 1, 2, 3])
    assert batches[0].tolist() == [[1, 4, 5, 2, 0], [1, 8, 6, 10, 2]]  # <sos> ids <eos>, right-padded
    assert benchmark.count_target_tokens(batches) == 3 + 4 + 4 + 3
    tutorial = benchmark.tutorial_tokens_per_second(batches, batches, len(vocab), len(vocab), num_batches=1)
    model = tiny_model(vocab_size=len(vocab), decoder_vocab_size=len(vocab))
    ours = benchmark.model_tokens_per_second(model, batches, batches, num_batches=1)
    assert tutorial > 0 and ours > 0
    assert model.training  # it trained the model it was given
