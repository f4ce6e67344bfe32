"""Named-entity recognition: a BiLSTM-CRF trained from scratch, or a pretrained BERT-family encoder fine-tuned.

    accelerate launch recipes/ner.py                          # offline quickstart: BiLSTM-CRF on nlpkit's sample
    accelerate launch recipes/ner.py --config recipes/configs/ner/quickstart_minilm.yaml     # the packaged MiniLM
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/ner.py \
        --config recipes/configs/ner/conll2003_bilstm_crf.yaml                     # CoNLL-2003 from local files
    accelerate launch --config_file accelerate_configs/multi_gpu.yaml recipes/ner.py \
        --config recipes/configs/ner/conll2003_hub.yaml                             # bert-base-cased, Hub dataset

The BiLSTM-CRF's settings (`--hidden_size 200`, `--char_encoder lstm`, ...) are the fields of `BiLSTMCRFConfig`.
Any key of the config file can be overridden on the command line (`--learning_rate 3e-5`); `--help` lists them.
`nlpkit predict OUTPUT_DIR "Some text"` then prints the entities found, with their character offsets.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from nlpkit.cli import recipe_main
from nlpkit.config import ConfigError
from nlpkit.lora import PeftArguments, check_from_scratch
from nlpkit.tasks import token_classification
from nlpkit.tasks.token_classification import bilstm_crf, pretrained
from nlpkit.training import TrainingArguments, start_run

QUICKSTART = Path(__file__).resolve().parent / "configs" / "ner" / "quickstart.yaml"

DEFAULTS = {**token_classification.DEFAULTS, "output_dir": "outputs/ner", "num_train_epochs": 3}
MODELS = {"bilstm-crf": bilstm_crf, "pretrained": pretrained}


@dataclass
class ModelChoice:
    model: Literal["bilstm-crf", "pretrained"] | None = field(
        default=None,
        metadata={
            "help": "'bilstm-crf' (trained from scratch) or 'pretrained' (fine-tune model_name_or_path). "
            "Default: pretrained when model_name_or_path is set, else bilstm-crf."
        },
    )


def main(argv: list[str] | None = None) -> dict:
    run = start_run(
        [
            ModelChoice,
            pretrained.Arguments,
            PeftArguments,
            bilstm_crf.Arguments,
            token_classification.Arguments,
            TrainingArguments,
        ],
        argv,
        default_config=QUICKSTART,
        defaults=DEFAULTS,
    )
    checkpoint = run.get(pretrained.Arguments).model_name_or_path
    model = run.get(ModelChoice).model or ("pretrained" if checkpoint else "bilstm-crf")
    if not run.predict_only and (model == "pretrained") != bool(checkpoint):  # predicting: the model's own type
        raise ConfigError(
            "model: pretrained needs 'model_name_or_path'"
            if checkpoint is None
            else "'model_name_or_path' is for model: pretrained (the BiLSTM-CRF is trained from scratch)"
        )
    if model == "bilstm-crf" and not run.predict_only:
        check_from_scratch(run)  # use_peft: LoRA needs pretrained weights
    data = token_classification.load_data(run)
    setup = MODELS[model].build(run, data)  # word tokenizer + BiLSTMCRFConfig model, or AutoModelForTokenClassification
    return token_classification.train(run, data, setup)


if __name__ == "__main__":
    recipe_main(main)
