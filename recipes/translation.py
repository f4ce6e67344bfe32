"""Train a translation model from scratch: the RNN encoder-decoder with attention, or a small Marian/BART transformer.

    accelerate launch recipes/translation.py                     # offline quickstart: English->French sample pairs
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/translation.py \
        --config recipes/configs/translation/multi30k_de_en.yaml    # Multi30k German->English from local files
    accelerate launch recipes/translation.py --config recipes/configs/translation/multi30k_hub.yaml

The output folder holds the model, its joint BPE tokenizer, generation config, BLEU/chrF results,
sample_translations.tsv and attention_heatmap.png. The model's settings are the fields of `RNNSeq2SeqConfig`, or of
transformers' `MarianConfig`/`BartConfig` with `--model marian`/`bart` (`--d_model 256 --encoder_layers 3`). Any
config key can be overridden on the command line; `--help` lists them.
"""

from pathlib import Path

from nlpkit.cli import recipe_main
from nlpkit.tasks import translation
from nlpkit.tasks.translation import from_scratch
from nlpkit.training import Seq2SeqTrainingArguments, start_run

QUICKSTART = Path(__file__).resolve().parent / "configs" / "translation" / "quickstart.yaml"

DEFAULTS = {**translation.DEFAULTS, "output_dir": "outputs/translation", "learning_rate": 1e-3, "num_train_epochs": 10}


def main(argv: list[str] | None = None) -> dict:
    run = start_run(
        [from_scratch.Arguments, translation.Arguments, Seq2SeqTrainingArguments],
        argv,
        default_config=QUICKSTART,
        defaults=DEFAULTS,
    )
    data = translation.load_data(run)
    setup = from_scratch.build(run, data)  # joint BPE tokenizer + RNNSeq2SeqConfig / MarianConfig / BartConfig model
    return translation.train(run, data, setup)


if __name__ == "__main__":
    recipe_main(main)
