"""What the Reddit adapter does when a step fails: wait out rate limits, retry with
backoff, give up after ``MAX_ATTEMPTS``, mark bans, and send a locked thread's passage by
private message. A mixin of ``RedditAdapter``, which supplies the plumbing named below.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import praw.exceptions
import prawcore

from bot import metrics
from bot.adapters.reddit import client as rc_api
from bot.adapters.reddit.client import Failure, classify
from bot.adapters.reddit.ledger import Ledger, Row
from bot.adapters.reddit.rules import Summon
from bot.adapters.reddit.text import defuse_mentions
from bot.config import RedditConfig

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6  # transient failures of one summons before it is given up
BACKOFF_CAP_S = 600.0
REDDIT_ERRORS = (praw.exceptions.PRAWException, prawcore.PrawcoreException)
LOCKED_PM = ("The thread you summoned me in is locked, so I could not reply there. "
             "Here is your passage:\n\n")


def backoff(n: int, base: float) -> float:
    """Seconds to wait after n consecutive failures: doubling from base, capped."""
    return min(BACKOFF_CAP_S, max(base, 0.05) * 2 ** max(n - 1, 0))


def _now() -> datetime:
    return datetime.now(UTC)


class Failures:
    """Failure handling for ``RedditAdapter`` (which sets these attributes and methods)."""

    ledger: Ledger
    rc: RedditConfig
    _post_after: float  # a RATELIMIT holds every post until then (time.time)

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def _call(self, fn: Any, *args: Any) -> Any:
        raise NotImplementedError

    async def _finish(self, row: Row, state: str, error: str | None) -> None:
        raise NotImplementedError

    # ---- failures -------------------------------------------------------------------------------
    async def _post_failed(self, row: Row, live: Summon, f: Failure) -> None:
        log.warning("reddit: reply to %s failed: %s %s", row.fullname, f.code, f.message)
        if f.kind == "ratelimit":  # nothing was created: wait as told, uncounted
            wait = f.retry_after if f.retry_after is not None else self.rc.poll_interval_s
            self._post_after = time.time() + wait
            await self._db(self.ledger.update, row.fullname, attempts=row.attempts)
            return await self._reschedule(row, wait, "ready", f"{f.code}: {f.message}",
                                          reason="ratelimit")
        if f.code == "THREAD_LOCKED":
            return await self._fail_locked(row, live)
        if f.kind == "banned" and row.subreddit:
            await self._db(self.ledger.ban, row.subreddit, _now(), self.rc.ban_recheck_hours)
            return await self._finish(row, "failed", f"banned from r/{row.subreddit}")
        if f.kind == "permanent":
            return await self._finish(row, "failed", f"{f.code}: {f.message}")
        await self._transient(row, f, counted=True)

    async def _transient(self, row: Row, f: Failure, counted: bool = False) -> None:
        """Retry later with growing backoff, keeping the state on disk (posting stays posting)."""
        cur = await self._db(self.ledger.get, row.fullname) or row
        attempts = cur.attempts if counted else cur.attempts + 1
        if not counted:
            await self._db(self.ledger.update, row.fullname, attempts=attempts)
        if attempts >= MAX_ATTEMPTS:
            return await self._finish(row, "failed", f"gave up after {attempts} tries: "
                                                     f"{f.code} {f.message}"[:500])
        await self._reschedule(row, backoff(attempts, self.rc.poll_interval_s), cur.state,
                               f"{f.code}: {f.message}"[:500])

    async def _reschedule(self, row: Row, delay: float, state: str, error: str,
                          reason: str = "transient") -> None:
        metrics.reddit_retry(reason)
        await self._db(self.ledger.update, row.fullname, state=state, error=error,
                       next_attempt_at=_now() + timedelta(seconds=delay))

    async def _fail_locked(self, row: Row, live: Summon) -> None:
        """A locked thread: record the failure, then send the passage privately (once)."""
        await self._finish(row, "failed", "THREAD_LOCKED (private message pending)")
        if not row.output or not live.author:
            return
        try:
            await self._call(rc_api.send_message, live.author, "Your passage",
                             LOCKED_PM + defuse_mentions(row.output))
        except REDDIT_ERRORS as exc:
            log.warning("reddit: private message for %s failed (%s)", row.fullname, exc)
            note = f"THREAD_LOCKED (private message failed: {classify(exc).code})"
        else:
            note = "THREAD_LOCKED (sent by private message)"
        await self._db(self.ledger.update, row.fullname, error=note)

