"""The text-generation recipe end to end (`accelerate launch`, few steps), its saved folder used by `nlpkit generate`,
the pipeline and remote code, and the language-modelling data module."""

import json
import math
import runpy

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

from nlpkit.cli import main as cli_main
from nlpkit.data.language_modeling import (
    LanguageModelingDataArguments,
    build_blocks,
    encode_text,
    load_text,
    read_text,
)
from nlpkit.data.loading import DataError, resolve_data_path
from nlpkit.tokenization import train_tokenizer
from tests.helpers import REPO_ROOT, last_json_line, launch_recipe, run_without_nlpkit

RECIPE = str(REPO_ROOT / "recipes" / "text_generation.py")
TINY = [
    "--hidden_size", "32", "--num_hidden_layers", "1", "--num_attention_heads", "2", "--embedding_size", "16",
    "--block_size", "32", "--per_device_train_batch_size", "8", "--max_eval_samples", "8",
    "--sample_max_new_tokens", "40", "--logging_steps", "1",
]  # fmt: skip
TEMPERATURES = [0.2, 0.5, 1.0, 1.2]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("textgen") / "out"
    result = launch_recipe(
        RECIPE, *TINY, "--output_dir", str(output_dir), "--max_steps", "4", "--eval_steps", "2", "--save_steps", "2"
    )
    return output_dir, result


def test_quickstart_writes_the_whole_output_folder(quickstart):
    output_dir, result = quickstart
    for name in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "modeling_gpt.py",
                 "all_results.json", "run_config.yaml", "README.md", "loss_curves.png", "samples.jsonl",
                 "checkpoint-2", "checkpoint-4"):  # fmt: skip
        assert (output_dir / name).exists(), name
    # The run record only: no staging folder or temporary file left behind.
    assert [p.name for p in output_dir.glob(".*")] == [".nlpkit_run.json"]

    results = json.loads((output_dir / "all_results.json").read_text())
    # Character-level: one token per character, so bits per character is the loss in bits.
    assert results["eval_bits_per_character"] == pytest.approx(results["eval_loss"] / math.log(2))
    assert results["eval_perplexity"] == pytest.approx(math.exp(results["eval_loss"]))
    assert 0 < results["eval_loss"] < math.log(200)
    logged = json.loads((output_dir / "trainer_state_log.json").read_text())
    assert [entry["step"] for entry in logged if "eval_bits_per_character" in entry] == [2, 4, 4]

    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    generation = json.loads((output_dir / "generation_config.json").read_text())
    # Capped like the samples: the learned position table (block_size 32) bounds prompt + new tokens.
    assert generation["do_sample"] is True and generation["max_new_tokens"] == 31 and generation["top_k"] == 0
    assert generation["eos_token_id"] == tokenizer.eos_token_id and generation["pad_token_id"] == tokenizer.pad_token_id

    samples = [json.loads(line) for line in (output_dir / "samples.jsonl").read_text().splitlines()]
    # After the evaluations at steps 2 and 4, and the final one: one sample per temperature each time.
    assert [(s["step"], s["temperature"]) for s in samples] == [(step, t) for step in (2, 4, 4) for t in TEMPERATURES]
    # 40 tokens asked, but the learned position table holds 32: prompt (one newline) + 31 new tokens.
    assert all(len(tokenizer(s["text"], add_special_tokens=False)["input_ids"]) <= 31 for s in samples)
    assert "Samples at step 4:" in result.stdout and "--- temperature 1.2 ---" in result.stdout

    card = (output_dir / "README.md").read_text()
    assert "pipeline_tag: text-generation" in card and "trust_remote_code=True" in card
    assert f"| bits_per_character | {results['eval_bits_per_character']:.4f} |" in card
    # The tokenizer was trained on the text and gives it back exactly (newlines and all).
    text = resolve_data_path("nlpkit:text/sample.txt").read_text()[:2000]
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_generate_command_is_reproducible_with_a_seed(quickstart, capsys):
    output_dir, _ = quickstart
    args = ["generate", str(output_dir), "--prompt", "The ", "--max-new-tokens", "12", "--json"]
    runs = []
    for seed in ("1", "1", "2"):
        cli_main([*args, "--seed", seed, "--num-return-sequences", "2"])
        runs.append([json.loads(line)["generated_text"] for line in capsys.readouterr().out.splitlines()])
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert len(runs[0]) == 2 and all(text.startswith("The ") for text in runs[0])
    cli_main([*args, "--greedy", "--num_beams", "2"])  # the recipes' underscore spelling works too
    (beam,) = capsys.readouterr().out.splitlines()
    assert json.loads(beam)["generated_text"].startswith("The ")
    # The GPT's learned positions hold 32 tokens: longer prompts are refused with a message, not an IndexError.
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["generate", str(output_dir), "--prompt", "x" * 40])
    assert exit_info.value.code == 2 and "fills the model's context (32 tokens)" in capsys.readouterr().err


def greedy_text(output_dir, prompt="The ", max_new_tokens=12):
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    model = AutoModelForCausalLM.from_pretrained(output_dir).eval()
    inputs = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    output = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
    return tokenizer.decode(output[0], skip_special_tokens=True)


def test_pipeline_and_remote_code_generate_the_same_greedy_text(quickstart, tmp_path):
    output_dir, _ = quickstart
    expected = greedy_text(output_dir)
    pipe = pipeline("text-generation", model=str(output_dir))
    generated = pipe("The ", do_sample=False, max_new_tokens=12)[0]["generated_text"]
    assert generated == expected

    code = f"""
        import json
        from transformers import AutoModelForCausalLM, AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained({str(output_dir)!r}, trust_remote_code=True)
        model = AutoModelForCausalLM.from_pretrained({str(output_dir)!r}, trust_remote_code=True).eval()
        inputs = tokenizer("The ", add_special_tokens=False, return_tensors="pt")
        output = model.generate(**inputs, do_sample=False, max_new_tokens=12)
        text = tokenizer.decode(output[0], skip_special_tokens=True)
        print(json.dumps({{"module": type(model).__module__, "text": text}}))
    """
    remote = last_json_line(run_without_nlpkit(code, tmp_path))
    assert "nlpkit" not in remote["module"]
    assert remote["text"] == expected


def test_lstm_trains_and_saves_in_process(tmp_path):
    main = runpy.run_path(RECIPE)["main"]
    output_dir = tmp_path / "lstm"
    results = main([*TINY, "--model", "lstm", "--output_dir", str(output_dir), "--max_steps", "2",
                    "--eval_strategy", "no", "--save_strategy", "no", "--sample_temperatures", "1.0"])  # fmt: skip
    assert json.loads((output_dir / "config.json").read_text())["model_type"] == "lstm_lm"
    assert (output_dir / "generation_config.json").exists()
    assert "train_loss" in results
    assert greedy_text(output_dir).startswith("The ")


@pytest.mark.parametrize("problem", ["missing", "empty"])
def test_data_errors_name_the_file(tmp_path, problem):
    path = tmp_path / "corpus.txt"
    if problem == "empty":
        path.write_text("\n\n")
    main = runpy.run_path(RECIPE)["main"]
    with pytest.raises(DataError, match=str(path)):
        main([*TINY, "--train_file", str(path), "--output_dir", str(tmp_path / "out")])


def test_text_too_short_for_a_block_names_the_file(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("tiny text\n" * 20)
    args = LanguageModelingDataArguments(train_file=str(path), block_size=64)
    text = load_text(args)
    with pytest.raises(DataError, match=f"{path} .last 10%.*fewer than one block"):
        build_blocks(text, train_tokenizer([text.train], kind="char"), args)


def test_validation_is_the_end_of_the_text_and_folders_join_files(tmp_path):
    (tmp_path / "b.txt").write_text("second file\nends here\n")
    (tmp_path / "a.txt").write_text("first file\n" * 30)
    assert read_text(tmp_path) == "first file\n" * 30 + "\n" + "second file\nends here\n"
    args = LanguageModelingDataArguments(train_file=str(tmp_path), validation_split_percentage=10, block_size=4)
    text = load_text(args)
    assert text.train + text.validation == read_text(tmp_path)
    assert text.validation.endswith("ends here\n") and text.train.endswith("\n")  # cut at a line break


@pytest.mark.parametrize("kind", ["char", "byte_bpe"])
def test_blocks_decode_to_the_text_and_count_tokens_per_character(kind):
    text = resolve_data_path("nlpkit:text/sample.txt").read_text()
    tokenizer = train_tokenizer([text], kind=kind, vocab_size=400)
    assert tokenizer.decode(encode_text(text, tokenizer)) == text
    args = LanguageModelingDataArguments(train_file="nlpkit:text/sample.txt", block_size=16)
    blocks = build_blocks(load_text(args), tokenizer, args)
    assert len(blocks.train[0]["input_ids"]) == 16 and blocks.train[0]["labels"] == blocks.train[0]["input_ids"]
    if kind == "char":
        assert blocks.validation_tokens_per_character == 1.0
    else:  # merges: fewer tokens than characters, so bits per character = bits per token x tokens per character
        assert 0.3 < blocks.validation_tokens_per_character < 0.9
    assert torch.tensor(blocks.train["input_ids"]).max() < len(tokenizer)


def test_hub_style_dataset_joins_the_text_column(tmp_path):
    # A local folder loads through the same `datasets.load_dataset(name)` call as a Hub id (splits from file names).
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"text": f"line {i}"}) + "\n" for i in range(5)))
    (tmp_path / "validation.jsonl").write_text(json.dumps({"text": "held out"}) + "\n")
    text = load_text(LanguageModelingDataArguments(dataset_name=str(tmp_path), block_size=4))
    assert text.train == "\n".join(f"line {i}" for i in range(5)) and text.validation == "held out"
    with pytest.raises(DataError, match="no column 'body'"):
        load_text(LanguageModelingDataArguments(dataset_name=str(tmp_path), text_column="body"))
