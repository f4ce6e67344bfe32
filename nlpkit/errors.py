"""The errors nlpkit raises for a user's mistake (a bad config, bad data, a push that cannot happen).

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


USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, DataError, HubError)

__all__ = ["USER_ERRORS", "ConfigError", "DataError", "HubError"]
