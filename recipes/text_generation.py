"""Train a GPT or a character LSTM language model from scratch on text, and sample from it as it learns.

    accelerate launch recipes/text_generation.py               # offline quickstart: small char-level GPT, sample prose
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/text_generation.py \
        --config recipes/configs/text_generation/shakespeare_char_gpt.yaml    # nanoGPT's shakespeare_char, CPU sizes
    accelerate launch recipes/text_generation.py --config recipes/configs/text_generation/wikitext_hub.yaml

Samples at several temperatures are printed after each evaluation and appended to `samples.jsonl`; the saved folder
loads with `pipeline("text-generation", model=..., trust_remote_code=True)` and `nlpkit generate`. The model's
settings are the fields of `GPTConfig` or `LSTMLMConfig` (`--model lstm --hidden_size 256`); any key of the config
file can be overridden on the command line; `--help` lists them.
"""

from pathlib import Path

from nlpkit.cli import recipe_main
from nlpkit.tasks import language_modeling
from nlpkit.tasks.language_modeling import from_scratch
from nlpkit.training import TrainingArguments, start_run

QUICKSTART = Path(__file__).resolve().parent / "configs" / "text_generation" / "quickstart.yaml"

DEFAULTS = {**language_modeling.DEFAULTS, "output_dir": "outputs/text_generation"}


def main(argv: list[str] | None = None) -> dict:
    run = start_run(
        [from_scratch.Arguments, language_modeling.Arguments, TrainingArguments],
        argv,
        default_config=QUICKSTART,
        defaults=DEFAULTS,
    )
    text = language_modeling.load_data(run)
    setup = from_scratch.build(run, text)  # char/byte-BPE tokenizer trained on the text + GPTConfig/LSTMLMConfig model
    return language_modeling.train(run, text, setup)


if __name__ == "__main__":
    recipe_main(main)
