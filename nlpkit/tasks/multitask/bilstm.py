"""Multi-task heads on nlpkit's BiLSTM encoder trained from scratch, with a word-level tokenizer trained for the run
on every task's training text and, optionally, word embeddings started from GloVe/word2vec vectors.

The encoder's settings are the BiLSTM keys of the model's config (``BILSTM_DEFAULTS`` of
``configuration_multitask.py``, declared there once), each a run option here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from nlpkit.embeddings import RESUMED_WORD_VECTORS, WordVectorArguments, start_from_word_vectors, word_vectors_name
from nlpkit.models.multitask import MultiTaskConfig, MultiTaskModel
from nlpkit.models.multitask.configuration_multitask import BILSTM_DEFAULTS
from nlpkit.tasks import ModelSetup
from nlpkit.tasks.multitask import TaskData, heads_of, texts_of
from nlpkit.tokenization import tokenizer_for_run, train_tokenizer
from nlpkit.training import Run

TOKENIZER_KEYS = ("vocab_size", "pad_token_id")  # set from the tokenizer trained for the run


@dataclass
class TokenizerArguments(WordVectorArguments):
    """The word-level tokenizer trained for the run (whitespace-split words: one token per tagged word), and the
    vectors the embeddings may start from (checked as the arguments are parsed)."""

    vocab_size: int = field(default=30_000, metadata={"help": "Largest vocabulary, special tokens included."})
    min_frequency: int = field(default=2, metadata={"help": "Smallest count of a word in the vocabulary."})
    lowercase: bool = field(default=False, metadata={"help": "Lowercase texts before tokenizing."})

    def _embedding_size(self) -> int:
        return self.embedding_size  # a field of Arguments below, made from the model config's BiLSTM keys


Arguments = dataclasses.make_dataclass(
    "MultiTaskBiLSTMArguments",
    [
        (key, type(value), field(default=value, metadata={"help": f"BiLSTM encoder: {key} (the model config's)."}))
        for key, value in BILSTM_DEFAULTS.items()
        if key not in TOKENIZER_KEYS
    ],
    bases=(TokenizerArguments,),
)


def build(run: Run, tasks: dict[str, TaskData]) -> ModelSetup:
    args = run.get(Arguments)
    tokenizer = tokenizer_for_run(
        lambda: train_tokenizer(
            texts_of(tasks),
            kind="word",
            vocab_size=args.vocab_size,
            min_frequency=args.min_frequency,
            lowercase=args.lowercase,
            split_punctuation=False,
        ),
        resume_checkpoint=run.resume_checkpoint,
    )
    settings = {key: getattr(args, key) for key in BILSTM_DEFAULTS if key not in TOKENIZER_KEYS}
    encoder = {**settings, "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    model = MultiTaskModel(MultiTaskConfig(encoder_type="bilstm", encoder=encoder, heads=heads_of(tasks)))
    hyperparameters = {"encoder": ", ".join(f"{key} {value}" for key, value in settings.items()),
                       "tokenizer": f"word-level, {len(tokenizer)} tokens"}  # fmt: skip
    if args.word_vectors and run.resume_checkpoint is None:  # a checkpoint's embeddings replace them anyway
        embeddings = model.get_input_embeddings()
        found = start_from_word_vectors(args.word_vectors, tokenizer, embeddings, lowercase=args.lowercase)
        hyperparameters["word_vectors"] = found
    elif args.word_vectors:
        hyperparameters["word_vectors"] = RESUMED_WORD_VECTORS.format(name=word_vectors_name(args.word_vectors))
    heads = ", ".join(f"{name} ({task.spec.kind})" for name, task in tasks.items())
    return ModelSetup(
        model,
        tokenizer,
        tags=["multitask", "bilstm"],
        description=f"A BiLSTM encoder trained from scratch with [nlpkit](https://github.com/nlpkit/nlpkit), shared "
        f"by a head per task: {heads}.",
        hyperparameters=hyperparameters,
    )
