"""The Reddit adapter: summons in comments and the inbox -> exactly one reply each.

praw is synchronous, so every praw call runs on one dedicated worker thread and the event
loop never waits on the network; ledger writes run in `asyncio.to_thread`. The ledger row
of a summons is written before each step that touches Reddit, so a crash at any point
resumes instead of repeating: a row left in `posting` is checked against the bot's own
comments before it is posted again, and inbox items are marked read only once finished.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import praw.exceptions
import prawcore

from bot import logs, metrics
from bot.adapters.reddit import client as rc_api
from bot.adapters.reddit.claims import Claims
from bot.adapters.reddit.client import (
    Failure,
    RedditCredentials,
    classify,
    credentials_from_env,
)
from bot.adapters.reddit.commands import RedditCommands, find_command, is_command, is_forget
from bot.adapters.reddit.failures import REDDIT_ERRORS, Failures, _now, backoff
from bot.adapters.reddit.ledger import FINAL, Ledger, LostClaim, Row
from bot.adapters.reddit.passages import continue_reason, passage_request, reply_text
from bot.adapters.reddit.rules import Summon, author_reason, live_reason, skip_reason
from bot.adapters.reddit.text import (
    OPT_IN,
    OPT_OUT,
    clean_prompt,
    find_trigger,
    footer,
    format_reply,
    has_command,
    join_passage,
    keyword_pattern,
    mention_pattern,
)
from bot.errors import ConfigError
from bot.safety.privacy import FORGOTTEN

log = logging.getLogger(__name__)

__all__ = ["RedditAdapter", "RedditCredentials", "backoff", "credentials_from_env",
           "join_passage"]


class RedditAdapter(Failures):
    """Polls the inbox and the watched subreddits; answers each summons exactly once."""

    name = "reddit"

    def __init__(self, app: Any, creds: RedditCredentials):
        self.app, self.cfg, self.rc = app, app.cfg, app.cfg.reddit
        self.creds = creds
        self.ledger = Ledger(app.store)
        self.claims = Claims(self.ledger)
        self.keyword = self.rc.keyword or "!" + self.cfg.bot.generate_command
        self.me = ""
        self._reddit: praw.Reddit | None = None
        self._net = ThreadPoolExecutor(1, thread_name_prefix="reddit-net")
        self._mention: re.Pattern[str] | None = None
        self._keyword = keyword_pattern(self.keyword)
        self._continue = (keyword_pattern(self.rc.continue_keyword)
                          if self.rc.continue_keyword else None)
        self._replied: dict[str, str] = {}  # summons fullname -> the bot's reply
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._failures = 0  # consecutive failed polls
        self._post_after = 0.0  # a RATELIMIT holds every post until then (time.time)
        self._slots = asyncio.Semaphore(max(1, self.cfg.queue.max_batch))
        self.commands = RedditCommands(app, self._call)

    # ---- plumbing ----------------------------------------------------------------------
    async def _call(self, fn, *args):
        """Run a reddit_client function on the praw thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._net, partial(fn, self._reddit, *args))

    async def _db(self, fn, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

    # ---- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, reconcile with the bot's own comments, then poll until cancelled."""
        keep_alive = asyncio.create_task(self.claims.keep_alive(), name="reddit-claims")
        self._tasks.add(keep_alive)
        try:
            await self._start()
            while True:
                await self._tick()
                await asyncio.sleep(backoff(self._failures + 1, self.rc.poll_interval_s)
                                    if self._failures else self.rc.poll_interval_s)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._net.shutdown(wait=False, cancel_futures=True)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._reddit = await loop.run_in_executor(
            self._net, rc_api.connect, self.creds, self.rc)
        self.me = await self._retrying(rc_api.whoami)
        self._mention = mention_pattern(self.me)
        fixed = await self._reconcile()
        await self.claims.recover()
        log.info("reddit: signed in as u/%s; watching %s for %s; %d replies reconciled",
                 self.me, ", ".join(self.rc.subreddits) or "no subreddits", self.keyword,
                 len(fixed))

    async def _retrying(self, fn, *args):
        """Call until it works; auth failures stop the adapter with a clear message."""
        while True:
            try:
                return await self._call(fn, *args)
            except (prawcore.OAuthException, prawcore.InvalidToken) as exc:
                raise ConfigError(f"Reddit refused the credentials ({exc}): check the "
                                  "[reddit] *_env variables and the script app") from exc
            except REDDIT_ERRORS as exc:
                self._failures += 1
                log.warning("reddit: %s failed (%s); retrying", fn.__name__, exc)
                await asyncio.sleep(backoff(self._failures, self.rc.poll_interval_s))

    async def _reconcile(self) -> list[str]:
        """Record replies the bot made but never wrote down (a crash after posting)."""
        self._replied.update(await self._retrying(rc_api.own_replies, self.me))
        return await self._db(self.ledger.reconcile, dict(self._replied))

    def health(self) -> str | None:
        """None while signed in and polling works; else why not."""
        if not self.me:
            return "signing in to Reddit"
        return f"the last {self._failures} Reddit polls failed" if self._failures >= 3 else None

    # ---- polling ---------------------------------------------------------------------------
    async def _tick(self) -> None:
        try:
            inbox = await self._call(rc_api.unread)
            stream = await self._call(rc_api.subreddit_comments, self.rc.subreddits)
        except REDDIT_ERRORS as exc:
            self._failures += 1
            metrics.error("reddit", exc)
            log.warning("reddit: polling failed (%s); next try in %.1f s", exc,
                        backoff(self._failures + 1, self.rc.poll_interval_s))
            return
        self._failures = 0
        await self._ingest_all(inbox, stream)
        await self._spawn_due()
        metrics.reddit_backlog(await self._db(self.ledger.backlog))

    async def _ingest_all(self, inbox: list[Summon], stream: list[Summon]) -> None:
        stream = [s for s in stream if find_trigger(s.body, self._keyword) is not None]
        known = await self._db(self.ledger.known, [s.fullname for s in inbox + stream])
        to_read = [s.fullname for s in inbox if s.fullname in known
                   and known[s.fullname].state in FINAL and not known[s.fullname].marked_read]
        for s in inbox + stream:
            if s.fullname not in known:
                known[s.fullname] = None  # the same comment can arrive by both routes
                with logs.request_context(s.fullname):
                    if await self._ingest(s):
                        to_read.append(s.fullname)
        await self._mark_read(to_read)

    async def _ingest(self, s: Summon) -> bool:
        """Record a new item as queued or skipped; True when it is finished at once."""
        key = self.ledger.user_key(s.author) if s.author else "[deleted]"
        if s.from_inbox and s.author and (has_command(s.body, OPT_OUT)
                                          or has_command(s.body, OPT_IN)):
            out = has_command(s.body, OPT_OUT)
            await self._db(self.ledger.set_opt_out, key, out)
            log.info("reddit: a user opted %s", "out" if out else "in")
            return await self._record(s, key, "", "skipped", "opt-out" if out else "opt-in")
        if s.kind == "reply" and self._continue is not None \
                and (more := find_trigger(s.body, self._continue)) is not None:
            return await self._ingest_continue(dataclasses.replace(s, kind="continue"), key,
                                               more)
        raw = self._trigger(s)
        command = find_command(s, raw)
        if command is not None and author_reason(s, self.me) is None:
            return await self._ingest_command(s, key, command)
        if raw is None:
            return s.from_inbox and await self._record(s, key, "", "skipped", "no summons")
        prompt = clean_prompt(raw, self.cfg.bot.max_prompt_chars, self.cfg.bot.default_prompt)
        if s.fullname in self._replied:
            await self._db(self.ledger.insert, s, key, prompt, "posted",
                           reply_fullname=self._replied[s.fullname])
            return True
        reason = "private message" if s.kind == "message" else None
        if reason is None:
            facts = await self._db(self.ledger.facts, s, key, _now())
            reason = skip_reason(s, self.me, self.rc, facts)
        if reason:
            log.info("reddit: skipped %s (%s)", s.fullname, reason)
            metrics.filter_action("reddit", reason)
            return await self._record(s, key, prompt, "skipped", reason)
        await self._record(s, key, prompt, "queued", None)
        return False

    async def _ingest_continue(self, s: Summon, key: str, raw: str) -> bool:
        """A reply under one of the bot's passages asking for the next one."""
        text = clean_prompt(raw, self.cfg.bot.max_prompt_chars, "")
        reason = await self._db(continue_reason, self.ledger, s, key, self.me, self.rc, _now())
        if reason:
            log.info("reddit: skipped %s (%s)", s.fullname, reason)
        return await self._record(s, key, text, "skipped" if reason else "queued", reason)

    async def _ingest_command(self, s: Summon, key: str, line: str) -> bool:
        """Answer a command now; the answer waits in the ledger (ready) to be posted once."""
        output = await self.commands.run(s, line)
        await self._db(self.ledger.insert, s, FORGOTTEN if is_forget(line) else key, line,
                       "ready")
        await self._db(self.ledger.update, s.fullname, output=output)
        return False

    def _trigger(self, s: Summon) -> str | None:
        """The text after the bot's name or keyword, if the item summons the bot."""
        if s.kind == "keyword":
            return find_trigger(s.body, self._keyword)
        hit = find_trigger(s.body, self._mention) if self._mention is not None else None
        return hit if hit is not None else find_trigger(s.body, self._keyword)

    async def _record(self, s: Summon, key: str, prompt: str, state: str,
                      error: str | None) -> bool:
        seed = random.randrange(1, 2**31) if state == "queued" else None
        await self._db(self.ledger.insert, s, key, prompt, state, error, seed=seed)
        return state in FINAL

    async def _spawn_due(self) -> None:
        for row in await self._db(self.ledger.due, _now()):
            if row.fullname in self._inflight or (row := await self.claims.take(row)) is None:
                continue  # being answered here, or by another bot process
            self._inflight.add(row.fullname)
            task = asyncio.create_task(self._process(row), name=f"reddit-{row.fullname}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _mark_read(self, fullnames: list[str]) -> None:
        """Mark finished inbox items read; on failure the next poll tries again."""
        if not fullnames:
            return
        try:
            await self._call(rc_api.mark_read, fullnames)
        except REDDIT_ERRORS as exc:
            log.warning("reddit: marking %d items read failed (%s)", len(fullnames), exc)
            return
        await self._db(self.ledger.mark_read, fullnames)

    # ---- one summons --------------------------------------------------------------------------
    async def _process(self, row: Row) -> None:
        logs.bind_request(row.fullname)  # this task works on this summons only
        async with self._slots:
            try:
                await self._attempt(row)
            except LostClaim:
                log.warning("reddit: %s is now answered by another process; left to it",
                            row.fullname)
            finally:
                self._inflight.discard(row.fullname)
                await asyncio.shield(self.claims.release(row.fullname))

    async def _attempt(self, row: Row) -> None:
        try:
            await self._advance(row)
        except (asyncio.CancelledError, LostClaim):
            raise
        except REDDIT_ERRORS as exc:
            await self._transient(row, classify(exc))
        except Exception as exc:  # the Reddit loop's one handler: record, retry later
            log.exception("reddit: summons %s failed unexpectedly", row.fullname)
            metrics.error("reddit", exc)
            await self._transient(row, Failure("transient", type(exc).__name__, str(exc)))

    async def _advance(self, row: Row) -> None:
        if row.kind == "message":
            return await self._post_message(row)
        if row.state == "posting" and await self._already_replied(row):
            return None
        live = await self._call(rc_api.live_summon, row.fullname, row.link_id, row.kind)
        if live is None or live_reason(live) == "target deleted":
            return await self._finish(row, "skipped", "target deleted")
        if await self._db(self.ledger.is_opted_out, row.author):
            return await self._finish(row, "skipped", "opted out")
        ready: Row | None = row
        if row.state in ("seen", "queued", "generating"):
            ready = await self._generate(row, live)
        if ready is not None:
            await self._post(ready, live)

    async def _generate(self, row: Row, live: Summon) -> Row | None:
        """Generate through the Dispatcher; store text and seed before any post."""
        await self._db(self.ledger.update, row.fullname, state="generating")
        parent = await self._db(self.ledger.summons_answered_by, live.parent_id) \
            if row.kind == "continue" else None
        if row.kind == "continue" and parent is None:
            await self._finish(row, "skipped", "not under a passage")
            return None
        reply = await self.app.dispatcher.handle(
            passage_request(row, live, self.cfg.bot.generate_command, parent))
        now = await self._db(self.ledger.get, row.fullname)
        if now is not None and now.author == FORGOTTEN:  # forget-me came meanwhile
            return None
        if reply.outcome == "ok":
            passage = reply_text(row, reply)
            await self._db(self.ledger.update, row.fullname, state="ready", output=passage,
                           seed=reply.meta.get("seed", row.seed), error=None)
            return await self._db(self.ledger.get, row.fullname)
        if reply.retry_after is not None:  # the queue is full: come back later
            await self._reschedule(row, reply.retry_after, "queued", f"busy: {reply.text}",
                                   reason="busy")
        else:
            await self._finish(row, "failed", f"generation {reply.outcome}: {reply.text[:300]}")
        return None

    async def _post(self, row: Row, live: Summon) -> None:
        wait = self._post_after - time.time()
        if wait > 0:
            return await self._reschedule(row, wait, "ready", "waiting for Reddit's rate limit",
                                          reason="ratelimit")
        if live.locked:
            return await self._fail_locked(row, live)
        text = row.output or "…" if is_command(row.prompt) else format_reply(
            row.output or "", spoiler=self._spoiler(row.subreddit),
            footer_text=footer(self.cfg.bot.source_url), max_chars=self.rc.max_reply_chars)
        await self._db(self.ledger.update, row.fullname, state="posting",
                       attempts=row.attempts + 1)
        try:
            reply_name = await self._call(rc_api.post_reply, row.fullname, text)
        except REDDIT_ERRORS as exc:
            return await self._post_failed(row, live, classify(exc))
        self._replied[row.fullname] = reply_name
        await self._db(self.ledger.update, row.fullname, state="posted",
                       reply_fullname=reply_name, error=None, next_attempt_at=None)
        log.info("reddit: replied to %s with %s", row.fullname, reply_name)
        if row.kind != "keyword":
            await self._mark_read([row.fullname])

    async def _post_message(self, row: Row) -> None:
        """Answer a private message (a command) in its conversation, at most once."""
        if row.state == "posting":  # it may have gone out before a restart: never twice
            return await self._finish(row, "failed", "reply state unknown after a restart")
        await self._db(self.ledger.update, row.fullname, state="posting",
                       attempts=row.attempts + 1)
        try:
            name = await self._call(rc_api.reply_to_message, row.fullname, row.output or "…")
        except REDDIT_ERRORS as exc:
            return await self._finish(row, "failed", f"message reply: {classify(exc).code}")
        await self._db(self.ledger.update, row.fullname, state="posted", reply_fullname=name,
                       error=None, next_attempt_at=None)
        await self._mark_read([row.fullname])

    def _spoiler(self, subreddit: str | None) -> bool:
        subs = {s.lower().removeprefix("r/") for s in self.rc.spoiler_subreddits}
        return (subreddit or "").lower() in subs

    async def _already_replied(self, row: Row) -> bool:
        """A post may have reached Reddit before a crash or error: look before posting."""
        self._replied.update(await self._call(rc_api.own_replies, self.me))
        if row.fullname not in self._replied:
            return False
        await self._db(self.ledger.reconcile, {row.fullname: self._replied[row.fullname]})
        log.info("reddit: %s was already answered; recorded it", row.fullname)
        if row.kind != "keyword":
            await self._mark_read([row.fullname])
        return True

    async def _finish(self, row: Row, state: str, error: str | None) -> None:
        await self._db(self.ledger.update, row.fullname, state=state, error=error,
                       next_attempt_at=None)
        log.info("reddit: %s %s (%s)", row.fullname, state, error)
        if row.kind != "keyword":
            await self._mark_read([row.fullname])
