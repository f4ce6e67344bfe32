"""Translation: a model trained from scratch (RNN encoder-decoder with attention, a small pre-norm Transformer,
Marian or BART), or a pretrained seq2seq model (opus-mt, T5, mBART, M2M100, NLLB...) fine-tuned with its own tokenizer.

    accelerate launch recipes/translation.py                     # offline quickstart: English->French sample pairs
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/translation.py \
        --config recipes/configs/translation/multi30k_de_en.yaml    # Multi30k German->English from local files
    ... --config recipes/configs/translation/multi30k_transformer.yaml   # the same with a Transformer
    accelerate launch recipes/translation.py --config recipes/configs/translation/multi30k_hub.yaml
    accelerate launch recipes/translation.py --model_name_or_path Helsinki-NLP/opus-mt-en-fr   # fine-tune on the pairs
    accelerate launch recipes/translation.py --config recipes/configs/translation/t5_small_en_de.yaml

From scratch, the model's settings are the fields of `RNNSeq2SeqConfig`, or of transformers' `M2M100Config` (pre-norm),
`MarianConfig` or `BartConfig` with `--model transformer`/`marian`/`bart` (`--d_model 256 --encoder_layers 3`), and a
joint BPE tokenizer is trained.
`--model_name_or_path` (a Hub id or a local folder) fine-tunes that model instead (from-scratch keys are refused
beside it); without `--config` it reads the quickstart's pairs. `--source_prefix "translate English to German: "`
prefixes T5's inputs; `--source_lang_code`/`--target_lang_code` name the codes of multilingual tokenizers (en_XX,
eng_Latn). The output folder holds the model, tokenizer, generation config, BLEU/chrF results,
sample_translations.tsv and attention_heatmap.png. Any config key can be overridden; `--help` lists them.
"""

from pathlib import Path

from nlpkit.cli import recipe_main
from nlpkit.lora import PeftArguments, check_from_scratch
from nlpkit.tasks import start_scratch_or_pretrained_run, translation
from nlpkit.tasks.translation import from_scratch, pretrained
from nlpkit.training import Seq2SeqTrainingArguments

QUICKSTART = Path(__file__).resolve().parent / "configs" / "translation" / "quickstart.yaml"

DEFAULTS = {**translation.DEFAULTS, "output_dir": "outputs/translation", "learning_rate": 1e-3, "num_train_epochs": 10}
FINE_TUNING = {**pretrained.DEFAULTS, "output_dir": "outputs/translation_finetuned"}
ARGUMENTS = [
    from_scratch.Arguments, pretrained.Arguments, PeftArguments, translation.Arguments, Seq2SeqTrainingArguments
]  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    run, models = start_scratch_or_pretrained_run(
        ARGUMENTS, argv, from_scratch=from_scratch, pretrained=pretrained, task_arguments=translation.Arguments,
        quickstart=QUICKSTART, defaults=DEFAULTS, fine_tuning_defaults=FINE_TUNING,
    )  # fmt: skip
    if models is from_scratch and not run.predict_only:
        check_from_scratch(run)  # use_peft: LoRA needs pretrained weights
    data = translation.load_data(run)
    # The pretrained model and its own tokenizer, or a joint BPE tokenizer + RNNSeq2Seq / Transformer / Marian / BART
    setup = models.build(run, data)
    return translation.train(run, data, setup)


if __name__ == "__main__":
    recipe_main(main)
