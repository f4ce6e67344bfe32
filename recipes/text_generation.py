"""Language models: a GPT or a character LSTM trained from scratch on text, or a pretrained causal LM (GPT-2, Llama,
Qwen...) fine-tuned with its own tokenizer; samples at several temperatures as it learns.

    accelerate launch recipes/text_generation.py               # offline quickstart: small char-level GPT, sample prose
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/text_generation.py \
        --config recipes/configs/text_generation/shakespeare_char_gpt.yaml    # nanoGPT's shakespeare_char, CPU sizes
    accelerate launch recipes/text_generation.py --config recipes/configs/text_generation/wikitext_hub.yaml
    accelerate launch recipes/text_generation.py --model_name_or_path openai-community/gpt2   # fine-tune on the prose
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/text_generation.py \
        --config recipes/configs/text_generation/gpt2_shakespeare.yaml         # GPT-2 on Tiny Shakespeare

From scratch, the model's settings are the fields of `GPTConfig` or `LSTMLMConfig` (`--model lstm --hidden_size
256`) and a tokenizer is trained on the text. `--model_name_or_path` (a Hub id or a local folder) fine-tunes that
model instead, the text cut into blocks of `block_size` tokens (from-scratch keys are refused beside it); without
`--config` it reads the quickstart's text. Samples are printed after each evaluation and appended to `samples.jsonl`;
the saved folder loads with `pipeline("text-generation", model=...)` (`trust_remote_code=True` for nlpkit's own
models) and `nlpkit generate`. Any key of the config file can be overridden on the command line; `--help` lists them.
"""

import sys
from pathlib import Path

from nlpkit.cli import recipe_main
from nlpkit.pretrained import check_model_keys, data_settings, fine_tuning_command
from nlpkit.tasks import language_modeling
from nlpkit.tasks.language_modeling import from_scratch, pretrained
from nlpkit.training import TrainingArguments, start_run

QUICKSTART = Path(__file__).resolve().parent / "configs" / "text_generation" / "quickstart.yaml"

DEFAULTS = {**language_modeling.DEFAULTS, "output_dir": "outputs/text_generation"}
FINE_TUNING = {**pretrained.DEFAULTS, "output_dir": "outputs/text_generation_finetuned"}
ARGUMENTS = [from_scratch.Arguments, pretrained.Arguments, language_modeling.Arguments, TrainingArguments]


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    if fine_tuning_command(argv):  # the quickstart's text, not its from-scratch model and learning rate
        config, defaults = None, {**FINE_TUNING, **data_settings(QUICKSTART, language_modeling.Arguments)}
    else:
        config, defaults = QUICKSTART, DEFAULTS
    run = start_run(ARGUMENTS, argv, default_config=config, defaults=defaults)
    fine_tuning = run.get(pretrained.Arguments).model_name_or_path is not None
    check_model_keys(
        run.explicit, fine_tuning=fine_tuning, from_scratch=from_scratch.Arguments,
        fine_tuning_keys=pretrained.FINE_TUNING_KEYS,
    )  # fmt: skip
    text = language_modeling.load_data(run)
    # The pretrained model and its own tokenizer, or a char/byte-BPE tokenizer trained on the text + GPT/LSTM LM
    setup = (pretrained if fine_tuning else from_scratch).build(run, text)
    return language_modeling.train(run, text, setup)


if __name__ == "__main__":
    recipe_main(main)
