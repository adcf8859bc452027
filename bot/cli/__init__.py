"""The ``spren`` command: ``main`` (the group, ingest, books, stats, chat, run, db),
``model`` (train, eval, generate, model build-demo), ``discord`` (discord sync).
"""

from bot.cli.main import main

__all__ = ["main"]
