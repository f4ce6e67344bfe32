"""The `nlpkit` command (`nlpkit predict ...`) and the error handling shared by every recipe's entry point."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from nlpkit.config import ConfigError
from nlpkit.data.loading import DataError

USER_ERRORS = (ConfigError, DataError)


def recipe_main(main: Callable[[], Any]) -> None:
    """Run a recipe's ``main``; a bad config or bad data ends it with a one-line message and exit status 2."""
    try:
        main()
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def _predict(args: argparse.Namespace) -> None:
    from pathlib import Path

    from nlpkit.predict import format_predictions, load_pipeline, predict
    from nlpkit.pretrained import check_model_folder

    check_model_folder(Path(args.model_dir))
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ConfigError("no texts: pass them as arguments or one per line on standard input")
    pipe = load_pipeline(args.model_dir, device=args.device)
    predictions = predict(pipe, texts, batch_size=args.batch_size)
    if args.json:
        for prediction in predictions:
            print(json.dumps(prediction, ensure_ascii=False))
    else:
        print(format_predictions(predictions))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlpkit", description="Use models trained with nlpkit.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="Label texts (or find their entities) with a saved model.")
    predict.add_argument("model_dir", help="A folder written by a recipe (or an HF text or token classifier).")
    predict.add_argument("texts", nargs="*", help="Texts to label (default: one per line on standard input).")
    predict.add_argument("--json", action="store_true", help="One JSON object per text.")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--device", default=None, help="e.g. cpu, cuda:0 (default: the pipeline's choice).")
    predict.set_defaults(handler=_predict)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except USER_ERRORS as error:
        print(f"nlpkit {args.command}: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
