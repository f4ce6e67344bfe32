"""pad_to_multiple_of: every padding collator rounds a batch's length up to the multiple the run asks for."""

import pytest
import torch

from nlpkit.config import ConfigError, parse_args
from nlpkit.data.classification import PaddingCollator
from nlpkit.data.token_classification import TokenClassificationDataArguments, load_token_classification_data
from nlpkit.tasks.token_classification import bilstm_crf
from nlpkit.tasks.token_classification.bilstm_crf import encode_words
from nlpkit.training import Run, TrainingArguments
from tests.helpers import write_conll

ROWS = [{"input_ids": [5, 6, 7], "labels": 1}, {"input_ids": [5, 6, 7, 8, 9, 10, 11, 12, 13, 14], "labels": 0}]


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_the_classification_collator_pads_to_the_multiple(padding_side):
    batch = PaddingCollator(pad_token_id=0, padding_side=padding_side, pad_to_multiple_of=8)(ROWS)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, 16)  # the longest row (10), rounded up
    assert batch["attention_mask"].sum(dim=1).tolist() == [3, 10]
    first = batch["input_ids"][0].tolist()
    assert first == ([5, 6, 7] + [0] * 13 if padding_side == "right" else [0] * 13 + [5, 6, 7])


def test_without_a_multiple_the_batch_is_as_long_as_its_longest_row():
    assert PaddingCollator(pad_token_id=0)(ROWS)["input_ids"].shape == (2, 10)


def test_the_token_classification_task_collator_reads_the_runs_multiple(tmp_path):
    args = TokenClassificationDataArguments(train_file=str(write_conll(tmp_path)))
    data = load_token_classification_data(args)
    crf_args = bilstm_crf.Arguments(embedding_size=8, hidden_size=8, char_embedding_size=4, char_hidden_size=4,
                                    min_word_frequency=1)  # fmt: skip
    training_args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", pad_to_multiple_of=8)
    run = Run(args=(crf_args, args, training_args), training_args=training_args, config_file=None, explicit={},
              resume_checkpoint=None)  # fmt: skip
    setup = bilstm_crf.build(run, data)
    rows = encode_words(data, setup.tokenizer, setup.model.config, args, with_chars=True)["train"]
    longest = max(len(row) for row in rows["input_ids"])
    assert longest % 8

    batch = setup.collator([rows[index] for index in range(len(rows))])

    assert batch["input_ids"].shape[1] == batch["labels"].shape[1] == batch["char_ids"].shape[1] == -(-longest // 8) * 8
    assert (batch["labels"][:, longest:] == -100).all()
    assert torch.equal(batch["attention_mask"].sum(dim=1), torch.tensor([len(ids) for ids in rows["input_ids"]]))


def test_pad_to_multiple_of_is_a_run_option_of_at_least_one():
    training = parse_args([TrainingArguments], ["--output_dir", "out", "--pad_to_multiple_of", "64"]).args[0]
    assert training.pad_to_multiple_of == 64
    with pytest.raises(ConfigError, match=r"^command line: pad_to_multiple_of must be at least 1, got 0$"):
        parse_args([TrainingArguments], ["--output_dir", "out", "--pad_to_multiple_of", "0"])
