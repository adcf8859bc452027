"""Exceptions of the bot layer; each surface turns them into one user-facing message."""

from engine.errors import EngineError, GenerationError


class SprenError(Exception):
    """Base class for bot-layer errors with a message fit to show the user."""


class ConfigError(SprenError):
    """The configuration is missing, malformed or names a bad key/value."""


class BadRequest(SprenError):
    """A user's command or its arguments are wrong; the message says how to fix it."""


class QueueFull(SprenError):
    """The generation queue (global or per-user) is at its bound."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class Cancelled(SprenError):
    """A queued generation was cancelled or timed out."""


def user_facing(error: BaseException) -> BaseException:
    """Keep errors that already speak to the user; wrap anything else in a clear message."""
    if isinstance(error, (SprenError, EngineError)):
        return error
    wrapped = GenerationError(
        f"generation failed ({type(error).__name__}: {error}); try again, perhaps with a "
        "shorter prompt or length; if it keeps failing, tell the bot's operator")
    wrapped.__cause__ = error
    return wrapped
