"""The interaction log's own writer thread: rows are written in batches, never behind handlers.

Under a burst the log write used to wait in the default thread pool behind every other
request's handler, so each reply waited for all of them. Here one dedicated thread takes
whatever rows are waiting and commits them in one transaction (group commit), so a burst of
2,000 rows costs a few transactions, and the event loop only waits for its own batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from typing import Any

from sqlalchemy import insert

from bot.store.database import Store, fit_interaction
from bot.store.interactions import Interaction

log = logging.getLogger(__name__)

MAX_BATCH = 500  # rows per transaction; a bigger backlog is written in several
_STOP = object()


class _Pending:
    """One row and where to report that it was written."""

    __slots__ = ("row", "loop", "future")

    def __init__(self, row: dict[str, Any], loop: asyncio.AbstractEventLoop,
                 future: asyncio.Future[None]):
        self.row, self.loop, self.future = row, loop, future


class InteractionWriter:
    """Writes interaction rows from its own thread, batching whatever is waiting."""

    def __init__(self, store: Store):
        self.store = store
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def write(self, **fields: Any) -> None:
        """Queue one row and wait until it is committed (or its failure is logged).

        The row is queued before the first await, so a request cancelled while waiting
        still gets its row.
        """
        if self._closed:  # after close (shutdown): write directly, still off the loop
            await asyncio.to_thread(self.store.log_interaction, **fields)
            return
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Pending(fit_interaction(fields), loop, future))
        await future

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="interaction-log",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)  # finish this batch, then stop
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:  # Core, not the ORM: a tenth of the Python work per row
            with self.store.engine.begin() as conn:
                for rows in _same_columns(batch):
                    conn.execute(insert(Interaction), rows)
        except Exception:  # one bad row must not lose the others: write them one by one
            log.warning("interaction log: a batch of %d failed; writing rows singly",
                        len(batch))
            for p in batch:
                self._commit_one(p)
        _resolve(batch)

    def _commit_one(self, p: _Pending) -> None:
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(Interaction), [p.row])
        except Exception as exc:  # logging must never take a user's answer down with it
            log.error("could not log an interaction (%s: %s)", type(exc).__name__, exc)

    async def close(self) -> None:
        """Write every queued row, then stop the thread."""
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(thread.join)


def _resolve(batch: list[_Pending]) -> None:
    """Wake every waiter of a batch with one call per event loop (not one per row)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for p in batch:
        by_loop.setdefault(p.loop, []).append(p.future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_set_all, futures)


def _set_all(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def _same_columns(batch: list[_Pending]) -> list[list[dict[str, Any]]]:
    """The batch's rows in order, in runs that name the same columns: one multi-row insert
    takes its columns from its first row, and the adapters' own rows (refusals, failed
    deliveries) name fewer than the Dispatcher's."""
    runs: list[list[dict[str, Any]]] = []
    for p in batch:
        if runs and runs[-1][0].keys() == p.row.keys():
            runs[-1].append(p.row)
        else:
            runs.append([p.row])
    return runs
