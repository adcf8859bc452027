"""How long the wait is: a throughput meter, ETA planning and the queue snapshot for /queue.
Pure code with no threads: ``bot.serving.service.GenerationService`` calls it under its lock.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from bot.messages import QueueUpdate
from bot.serving.fair_queue import fair_shares, per_user
from bot.serving.worker import Job
from engine.generation.params import GenResult


class ThroughputMeter:
    """EWMA of measured generation speed, seeded with a default until the first batch ends.

    Speed is kept as decoding *steps* per second per batch size (a batch of n rows advances
    every row one token per step). For a size not yet measured, the nearest measured size is
    scaled by sqrt(m/n): on CPU, step rate falls roughly with the square root of the batch
    size between 1 and 8 rows (shared/MEASUREMENTS.md). ``fill`` learns how much of its
    token budget a batch really uses (rows stop early at a sentence end).
    """

    def __init__(self, default_tokens_per_s: float = 50.0, alpha: float = 0.3):
        if default_tokens_per_s <= 0 or not 0 < alpha <= 1:
            raise ValueError("default_tokens_per_s must be > 0 and alpha in (0, 1]")
        self._default = default_tokens_per_s
        self._alpha = alpha
        self._rates: dict[int, float] = {}
        self._tokens_per_s: float | None = None
        self.fill = 1.0

    @property
    def measured(self) -> bool:
        """Whether any batch has been measured yet."""
        return self._tokens_per_s is not None

    @property
    def tokens_per_s(self) -> float:
        """Aggregate tokens per second over recent batches (the default until measured)."""
        return self._tokens_per_s if self._tokens_per_s is not None else self._default

    def record(self, rows: int, steps: int, tokens: int, budget: int, seconds: float) -> None:
        """Fold one finished batch into the averages."""
        if rows < 1 or steps < 1 or seconds <= 0:
            return
        self._rates[rows] = self._ewma(self._rates.get(rows), steps / seconds)
        self._tokens_per_s = self._ewma(self._tokens_per_s, tokens / seconds)
        self.fill = self._ewma(self.fill, min(1.0, steps / max(budget, 1)))

    def record_batch(self, jobs: list[Job], results: list[GenResult], seconds: float,
                     joined: int, max_batch: int) -> None:
        """Fold a finished call's speed in. Rows that ``joined`` mid-call did not all run side
        by side: count at most ``max_batch`` rows sharing the tokens evenly."""
        counts = [r.new_tokens for r in results]
        rows, steps, budget = len(jobs), max(counts, default=0), max(j.budget for j in jobs)
        if joined:
            rows = min(rows, max_batch)
            steps = math.ceil(sum(counts) / rows)
            budget = math.ceil(sum(j.budget for j in jobs) / rows)
        self.record(rows, steps, sum(counts), budget, seconds)

    def record_row(self, rows: int, result: GenResult, budget: int) -> None:
        """Fold in one finished row of an engine whose rows are separate requests: a row of n
        tokens that ran beside ``rows - 1`` others counts as ``rows`` rows stepping n times
        (so ETAs follow the servers' measured speed although their calls never end)."""
        if result.finish_reason in ("eos", "length", "sentence"):
            self.record(rows, result.new_tokens, result.new_tokens * rows, budget,
                        result.seconds)

    def _ewma(self, old: float | None, new: float) -> float:
        return new if old is None else old + self._alpha * (new - old)

    def step_rate(self, rows: int) -> float:
        """Expected decoding steps per second for a batch of ``rows``."""
        if not self._rates:
            return self._default / math.sqrt(rows)
        near = min(self._rates, key=lambda m: (abs(m - rows), m))
        return self._rates[near] * math.sqrt(near / rows)

    def batch_seconds(self, rows: int, budget: int, done: int = 0) -> float:
        """Expected seconds left for a batch of ``rows`` whose longest budget is ``budget``."""
        left = max(budget * self.fill - done, min(1, budget - done), 0)
        return left / self.step_rate(rows)


def plan_etas(
    waiting: list[Job], busy_s: list[float], max_batch: int, meter: ThroughputMeter,
    shared_batch: int | None = None,
) -> list[float]:
    """Seconds until each waiting job (in queue order) should be done.

    ``busy_s`` holds, per worker, the seconds left on its current batch (0 when idle). The
    waiting jobs leave in queue order in batches sized by ``fair_shares`` over the users
    still waiting, each batch to the worker that frees up first.
    """
    shared = max_batch if shared_batch is None else shared_batch
    free = list(busy_s) or [0.0]
    heapq.heapify(free)
    etas = [0.0] * len(waiting)
    left = list(range(len(waiting)))
    while left:
        shares = fair_shares(per_user(waiting[i] for i in left), max_batch, shared)
        chunk = []
        for i in left:
            user = waiting[i].user_key
            if shares[user] > 0:
                shares[user] -= 1
                chunk.append(i)
        begin = heapq.heappop(free)
        end = begin + meter.batch_seconds(len(chunk), max(waiting[i].budget for i in chunk))
        heapq.heappush(free, end)
        for i in chunk:
            etas[i] = end
        taken = set(chunk)
        left = [i for i in left if i not in taken]
    return etas


def busy_seconds(batches: list[list[Job]], meter: ThroughputMeter) -> list[float]:
    """Per worker's batch, the expected seconds left on it (0 when idle)."""
    busy = []
    for jobs in batches:
        batch = [j for j in jobs if j.state == "running"]
        if not batch:
            busy.append(0.0)
            continue
        done = max(j.tokens for j in batch)
        busy.append(meter.batch_seconds(len(batch), max(j.budget for j in batch), done))
    return busy


def worth_sending(old: QueueUpdate | None, new: QueueUpdate) -> bool:
    """Whether an update is worth sending: a new position, or an ETA off by > 2 s and 25 %."""
    if old is None or old.position != new.position:
        return True
    return abs(old.eta_s - new.eta_s) > max(2.0, 0.25 * old.eta_s)


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue at one moment, for ``/queue``."""

    queue_length: int  # jobs waiting (not yet generating)
    in_flight: int  # rows being generated now
    tokens_per_s: float  # measured aggregate speed (the seeded default until measured)
    measured: bool  # False while tokens_per_s is still the default
    workers: int
    max_batch: int
    positions: tuple[tuple[int, float], ...] = ()  # this user's waiting jobs: (position, eta_s)
    running: int = 0  # this user's jobs being generated now

    def text(self) -> str:
        """A short human summary."""
        speed = f"{self.tokens_per_s:.0f} tokens/s" + ("" if self.measured else " (estimate)")
        lines = [f"{self.queue_length} waiting, {self.in_flight} generating, {speed}"]
        lines += [f"yours: #{p} in queue (~{math.ceil(eta)} s)" for p, eta in self.positions]
        if self.running:
            lines.append(f"yours: {self.running} generating now")
        return "\n".join(lines)
