"""The sentence-VAE recipe end to end on the quickstart (few steps): its folder, metrics, samples and plot; bad
data as one line naming the file; `nlpkit generate` and `nlpkit interpolate` on the saved folder."""

import json
import runpy

import pytest
import torch
from transformers import AutoTokenizer

from nlpkit.cli import main as cli_main
from nlpkit.data.loading import DataError
from nlpkit.models.sentence_vae import SentenceVAEModel
from tests.helpers import REPO_ROOT

RECIPE = str(REPO_ROOT / "recipes" / "sentence_vae.py")


def run_recipe(*argv: str) -> dict:
    """The recipe's main() in this process (its results), so a DataError reaches the test as raised."""
    return runpy.run_path(RECIPE)["main"](list(argv))


TINY = [
    "--embedding_size", "16", "--hidden_size", "16", "--latent_size", "4", "--max_train_samples", "96",
    "--max_eval_samples", "16", "--per_device_train_batch_size", "16", "--logging_steps", "1",
    "--sample_max_new_tokens", "8", "--num_samples", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("svae") / "out"
    results = run_recipe(
        *TINY, "--output_dir", str(output_dir), "--max_steps", "4", "--eval_steps", "2", "--save_steps", "4"
    )
    return output_dir, results


def test_quickstart_reports_the_vae_metrics_and_writes_samples_and_plots(quickstart):
    output_dir, results = quickstart
    for key in ("eval_elbo", "eval_nll_bound", "eval_reconstruction", "eval_kl", "eval_perplexity_bound"):
        assert key in results
    assert results["eval_nll_bound"] == pytest.approx(results["eval_reconstruction"] + results["eval_kl"])
    assert 0 <= results["eval_active_units"] <= 4
    lines = [json.loads(line) for line in (output_dir / "samples.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines][:2] == [2, 4]  # one line per evaluation
    assert len(lines[0]["prior_samples"]) == 2
    assert lines[0]["reconstructions"] and len(lines[0]["interpolation"]["path"]) == 5
    assert (output_dir / "vae_terms.png").stat().st_size > 0 and (output_dir / "loss_curves.png").exists()
    history = json.loads((output_dir / "trainer_state_log.json").read_text())
    logged = history if isinstance(history, list) else history.get("log_history", [])
    assert any("kl" in entry and "reconstruction" in entry for entry in logged)


def test_a_file_without_sentences_is_one_error_naming_it(tmp_path):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="blank.txt"):
        run_recipe(*TINY, "--train_file", str(blank), "--output_dir", str(tmp_path / "out"), "--max_steps", "1")


def test_generate_with_a_seed_is_reproducible(quickstart, capsys):
    output_dir, _ = quickstart
    runs = []
    for _ in range(2):
        cli_main(["generate", str(output_dir), "--seed", "0", "--num_samples", "3", "--temperature", "1.0"])
        runs.append(capsys.readouterr().out.splitlines())
    assert runs[0] == runs[1] and len(runs[0]) == 3


def test_interpolation_ends_are_the_greedy_decodes_of_the_two_sentences(quickstart, capsys):
    output_dir, _ = quickstart
    first, second = "the cat sat on the wall.", "nobody had told the old man."
    cli_main(["interpolate", str(output_dir), first, second, "--steps", "4", "--max_new_tokens", "8"])
    path = capsys.readouterr().out.splitlines()
    model, tokenizer = SentenceVAEModel.from_pretrained(output_dir).eval(), AutoTokenizer.from_pretrained(output_dir)
    batch = tokenizer([first, second], padding=True, return_tensors="pt")
    with torch.no_grad():
        greedy = model.generate(**batch, max_new_tokens=8, do_sample=False)
    assert len(path) == 4
    assert [path[0], path[-1]] == tokenizer.batch_decode(greedy, skip_special_tokens=True)


def test_interpolate_refuses_a_folder_that_is_no_sentence_vae(tmp_path):
    with pytest.raises(SystemExit):
        cli_main(["interpolate", str(tmp_path), "a", "b"])


def test_a_plain_text_file_of_another_suffix_that_is_not_utf8_is_one_error_naming_it(tmp_path):
    captions = tmp_path / "train.en"
    captions.write_bytes("a dog runs.\nun caf\u00e9.\n".encode("latin-1"))
    with pytest.raises(DataError, match="train.en"):
        run_recipe(*TINY, "--train_file", str(captions), "--output_dir", str(tmp_path / "out"), "--max_steps", "1")
