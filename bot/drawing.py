"""Charts drawn in a helper process, so matplotlib never holds the event loop's GIL.

Drawing a chart is ~100 ms of mostly Python work. Done in a thread of the bot's process it
competes with the event loop for the interpreter lock, and under a burst of new charts even
the instant answers (cache hits, "busy" refusals) slowed down. One spawned process (shared
by every app in this process, started on first use) draws instead; if it dies, drawing
falls back to the calling thread and the next chart starts a new process.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from engine.stats import charts

log = logging.getLogger(__name__)

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


def _may_spawn() -> bool:
    """A daemonic process (a bot run by multiprocessing, as some tests do) may not have
    children: it draws in its own process instead."""
    return not multiprocessing.current_process().daemon


def _ready() -> bool:
    """Run in the helper process: matplotlib is imported (by this module's import) and ready."""
    return True


def start() -> None:
    """Start the helper process now (at app start) rather than on the first chart: spawning
    it and importing matplotlib takes over a second here, which a user would wait for."""
    if not _may_spawn():
        return
    try:
        _executor().submit(_ready).result()
    except BrokenProcessPool:
        log.warning("the chart process did not start; it will be retried on the first chart")
        _drop_pool()


def draw(fn: Callable[..., bytes], *args: Any, in_process: bool = True, **kwargs: Any) -> bytes:
    """``fn(*args, **kwargs)`` (a function of ``engine.stats.charts``), in the helper process."""
    if not in_process or not _may_spawn():
        return fn(*args, **kwargs)
    try:
        return _executor().submit(fn, *args, **kwargs).result()
    except BrokenProcessPool:
        log.warning("the chart process died; drawing in this process and starting a new one")
        _drop_pool()
        return fn(*args, **kwargs)


def arc_chart(*args: Any, in_process: bool = True, **kwargs: Any) -> bytes:
    """``charts.arc_chart`` drawn in the helper process."""
    return draw(charts.arc_chart, *args, in_process=in_process, **kwargs)


def counts_chart(*args: Any, in_process: bool = True, **kwargs: Any) -> bytes:
    """``charts.counts_chart`` drawn in the helper process."""
    return draw(charts.counts_chart, *args, in_process=in_process, **kwargs)
