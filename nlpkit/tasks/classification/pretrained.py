"""Text classification by a pretrained BERT-family encoder with a new classification head."""

from __future__ import annotations

from transformers import AutoModelForSequenceClassification

from nlpkit import lora
from nlpkit.data.classification import ClassificationData
from nlpkit.pretrained import PretrainedArguments, load_pretrained_with_labels
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.classification import build_trained
from nlpkit.training import Run

Arguments = PretrainedArguments


def build(run: Run, data: ClassificationData) -> ModelSetup:
    if run.predict_only:  # do_train false: the fine-tuned model_name_or_path (or output_dir's run)
        return build_trained(run)
    args = run.get(Arguments)
    model, tokenizer = load_pretrained_with_labels(AutoModelForSequenceClassification, args, data.label_names)
    setup = ModelSetup(model, tokenizer, tags=["bert"], base_model=args.model_name_or_path)
    return lora.apply(run, setup, "SEQ_CLS", args.model_name_or_path)  # with use_peft: LoRA adapters
