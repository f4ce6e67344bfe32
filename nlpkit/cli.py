"""The `nlpkit` command (`nlpkit predict`, `nlpkit generate`, `nlpkit push`, `nlpkit similar`, `nlpkit launch`) and
the error handling of every recipe's entry point.

Parsing the command line and printing help import neither torch nor transformers (`nlpkit --help` answers at once):
everything heavy is imported inside the handlers, and `main` registers nlpkit's models with the Auto classes just
before it runs one (the `nlpkit` command skips the registration of `import nlpkit`; see `nlpkit/__init__.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nlpkit.errors import USER_ERRORS, ConfigError, RunFinished
from nlpkit.models import register_models

if TYPE_CHECKING:
    from pathlib import Path


def recipe_main(main: Callable[[], Any]) -> None:
    """Run a recipe's ``main``; a bad config, bad data or a failed push end it with one line and exit status 2, and
    a finished run rerun says so and ends with status 0, changing nothing."""
    try:
        main()
    except RunFinished as finished:
        print_line(str(finished))
    except USER_ERRORS as error:
        print_line(f"error: {error}")
        sys.exit(2)


def print_line(line: str) -> None:
    """Write ``line`` to standard error in one system call: under a launcher every rank prints its own error line
    into the same pipe, and `print` writes the text and its newline apart, so two ranks' lines could run together."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a stand-in stream (pytest's capsys): one write is one call
        sys.stderr.write(f"{line}\n")
        return
    sys.stderr.flush()
    os.write(descriptor, f"{line}\n".encode())


def _predict(args: argparse.Namespace) -> None:
    """`nlpkit predict`: the folder and the input are checked (one line for what is wrong) before the model loads."""
    from pathlib import Path

    from nlpkit.predict import format_predictions, load_predictor, predict_records, write_predictions

    if args.batch_size < 1:
        raise ConfigError(f"--batch_size must be at least 1, not {args.batch_size}")
    model_dir = Path(args.model_dir)
    one_head = args.task is not None or _holds_multitask_model(model_dir)  # a head of a multi-task model
    task = "multi-task" if one_head else _served_task(model_dir)
    options = _prediction_options(args, task, model_dir)
    records, text_column = _prediction_inputs(args)
    if one_head:
        from nlpkit.heads import head_predictor

        predictor = head_predictor(model_dir, args.task, device=args.device)
    else:
        predictor = load_predictor(model_dir, device=args.device)
    # The bar goes to standard error: shown when the predictions go to a file, or to a terminal that also shows it.
    progress = bool(args.output) or sys.stderr.isatty()
    predictions = predict_records(
        predictor,
        records,
        text_column=text_column,
        text_pair_column=args.text_pair_column,
        batch_size=args.batch_size,
        progress=progress,
        **options,
    )
    if args.output:
        count = write_predictions(Path(args.output), predictions)
        print(f"nlpkit predict: {count} predictions written to {args.output}", file=sys.stderr)
    elif args.json:
        for prediction in predictions:
            print(json.dumps(prediction, ensure_ascii=False, default=str), flush=True)
    else:
        batch: list[dict[str, Any]] = []
        for prediction in predictions:  # printed a batch at a time, as they come
            batch.append(prediction)
            if len(batch) == args.batch_size:
                print(format_predictions(batch, text_column=text_column), flush=True)
                batch = []
        if batch:
            print(format_predictions(batch, text_column=text_column), flush=True)


def _holds_multitask_model(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds a multi-task model with several heads (an unreadable config: no, and the usual
    checks say what is wrong)."""
    from nlpkit.heads import is_multitask

    try:
        return is_multitask(json.loads((model_dir / "config.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return False


def _served_task(model_dir: Path) -> str:
    """The task of a model folder that `nlpkit predict` serves (an export's, from its manifest); ConfigError else."""
    from nlpkit.export import MANIFEST, is_exported
    from nlpkit.pretrained import check_model_folder, check_task

    if is_exported(model_dir):
        try:
            return str(json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))["task"])
        except (OSError, ValueError, KeyError, TypeError):
            raise ConfigError(f"{model_dir / MANIFEST}: not a readable export manifest") from None
    return check_task(model_dir, check_model_folder(model_dir), "predict")


def _prediction_options(args: argparse.Namespace, task: str, model_dir: Path) -> dict[str, Any]:
    """The generation options given; ConfigError naming one that the folder's task does not take."""
    from nlpkit.predict import GENERATION_OPTIONS, GENERATION_TASKS

    options = {name: getattr(args, name) for name in (*GENERATION_OPTIONS, "src_lang", "tgt_lang")}
    options = {name: value for name, value in options.items() if value is not None}
    for name in options:
        if task not in GENERATION_TASKS or (name in ("src_lang", "tgt_lang") and task != "translation"):
            served = "translation models" if name in ("src_lang", "tgt_lang") else "translation and generation models"
            raise ConfigError(f"--{name} is for {served}; {model_dir} holds a {task} model")
    return options


def _prediction_inputs(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str]:
    """The records to predict and their text column: from --input, the arguments, or standard input's lines."""
    from pathlib import Path

    from nlpkit.predict import DATA_EXTENSIONS, read_records

    if args.input:
        if args.texts:
            raise ConfigError("texts given both as arguments and with --input: pass one or the other")
        records = read_records(args.input, text_column=args.text_column, text_pair_column=args.text_pair_column)
        return records, args.text_column
    if args.text_pair_column:
        raise ConfigError("--text_pair_column needs --input FILE (a csv, tsv or jsonl file with both columns)")
    for text in args.texts:
        # An argument is a text. One naming a data file is almost surely meant as the input: say how to read it,
        # rather than guess from what exists on disk (the same command would then mean two things).
        if Path(text).suffix.lower() in DATA_EXTENSIONS and Path(text).is_file():
            raise ConfigError(f"'{text}' is a file, and arguments are texts: to predict its rows, pass --input {text}")
    texts = args.texts or [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ConfigError("no texts: pass them as arguments, with --input FILE, or one per line on standard input")
    return [{"text": text} for text in texts], "text"


def _generate(args: argparse.Namespace) -> None:
    from pathlib import Path

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from nlpkit.pretrained import check_model_folder, check_task
    from nlpkit.tasks.language_modeling import longest_generation

    if _sentence_vae_folder(args.model_dir):
        return _generate_sentence_vae(args)
    check_task(args.model_dir, check_model_folder(Path(args.model_dir)), "generate")
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir).eval()
    options = {
        key: value
        for key, value in {
            "max_new_tokens": args.max_new_tokens,
            "temperature": args.temperature,
            "top_k": args.top_k,
            "top_p": args.top_p,
            "num_beams": args.num_beams,
            "num_return_sequences": args.num_return_sequences,
        }.items()
        if value is not None
    }
    if args.greedy:
        options["do_sample"] = False
    if args.seed is not None:
        set_seed(args.seed)
    inputs = tokenizer(args.prompt, add_special_tokens=False, return_tensors="pt")
    wanted = options.get("max_new_tokens", model.generation_config.max_new_tokens or 20)
    options["max_new_tokens"] = longest_generation(model.config, inputs["input_ids"].shape[1], wanted)
    if options["max_new_tokens"] == 0:
        raise ConfigError(f"the prompt fills the model's context ({model.config.max_position_embeddings} tokens)")
    with torch.no_grad():
        output = model.generate(**inputs, pad_token_id=tokenizer.pad_token_id, **options)
    texts = tokenizer.batch_decode(output, skip_special_tokens=True)
    if args.json:
        for text in texts:
            print(json.dumps({"generated_text": text}, ensure_ascii=False))
    else:
        print("\n\n".join(texts))


def _sentence_vae_folder(model_dir: str) -> bool:
    """Whether ``model_dir`` holds a sentence VAE (its config.json's model_type)."""
    from pathlib import Path

    config = Path(model_dir) / "config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "sentence_vae"
    except (OSError, ValueError):
        return False


def _load_sentence_vae(model_dir: str, command: str) -> tuple:
    """The sentence VAE of ``model_dir`` and its tokenizer; a one-line ConfigError for any other folder."""
    from transformers import AutoTokenizer

    from nlpkit.models.sentence_vae import SentenceVAEModel

    if not _sentence_vae_folder(model_dir):
        raise ConfigError(f"{model_dir}: not a sentence VAE folder (config.json's model_type), so it cannot {command}")
    return SentenceVAEModel.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)


def _vae_decode_options(args: argparse.Namespace) -> dict:
    """generate() options of the VAE commands: greedy unless --temperature/--top_k/--top_p ask for sampling."""
    options = {"max_new_tokens": args.max_new_tokens or 40}
    sampling = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p}
    sampling = {key: value for key, value in sampling.items() if value is not None}
    options["do_sample"] = bool(sampling) and not args.greedy
    if options["do_sample"]:
        options.update(sampling)
    if args.num_beams:
        options["num_beams"] = args.num_beams
    return options


def _generate_sentence_vae(args: argparse.Namespace) -> None:
    import torch

    model, tokenizer = _load_sentence_vae(args.model_dir, "generate")
    generator = torch.Generator().manual_seed(args.seed if args.seed is not None else 0)
    torch.manual_seed(args.seed if args.seed is not None else 0)  # the decoder's sampling
    with torch.no_grad():
        output = model.generate(latent=model.sample_prior(args.num_samples, generator), **_vae_decode_options(args))
    for text in tokenizer.batch_decode(output, skip_special_tokens=True):
        print(json.dumps({"generated_text": text}, ensure_ascii=False) if args.json else text)


def _interpolate(args: argparse.Namespace) -> None:
    import torch

    model, tokenizer = _load_sentence_vae(args.model_dir, "interpolate")
    if args.steps < 2:
        raise ConfigError(f"--steps must be at least 2 (the two sentences), got {args.steps}")
    batch = tokenizer([args.first, args.second], padding=True, return_tensors="pt")
    with torch.no_grad():
        means, _ = model.encode(batch["input_ids"], batch["attention_mask"])
        output = model.generate(latent=model.interpolate(means[0], means[1], args.steps), **_vae_decode_options(args))
    for text in tokenizer.batch_decode(output, skip_special_tokens=True):
        print(text)


def _export(args: argparse.Namespace) -> None:
    from nlpkit.export import export_model

    print(export_model(args.model_dir, args.output, format=args.format, quantize=args.quantize))


def _export_head(args: argparse.Namespace) -> None:
    from nlpkit.heads import export_head

    print(export_head(args.model_dir, args.task, args.output))


def _push(args: argparse.Namespace) -> None:
    from nlpkit.hub import DEFAULT_COMMIT_MESSAGE, push_output_dir

    commit_message = DEFAULT_COMMIT_MESSAGE if args.commit_message is None else args.commit_message
    url = push_output_dir(
        args.output_dir, args.repo_id, private=True if args.private else None, commit_message=commit_message
    )
    print(url)


def _similar(args: argparse.Namespace) -> None:
    """`nlpkit similar`: every query is checked (its form, then its words) before anything is printed, so that an
    unknown word ends the command with one line, naming the word and the vectors, and exit status 1."""
    from nlpkit.word_vectors import WordVectors, group_queries, parse_query

    if args.topn < 1:
        raise ConfigError(f"--topn must be at least 1, not {args.topn}")
    try:
        queries = group_queries(args.queries)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    vectors = WordVectors.load(args.vectors)  # DataError: nothing there, a folder without vectors.txt, a bad row
    parsed = [parse_query(query) for query in queries]
    for positive, negative in parsed:
        for word in (*positive, *negative):
            if word not in vectors:
                hint = next((form for form in (word.lower(), word.capitalize()) if form in vectors), None)
                also = f" (but {hint!r} is)" if hint and hint != word else ""
                print_line(f"nlpkit similar: error: {word!r} is not in the vectors of {args.vectors}{also}")
                sys.exit(1)
    for number, (query, (positive, negative)) in enumerate(zip(queries, parsed)):
        neighbours = vectors.most_similar(positive, negative, topn=args.topn)
        if args.json:
            for rank, (word, cosine) in enumerate(neighbours, start=1):
                print(json.dumps({"query": query, "rank": rank, "word": word, "cosine": round(cosine, 6)}))
            continue
        width = max((len(word) for word, _ in neighbours), default=0)
        print(("\n" if number else "") + query)
        for word, cosine in neighbours:
            print(f"  {word:<{width}}  {cosine:.4f}")


LAUNCH_HELP = """\
usage: nlpkit launch [accelerate launch options] RECIPE [recipe options]

Run a recipe with `accelerate launch` (same options, same accelerate configs), ending as the recipe ended: a
recipe's error is its one line `error: ...` and exit status 2, with no launcher traceback after it (that traceback
repeats the whole command line, any secret on it included). A crash keeps its own traceback and status.

  nlpkit launch --config_file accelerate_configs/cpu.yaml recipes/bert_sentiment.py --learning_rate 3e-5

`nlpkit launch -h` shows this; `accelerate launch -h` lists the launch options.
"""


def launch(argv: list[str]) -> int:
    """`accelerate launch ARGV` run by accelerate's own launcher in this process; returns the recipe's exit status.

    accelerate ends a failed single-process or DeepSpeed run by raising ``CalledProcessError`` (a traceback whose
    message is the whole command line; with ``--quiet``, exit status 1 instead of the recipe's), and a failed
    multi-process run by raising torch elastic's ``ChildFailedError`` (a traceback and a report, after a log line for
    each rank it stopped). The recipe has already printed its error on the standard error it shares with this
    process, so here the run ends with the status of the (first) failed process and no traceback: 2 for a recipe's
    user error, with nothing added to its line; any other failure gets one line saying which process ended how. A
    process killed by signal N ends with 128 + N.
    """
    if not argv or argv[0] in ("-h", "--help"):
        print(LAUNCH_HELP, end="")
        return 0 if argv else 2
    import logging
    import subprocess

    import torch.distributed.elastic.multiprocessing.api  # noqa: F401  (creates the logger quietened below)
    from accelerate.commands.launch import launch_command, launch_command_parser
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    # torch elastic's report of each stopped or failed rank: the line below says it once.
    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(logging.CRITICAL)
    args = launch_command_parser().parse_args(argv)
    args.quiet = False  # a failed run raises, and is caught here: --quiet would turn every status into 1
    try:
        launch_command(args)
    except subprocess.CalledProcessError as error:
        return _failed("the recipe", error.returncode)
    except ChildFailedError as error:
        rank, failure = error.get_first_failure()
        return _failed(f"rank {rank}", failure.exitcode)
    except KeyboardInterrupt:
        return 130
    return 0


def _failed(process: str, code: int) -> int:
    """The exit status for a process that ended with ``code`` (-N: killed by signal N), saying so unless it is a
    recipe's user error (status 2, whose line the recipe printed)."""
    import signal

    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        print(f"nlpkit launch: {process} was killed by {name}", file=sys.stderr)
        return 128 - code
    if code != 2:
        print(f"nlpkit launch: {process} ended with exit status {code}", file=sys.stderr)
    return code


def spellings(option: str) -> tuple[str, str]:
    """``--max-new-tokens`` and ``--max_new_tokens``: the recipes spell their options with underscores."""
    return f"--{option}", f"--{option.replace('-', '_')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlpkit", description="Use models trained with nlpkit.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser(
        "predict",
        help="Predict with a saved or exported model: labels, entities, translations, generations.",
        description="Predict with a model folder written by a recipe or by `nlpkit export` (text and token "
        "classifiers, translation and causal language models). Texts come as arguments, from --input FILE, or one "
        "per line on standard input; --output writes JSON lines (each input record with its prediction's fields).",
    )
    predict.add_argument("model_dir", help="A folder written by a recipe or `nlpkit export` (or an HF model).")
    predict.add_argument("texts", nargs="*", help="Texts to predict (default: --input, or lines of standard input).")
    predict.add_argument(
        "--input", metavar="FILE", help="A .csv, .tsv, .jsonl/.json (JSON lines) or .txt (one text per line) file."
    )
    predict.add_argument(*spellings("text-column"), default="text", help="The input's text column (default: text).")
    predict.add_argument(*spellings("text-pair-column"), help="The input's second text, for pair classifiers.")
    predict.add_argument("--output", metavar="FILE", help="Write JSON lines there (atomically), with a progress bar.")
    predict.add_argument("--json", action="store_true", help="One JSON object per text on standard output.")
    predict.add_argument(*spellings("batch-size"), type=int, default=32)
    predict.add_argument("--device", default=None, help="e.g. cpu, cuda:0 (default: the pipeline's choice).")
    predict.add_argument("--task", help="A multi-task model's head to predict with (recipes/multitask.py).")
    generation = predict.add_argument_group(
        "generation (translation and language models; unset: the folder's generation_config.json)"
    )
    generation.add_argument(*spellings("max-new-tokens"), type=int)
    generation.add_argument(*spellings("num-beams"), type=int)
    sampling = generation.add_mutually_exclusive_group()
    sampling.add_argument(*spellings("do-sample"), action="store_true", default=None, help="Sample the tokens.")
    sampling.add_argument(
        "--greedy", dest="do_sample", action="store_false", help="Pick the most likely tokens (no sampling)."
    )
    generation.add_argument("--temperature", type=float)
    generation.add_argument(*spellings("top-k"), type=int)
    generation.add_argument(*spellings("top-p"), type=float)
    generation.add_argument("--seed", type=int, help="Seed the sampling, for reproducible output.")
    generation.add_argument(*spellings("src-lang"), help="Source language code of a multilingual translator.")
    generation.add_argument(*spellings("tgt-lang"), help="Target language code of a multilingual translator.")
    predict.set_defaults(handler=_predict)
    generate = commands.add_parser(
        "generate",
        help="Continue a prompt with a saved language model.",
        description="Continue a prompt with generate(); the options not given come from the folder's "
        "generation_config.json.",
    )
    generate.add_argument("model_dir", help="A folder written by recipes/text_generation.py (or any causal LM).")
    generate.add_argument("--prompt", default="\n", help="Text to continue (default: a newline).")
    generate.add_argument(*spellings("max-new-tokens"), type=int)
    generate.add_argument("--temperature", type=float)
    generate.add_argument(*spellings("top-k"), type=int)
    generate.add_argument(*spellings("top-p"), type=float)
    generate.add_argument(*spellings("num-beams"), type=int)
    generate.add_argument(*spellings("num-return-sequences"), type=int)
    generate.add_argument("--greedy", action="store_true", help="Pick the most likely token (no sampling).")
    generate.add_argument("--seed", type=int, help="Seed the sampling, for reproducible output.")
    generate.add_argument("--json", action="store_true", help="One JSON object per sequence.")
    generate.add_argument(*spellings("num-samples"), type=int, default=5, help="Sentence VAE: codes from the prior.")
    generate.set_defaults(handler=_generate)
    interpolate = commands.add_parser(
        "interpolate",
        help="Decode the line between two sentences' codes in a saved sentence VAE.",
        description="Encode two sentences (posterior means), decode --steps codes from one to the other (greedy).",
    )
    interpolate.add_argument("model_dir", help="A folder written by recipes/sentence_vae.py.")
    interpolate.add_argument("first", help="The sentence at one end.")
    interpolate.add_argument("second", help="The sentence at the other end.")
    interpolate.add_argument("--steps", type=int, default=5, help="Decoded codes, both ends included.")
    interpolate.add_argument(*spellings("max-new-tokens"), type=int)
    interpolate.add_argument("--temperature", type=float)
    interpolate.add_argument(*spellings("top-k"), type=int)
    interpolate.add_argument(*spellings("top-p"), type=float)
    interpolate.add_argument(*spellings("num-beams"), type=int)
    interpolate.add_argument("--greedy", action="store_true", help="Pick the most likely token (the default).")
    interpolate.set_defaults(handler=_interpolate)
    push = commands.add_parser(
        "push",
        help="Push a finished output folder to the Hugging Face Hub.",
        description="Push a finished output folder (weights, config and code, tokenizer, results, curves, card) to a "
        "Hub model repo, created if needed, as one commit. The token comes from HF_TOKEN or `hf auth login`.",
    )
    push.add_argument("output_dir", help="A folder written by a recipe (checkpoints and temporary files stay local).")
    push.add_argument("repo_id", help="user/name or org/name (a bare name goes to the token owner's namespace).")
    push.add_argument("--private", action="store_true", help="Create the repo private (an existing repo is unchanged).")
    push.add_argument(*spellings("commit-message"), help="The commit's message (default: nlpkit's upload message).")
    push.set_defaults(handler=_push)
    export = commands.add_parser(
        "export",
        help="Export a saved model for an inference runtime (ONNX Runtime, CTranslate2).",
        description="Export a saved model folder to a folder that an inference runtime serves without PyTorch: "
        "the runtime's files, the tokenizer, a manifest and a card. `nlpkit predict` runs the exported folder.",
    )
    export.add_argument("model_dir", help="A folder written by a recipe (or a transformers model of a served task).")
    export.add_argument("--output", required=True, help="The folder to write (replaced if it holds an export).")
    export.add_argument("--format", help="onnx, or ctranslate2 where the model has it (default: the model's best).")
    export.add_argument("--quantize", action="store_true", help="Dynamic int8 quantization of the weights.")
    export.set_defaults(handler=_export)
    export_head = commands.add_parser(
        "export-head",
        help="Write one head of a multi-task model as a plain single-task model folder.",
        description="Write head --task of a multi-task model folder (recipes/multitask.py) as a single-task model "
        "folder with the tokenizer: the stock transformers classifier of a BERT-family encoder where one computes "
        "the same, else a one-head multi-task model (remote code). `nlpkit predict` serves it without --task.",
    )
    export_head.add_argument("model_dir", help="A folder written by recipes/multitask.py.")
    export_head.add_argument("--task", required=True, help="The head to export.")
    export_head.add_argument("--output", required=True, help="The folder to write (new or empty).")
    export_head.set_defaults(handler=_export_head)
    similar = commands.add_parser(
        "similar",
        help="Nearest neighbours and analogies (king - man + woman) of word vectors.",
        description="Print the nearest words by cosine to each query, with their cosines. A query is a word or an "
        "analogy: `nlpkit similar DIR king - man + woman paris` asks two queries (a lone + or - joins the words "
        'beside it into one query; one quoted argument "king - man + woman" works too). The query words are left '
        "out of the answers (gensim's most_similar). An unknown word ends the command with one line and status 1.",
    )
    similar.add_argument(
        "vectors", metavar="DIR", help="A word-vector folder (holding vectors.txt) or a word2vec/GloVe text file."
    )
    similar.add_argument("queries", metavar="WORD", nargs="+", help="Words, and + / - between analogy words.")
    similar.add_argument("--topn", type=int, default=10, help="How many neighbours per query (default: 10).")
    similar.add_argument(
        "--json", action="store_true", help="One JSON object per neighbour: query, rank, word, cosine."
    )
    similar.set_defaults(handler=_similar)
    commands.add_parser(
        "launch",
        help="Run a recipe with `accelerate launch`; its error ends it with one line and exit status 2.",
        add_help=False,  # `nlpkit launch ...` is handled before this parser (see main): it takes accelerate's options
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["launch"]:
        sys.exit(launch(argv[1:]))
    args = build_parser().parse_args(argv)
    register_models()  # what `import nlpkit` does in a library process: saved nlpkit models load without remote code
    try:
        args.handler(args)
    except USER_ERRORS as error:
        print(f"nlpkit {args.command}: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
