"""One exception hierarchy; `cli` maps each class to an exit code."""


class StakeallocError(Exception):
    """Base of every error the tool reports as a message (never a traceback). `key`: the parameter the
    message starts with, where a caller (the CLI) knows it under another name (a flag)."""

    exit_code = 1

    def __init__(self, message: str = "", *, key: str | None = None):
        super().__init__(message)
        self.key = key


class ConfigError(StakeallocError):
    """Bad input: the fleet file, a CSV given on the command line, an unknown model."""

    exit_code = 2


class DataError(StakeallocError):
    """Scores are missing, malformed or insufficient for the window."""

    exit_code = 3


class ApiError(StakeallocError):
    """The Numerai API failed or answered with something we cannot use."""

    exit_code = 3


class UnknownModelError(ConfigError, ApiError):
    """The API says no model has this name: bad input (exit 2), found through the API."""

    exit_code = 2


class ClusterError(StakeallocError):
    """The Dask scheduler of a sweep could not be reached or failed (exit 3, like a data or API failure)."""

    exit_code = 3


class OptimizationError(StakeallocError):
    """No weights or no slot plan could be produced."""

    exit_code = 4
