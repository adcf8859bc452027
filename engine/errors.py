"""Exceptions raised by the engine. Every message says what was wrong and what to do."""


class EngineError(Exception):
    """Base class for engine failures that a user or operator can act on."""


class CorpusError(EngineError):
    """A book file could not be read or yielded no usable text."""


class ModelError(EngineError):
    """A model directory is missing, incomplete or unusable."""


class GenerationError(EngineError):
    """Generation failed or was given bad options."""


class BackendUnavailable(GenerationError):
    """No generation server could take or finish a request (the remote backend)."""
