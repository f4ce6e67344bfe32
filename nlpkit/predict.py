"""Predictions from a saved model folder, an exported folder or an in-memory model, as used by recipes and
`nlpkit predict`.

A :class:`Predictor` serves one model: ``predictor(texts, batch_size=...)`` gives one prediction per text, a dict of
the fields of its task (the records every engineer shares: ``predictions.jsonl`` and ``nlpkit predict --output``):

- text-classification: ``{"label", "score" (top probability), "probabilities": {label: probability}}``;
- token-classification: ``{"entities": [{"label", "score", "start", "end", "text"}]}`` (character offsets, labels
  without their B-/I- prefix);
- translation: ``{"translation_text"}``;
- text-generation: ``{"generated_text"}`` (the prompt followed by its continuation, as `nlpkit generate` prints it).

:func:`load_predictor` serves a folder (PyTorch, or exported by `nlpkit export`), :func:`predictor_for_model` a model
in memory; :func:`predict_records` adds the predictions to records read from a file (:func:`read_records`) and
:func:`write_predictions` writes them as JSON lines, atomically.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from itertools import count, islice
from pathlib import Path
from typing import Any, Protocol

from nlpkit.errors import ConfigError, DataError
from nlpkit.pretrained import check_task

TASKS = ("text-classification", "token-classification", "translation", "text-generation")
GENERATION_TASKS = ("translation", "text-generation")
# The options of generate() that translation and generation predictors take (all optional; None means "not given").
GENERATION_OPTIONS = ("max_new_tokens", "num_beams", "do_sample", "temperature", "top_k", "top_p", "seed")
TRANSLATION_OPTIONS = (*GENERATION_OPTIONS, "src_lang", "tgt_lang")
# The fields each task's predictions have (what predict_records adds to a record).
PREDICTION_FIELDS = {
    "text-classification": ("label", "score", "probabilities"),
    "token-classification": ("entities",),
    "translation": ("translation_text",),
    "text-generation": ("generated_text",),
}
DATA_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".txt")


class Predictor(Protocol):
    """What serves one model: a pipeline over a PyTorch model, or an exported folder's runtime."""

    task: str  # one of TASKS

    def __call__(
        self, texts: list[str], *, batch_size: int = 32, text_pairs: list[str] | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        """One prediction (the fields of :data:`PREDICTION_FIELDS`) per text."""
        ...


# ---- Loading ----


def load_predictor(model_dir: str | Path, *, device: str | None = None) -> Predictor:
    """The predictor of a saved model folder of a served task, or of a folder written by `nlpkit export`.

    ConfigError (one line naming the folder) for a folder it cannot serve: no model, a model without a head, a head
    of another task."""
    from nlpkit.export import is_exported, load_exported
    from nlpkit.pretrained import check_model_folder

    model_dir = Path(model_dir)
    if is_exported(model_dir):
        return load_exported(model_dir)
    task = check_task(model_dir, check_model_folder(model_dir), "predict")
    from nlpkit.models import register_models

    register_models()  # nlpkit's architectures, with the Auto classes (the `nlpkit` command skips it at import)
    try:
        if task in ("text-classification", "token-classification"):
            return PipelinePredictor(load_pipeline(str(model_dir), device=device))
        model, tokenizer = _load_generator(model_dir, task)
        return predictor_for_model(model, tokenizer, device=device)
    except ConfigError:
        raise
    except (ValueError, OSError, KeyError) as error:  # a model type transformers does not know, a missing tokenizer
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"{model_dir}: cannot load the {task} model ({reason})") from None


def predictor_for_model(model: Any, tokenizer: Any, *, device: str | None = None) -> Predictor:
    """The predictor of an in-memory model (its task read from its head, as for a saved folder), which it puts in
    eval mode: a model just trained is left in training mode, and its dropout would change every prediction."""
    from nlpkit.pretrained import model_task

    model.eval()
    config = model.config.to_dict()
    if not config.get("architectures"):  # set when saved; an in-memory model has only its class
        config["architectures"] = [type(model).__name__]
    task = model_task(config)
    if task not in TASKS:
        raise ConfigError(f"{type(model).__name__} has no head that nlpkit predicts with ({', '.join(TASKS)})")
    if task == "text-generation":
        return GenerationPredictor(model, tokenizer, device=device)
    if task == "translation":
        return TranslationPredictor(model, tokenizer, device=device)
    import transformers

    pipe = transformers.pipeline(
        task, model=model, tokenizer=tokenizer, device=device, pipeline_class=_pipeline_class(model.config, task)
    )
    return PipelinePredictor(pipe)


def _load_generator(model_dir: Path, task: str) -> tuple[Any, Any]:
    """The tokenizer and model of a translation or language-model folder, each load failure one line."""
    import transformers

    from nlpkit.pretrained import from_pretrained

    auto_class = transformers.AutoModelForSeq2SeqLM if task == "translation" else transformers.AutoModelForCausalLM
    tokenizer = from_pretrained(transformers.AutoTokenizer, str(model_dir))
    return from_pretrained(auto_class, str(model_dir)).eval(), tokenizer


def load_pipeline(model_dir: str, **kwargs: Any) -> Any:
    """The pipeline matching the model's head (text or token classification), read from its config (nlpkit's
    architectures are registered).

    nlpkit's BiLSTM-CRF gets the pipeline class its saved config names in ``custom_pipelines`` (the one that
    ``pipeline("token-classification", model=model_dir, trust_remote_code=True)`` builds from the folder's copy of the
    code), imported from nlpkit here, so both find the same entities. A model of another task is a ConfigError saying
    what serves it (:func:`load_predictor` serves translation and language models too)."""
    import transformers

    from nlpkit.models import register_models

    register_models()
    config = transformers.AutoConfig.from_pretrained(model_dir)
    task = check_task(model_dir, config.to_dict(), "predict")
    if task not in ("text-classification", "token-classification"):
        raise ConfigError(f"{model_dir}: load_pipeline serves classifiers; use load_predictor for {task}")
    kwargs.setdefault("pipeline_class", _pipeline_class(config, task))
    return transformers.pipeline(task, model=model_dir, **kwargs)


def token_classification_pipeline(model: Any, tokenizer: Any, **kwargs: Any) -> Any:
    """``pipeline("token-classification")`` for an in-memory model; nlpkit's BiLSTM-CRF gets its own pipeline class
    (character inputs, entities grouped), which ``pipeline()`` only finds by itself in a saved folder's config."""
    import transformers

    kwargs.setdefault("pipeline_class", _pipeline_class(model.config, "token-classification"))
    return transformers.pipeline("token-classification", model=model, tokenizer=tokenizer, **kwargs)


def _pipeline_class(config: Any, task: str) -> Any:
    """nlpkit's own pipeline class for ``task`` with a model of ``config``, or None for transformers' default."""
    if task == "token-classification" and config.model_type == "bilstm_crf":
        from nlpkit.models.bilstm_crf.modeling_bilstm_crf import BiLSTMCRFTokenClassificationPipeline

        return BiLSTMCRFTokenClassificationPipeline
    return None


# ---- The predictors of PyTorch models ----


def _given(options: Mapping[str, Any], accepted: Iterable[str], task: str) -> dict[str, Any]:
    """The options that are set (None means "not given"); ConfigError naming one this task does not take."""
    given = {key: value for key, value in options.items() if value is not None}
    unknown = sorted(given.keys() - set(accepted))
    if unknown:
        takes = f"it takes {', '.join(accepted)}" if accepted else "it takes no options"
        raise ConfigError(f"option '{unknown[0]}' does not apply to a {task} model ({takes})")
    return given


class PipelinePredictor:
    """Text classification (label and probabilities) or token classification (entities) with a transformers
    pipeline."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.task = pipe.task

    def __call__(
        self, texts: list[str], *, batch_size: int = 32, text_pairs: list[str] | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        _given(options, (), self.task)
        if self.task == "token-classification":
            if text_pairs is not None:
                raise ConfigError("text pairs are for pair classifiers; a token classifier tags one text")
            # A blank text has no entities; a word-level tagger (the BiLSTM-CRF) cannot read a text of no words.
            worded = [text for text in texts if text.strip()]
            found = iter(tag_entities(self.pipe, worded, batch_size=batch_size))
            return [_without_text(next(found)) if text.strip() else {"entities": []} for text in texts]
        return _classify(self.pipe, texts, text_pairs, batch_size)


def _classify(pipe: Any, texts: list[str], text_pairs: list[str] | None, batch_size: int) -> list[dict[str, Any]]:
    if not texts:
        return []
    inputs: list[Any] = (
        texts if text_pairs is None else [{"text": t, "text_pair": p} for t, p in zip(texts, text_pairs)]
    )
    outputs = pipe(inputs, batch_size=batch_size, truncation=True, top_k=None)  # every label, most likely first
    if inputs and isinstance(outputs[0], dict):  # one input gives its labels' list, not a list of them
        outputs = [outputs]
    order = list(pipe.model.config.id2label.values())  # probabilities in the model's label order
    predictions = []
    for scores in outputs:
        probabilities = {item["label"]: float(item["score"]) for item in scores}
        predictions.append(
            {
                "label": scores[0]["label"],
                "score": float(scores[0]["score"]),
                "probabilities": {label: probabilities[label] for label in order if label in probabilities},
            }
        )
    return predictions


def _without_text(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "text"}


def _no_pairs(text_pairs: list[str] | None, task: str) -> None:
    if text_pairs is not None:
        raise ConfigError(f"text pairs are for pair classifiers; a {task} model reads one text")


def _seed(options: dict[str, Any]) -> None:
    seed = options.pop("seed", None)
    if seed is not None:
        from transformers import set_seed

        set_seed(seed)


def _decode_empty_outputs(tokenizer: Any) -> Any:
    """``tokenizer`` with a word-level decoder that decodes no tokens (an empty translation or continuation) to "".

    Folders saved before nlpkit.tokenization replaced it end their word decoder with ``Strip(" ", 0, 1)``, which
    panics (a Rust panic, not an exception) on an empty output; a regular expression removes that last space the
    same way."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or '"type":"Strip"' not in backend.decoder.__getstate__().decode():
        return tokenizer
    from tokenizers import Tokenizer

    state = json.loads(backend.to_str())
    steps = state["decoder"].get("decoders", []) if state["decoder"]["type"] == "Sequence" else []
    for index, step in enumerate(steps):
        if step == {"type": "Strip", "content": " ", "start": 0, "stop": 1}:
            steps[index] = {"type": "Replace", "pattern": {"Regex": " \\z"}, "content": ""}
    backend.decoder = Tokenizer.from_str(json.dumps(state)).decoder
    return tokenizer


class TranslationPredictor:
    """Translation with :class:`nlpkit.pipelines.TranslationPipeline` (config.prefix, language codes, the folder's
    generation config under the options given)."""

    task = "translation"

    def __init__(self, model: Any, tokenizer: Any, *, device: str | None = None) -> None:
        from nlpkit.pipelines import TranslationPipeline

        tokenizer = _decode_empty_outputs(tokenizer)
        self.pipe = TranslationPipeline(model=model, tokenizer=tokenizer, task="translation", device=device)

    def __call__(
        self, texts: list[str], *, batch_size: int = 32, text_pairs: list[str] | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        _no_pairs(text_pairs, self.task)
        options = _given(options, TRANSLATION_OPTIONS, self.task)
        _seed(options)
        tgt_lang = options.get("tgt_lang")
        if tgt_lang is not None and hasattr(self.pipe.tokenizer, "src_lang"):
            from nlpkit.pipelines.translation_pipeline import language_code_id

            if language_code_id(self.pipe.tokenizer, tgt_lang) is None:
                name = type(self.pipe.tokenizer).__name__
                raise ConfigError(f"tgt_lang '{tgt_lang}' is not a language code of the model's tokenizer ({name})")
        if not texts:
            return []
        options.setdefault("num_return_sequences", 1)  # one translation per text, whatever the generation config says
        outputs = self.pipe(list(texts), batch_size=batch_size, **options)
        return [{"translation_text": output["translation_text"]} for output in outputs]


class GenerationPredictor:
    """Continuations of prompts with ``model.generate`` (the model's generation config under the options given),
    batched with left padding: nlpkit's GPT and LSTM LM, like transformers' decoders, read a left-padded prompt as
    they read it alone."""

    task = "text-generation"

    def __init__(self, model: Any, tokenizer: Any, *, device: str | None = None) -> None:
        self.model = model.eval() if device is None else model.to(device).eval()
        self.tokenizer = _decode_empty_outputs(tokenizer)
        # Padding: the tokenizer's pad token, else its end of text (masked out, so never read); neither: one by one.
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def __call__(
        self, texts: list[str], *, batch_size: int = 32, text_pairs: list[str] | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        _no_pairs(text_pairs, self.task)
        options = _given(options, GENERATION_OPTIONS, self.task)
        _seed(options)
        if self.pad_token_id is None:
            batch_size = 1
        predictions: list[dict[str, Any]] = []
        for start in range(0, len(texts), max(1, batch_size)):
            predictions += self._generate(texts[start : start + batch_size], dict(options))
        return predictions

    def _generate(self, prompts: list[str], options: dict[str, Any]) -> list[dict[str, Any]]:
        import torch

        from nlpkit.tasks.language_modeling import longest_generation

        rows = [self._prompt_ids(prompt) for prompt in prompts]
        longest = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), longest), self.pad_token_id or 0, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for index, row in enumerate(rows):  # left padding: every prompt ends where generation starts
            if row:
                input_ids[index, longest - len(row) :] = torch.tensor(row)
                attention_mask[index, longest - len(row) :] = 1
        wanted = options.get("max_new_tokens") or self.model.generation_config.max_new_tokens or 20
        options["max_new_tokens"] = longest_generation(self.model.config, longest, wanted)
        if options["max_new_tokens"] == 0:
            limit = self.model.config.max_position_embeddings
            raise ConfigError(f"a prompt of {longest} tokens fills the model's context ({limit} tokens)")
        options.setdefault("num_return_sequences", 1)
        device = self.model.device
        with torch.no_grad():
            output = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                pad_token_id=self.pad_token_id,
                **options,
            )
        return [
            {"generated_text": self._with_prompt(prompt, row, continuation[longest:].tolist())}
            for prompt, row, continuation in zip(prompts, rows, output.cpu())
        ]

    def _prompt_ids(self, prompt: str) -> list[int]:
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if not ids:  # an empty prompt: start from the beginning of a text, as the model was trained
            bos = self.tokenizer.bos_token_id
            if bos is None:
                bos = self.model.generation_config.bos_token_id
            if bos is None:
                raise ConfigError("an empty prompt, and the tokenizer has no beginning-of-text token to start from")
            ids = [bos]
        return ids

    def _with_prompt(self, prompt: str, prompt_ids: list[int], new_ids: list[int]) -> str:
        """The prompt as given, then the continuation as the tokenizer writes it after the prompt (a word-level
        tokenizer puts a space between them), as transformers' text-generation pipeline does."""
        decode = self.tokenizer.decode
        whole = decode(prompt_ids + new_ids, skip_special_tokens=True)
        decoded_prompt = decode(prompt_ids, skip_special_tokens=True)
        if whole.startswith(decoded_prompt):
            return prompt + whole[len(decoded_prompt) :]
        return whole


# ---- Records: reading, predicting, writing ----


def read_records(
    path: str | Path, *, text_column: str = "text", text_pair_column: str | None = None
) -> list[dict[str, Any]]:
    """The rows of a csv, tsv, jsonl (or json: lines or one array) or txt file (one text per line, blank lines
    skipped; its records have ``text_column``), each a dict; DataError naming the file (and row or column) for an
    unreadable file, a missing column, a row without a text, or no rows at all."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in DATA_EXTENSIONS:
        raise ConfigError(f"{path}: unknown input format '{suffix}' (read: {', '.join(DATA_EXTENSIONS)})")
    try:
        content = path.read_text(encoding="utf-8-sig")  # -sig: a spreadsheet's byte-order mark is not a column name
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: a folder, not a file") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read it ({error.strerror or error})") from None
    if suffix == ".txt":
        if text_pair_column is not None:
            raise ConfigError(f"{path}: a .txt file has one text per line; text pairs need a csv, tsv or jsonl file")
        records = [{text_column: line} for line in content.splitlines() if line.strip()]
    elif suffix in (".csv", ".tsv"):
        records = _read_table(path, content, "\t" if suffix == ".tsv" else ",", text_column, text_pair_column)
    else:
        records = _read_json_records(path, content, text_column, text_pair_column)
    if not records:
        raise DataError(f"{path}: no texts")
    return records


def _read_table(
    path: Path, content: str, delimiter: str, text_column: str, text_pair_column: str | None
) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)  # quoted newlines stay in a cell
    columns = reader.fieldnames or []
    for column in (text_column, text_pair_column):
        if column is not None and column not in columns:
            raise DataError(f"{path}: no column '{column}' (columns: {', '.join(columns) or 'none'})")
    records = []
    for row in reader:
        if None in row or any(value is None for value in row.values()):
            raise DataError(f"{path}, line {reader.line_num}: not the {len(columns)} columns of its header")
        records.append(dict(row))
    return records


def _read_json_records(
    path: Path, content: str, text_column: str, text_pair_column: str | None
) -> list[dict[str, Any]]:
    if content.lstrip().startswith("["):  # a .json file holding one array of records
        try:
            rows = list(enumerate(json.loads(content), start=1))
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error})") from None
        where = "record"
    else:
        rows = []
        for line_number, line in enumerate(content.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((line_number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}, line {line_number}: not valid JSON ({error.msg})") from None
        where = "line"
    records = []
    for number, row in rows:
        if not isinstance(row, dict):
            raise DataError(f"{path}, {where} {number}: not a JSON object")
        for column in (text_column, text_pair_column):
            if column is None:
                continue
            if column not in row:
                raise DataError(f"{path}, {where} {number}: no '{column}' field (fields: {', '.join(row) or 'none'})")
            if not isinstance(row[column], str):
                raise DataError(f"{path}, {where} {number}: '{column}' is not a text ({type(row[column]).__name__})")
        records.append(row)
    return records


def predict_records(
    predictor: Predictor,
    records: Iterable[dict[str, Any]],
    *,
    text_column: str = "text",
    text_pair_column: str | None = None,
    batch_size: int = 32,
    progress: bool = False,
    **options: Any,
) -> Iterator[dict[str, Any]]:
    """Each record with its prediction's fields added, in order, predicted ``batch_size`` records at a time (with a
    progress bar on standard error if ``progress``).

    An input field that a prediction field would overwrite (a labelled file's ``label``) is kept, renamed
    ``input_<field>``. ``seed`` seeds each batch with ``seed + its index``: the same run gives the same output, and
    batches do not repeat each other's samples. Options set to None are left out."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
    options = {key: value for key, value in options.items() if value is not None}
    seed = options.pop("seed", None)
    fields = set(PREDICTION_FIELDS.get(predictor.task, ()))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = len(records) if hasattr(records, "__len__") else None
        bar = tqdm(total=total, unit="text", desc="Predicting", file=None, dynamic_ncols=True)
    iterator = iter(records)
    try:
        for batch_index in count():
            batch = list(islice(iterator, batch_size))
            if not batch:
                return
            texts = [
                _text_of(record, text_column, number) for number, record in _numbered(batch, batch_index, batch_size)
            ]
            call_options = dict(options)
            if text_pair_column is not None:
                call_options["text_pairs"] = [
                    _text_of(record, text_pair_column, number)
                    for number, record in _numbered(batch, batch_index, batch_size)
                ]
            if seed is not None:
                call_options["seed"] = seed + batch_index
            predictions = predictor(texts, batch_size=batch_size, **call_options)
            for record, prediction in zip(batch, predictions):
                merged = {(f"input_{key}" if key in fields else key): value for key, value in record.items()}
                merged.update(prediction)
                yield merged
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()


def _numbered(batch: list[dict[str, Any]], batch_index: int, batch_size: int) -> Iterator[tuple[int, dict]]:
    return enumerate(batch, start=batch_index * batch_size + 1)


def _text_of(record: Mapping[str, Any], column: str, number: int) -> str:
    if column not in record:
        raise DataError(f"record {number}: no '{column}' field (fields: {', '.join(record) or 'none'})")
    text = record[column]
    if not isinstance(text, str):
        raise DataError(f"record {number}: '{column}' is not a text ({type(text).__name__})")
    return text


def write_predictions(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` to ``path`` as JSON lines (UTF-8, ``ensure_ascii=False``), streamed into a temporary file
    beside it and renamed into place once complete (a crash leaves the old file or none); the number of lines."""
    from nlpkit.io import _UMASK, disk_full_errors, fsync_directory

    path = Path(path)
    with disk_full_errors(file=path):
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
            count = 0
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                    count += 1
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        fsync_directory(path.parent)
    return count


# ---- The earlier helpers (recipes' sample predictions, tests) ----


def predict(pipe: Any, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
    """Labels (text classification) or entities (token classification) of each text, with the text."""
    if pipe.task == "token-classification":
        return tag_entities(pipe, texts, batch_size=batch_size)
    return classify(pipe, texts, batch_size=batch_size)


def classify(pipe: Any, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
    """``[{"text", "label", "score", "probabilities"}]`` for each text: the top label, its probability, and every
    label's."""
    return [{"text": text, **prediction} for text, prediction in zip(texts, _classify(pipe, texts, None, batch_size))]


def aggregation_strategy(tokenizer: Any) -> str:
    """How the pipeline groups tokens into entities: 'simple' when a token is a word (word-level vocabulary), else
    'first' (a word takes the tag of its first sub-token, as the models were trained)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return "simple" if backend is None or type(backend.model).__name__ == "WordLevel" else "first"


def tag_entities(pipe: Any, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
    """``[{"text", "entities": [{"label", "score", "start", "end", "text"}]}]``: the entities of each text, with
    character offsets into it."""
    if not texts:
        return []
    outputs = pipe(texts, batch_size=batch_size, aggregation_strategy=aggregation_strategy(pipe.tokenizer))
    if texts and isinstance(outputs[0], dict):
        outputs = [outputs]
    return [
        {
            "text": text,
            "entities": [
                {
                    "label": entity["entity_group"],
                    "score": float(entity["score"]),
                    "start": int(entity["start"]),
                    "end": int(entity["end"]),
                    "text": text[entity["start"] : entity["end"]],
                }
                for entity in entities
            ],
        }
        for text, entities in zip(texts, outputs)
    ]


def format_predictions(predictions: list[dict[str, Any]], *, text_column: str = "text") -> str:
    """Predictions for reading in a terminal: a label, its score and the text per line; a text and its entities;
    a source and its translation; each generated text, apart."""
    if not predictions:
        return ""
    first = predictions[0]
    if "entities" in first:
        return "\n".join(_format_entities(prediction, text_column) for prediction in predictions)
    if "translation_text" in first:
        return "\n".join(f"{p[text_column]}\n  -> {p['translation_text']}" for p in predictions)
    if "generated_text" in first:
        return "\n\n".join(p["generated_text"] for p in predictions)
    width = max(len(p["label"]) for p in predictions)
    return "\n".join(f"{p['label']:<{width}}  {p['score']:.3f}  {p[text_column]}" for p in predictions)


def _format_entities(prediction: dict[str, Any], text_column: str = "text") -> str:
    entities = prediction["entities"]
    if not entities:
        return f"{prediction[text_column]}\n  (no entities)"
    width = max(len(entity["label"]) for entity in entities)
    lines = [f"  {e['label']:<{width}}  {e['score']:.3f}  {e['start']:>3}-{e['end']:<3}  {e['text']}" for e in entities]
    return "\n".join([prediction[text_column], *lines])
