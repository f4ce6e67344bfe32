"""Model cards and plots from a fake run: the results of every evaluation, versions, labels, data sizes, test scores,
the epochs trained against the configured ones, languages and the model-index dataset; the loss-curve panels and the
translation heat-map."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import transformers
import yaml

from nlpkit import __version__
from nlpkit.cards import (
    ModelCardInfo,
    TrainingProgress,
    card_labels,
    framework_versions,
    render_model_card,
)
from nlpkit.config import ConfigError, parse_args
from nlpkit.data.classification import ClassificationDataArguments
from nlpkit.data.translation import TranslationDataArguments
from nlpkit.plots import loss_curves_figure, plot_loss_curves, readable_token
from nlpkit.pretrained import card_base_model
from nlpkit.tasks import card_languages, local_dataset_name
from nlpkit.tasks.translation import attention_figure
from tests.hub_double import card_metadata_errors

matplotlib.use("Agg")

# Two evaluations (steps 4 and 8) of a NER-like run; its first loss (26.5) dwarfs the later ones.
LOG_HISTORY = [
    {"loss": 26.5, "learning_rate": 5e-3, "grad_norm": 9.1, "epoch": 0.25, "step": 2},
    {"loss": 3.5, "learning_rate": 4e-3, "grad_norm": 3.0, "epoch": 0.5, "step": 4},
    {"eval_loss": 2.0, "eval_f1": 0.5, "eval_precision": 0.4, "eval_f1_PER": 0.3, "eval_runtime": 0.3,
     "eval_samples_per_second": 99.0, "eval_steps_per_second": 9.0, "epoch": 0.5, "step": 4},
    {"loss": 1.0, "learning_rate": 3e-3, "grad_norm": 1.0, "epoch": 0.75, "step": 6},
    {"loss": 0.6, "learning_rate": 2e-3, "grad_norm": 0.8, "epoch": 1.0, "step": 8},
    {"eval_loss": 0.9, "eval_f1": 0.75, "eval_precision": 0.7, "eval_runtime": 0.3, "eval_samples_per_second": 99.0,
     "eval_steps_per_second": 9.0, "epoch": 1.0, "step": 8},
    {"train_runtime": 5.0, "train_samples_per_second": 40.0, "train_loss": 7.9, "epoch": 1.0, "step": 8},
    {"eval_loss": 0.9, "eval_f1": 0.75, "eval_precision": 0.7, "epoch": 1.0, "step": 8},  # the final evaluation
]  # fmt: skip
RESULTS = {
    "train_loss": 7.9, "train_runtime": 5.0, "epoch": 1.0, "train_samples": 32, "eval_loss": 0.9, "eval_f1": 0.75,
    "eval_precision": 0.7, "eval_runtime": 0.3, "eval_samples": 10, "test_loss": 1.1, "test_f1": 0.6,
    "test_runtime": 0.2, "test_samples": 12,
}  # fmt: skip
HYPERPARAMETERS = {"learning_rate": 5e-3, "num_train_epochs": 4.0, "seed": 42}
VERSIONS = {"nlpkit": "1.2.3", "Transformers": "5.24.0", "PyTorch": "2.9.0"}


def card(info: ModelCardInfo | None = None, **keywords) -> str:
    info = info or ModelCardInfo(
        "token-classification", "AutoModelForTokenClassification", "Token Classification",
        dataset_description="CoNLL-2003 English NER, local files", local_dataset="conll2003", language=["de"],
    )  # fmt: skip
    keywords = {
        "model_name": "ner-run", "results": RESULTS, "hyperparameters": HYPERPARAMETERS, "log_history": LOG_HISTORY,
        "labels": ["O", "B-PER", "I-PER"], "progress": TrainingProgress(epochs=1.0, steps=8),
        "versions": VERSIONS, "loss_curves_image": "loss_curves.png", **keywords,
    }  # fmt: skip
    return render_model_card(info, **keywords)


def metadata_of(text: str) -> dict:
    assert not card_metadata_errors(text), card_metadata_errors(text)
    return yaml.safe_load(text.split("---\n")[1])


def test_the_card_has_a_row_per_evaluation_with_the_mean_training_loss_of_its_interval():
    text = card()
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = next(line for line in lines if "Validation Loss" in line)
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "Step", "Epoch", "Training Loss", "Validation Loss", "f1", "precision"
    ]  # fmt: skip
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[lines.index(header) + 2 :]]
    assert rows[0] == ["4", "0.5", "15.0000", "2.0000", "0.5000", "0.4000"]  # (26.5 + 3.5) / 2
    assert rows[1] == ["8", "1.0", "0.8000", "0.9000", "0.7500", "0.7000"]  # (1.0 + 0.6) / 2
    assert not rows[2][0].isdigit()  # the final evaluation, after training, is no row of its own


def test_the_card_shows_validation_and_test_scores_sizes_labels_versions_and_the_curves():
    text = card()
    assert "| f1 | 0.7500 | 0.6000 |" in text and "| precision | 0.7000 | - |" in text
    assert "| runtime" not in text and "| samples" not in text
    assert "- Data sizes: train 32 rows, validation 10 rows, test 12 rows" in text
    assert "- Labels (3, by id): `O`, `B-PER`, `I-PER`" in text
    assert "- nlpkit 1.2.3\n- Transformers 5.24.0\n- PyTorch 2.9.0" in text
    assert "![loss curves](loss_curves.png)" in text
    without = card(results={"eval_loss": 0.9}, log_history=[], labels=[], loss_curves_image=None)
    assert "Results per evaluation" not in without and "Labels" not in without and "![" not in without
    assert "Data sizes" not in without


def test_the_card_says_how_far_training_went_beside_what_was_configured():
    stopped = card()
    assert (
        "- Epochs trained: 1 (8 steps), stopped early (by a time budget or early stopping) before the configured "
        "num_train_epochs 4.0" in stopped
    )
    budget = card(progress=TrainingProgress(epochs=0.41025, steps=48))
    assert "- Epochs trained: 0.41 (48 steps), stopped early" in budget
    finished = card(progress=TrainingProgress(epochs=3.99999, steps=32))
    assert "- Epochs trained: 4 (32 steps), as configured (num_train_epochs 4.0)" in finished
    best = card(best_checkpoint=("eval_f1", 4))
    assert "- Saved model: the best checkpoint by f1 (step 4), loaded at the end; the scores above are its own" in best
    assert "Saved model" not in stopped
    by_steps = {**HYPERPARAMETERS, "max_steps": 32}
    assert "as configured (max_steps 32)" in card(progress=TrainingProgress(0.5, 32), hyperparameters=by_steps)
    assert "before the configured max_steps 32" in card(progress=TrainingProgress(0.2, 12), hyperparameters=by_steps)


def test_the_metadata_names_the_languages_and_a_local_dataset_the_hub_accepts():
    metadata = metadata_of(card())
    assert metadata["language"] == ["de"]
    results = metadata["model-index"][0]["results"]
    assert [result["dataset"]["split"] for result in results] == ["validation", "test"]
    for result in results:
        assert result["dataset"]["type"] == "conll2003"
        assert result["dataset"]["name"] == "CoNLL-2003 English NER, local files"
    assert {m["type"]: m["value"] for m in results[1]["metrics"]} == {"loss": 1.1, "f1": 0.6}
    hub = ModelCardInfo("translation", "AutoModelForSeq2SeqLM", "Translation", datasets=["bentrevett/multi30k"],
                        language=["en", "fr"])  # fmt: skip
    metadata = metadata_of(card(hub))
    assert metadata["language"] == ["en", "fr"] and metadata["datasets"] == ["bentrevett/multi30k"]
    assert metadata["model-index"][0]["results"][0]["dataset"]["type"] == "bentrevett/multi30k"
    bare = ModelCardInfo("text-classification", "AutoModelForSequenceClassification", "Text Classification")
    dataset = metadata_of(card(bare))["model-index"][0]["results"][0]["dataset"]
    assert dataset["type"] != "local" and dataset["type"] == dataset["name"] == "local-data"


def test_the_base_model_is_a_hub_id_in_the_metadata_and_a_local_folder_by_its_name_in_the_text(tmp_path):
    def fine_tuned_from(name_or_path: str | None) -> str:
        return card(ModelCardInfo("text-classification", "AutoModelForSequenceClassification", "Text Classification",
                                  **card_base_model(name_or_path)))  # fmt: skip

    hub = fine_tuned_from("sentence-transformers/all-MiniLM-L6-v2")
    assert metadata_of(hub)["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "- Base model: sentence-transformers/all-MiniLM-L6-v2" in hub
    (tmp_path / "my-bert").mkdir()
    local = fine_tuned_from(str(tmp_path / "my-bert"))
    assert "base_model" not in metadata_of(local) and str(tmp_path) not in local  # a path is no Hub id
    assert "- Base model: fine-tuned from a local folder, `my-bert`" in local
    assert "- Base model: trained from scratch" in fine_tuned_from(None)


def test_framework_versions_name_the_installed_libraries_and_peft_only_when_used():
    versions = framework_versions()
    assert versions["nlpkit"] == __version__ and versions["Transformers"] == transformers.__version__
    assert {"PyTorch", "Datasets", "Tokenizers"} <= versions.keys() and "PEFT" not in versions
    pytest.importorskip("peft")
    assert "PEFT" in framework_versions(peft=True)


def test_labels_come_from_id2label_in_id_order_and_placeholders_are_left_out():
    assert card_labels({"id2label": {"1": "positive", "0": "negative", "10": "mixed"}}) == [
        "negative", "positive", "mixed"
    ]  # fmt: skip
    assert card_labels({"id2label": {"0": "LABEL_0", "1": "LABEL_1"}}) == [] == card_labels({})


def test_card_languages_are_a_translations_pair_or_the_data_language_option(tmp_path):
    pair = TranslationDataArguments(train_file="$DATA/multi30k/train", source_lang="de", target_lang="en")
    assert card_languages(pair) == ["de", "en"] and local_dataset_name(pair) == "multi30k"
    classification = ClassificationDataArguments(train_file="nlpkit:sentiment/train.jsonl")
    assert card_languages(classification) == ["en"] and local_dataset_name(classification) == "nlpkit-sentiment"
    parsed = parse_args([ClassificationDataArguments], ["--dataset_name", "x/y", "--language", "fr", "de"])
    assert card_languages(parsed.args[0]) == ["fr", "de"] and local_dataset_name(parsed.args[0]) == ""
    with pytest.raises(ConfigError, match=r"'language' must be language codes such as en or fr, got \['English'\]"):
        parse_args([ClassificationDataArguments], ["--train_file", "x.tsv", "--language", "English"])


def test_loss_curves_have_loss_metric_and_learning_rate_panels_with_a_log_scale_where_needed():
    figure = loss_curves_figure(LOG_HISTORY, title="ner-run", metric_for_best_model="precision")
    loss, metrics, learning_rate = figure.axes
    assert [axes.get_title() for axes in figure.axes] == ["ner-run: loss", "validation metrics", "learning rate"]
    assert loss.get_yscale() == "log" and metrics.get_yscale() == learning_rate.get_yscale() == "linear"
    assert [line.get_label() for line in loss.get_lines()] == ["train loss", "eval loss"]
    assert list(loss.get_lines()[1].get_xdata()) == [4, 8]  # the final evaluation is no point of its own
    assert [line.get_label() for line in metrics.get_lines()] == ["precision (best model's metric)", "f1"]
    assert list(learning_rate.get_lines()[0].get_ydata()) == [5e-3, 4e-3, 3e-3, 2e-3]
    matplotlib.pyplot.close(figure)


def test_a_run_without_evaluations_or_a_steep_loss_gets_one_linear_loss_panel_and_the_learning_rate(tmp_path):
    history = [{"loss": 2.0 - step / 10, "learning_rate": 1e-3, "step": step} for step in range(1, 5)]
    figure = loss_curves_figure(history)
    assert [axes.get_title() for axes in figure.axes] == ["Loss: loss", "learning rate"]
    assert figure.axes[0].get_yscale() == "linear"
    matplotlib.pyplot.close(figure)
    assert plot_loss_curves(history, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plot_loss_curves([{"train_runtime": 1.0}], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_a_multi_task_evaluation_logged_per_task_is_one_row_and_its_task_losses_join_the_loss_panel():
    history = [
        {"loss": 3.0, "learning_rate": 1e-3, "epoch": 1.0, "step": 4},
        {"eval_sentiment_loss": 0.7, "eval_sentiment_accuracy": 0.5, "eval_sentiment_runtime": 0.1, "epoch": 1.0,
         "step": 4},
        {"eval_ner_loss": 2.0, "eval_ner_f1": 0.25, "eval_ner_f1_PER": 0.2, "epoch": 1.0, "step": 4},
        {"eval_mean_score": 0.375, "epoch": 1.0, "step": 4},
    ]  # fmt: skip
    lines = card(log_history=history).split("### Results per evaluation\n\n")[1].split("\n\n")[0].splitlines()
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["Step", "Epoch", "Training Loss", "Validation Loss", "sentiment_loss", "sentiment_accuracy",
                        "ner_loss", "ner_f1", "mean_score"]  # fmt: skip
    assert cells[2] == ["4", "1.0", "3.0000", "-", "0.7000", "0.5000", "2.0000", "0.2500", "0.3750"]
    assert len(cells) == 3
    figure = loss_curves_figure(history)
    loss, metrics, _ = figure.axes
    assert [line.get_label() for line in loss.get_lines()] == ["train loss", "eval sentiment_loss", "eval ner_loss"]
    assert [line.get_label() for line in metrics.get_lines()] == ["sentiment_accuracy", "ner_f1", "mean_score"]
    matplotlib.pyplot.close(figure)


@pytest.mark.parametrize(
    "piece, readable",
    [("▁chat", "chat"), ("ĠThe", "The"), ("##ing", "ing"), ("low</w>", "low"), ("▁", "␣"), ("</s>", "</s>"),
     ("##", "##"), ("lait", "lait")],
)  # fmt: skip
def test_subword_markers_are_stripped_for_the_reader(piece, readable):
    assert readable_token(piece) == readable


def test_the_attention_heat_map_has_readable_pieces_a_colour_bar_and_a_title():
    source, output = ["▁le", "▁chat", "s", "</s>"], ["▁the", "▁cat", "s"]
    figure = attention_figure(np.full((3, 4), 0.25), source, output, title="Cross-attention: le chats")
    heat_map, colour_bar = figure.axes
    assert [label.get_text() for label in heat_map.get_xticklabels()] == ["le", "chat", "s", "</s>"]
    assert [label.get_text() for label in heat_map.get_yticklabels()] == ["the", "cat", "s"]
    assert heat_map.get_title() == "Cross-attention: le chats" and colour_bar.get_ylabel() == "attention weight"
    long = attention_figure(np.zeros((1, 1)), ["a"], ["b"], title="x" * 500)
    assert long.axes[0].get_title().endswith("…") and len(long.axes[0].get_title()) < 100
    matplotlib.pyplot.close("all")
