"""Tokenizer training: the four kinds, decoding, special tokens, save/reload, pre-split words."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from nlpkit import tokenization
from nlpkit.tokenization import TOKENIZER_KINDS, tokenizer_for_run, train_tokenizer

CORPUS = [
    "The film is n't bad , it 's great !",
    "A well - made , moving story ( 2002 ) .",
    "Costs $ 10 , about 3.5 stars ; worth it ?",
    "the film is great and the story is great",
    "Naïve café ﬁlms\tand  double  spaces\nover two lines",
    "  leading spaces, trailing newline\n",
] * 3
# Text with characters, spacing and Unicode forms that a lossy tokenizer would change.
TRICKY = ["  Two  spaces,\ttabs\tand\nnew lines\r\n", "ﬁ ligature, Ⅻ numeral, café, naïve", "it's 3.5 ... ok?  "]


def tokenizer_of(kind: str, **options) -> PreTrainedTokenizerFast:
    return train_tokenizer(CORPUS, kind=kind, **{"vocab_size": 300, **options})


@pytest.mark.parametrize("kind", TOKENIZER_KINDS)
def test_special_tokens_come_first(kind):
    tokenizer = tokenizer_of(kind, bos_token="<s>", eos_token="</s>", special_tokens=["<mask>"])
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["<pad>", "<unk>", "<s>", "</s>", "<mask>"]
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id) == (0, 1)
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
    assert "token_type_ids" not in tokenizer("the film")


@pytest.mark.parametrize("kind", ["char", "byte_bpe"])
def test_char_and_byte_level_decode_exactly(kind):
    tokenizer = tokenizer_of(kind)
    texts = CORPUS[:6] if kind == "char" else CORPUS[:6] + TRICKY + ["unseen: 日本語 🙂 ß"]
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text
    if kind == "char":  # one id per character, spaces and newlines included
        assert tokenizer.convert_ids_to_tokens(tokenizer("a b\n")["input_ids"]) == ["a", " ", "b", "\n"]


def test_char_kind_keeps_the_unicode_form_by_default():
    tokenizer = train_tokenizer(CORPUS + TRICKY, kind="char")
    for text in TRICKY:
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_word_kind_decodes_readably():
    tokenizer = tokenizer_of("word", min_frequency=1)
    expected = {
        "The film is n't bad , it 's great !": "The film isn't bad, it's great!",
        "A well - made , moving story ( 2002 ) .": "A well-made, moving story (2002).",
        "Costs $ 10 , about 3.5 stars ; worth it ?": "Costs $10, about 3.5 stars; worth it?",
    }
    for text, readable in expected.items():
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == readable
    # Raw (untokenized) text comes back with its punctuation attached too.
    raw = "The film's great, it's (2002) great!"
    assert tokenizer.unk_token_id not in tokenizer(raw)["input_ids"]
    assert tokenizer.decode(tokenizer(raw)["input_ids"]) == raw


def test_word_kind_splits_punctuation_and_maps_rare_words_to_unk():
    tokenizer = tokenizer_of("word")  # min_frequency defaults to 2
    assert tokenizer.tokenize("the film, great!") == ["the", "film", ",", "great", "!"]
    ids = tokenizer("the zebra film")["input_ids"]
    assert ids[1] == tokenizer.unk_token_id and tokenizer.unk_token_id not in (ids[0], ids[2])
    assert tokenizer.decode(ids, skip_special_tokens=True) == "the film"


def test_bpe_kind_restores_spaces():
    tokenizer = tokenizer_of("bpe", vocab_size=120)
    text = "the film is great, the story is great!"
    tokens = tokenizer.tokenize(text)
    assert any(not token.startswith("▁") for token in tokens[1:])  # some words are split into subwords
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_normalisation_options():
    lower = tokenizer_of("word", lowercase=True, min_frequency=1)
    assert lower.tokenize("The FILM") == ["the", "film"]
    assert lower.decode(lower("The FILM")["input_ids"]) == "the film"
    nfkc = tokenizer_of("word", min_frequency=1)  # NFKC is on for words: the ligature becomes "fi"
    assert nfkc.tokenize("ﬁlms") == ["films"]
    exact_bpe = tokenizer_of("byte_bpe", lowercase=True)
    assert exact_bpe.decode(exact_bpe("The FILM")["input_ids"]) == "the film"


def test_bos_eos_are_added_when_asked():
    tokenizer = tokenizer_of("byte_bpe", bos_token="<s>", eos_token="</s>", add_bos_token=True, add_eos_token=True)
    ids = tokenizer("the film")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == "the film"
    eos_only = tokenizer_of("word", eos_token="</s>", add_eos_token=True)
    ids = eos_only("the film")["input_ids"]
    assert ids[-1] == eos_only.eos_token_id and ids[0] != eos_only.bos_token_id
    plain = tokenizer_of("word", bos_token="<s>", eos_token="</s>")
    assert plain("the film")["input_ids"] == [plain.convert_tokens_to_ids(t) for t in ["the", "film"]]


def test_padding_truncation_and_max_length():
    tokenizer = tokenizer_of("word", model_max_length=4, padding_side="left")
    batch = tokenizer(["the film", "the film is great and the story"], padding=True, truncation=True)
    assert batch["input_ids"][0][:2] == [0, 0] and batch["attention_mask"][0] == [0, 0, 1, 1]
    assert len(batch["input_ids"][1]) == 4


@pytest.mark.parametrize("kind", TOKENIZER_KINDS)
def test_save_and_reload_give_identical_encodings(kind, tmp_path):
    tokenizer = tokenizer_of(
        kind, bos_token="<s>", eos_token="</s>", add_eos_token=True, special_tokens=["<sep>"], model_max_length=64
    )
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    texts = CORPUS[:6] + TRICKY + ["the <sep> film"]
    assert reloaded(texts)["input_ids"] == tokenizer(texts)["input_ids"]
    assert reloaded.decode(reloaded(texts[0])["input_ids"]) == tokenizer.decode(tokenizer(texts[0])["input_ids"])
    assert reloaded.model_max_length == 64
    assert reloaded.all_special_tokens == tokenizer.all_special_tokens
    assert tokenizer.convert_tokens_to_ids("<sep>") in reloaded("the <sep> film")["input_ids"]


def test_word_kind_accepts_pre_split_words():
    tokenizer = tokenizer_of("word", min_frequency=1)
    words = ["The", "film", "(", "U.S.", ")", "zebra"]
    encoding = tokenizer(words, is_split_into_words=True)
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    assert tokens == ["The", "film", "(", "<unk>", ".", "<unk>", ".", ")", "<unk>"]
    assert encoding.word_ids() == [0, 1, 2, 3, 3, 3, 3, 4, 5]
    batch = tokenizer([words, ["the", "film"]], is_split_into_words=True, padding=True)
    assert batch.word_ids(1)[:2] == [0, 1] and batch.word_ids(1)[2:] == [None] * 7


def test_word_kind_can_keep_each_pre_split_word_whole():
    tokenizer = train_tokenizer(["EU rejects U.S. call .", "U.S. call"] * 2, kind="word", split_punctuation=False)
    encoding = tokenizer(["U.S.", "rejects", "1-0", "call", "."], is_split_into_words=True)
    assert tokenizer.convert_ids_to_tokens(encoding["input_ids"]) == ["U.S.", "rejects", "<unk>", "call", "."]
    assert encoding.word_ids() == [0, 1, 2, 3, 4]
    assert tokenizer.decode(encoding["input_ids"]) == "U.S. rejects <unk> call."


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="kind"):
        train_tokenizer(CORPUS, kind="sentencepiece")
    with pytest.raises(ValueError, match="bos_token"):
        train_tokenizer(CORPUS, add_bos_token=True)
    with pytest.raises(ValueError, match="distinct"):
        train_tokenizer(CORPUS, pad_token="<unk>")


def test_vocab_size_is_respected():
    # BPE vocabularies always hold their whole alphabet (256 bytes for byte_bpe); the size bounds what is added.
    for kind, size in (("word", 20), ("bpe", 60), ("byte_bpe", 270)):
        assert len(tokenizer_of(kind, vocab_size=size, min_frequency=1)) == size


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_training_is_deterministic(kind):
    # Many words share a count, so a vocabulary cut at 40 depends on how ties are broken: it must not vary between
    # trainings (DDP ranks each train their own copy and must agree).
    corpus = [f"w{i} x{i % 7} y{i % 3} common" for i in range(60)]
    vocabularies = {
        tuple(sorted(train_tokenizer(corpus, kind=kind, vocab_size=40, min_frequency=1).get_vocab().items()))
        for _ in range(5)
    }
    assert len(vocabularies) == 1


def test_tokenizer_for_run_reloads_the_checkpoint_when_resuming(tmp_path):
    saved = tokenizer_of("word")
    saved.save_pretrained(tmp_path)
    reloaded = tokenizer_for_run(lambda: pytest.fail("must not train when resuming"), resume_checkpoint=str(tmp_path))
    assert reloaded.get_vocab() == saved.get_vocab()
    assert tokenizer_for_run(lambda: saved).get_vocab() == saved.get_vocab()


def test_under_ddp_only_the_main_process_trains_and_the_other_ranks_receive_its_tokenizer(monkeypatch):
    distributed = tokenization.torch.distributed
    trained = tokenizer_of("word")
    monkeypatch.setattr(distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed, "get_rank", lambda: 1)

    def broadcast_object_list(holder, src):
        assert src == 0 and holder == [None]  # rank 1 built nothing
        holder[0] = trained

    monkeypatch.setattr(distributed, "broadcast_object_list", broadcast_object_list)
    received = tokenizer_for_run(lambda: pytest.fail("only the main process trains the tokenizer"))
    assert received is trained
    monkeypatch.setattr(distributed, "get_rank", lambda: 0)
    monkeypatch.setattr(distributed, "broadcast_object_list", lambda holder, src: None)
    assert tokenization.on_main_process(lambda: "built on rank 0") == "built on rank 0"
