"""Exceptions of the bot layer; each surface turns them into one user-facing message."""


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
