"""The engine side of the generation queue: the job record and the worker thread that runs
batches through a generator (fair order and shares are in ``bot.serving.fair_queue``, ETAs in
``bot.serving.estimates``).

Nothing here touches the event loop: ``bot.serving.service.GenerationService`` owns the loop
side and hands the worker a *source* (itself) to take batches from and report results to.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, cast

from bot.logs import current_request_id
from bot.messages import EventCallback, QueueUpdate
from bot.serving.engine import GenerationEngine
from engine.errors import EngineError
from engine.generation.params import GenParams, GenResult

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """One queued generation. Fields below ``budget`` change as it moves through the queue."""

    user_key: str
    prompt: str
    params: GenParams
    on_event: EventCallback | None
    future: asyncio.Future  # resolved only on the loop thread
    submitted: float
    deadline: float
    budget: int  # params.max_new_tokens: the job's share of work, for ETAs
    state: str = "waiting"  # waiting | running | done
    stop: bool = False  # cancelled, timed out or shutting down: the worker stops its row
    tokens: int = 0  # tokens streamed so far
    text: str = ""  # text streamed so far
    token_pending: bool = False  # a TokenUpdate delivery is already scheduled on the loop
    last_update: QueueUpdate | None = None
    # the request this job serves, for log lines written on the worker thread
    request_id: str | None = field(default_factory=current_request_id)


class BatchSource(Protocol):
    """What a worker needs from the service (``GenerationService`` implements it)."""

    max_batch: int

    def next_batch(self, worker: int) -> list[Job] | None: ...
    def admit(self, worker: int, free: int) -> list[Job]: ...
    def hold(self, worker: int, jobs: list[Job]) -> set[int]: ...
    def end_batch(self, worker: int) -> None: ...
    def on_token(self, job: Job, text: str) -> None: ...
    def record(self, jobs: list[Job], results: list[GenResult], seconds: float,
               joined: int = 0) -> None: ...
    def record_row(self, worker: int, job: Job, result: GenResult) -> None: ...
    def finish(self, job: Job, result: GenResult | None = None,
               error: BaseException | None = None) -> None: ...


@dataclass
class EngineWorker:
    """One thread that takes batches from the source and runs them through its generator."""

    generator: GenerationEngine
    source: BatchSource
    index: int
    clock: Callable[[], float]
    thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> None:
        """Start the thread (a daemon, so a hung model cannot keep the process alive)."""
        self.thread = threading.Thread(
            target=self._loop, name=f"spren-engine-{self.index}", daemon=True
        )
        self.thread.start()

    def alive(self) -> bool:
        """True while the thread runs."""
        return self.thread is not None and self.thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True if it has ended."""
        if self.thread is None:
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _loop(self) -> None:
        while (batch := self.source.next_batch(self.index)) is not None:
            try:
                self._run(batch)
            finally:
                self.source.end_batch(self.index)

    def _run(self, jobs: list[Job], continuous: bool = True) -> None:
        """Generate a batch; waiting jobs may join it, and each row is resolved as it ends."""
        started, first = self.clock(), len(jobs)
        jobs, done = list(jobs), set[int]()  # jobs grows as rows join; index i is row i
        hooks = _Hooks(self, jobs, done)
        joins = continuous and self.generator.supports_joins
        holds = joins and self.generator.supports_holds
        try:
            results = self.generator.generate(
                [j.prompt for j in jobs[:first]],
                [j.params for j in jobs[:first]],
                on_token=lambda i, text: self.source.on_token(jobs[i], text),
                should_stop=lambda i: jobs[i].stop,
                admit=hooks.admit if joins else None,
                on_done=hooks.on_done if joins else None,
                max_rows=self.source.max_batch if joins else None,
                hold=hooks.hold if holds else None,
            )
            if len(results) != len(jobs):
                raise RuntimeError(f"generator returned {len(results)} results for {len(jobs)}")
        except Exception as exc:
            self._fail([j for i, j in enumerate(jobs) if i not in done], exc)
            return
        if not self.generator.independent_rows:  # such engines are measured row by row
            self.source.record(jobs, results, self.clock() - started, joined=len(jobs) - first)
        for i, (job, result) in enumerate(zip(jobs, results, strict=True)):
            if i not in done:
                self.source.finish(job, result=result)

    def _fail(self, jobs: list[Job], exc: Exception) -> None:
        if len(jobs) == 1:
            log.warning("generation failed for one request", exc_info=exc,
                        extra={"request_id": jobs[0].request_id})
            self.source.finish(jobs[0], error=exc)
            return
        # A batch failed: rerun its rows one by one so only the row at fault gets the error.
        for job in _live(jobs):
            job.tokens = 0
            self._run([job], continuous=False)
        for job in jobs:
            if job.stop:
                self.source.finish(job, error=exc)


@dataclass
class _Hooks:
    """The callbacks that let waiting jobs join a worker's running batch, and hold rows."""

    worker: EngineWorker
    jobs: list[Job]  # grows as rows join: index i is row i
    done: set[int]  # rows already resolved through on_done

    def admit(self, free: int) -> list[tuple[Hashable, str, GenParams]]:
        taken = self.worker.source.admit(self.worker.index, free)
        start = len(self.jobs)
        self.jobs.extend(taken)  # the generator gives them the next indices, in this order
        return [(start + k, j.prompt, j.params) for k, j in enumerate(taken)]

    def on_done(self, key: Hashable, result: GenResult | EngineError) -> None:
        i = cast(int, key)  # admit hands out row indices as keys
        self.done.add(i)
        if isinstance(result, EngineError):
            self.worker.source.finish(self.jobs[i], error=result)
            return
        if self.worker.generator.independent_rows:
            self.worker.source.record_row(self.worker.index, self.jobs[i], result)
        self.worker.source.finish(self.jobs[i], result=result)

    def hold(self, keys: list[Hashable]) -> set[Hashable]:
        rows = [self.jobs[cast(int, k)] for k in keys]
        held = self.worker.source.hold(self.worker.index, rows)
        return {keys[k] for k in held}


def _live(jobs: Iterable[Job]) -> list[Job]:
    return [j for j in jobs if not j.stop]
