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

from pathlib import Path

from nlpkit.cli import recipe_main
from nlpkit.lora import PeftArguments, check_from_scratch
from nlpkit.tasks import language_modeling, start_scratch_or_pretrained_run
from nlpkit.tasks.language_modeling import from_scratch, pretrained
from nlpkit.training import TrainingArguments

QUICKSTART = Path(__file__).resolve().parent / "configs" / "text_generation" / "quickstart.yaml"

DEFAULTS = {**language_modeling.DEFAULTS, "output_dir": "outputs/text_generation"}
FINE_TUNING = {**pretrained.DEFAULTS, "output_dir": "outputs/text_generation_finetuned"}
ARGUMENTS = [
    from_scratch.Arguments, pretrained.Arguments, PeftArguments, language_modeling.Arguments, TrainingArguments
]  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    run, models = start_scratch_or_pretrained_run(
        ARGUMENTS, argv, from_scratch=from_scratch, pretrained=pretrained, task_arguments=language_modeling.Arguments,
        quickstart=QUICKSTART, defaults=DEFAULTS, fine_tuning_defaults=FINE_TUNING,
    )  # fmt: skip
    if models is from_scratch and not run.predict_only:
        check_from_scratch(run)  # use_peft: LoRA needs pretrained weights
    text = language_modeling.load_data(run)
    # The pretrained model and its own tokenizer, or a char/byte-BPE tokenizer trained on the text + GPT/LSTM LM
    setup = models.build(run, text)
    return language_modeling.train(run, text, setup)


if __name__ == "__main__":
    recipe_main(main)
