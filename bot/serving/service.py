"""The fair generation queue: the event loop's door to the engine worker thread.

``GenerationService.generate`` queues a request and awaits its result. Worker threads
(``bot.serving.worker.EngineWorker``, one by default) take waiting jobs round-robin across users, up
to ``max_batch`` at a time, as one batched ``Generator.generate`` call that waiting jobs join
between decoding steps. While several users want rows, each gets a fair share of a smaller
batch (``shared_batch``, see ``bot.serving.fair_queue.fair_shares``); a flooder's rows
past its share are held, so a newcomer starts at once in a batch the flood does not slow
down. Callbacks (``QueueUpdate`` while waiting, ``TokenUpdate`` while streaming) run on the
event loop thread via ``loop.call_soon_threadsafe``; the loop never waits on model work.

Workers: one generator gives one worker thread (the default and the tested setup); a list
gives one thread each, each with its own model. On CPU those compete for the same cores, so
batching is the cheaper way to serve many people at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from bot.config import QueueConfig
from bot.errors import Cancelled, QueueFull, user_facing
from bot.messages import Event, EventCallback, QueueUpdate, TokenUpdate
from bot.serving.batch_source import BatchSource
from bot.serving.engine import DescribesServers, GenerationEngine
from bot.serving.estimates import (
    QueueSnapshot,
    ThroughputMeter,
    busy_seconds,
    plan_etas,
    worth_sending,
)
from bot.serving.fair_queue import FairQueue
from bot.serving.worker import EngineWorker, Job
from engine.generation.params import GenParams, GenResult

log = logging.getLogger(__name__)
_DEFAULTS = QueueConfig()  # the [queue] section is the one home of the queue's defaults

SHUTDOWN_MESSAGE = "the bot is shutting down, so your generation was cancelled; try again later"


class GenerationService(BatchSource):
    """Queues generation requests fairly and runs them in batches on worker threads."""

    def __init__(
        self,
        generator: GenerationEngine | Sequence[GenerationEngine],
        *,
        max_batch: int = _DEFAULTS.max_batch,
        shared_batch: int = _DEFAULTS.shared_batch,
        per_user_pending: int = _DEFAULTS.per_user_pending,
        max_pending: int = _DEFAULTS.max_pending,
        timeout_s: float = _DEFAULTS.timeout_s,
        clock: Callable[[], float] = time.monotonic,
        default_tokens_per_s: float = 50.0,
        batch_window_s: float = 0.02,
        tick_s: float = 0.25,
    ):
        gens = list(generator) if isinstance(generator, Sequence) else [generator]
        if gens and shared_batch == 0:  # 0: the engine's own measured choice
            shared_batch = getattr(gens[0], "shared_batch", 4)
        if not gens or min(max_batch, shared_batch, per_user_pending, max_pending, timeout_s) <= 0:
            raise ValueError("need a generator, caps of at least 1 and timeout_s > 0")
        self.max_batch, self.shared_batch = max_batch, min(shared_batch, max_batch)
        self.per_user_pending, self.max_pending, self.timeout_s = \
            per_user_pending, max_pending, timeout_s
        self._clock, self._window, self._tick_s = clock, batch_window_s, tick_s
        self._cond = threading.Condition()  # guards every field below that the worker touches
        self._queue = FairQueue()
        self._meter = ThroughputMeter(default_tokens_per_s)
        self._inflight: dict[int, list[Job]] = {}
        self._keyed: dict[Hashable, Job] = {}  # jobs a caller may stop by key (loop thread)
        self._closing = False
        self._workers = [EngineWorker(g, self, i, clock) for i, g in enumerate(gens)]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    def from_config(cls, generator: GenerationEngine | Sequence[GenerationEngine],
                    q: QueueConfig) -> GenerationService:
        """A service with the caps and batch sizes of a ``[queue]`` config section."""
        return cls(generator, max_batch=q.max_batch, shared_batch=q.shared_batch,
                   per_user_pending=q.per_user_pending, max_pending=q.max_pending,
                   timeout_s=q.timeout_s)

    def health(self) -> str | None:
        """None while the queue runs and every worker thread is alive; else what is wrong."""
        if self._closing:
            return "the generation queue is shut down"
        if self._loop is None:
            return "the generation queue has not started"
        dead = [w.index for w in self._workers if not w.alive()]
        if dead:
            return f"engine worker thread(s) {dead} stopped"
        for worker in self._workers:  # an engine may say more (remote: is a server up?)
            check = getattr(worker.generator, "health", None)
            reason = check() if callable(check) else None
            if reason:
                return str(reason)
        return None

    @property
    def model_id(self) -> str:
        """The id of the model the workers serve (every worker loads the same one)."""
        return self._workers[0].generator.model_id

    def servers(self) -> list[str]:
        """One line per generation server, for engines that run on servers (else none)."""
        return [line for w in self._workers if isinstance(w.generator, DescribesServers)
                for line in w.generator.describe(public=True)]

    # ----- lifecycle (loop thread) -----

    async def start(self) -> None:
        """Start the worker thread(s) and the timeout ticker on the running loop."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        for worker in self._workers:
            worker.start()
        self._ticker = self._loop.create_task(self._tick(), name="spren-queue-ticker")

    async def close(self, join_timeout_s: float = 30.0) -> None:
        """Cancel every waiting and running job with ``Cancelled`` and join the thread(s)."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            jobs = self._queue.drain() + [j for b in self._inflight.values() for j in b]
            for job in jobs:
                job.stop, job.state = True, "done"
            self._cond.notify_all()
        for job in jobs:
            self._settle(job, error=Cancelled(SHUTDOWN_MESSAGE))
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._loop is not None:
            await asyncio.to_thread(self._join, join_timeout_s)

    def _join(self, timeout: float) -> None:
        for worker in self._workers:
            if not worker.join(timeout):
                log.warning("engine worker %d did not stop within %.0f s", worker.index, timeout)

    async def __aenter__(self) -> GenerationService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----- requests (loop thread) -----

    async def generate(
        self, user_key: str, prompt: str, params: GenParams,
        on_event: EventCallback | None = None, *, key: Hashable | None = None,
    ) -> GenResult:
        """Queue one prompt and return its ``GenResult``.

        Raises ``QueueFull`` past a cap, ``Cancelled`` on timeout or shutdown, and the
        generator's ``EngineError`` (or a ``GenerationError`` wrapping any other failure) if
        generation fails. Cancelling the awaiting task withdraws the job or stops its row.
        With a ``key``, ``stop(key)`` ends the job early and it returns what it has written.
        """
        params.validate()
        await self.start()
        job = self._submit(user_key, prompt, params, on_event)
        if key is not None:
            self._keyed[key] = job
        self._publish()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._withdraw(job)
            raise
        finally:
            if key is not None and self._keyed.get(key) is job:
                del self._keyed[key]

    def stop(self, key: Hashable) -> bool:
        """End the job queued with ``key`` and free its slot: a running one returns its text
        so far (finish_reason "cancelled"), a waiting one no text. False if none is live."""
        job = self._keyed.get(key)
        if job is None or job.future.done() or job.stop:
            return False
        if self._withdraw(job):  # it never started
            self._settle(job, GenResult(job.prompt, "", job.params.seed or 0, 0, "cancelled",
                                        self.model_id, None, 0.0))
        return True

    def _submit(self, user_key: str, prompt: str, params: GenParams,
                on_event: EventCallback | None) -> Job:
        now = self._clock()
        with self._cond:
            self._check_caps(user_key)
            job = Job(user_key, prompt, params, on_event, self._running_loop().create_future(), now,
                      now + self.timeout_s, params.max_new_tokens)
            self._queue.push(job)
            self._cond.notify_all()
        return job

    def _check_caps(self, user_key: str) -> None:
        if self._closing:
            raise Cancelled(SHUTDOWN_MESSAGE)
        mine = self._queue.count(user_key) + len(self._running(user_key))
        if mine >= self.per_user_pending:
            wait = _retry(min(self._user_etas(user_key), default=1.0))
            raise QueueFull(f"you already have {mine} generation(s) waiting or running (the "
                            f"limit is {self.per_user_pending}); try again in ~{wait} s", wait)
        if len(self._queue) >= self.max_pending:
            wait = _retry(min(self._busy_seconds(), default=1.0))
            raise QueueFull(f"the generator is busy ({len(self._queue)} requests waiting); "
                            f"try again in ~{wait} s", wait)

    def _withdraw(self, job: Job) -> bool:
        """Take a job out of the queue, or stop its row; True if it was still waiting."""
        with self._cond:
            waiting = job.state == "waiting"
            if waiting:
                self._queue.remove(job)
                job.state = "done"
            job.stop = True
        self._publish()
        return waiting

    def snapshot(self, user_key: str | None = None) -> QueueSnapshot:
        """Queue length, rows in flight, measured tokens/s, and this user's positions/ETAs."""
        with self._cond:
            order = self._queue.ordered()
            etas = self._etas(order)
            mine = tuple((i + 1, round(eta, 2)) for i, (job, eta) in
                         enumerate(zip(order, etas, strict=True)) if job.user_key == user_key)
            return QueueSnapshot(
                queue_length=len(order),
                in_flight=sum(j.state == "running" for b in self._inflight.values() for j in b),
                tokens_per_s=self._meter.tokens_per_s, measured=self._meter.measured,
                workers=len(self._workers), max_batch=self.max_batch, positions=mine,
                running=len(self._running(user_key)) if user_key is not None else 0,
            )

    # ----- estimates (callers hold the lock) -----

    def _running(self, user_key: str) -> list[Job]:
        # A row's result can reach its user before the worker ends the batch: skip done rows.
        return [j for b in self._inflight.values() for j in b
                if j.user_key == user_key and j.state == "running" and not j.stop]

    def _busy_seconds(self) -> list[float]:
        """Per worker, the expected seconds left on its current batch (0 when idle)."""
        return busy_seconds([self._inflight.get(w.index, []) for w in self._workers],
                            self._meter)

    def _etas(self, order: list[Job]) -> list[float]:
        """Seconds until each waiting job in ``order`` should be done (see ``plan_etas``)."""
        return plan_etas(order, self._busy_seconds(), self.max_batch, self._meter,
                         self.shared_batch)

    def _user_etas(self, user_key: str) -> list[float]:
        order = self._queue.ordered()
        etas = self._etas(order)
        waiting = [eta for job, eta in zip(order, etas, strict=True) if job.user_key == user_key]
        running = [s for w, s in zip(self._workers, self._busy_seconds(), strict=True)
                   if any(j.user_key == user_key and j.state == "running"
                          for j in self._inflight.get(w.index, ()))]
        return waiting + running

    # ----- events (loop thread) -----

    def _publish(self) -> None:
        """Send a QueueUpdate to each waiting job whose position or ETA moved."""
        with self._cond:
            order = self._queue.ordered()
            etas = self._etas(order)
            due = []
            for pos, (job, eta) in enumerate(zip(order, etas, strict=True), start=1):
                update = QueueUpdate(pos, round(eta, 2))
                if job.on_event is not None and worth_sending(job.last_update, update):
                    job.last_update = update
                    due.append((job, update))
        for job, update in due:
            self._emit(job, update)

    def _deliver_tokens(self, job: Job) -> None:
        with self._cond:
            job.token_pending = False
            text = job.text
        if not job.future.done():
            self._emit(job, TokenUpdate(text))

    def _emit(self, job: Job, event: Event) -> None:
        if job.on_event is None:
            return
        try:
            result = job.on_event(event)
        except Exception:  # a broken callback must not break the queue for everyone
            log.exception("on_event callback failed for %s", type(event).__name__)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _settle(self, job: Job, result: GenResult | None = None,
                error: BaseException | None = None) -> None:
        if job.future.done():
            return
        if error is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(user_facing(error))
        self._publish()

    async def _tick(self) -> None:
        """Expire jobs past their deadline (by the injected clock) and refresh ETAs."""
        while True:
            await asyncio.sleep(self._tick_s)
            self._expire()
            self._publish()

    def _expire(self) -> None:
        now = self._clock()
        with self._cond:
            late = [j for j in self._queue.ordered() if j.deadline <= now]
            late += [j for b in self._inflight.values() for j in b
                     if j.deadline <= now and not j.stop]
            for job in late:
                if job.state == "waiting":
                    self._queue.remove(job)
                    job.state = "done"
                job.stop = True
        for job in late:
            self._settle(job, error=Cancelled(
                f"your generation timed out after {self.timeout_s:.0f} s because the bot is "
                "busy; try again later, perhaps with a shorter length"))

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("GenerationService used before start()")
        return self._loop

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._running_loop().call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop has closed: nobody is left to tell
            log.debug("event loop closed; dropped %s", getattr(fn, "__name__", fn))


def _retry(seconds: float) -> int:
    return max(1, math.ceil(seconds))
