"""The worker threads' side of the generation service (``EngineWorker``'s batch source).

Called on worker threads, under the service's condition variable: taking batches and joins
round-robin within fair shares, holding rows past a share, streaming tokens, recording
speed, and handing results back to the event loop. ``GenerationService`` is the one class
that mixes it in; the state it reads is the service's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.serving.estimates import ThroughputMeter
from bot.serving.fair_queue import FairQueue, fair_shares, over_share, per_user
from bot.serving.worker import Job
from engine.generation.params import GenResult


class BatchSource:
    """Worker-thread methods of ``GenerationService`` (see the module docstring)."""

    # the service's state and loop-side methods, used here
    max_batch: int
    shared_batch: int
    _cond: threading.Condition
    _closing: bool
    _queue: FairQueue
    _inflight: dict[int, list[Job]]
    _window: float
    _meter: ThroughputMeter
    _publish: Callable[[], None]
    _deliver_tokens: Callable[[Job], None]
    _settle: Callable[..., None]
    _to_loop: Callable[..., None]

    def next_batch(self, worker: int) -> list[Job] | None:
        """Block until jobs wait, then take up to ``max_batch`` of them; None on close."""
        with self._cond:
            batch: list[Job] = []
            while not batch:
                while not self._closing and not len(self._queue):
                    self._cond.wait()
                if self._closing:
                    return None
                self._gather()
                batch = self._take(worker, self.max_batch)
            for job in batch:
                job.state = "running"
            self._inflight[worker] = batch
        self._to_loop(self._publish)
        return batch

    def admit(self, worker: int, free: int) -> list[Job]:
        """Move up to ``free`` waiting jobs (round-robin) into the worker's running batch."""
        with self._cond:
            if self._closing or not len(self._queue):
                return []
            taken = self._take(worker, free)
            for job in taken:
                job.state = "running"
            self._inflight.setdefault(worker, []).extend(taken)
        self._to_loop(self._publish)
        return taken

    def _take(self, worker: int, free: int) -> list[Job]:
        """Up to ``free`` waiting jobs, round-robin, no user past its fair share."""
        running = per_user(j for j in self._inflight.get(worker, ()) if j.state == "running")
        shares = self._shares(running)
        room = {user: shares.get(user, 0) - running.get(user, 0) for user in shares}
        return self._queue.take_capped(free, room)

    def _shares(self, running: dict[str, int]) -> dict[str, int]:
        """Each user's fair share of a batch with these rows running (see ``fair_shares``)."""
        demand = dict(running)
        for user, waiting in self._queue.counts().items():
            demand[user] = demand.get(user, 0) + waiting
        return fair_shares(demand, self.max_batch, self.shared_batch)

    def hold(self, worker: int, jobs: list[Job]) -> set[int]:
        """Which of a batch's unfinished rows sit out the next step: each user's rows past its
        fair share. ``jobs`` come in the engine's order (decoding, joining, then held), so
        held rows stay out, never swapping places, until the share allows them back."""
        with self._cond:
            shares = self._shares(per_user(jobs))
        return over_share(jobs, shares)

    def _gather(self) -> None:
        """Wait briefly for more requests, so ones sent together share one batch."""
        until = time.monotonic() + self._window
        while len(self._queue) < self.max_batch and not self._closing:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def end_batch(self, worker: int) -> None:
        """Forget the worker's batch (every row has been finished)."""
        with self._cond:
            self._inflight.pop(worker, None)
        self._to_loop(self._publish)

    def on_token(self, job: Job, text: str) -> None:
        """Record a streamed token; schedule one TokenUpdate delivery if none is pending."""
        with self._cond:
            job.tokens += 1
            job.text = text
            if job.token_pending or job.on_event is None:
                return
            job.token_pending = True
        self._to_loop(self._deliver_tokens, job)

    def record(self, jobs: list[Job], results: list[GenResult], seconds: float,
               joined: int = 0) -> None:
        """Fold a finished batch's speed into the meter (see ``ThroughputMeter.record_batch``)."""
        with self._cond:
            self._meter.record_batch(jobs, results, seconds, joined, self.max_batch)

    def record_row(self, worker: int, job: Job, result: GenResult) -> None:
        """Fold one finished row's speed into the meter, for engines whose rows are separate
        requests (see ``ThroughputMeter.record_row``)."""
        with self._cond:
            beside = sum(j.state == "running" for j in self._inflight.get(worker, ()))
            self._meter.record_row(max(1, beside), result, job.budget)

    def finish(self, job: Job, result: GenResult | None = None,
               error: BaseException | None = None) -> None:
        """Hand a row's result or error to its awaiting task."""
        with self._cond:
            job.state = "done"
        self._to_loop(self._settle, job, result, error)
