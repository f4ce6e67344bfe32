"""The errors nlpkit raises for a user's mistake (a bad config, bad data, a push that cannot happen, a full disk).

They live here, apart from the modules that raise them, so that the ``nlpkit`` command can catch them without
importing torch or transformers; ``nlpkit.config``, ``nlpkit.data.loading`` and ``nlpkit.hub`` re-export them.
The recipes and the ``nlpkit`` command turn them into one line ``error: ...`` and exit status 2.
"""


class ConfigError(ValueError):
    """A configuration problem found before any work starts; the message names the key and where it came from."""


class DataError(ValueError):
    """Bad input data, found before training starts; the message names the file (and row) at fault."""


class HubError(RuntimeError):
    """A push that cannot happen or did not complete; the message is one line that says what to do."""


class OutputError(RuntimeError):
    """An output file that cannot be written (a full disk, a used-up quota); the message names the file."""


class RunFinished(Exception):
    """Not an error: ``output_dir`` already holds this run, finished, so there is nothing to do. The message says so;
    a recipe prints it and exits with status 0."""


USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, DataError, HubError, OutputError)

__all__ = ["USER_ERRORS", "ConfigError", "DataError", "HubError", "OutputError", "RunFinished"]
