"""Bounds on what users can make the bot do: input size, per-user rate, the cheap-command lane.

- ``bound_text``: user text is cut to ``[limits] max_input_chars`` before any parsing runs.
- ``RateLimiter``: a token bucket per user for cheap commands (help, books, stats).
- ``CheapLane``: cheap commands run on their own small thread pool, never the default one,
  and a request that would wait longer than ``cheap_max_wait_s`` is refused at once ("busy,
  try again in N s") instead of making everyone behind it wait.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bot.errors import QueueFull

T = TypeVar("T")

MAX_TRACKED_USERS = 100_000  # rate-limit buckets kept; the least recently seen go first


def bound_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (O(limit)), so later parsing is bounded."""
    return text if len(text) <= limit else text[:limit]


class RateLimiter:
    """Per-user token buckets: ``burst`` requests at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_users: int = MAX_TRACKED_USERS):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_users = max_users
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """False when ``per_minute`` is 0: no limit."""
        return self.rate > 0

    def take(self, user: str) -> float | None:
        """Spend one token: None when allowed, else seconds until the next token."""
        if not self.enabled:
            return None
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(user, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[user] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self.max_users:
                self._buckets.popitem(last=False)
        return None if allowed else (1.0 - tokens) / self.rate


class CheapLane:
    """A small dedicated thread pool for cheap commands with a bounded wait.

    Admission looks at the work already waiting: when the expected wait (waiting jobs times
    the recent job time, over the worker count) passes ``max_wait_s``, or ``max_queue`` jobs
    wait, the request is refused at once with ``QueueFull`` and a retry time.
    """

    def __init__(self, workers: int, max_queue: int, max_wait_s: float):
        self.workers = max(1, workers)
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s
        self._pool: ThreadPoolExecutor | None = None
        self._waiting = 0  # admitted jobs not yet finished (event-loop thread only)
        self._job_s = 0.005  # EWMA of one job's duration, seconds (updated by workers)
        self._lock = threading.Lock()

    def expected_wait(self) -> float:
        """Seconds a job admitted now would wait before a worker takes it."""
        return max(0, self._waiting - self.workers + 1) * self._job_s / self.workers

    async def run(self, fn: Callable[..., T], *args: Any, admit: bool = True) -> T:
        """Run ``fn(*args)`` on the lane; QueueFull when the lane is too busy to answer soon.

        ``admit=False`` skips the admission check (the lane's own housekeeping).
        """
        wait = self.expected_wait()
        if admit and (self._waiting >= self.max_queue or wait > self.max_wait_s):
            retry = max(1.0, round(wait + 0.5))
            raise QueueFull(f"I'm busy answering a lot of requests right now; try again in "
                            f"{retry:.0f} s.", retry_after=retry)
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor(), self._timed, fn, args)
        finally:
            self._waiting -= 1

    def _timed(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            took = time.perf_counter() - started
            with self._lock:
                self._job_s += 0.2 * (took - self._job_s)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="cheap")
        return self._pool

    def close(self) -> None:
        """Stop the threads once running jobs finish; queued ones are dropped."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class ByteLRU:
    """A least-recently-used map bounded by the total size of its values (and entry count)."""

    def __init__(self, max_bytes: int, max_entries: int = 100_000):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.bytes = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Any) -> Any:
        """The value for ``key`` (now the most recently used), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Any, value: Any, size: int) -> None:
        """Store ``value`` of ``size`` bytes, evicting the least recently used past the bounds."""
        if size > self.max_bytes:
            return  # would evict everything and still not fit
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, (_, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._items.clear()
            self.bytes = 0
