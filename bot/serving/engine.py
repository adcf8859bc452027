"""The seam between the queue and whatever generates: what the serving layer needs from an
engine. ``engine.generation.Generator`` (in-process) is one; a remote backend is another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from engine.generation.params import (
    Admit,
    GenParams,
    GenResult,
    Hold,
    OnDone,
    OnToken,
    ShouldStop,
)


@runtime_checkable
class GenerationEngine(Protocol):
    """Generates batches of passages on the calling (worker) thread.

    ``supports_joins``: ``generate`` honours ``admit``/``on_done``/``max_rows``, so waiting
    jobs join a running call (continuous batching) and each row is resolved as it ends.
    ``supports_holds``: it also honours ``hold``, letting the fair scheduler sit rows out.
    The worker passes those keywords only to an engine that says it supports them.
    ``independent_rows``: each row is its own request (a remote server batches them), so a
    call lasts as long as rows keep joining; the worker measures speed per finished row
    instead of per call, and the engine may report a row's ``EngineError`` via ``on_done``.
    """

    model_id: str
    supports_joins: bool
    supports_holds: bool
    independent_rows: bool

    def generate(self, prompts: Sequence[str], params: Sequence[GenParams],
                 on_token: OnToken | None = None, should_stop: ShouldStop | None = None, *,
                 admit: Admit | None = None, on_done: OnDone | None = None,
                 max_rows: int | None = None, hold: Hold | None = None) -> list[GenResult]:
        """One result per prompt (then per admitted row), in row order."""
        ...


@runtime_checkable
class DescribesServers(Protocol):
    """An engine that generates on servers and can say how each one is doing (``/about``)."""

    def describe(self, public: bool = False) -> list[str]:
        """One line per server: up or down, load, measured speed (``public``: servers are
        numbered, their addresses and error details are left out)."""
        ...
