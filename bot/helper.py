"""The helper process: CPU-heavy stats work (counting, arcs, charts) off the bot's GIL.

Counting a new term over every book, computing a range's arc and drawing its chart are
~100 ms of mostly Python work. Done in a thread of the bot's process they compete with the
event loop for the interpreter lock, and under a burst of new requests even the instant
answers (cache hits, "busy" refusals) slowed down. One spawned process (shared by every app
in this process, started with the app) does that work instead, while the cheap lane's
threads only wait for it. If it dies, the work falls back to the calling thread and the next
call starts a new process; a daemonic process (a bot run by multiprocessing, as some tests
do) may not have children and always works in its own process.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # spawn, not fork: this process runs threads (event loop, torch, the lane)
            _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return _pool


def _drop_pool() -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


atexit.register(_drop_pool)


def may_spawn() -> bool:
    """False in a daemonic process, which may not have children: it works in its own."""
    return not multiprocessing.current_process().daemon


def _ready() -> bool:
    """Run in the helper process: its imports (matplotlib, the stats code) are done."""
    from bot import stats_work  # noqa: F401
    from engine.stats import charts  # noqa: F401  (matplotlib, which only the helper needs)

    return True


def start() -> None:
    """Start the helper process now (at app start) rather than on the first request:
    spawning it and importing matplotlib takes over a second here, which a user would wait
    for."""
    if not may_spawn():
        return
    try:
        _executor().submit(_ready).result()
    except BrokenProcessPool:
        log.warning("the helper process did not start; it will be retried on the next call")
        _drop_pool()


def call(fn: Callable[..., T], *args: Any, in_helper: bool = True, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in the helper process (``fn`` a module-level function), or in
    the calling thread when ``in_helper`` is False, this process may not spawn, or the
    helper died (the next call starts a new one). Exceptions ``fn`` raises come back here."""
    if not in_helper or not may_spawn():
        return fn(*args, **kwargs)
    try:
        return _executor().submit(fn, *args, **kwargs).result()
    except BrokenProcessPool:
        log.warning("the helper process died; working in this process and starting a new one")
        _drop_pool()
        return fn(*args, **kwargs)


def pid() -> int:
    """The helper process's id (for tests and diagnostics; this process's own when it works
    in process)."""
    return call(os.getpid)
