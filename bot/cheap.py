"""How cheap commands (help, books, about, queue, stats) are answered, also under a burst.

In order: the user's rate limit; an answer already in memory (given on the event loop at
once); a request identical to one being worked on waits for that one (a crowd asking for
the same chart draws it once); anything else runs on the cheap lane, which refuses at once
when it could not answer soon. The library check that keeps cached answers current runs in
the background, so a burst of cache hits never touches the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Hashable
from typing import Any

from bot.config import LimitsConfig
from bot.errors import QueueFull
from bot.limits import CheapLane, RateLimiter
from bot.messages import Reply, Request
from bot.safety.audience import Audience
from bot.stats_service import StatsService

log = logging.getLogger(__name__)

Handler = Callable[[Request], Reply]
# Answers that do not depend on who asks (beyond what ``view_key`` says): identical requests
# in flight share one answer.
SHARED = frozenset({"sentiment", "wordcount", "books", "about"})


class CheapPath:
    """Rate limit, memory, coalescing and the bounded lane for the cheap commands."""

    def __init__(self, limits: LimitsConfig, stats: StatsService,
                 audience: Audience | None = None):
        self.stats = stats
        self.audience = audience  # what the dispatcher knows of readers from memory
        self.lane = CheapLane(limits.cheap_workers, limits.cheap_queue, limits.cheap_max_wait_s)
        self.rate = RateLimiter(limits.user_per_minute, limits.user_burst)
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Reply]] = {}
        self._refresh: asyncio.Future[None] | None = None

    async def answer(self, req: Request, user_key: str, command: str, handler: Handler,
                     quick: Callable[[], Reply | None] | None = None, *,
                     view_key: Hashable = None, private: bool = False) -> Reply:
        """The reply to one cheap command (QueueFull when rate-limited or too busy).

        ``quick`` answers from memory (or None); ``view_key`` says what of the reader's
        view the answer depends on: only requests with equal ones share an answer in
        flight; ``private`` answers are never shared."""
        wait = self.rate.take(user_key)
        if wait is not None:
            raise QueueFull(f"you are sending commands faster than I answer them; try again "
                            f"in {max(1, round(wait))} s.", retry_after=wait)
        self._keep_library_fresh()
        reply = quick() if quick is not None else None
        if reply is not None:
            return reply
        if private or command not in SHARED:
            return await self.lane.run(handler, req)
        key = (command, _args_key(req.args), view_key)
        shared = self._inflight.get(key)
        if shared is None:
            shared = asyncio.ensure_future(self.lane.run(handler, req))
            self._inflight[key] = shared
            shared.add_done_callback(lambda f: self._done(key, f))
        return _copy(await asyncio.shield(shared))

    def _done(self, key: tuple[Any, ...], future: asyncio.Future[Reply]) -> None:
        self._inflight.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved: every waiter may have gone (cancelled)

    def _keep_library_fresh(self) -> None:
        """Start a background library check when the last one is over a second old."""
        stale = self.stats.stale() or (self.audience is not None and self.audience.stale())
        if stale and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.ensure_future(self.lane.run(self._check, admit=False))
            self._refresh.add_done_callback(_retrieve)

    def _check(self) -> None:
        """Look whether books were (re-)ingested, and readers' settings changed."""
        self.stats.refresh()
        if self.audience is not None:
            self.audience.refresh()

    def close(self) -> None:
        """Stop the lane's threads."""
        self.lane.close()


def _args_key(args: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, str(v)[:200]) for k, v in args.items()))


def _copy(reply: Reply) -> Reply:
    return dataclasses.replace(reply, parts=list(reply.parts), files=list(reply.files),
                               meta=dict(reply.meta))


def _retrieve(future: asyncio.Future[Any]) -> None:
    exc = None if future.cancelled() else future.exception()
    if exc is not None:  # the next request tries again
        log.warning("library check failed (%s: %s)", type(exc).__name__, exc)
