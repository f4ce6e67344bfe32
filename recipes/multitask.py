"""Multi-task learning: one encoder (a pretrained BERT-family model, or nlpkit's BiLSTM trained from scratch) with a
head per task, trained on one dataset per head, mixed per batch.

    accelerate launch recipes/multitask.py                      # offline quickstart: MiniLM, sample sentiment + NER
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/multitask.py \
        --config recipes/configs/multitask/sst2_conll2003_minilm.yaml --loss_combination pcgrad
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/multitask.py \
        --config recipes/configs/multitask/sst2_conll2003_bilstm.yaml

`tasks:` names each task with its `kind` (sequence_classification, token_classification with `crf: true|false`)
and the data keys its single-task recipe reads. `task_sampling` mixes the tasks (proportional, temperature,
round_robin); `loss_combination` combines their losses (sum, weights, uncertainty, pcgrad). The saved folder is one
model (`AutoModel`, remote code); `nlpkit predict DIR --task NAME "text"` runs one head and `nlpkit export-head DIR
--task NAME --output OUT` writes it as a plain single-task model folder.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from nlpkit.cli import recipe_main
from nlpkit.config import ConfigError
from nlpkit.tasks import multitask
from nlpkit.tasks.multitask import bilstm, pretrained
from nlpkit.training import TrainingArguments, start_run

QUICKSTART = Path(__file__).resolve().parent / "configs" / "multitask" / "quickstart.yaml"

DEFAULTS = {**multitask.DEFAULTS, "output_dir": "outputs/multitask", "num_train_epochs": 3}
MODELS = {"bilstm": bilstm, "pretrained": pretrained}


@dataclass
class ModelChoice:
    model: Literal["bilstm", "pretrained"] | None = field(
        default=None,
        metadata={
            "help": "'pretrained' (fine-tune model_name_or_path's encoder) or 'bilstm' (nlpkit's BiLSTM encoder "
            "trained from scratch). Default: pretrained when model_name_or_path is set, else bilstm."
        },
    )


def main(argv: list[str] | None = None) -> dict:
    run = start_run(
        [ModelChoice, pretrained.Arguments, bilstm.Arguments, multitask.Arguments, TrainingArguments],
        argv,
        default_config=QUICKSTART,
        defaults=DEFAULTS,
    )
    if run.predict_only or run.training_args.do_predict:
        raise ConfigError("a multi-task run trains: predict with `nlpkit predict OUTPUT_DIR --task NAME --input FILE`")
    checkpoint = run.get(pretrained.Arguments).model_name_or_path
    model = run.get(ModelChoice).model or ("pretrained" if checkpoint else "bilstm")
    if (model == "pretrained") != bool(checkpoint):
        raise ConfigError(
            "model: pretrained needs 'model_name_or_path'"
            if checkpoint is None
            else "'model_name_or_path' is for model: pretrained (the BiLSTM encoder is trained from scratch)"
        )
    tasks = multitask.load_data(run)
    setup = MODELS[model].build(run, tasks)  # the encoder and a head per task, and the run's tokenizer
    return multitask.train(run, tasks, setup)


if __name__ == "__main__":
    recipe_main(main)
