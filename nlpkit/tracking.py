"""Experiment trackers (``report_to``): checked before anything loads, and named after the output folder.

transformers' own callbacks do the logging (``TensorBoardCallback``, ``TrackioCallback``, ``WandbCallback``...); this
module only gets a run ready for them, in :func:`prepare_trackers` (called by :func:`nlpkit.training.start_run`):

- every tracker ``report_to`` names must be one transformers knows and must be installed, else a one-line
  ConfigError names the key and the install command (``pip install 'nlpkit[tensorboard]'``), instead of an error
  from the Trainer once the data and the model have loaded; ``all`` takes the installed ones, ``none`` none;
- the tracker's run is named after the output folder (``run_name``, unless set), and so is trackio's project
  (``project``, unless set: transformers' default is ``huggingface`` for every run);
- tensorboard writes its event files inside the output folder (``output_dir/runs/``: transformers' default, unless
  ``TENSORBOARD_LOGGING_DIR`` moves them), so the folder pushed to the Hub carries them and the Hub's metrics tab
  shows the curves. Trackio logs to its local database (``TRACKIO_DIR``, else ``$HF_HOME/trackio``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from transformers.integrations import integration_utils

from nlpkit.errors import ConfigError

# The trackers nlpkit installs through an extra of its own (`pip install 'nlpkit[NAME]'`).
NLPKIT_EXTRAS = ("tensorboard", "trackio")
# report_to name -> the package to install, for the trackers whose package has another name.
_PACKAGES = {"azure_ml": "azureml-core", "comet_ml": "comet-ml", "flyte": "flytekit", "neptune": "neptune"}
# report_to name -> transformers' check, where it is not named `is_<name>_available`.
_CHECKS = {"azure_ml": "is_azureml_available", "comet_ml": "is_comet_available", "flyte": "is_flytekit_available"}


def known_trackers() -> list[str]:
    """The names ``report_to`` takes (transformers' integrations)."""
    return list(integration_utils.INTEGRATION_TO_CALLBACK)


def tracker_available(name: str) -> bool:
    """Whether the tracker ``name`` is installed, as transformers checks it (a tracker without a check: assumed)."""
    check: Callable[[], bool] | None = getattr(integration_utils, _CHECKS.get(name, f"is_{name}_available"), None)
    return True if check is None else bool(check())


def install_command(name: str) -> str:
    if name in NLPKIT_EXTRAS:
        return f"pip install 'nlpkit[{name}]'"
    return f"pip install {_PACKAGES.get(name, name)}"


def check_trackers(report_to: Any) -> list[str]:
    """The trackers ``report_to`` names (a name, a list, ``none``/``all``), each known to transformers and installed;
    a one-line ConfigError naming ``report_to`` otherwise."""
    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    names = [str(getattr(name, "value", name)).strip() for name in names]
    if names in (["none"], []):
        return []
    if names == ["all"]:
        return [name for name in known_trackers() if tracker_available(name)]
    for name in names:
        if name not in known_trackers():
            close = difflib.get_close_matches(name, [*known_trackers(), "none", "all"], n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(
                f"report_to: unknown tracker '{name}' ({hint}one of none, all, {', '.join(known_trackers())})"
            )
        if not tracker_available(name):
            raise ConfigError(f"report_to: {name} is not installed: {install_command(name)}")
    return names


def prepare_trackers(training_args: Any, explicit: Mapping[str, Any]) -> list[str]:
    """Check ``report_to`` (see :func:`check_trackers`) and name the trackers' run (and trackio's project) after the
    output folder where the user named neither (``explicit``: the keys set). Returns the trackers."""
    trackers = check_trackers(training_args.report_to)
    if not trackers:
        return trackers
    folder_name = Path(os.path.abspath(training_args.output_dir)).name
    if not training_args.run_name:
        training_args.run_name = folder_name
    if "trackio" in trackers and explicit.get("project") is None:
        training_args.project = folder_name
    return trackers


__all__ = ["NLPKIT_EXTRAS", "check_trackers", "install_command", "known_trackers", "prepare_trackers"]
