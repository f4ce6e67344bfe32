"""nlpkit: train, fine-tune and share NLP models on the Hugging Face stack."""

import os
import sys

from nlpkit.models import register_models

__version__ = "0.1.0"


def _is_nlpkit_command() -> bool:
    """Whether this process is the ``nlpkit`` console command (pyproject: ``nlpkit = "nlpkit.cli:main"``).

    Its wrapper script imports ``nlpkit.cli`` while ``sys.argv[0]`` still names the script (``nlpkit``, or
    ``nlpkit.exe`` / ``nlpkit-script.py`` on Windows).
    """
    argv = getattr(sys, "argv", None) or [""]
    name = os.path.splitext(os.path.basename(argv[0]))[0]
    return name.removesuffix("-script") == "nlpkit"


# Registering the models with the Auto classes imports torch and transformers' PreTrainedModel (seconds), and it is
# what lets a library user load nlpkit's models without trust_remote_code after `import nlpkit`. The `nlpkit` command
# skips it here, so that `nlpkit --help` answers at once: `nlpkit.cli.main` calls register_models() itself before it
# runs a subcommand. (A hook on the import of transformers was rejected: registering imports transformers' modeling
# code, which re-enters transformers.models.auto while it is still being initialised.)
if not _is_nlpkit_command():
    register_models()
