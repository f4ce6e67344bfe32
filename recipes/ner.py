"""Named-entity recognition: a BiLSTM-CRF trained from scratch, or a pretrained BERT-family encoder fine-tuned.

    accelerate launch recipes/ner.py                          # offline quickstart: BiLSTM-CRF on nlpkit's sample
    accelerate launch recipes/ner.py --config recipes/configs/ner/quickstart_minilm.yaml     # the packaged MiniLM
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/ner.py \
        --config recipes/configs/ner/conll2003_bilstm_crf.yaml                     # CoNLL-2003 from local files
    accelerate launch --config_file accelerate_configs/multi_gpu.yaml recipes/ner.py \
        --config recipes/configs/ner/conll2003_hub.yaml                             # bert-base-cased, Hub dataset

Any key of the config file can be overridden on the command line (`--learning_rate 3e-5`); `--help` lists them.
`nlpkit predict OUTPUT_DIR "Some text"` then prints the entities found, with their character offsets.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification

from nlpkit.cards import ModelCardInfo
from nlpkit.cli import recipe_main
from nlpkit.config import ConfigError, parse_args
from nlpkit.pretrained import from_pretrained, resolve_model_path
from nlpkit.tasks.token_classification import (
    NER_DEFAULTS,
    BiLSTMCRFArguments,
    TokenClassificationArguments,
    WordCharCollator,
    build_bilstm_crf,
    encode_words,
    load_data,
    run_token_classification,
    tokenize_subwords,
)
from nlpkit.training import TrainingArguments, start_run

CONFIGS = Path(__file__).resolve().parent / "configs" / "ner"

DEFAULTS = {**NER_DEFAULTS, "output_dir": "outputs/ner", "num_train_epochs": 3}

BILSTM_CRF_CARD = (
    "A BiLSTM-CRF named-entity tagger trained from scratch with [nlpkit](https://github.com/nlpkit/nlpkit): one "
    "position per word (word embedding + character CNN/BiLSTM features), a BiLSTM, and a linear-chain CRF whose "
    "Viterbi path is the argmax of the logits. The evaluation gave the model each word's characters; `nlpkit predict` "
    "does too. A plain `pipeline()` reads them from the model's vocabulary table instead, where a word never seen in "
    "training has none, so its tags for unseen words can be worse than the scores below."
)

# Byte-level BPE tokenizers need a space before each pre-split word to encode it as they encode running text.
PREFIX_SPACE_MODEL_TYPES = {"roberta", "deberta", "gpt2", "bloom", "longformer"}


@dataclass
class ModelArguments:
    model: Literal["bilstm-crf", "pretrained"] | None = field(
        default=None,
        metadata={
            "help": "'bilstm-crf' (trained from scratch) or 'pretrained' (fine-tune model_name_or_path). "
            "Default: pretrained when model_name_or_path is set, else bilstm-crf."
        },
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Hub id or local folder of a pretrained BERT-family encoder."}
    )
    freeze_embeddings: bool = field(
        default=False,
        metadata={"help": "Pretrained models: keep the word embeddings fixed (half a small BERT's weights): faster."},
    )
    dataset_description: str = field(default="", metadata={"help": "What the data is, for the model card."})

    def __post_init__(self) -> None:
        if self.model is None:
            self.model = "pretrained" if self.model_name_or_path else "bilstm-crf"
        if self.model == "pretrained" and not self.model_name_or_path:
            raise ValueError("model: pretrained needs 'model_name_or_path'")
        if self.model == "bilstm-crf" and self.model_name_or_path:
            raise ValueError("'model_name_or_path' is for model: pretrained (the BiLSTM-CRF is trained from scratch)")


def main(argv: list[str] | None = None) -> dict:
    parsed = parse_args(
        [ModelArguments, BiLSTMCRFArguments, TokenClassificationArguments, TrainingArguments],
        argv,
        default_config=CONFIGS / "quickstart.yaml",
        defaults=DEFAULTS,
    )
    model_args, crf_args, data_args, training_args = parsed.args
    run = start_run(parsed, training_args)
    card = ModelCardInfo(
        pipeline_tag="token-classification",
        auto_class="AutoModelForTokenClassification",
        task_name="Token Classification",
        datasets=[data_args.dataset_name] if data_args.dataset_name else [],
        dataset_description=model_args.dataset_description,
        tags=["ner"],
    )

    if model_args.model == "bilstm-crf":
        data = load_data(data_args, training_args)
        model, tokenizer = build_bilstm_crf(crf_args, data, data_args, training_args, run)
        with training_args.main_process_first(desc="encoding"):
            tokenized = encode_words(data, tokenizer, model.config, data_args, crf_args.pass_char_ids)
        collator = WordCharCollator(tokenizer)
        card.tags += ["bilstm-crf"]
        card.description = BILSTM_CRF_CARD
        card_hyperparameters = asdict(crf_args)
    else:
        model_path = resolve_model_path(model_args.model_name_or_path)
        model_type = from_pretrained(AutoConfig, model_path).model_type
        data = load_data(data_args, training_args)
        tokenizer = from_pretrained(
            AutoTokenizer, model_path, **({"add_prefix_space": True} if model_type in PREFIX_SPACE_MODEL_TYPES else {})
        )
        if not tokenizer.is_fast:
            raise ConfigError(f"{model_args.model_name_or_path}: a fast tokenizer is needed to align word labels")
        model = from_pretrained(
            AutoModelForTokenClassification,
            model_path,
            num_labels=len(data.label_names),
            id2label=data.id2label,
            label2id=data.label2id,
        )
        if model_args.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        with training_args.main_process_first(desc="tokenizing"):
            tokenized = tokenize_subwords(data, tokenizer, data_args)
        collator = DataCollatorForTokenClassification(tokenizer)
        card.base_model = None if Path(model_args.model_name_or_path).exists() else model_args.model_name_or_path
        card.tags += ["bert"]
        card_hyperparameters = {}

    return run_token_classification(
        parsed=parsed,
        run=run,
        data=data,
        args=data_args,
        model=model,
        tokenizer=tokenizer,
        tokenized=tokenized,
        data_collator=collator,
        card=card,
        card_extra_hyperparameters=card_hyperparameters,
    )


if __name__ == "__main__":
    recipe_main(main)
