"""The exactly-once ledger for Reddit summons, plus opt-outs and subreddit bans.

Synchronous (SQLAlchemy); the adapter calls it from a worker thread. Every row is keyed by
the summoning item's fullname, so a summons seen twice (inbox and stream, or after a
restart) is one row. A ``continue`` row is a reply under one of the bot's passages asking for
the next one; it is found through the ``reply_fullname`` of the summons that passage answered.
States: queued -> generating -> ready (output and seed stored) ->
posting -> posted, or failed / skipped; the guards run before the insert, so a row starts
as queued or skipped (`seen` is accepted as unfinished but not written). A row in
`posting` may already have its reply on Reddit: it is reconciled against the bot's own
comments before any new attempt.

Several bot processes may share one database (PostgreSQL, or SQLite on one host). A process
answers a row only after *claiming* it: one conditional UPDATE that succeeds only while no
other live process holds the row (``claimed_by`` empty, its ``claimed_until`` past, or held by
this very process). Both databases make that UPDATE atomic (PostgreSQL re-checks the WHERE
clause on the locked row), so exactly one claimant wins. While answering, every write to the
row is fenced the same way: a process that lost its claim (it stalled past the lease) gets
``LostClaim`` at its next write, before it could post. A live process renews its claims;
one that died leaves them to expire, and a process restarted on the same host takes back at
once the claims of processes there that are gone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.adapters.reddit.rules import Facts, Summon
from bot.store import OptOut, RedditItem, Store, SubredditBan

ACTIVE = ("seen", "queued", "generating", "ready", "posting")
FINAL = ("posted", "failed", "skipped")
COUNTED = ("queued", "generating", "ready", "posting", "posted")
PLATFORM = "reddit"
CLAIM_S = 120.0  # a claim's lease; live processes renew it every CLAIM_S / 4


class LostClaim(Exception):
    """Another bot process holds this summons now: stop working on it."""


def process_id() -> str:
    """This process's name in the ``claimed_by`` column: ``host/pid``."""
    return f"{socket.gethostname()[:80]}/{os.getpid()}"


def _count(result: object) -> int:
    """Rows an UPDATE matched (what makes claims and fenced writes conditional)."""
    assert isinstance(result, CursorResult)
    return result.rowcount


def _dead_here(owner: str, me: str) -> bool:
    """True when ``owner`` names a process on this host (as ``me`` does) that has ended."""
    host, _, pid = owner.rpartition("/")
    if host != me.rpartition("/")[0] or not pid.isdigit() or int(pid) <= 0:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


def _aware(dt: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were written as UTC."""
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


@dataclass
class Row:
    """A detached copy of a ledger row."""

    fullname: str
    kind: str
    subreddit: str | None
    author: str
    link_id: str | None
    prompt: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    reply_fullname: str | None
    output: str | None
    seed: int | None
    error: str | None
    marked_read: bool

    @classmethod
    def of(cls, item: RedditItem) -> Row:
        return cls(item.fullname, item.kind, item.subreddit, item.author, item.link_id,
                   item.prompt, item.state, item.attempts, _aware(item.next_attempt_at),
                   item.reply_fullname, item.output, item.seed, item.error, item.marked_read)


class Ledger:
    """Reads and writes the ledger tables through a Store, as the process ``owner``."""

    def __init__(self, store: Store, owner: str | None = None):
        self.store = store
        self.owner = owner or process_id()

    def user_key(self, username: str) -> str:
        """The stored (hashed) id of a Reddit user; names are case-insensitive on Reddit."""
        return self.store.user_key(PLATFORM, username.lower())

    # ---- rows -----------------------------------------------------------------------------
    def get(self, fullname: str) -> Row | None:
        """The row for a fullname, or None."""
        with self.store.session() as s:
            item = s.get(RedditItem, fullname)
            return Row.of(item) if item else None

    def known(self, fullnames: list[str]) -> dict[str, Row]:
        """Rows for those of `fullnames` already in the ledger."""
        if not fullnames:
            return {}
        with self.store.session() as s:
            items = s.scalars(select(RedditItem).where(RedditItem.fullname.in_(fullnames)))
            return {i.fullname: Row.of(i) for i in items}

    def insert(self, summon: Summon, author_key: str, prompt: str, state: str,
               error: str | None = None, **fields) -> bool:
        """Add a row (``fields``: seed, reply_fullname...); False when the fullname is already
        there (someone, perhaps another process, got there first)."""
        item = RedditItem(fullname=summon.fullname, kind=summon.kind,
                          subreddit=summon.subreddit, author=author_key,
                          link_id=summon.link_id, prompt=prompt, state=state, attempts=0,
                          error=error, marked_read=False, **fields)
        try:
            with self.store.session() as s:
                s.add(item)
        except IntegrityError:
            return False
        return True

    def _mine(self, now: datetime | None = None):
        """Rows this process may write: unclaimed, claimed by it, or (given now) expired."""
        free = or_(RedditItem.claimed_by.is_(None), RedditItem.claimed_by == self.owner)
        return free if now is None else or_(free, RedditItem.claimed_until < now)

    def summons_answered_by(self, reply_fullname: str | None) -> str | None:
        """The summons one of the bot's comments answered (its passage's request id)."""
        if not reply_fullname:
            return None
        with self.store.session() as s:
            return s.scalar(select(RedditItem.fullname)
                            .where(RedditItem.reply_fullname == reply_fullname).limit(1))

    def update(self, fullname: str, **fields) -> None:
        """Change fields of one row in one transaction; LostClaim if another process holds
        it (a missing row is an error too)."""
        with self.store.session() as s:
            done = s.execute(update(RedditItem).where(RedditItem.fullname == fullname,
                                                      self._mine()).values(**fields))
            if _count(done) != 1:
                raise LostClaim(fullname)

    # ---- claims across processes -------------------------------------------------------------
    def claim(self, fullname: str, now: datetime, lease_s: float = CLAIM_S) -> Row | None:
        """Take an unfinished, due row for this process; its fresh copy, or None when
        another process holds it or it has moved on."""
        due = or_(RedditItem.next_attempt_at.is_(None), RedditItem.next_attempt_at <= now)
        with self.store.session() as s:
            done = s.execute(
                update(RedditItem)
                .where(RedditItem.fullname == fullname, RedditItem.state.in_(ACTIVE), due,
                       self._mine(now))
                .values(claimed_by=self.owner, claimed_until=now + timedelta(seconds=lease_s)))
            item = s.get(RedditItem, fullname, populate_existing=True)
            return Row.of(item) if _count(done) == 1 and item is not None else None

    def renew(self, fullnames: list[str], now: datetime, lease_s: float = CLAIM_S) -> int:
        """Extend this process's claims on these rows; returns how many it still holds."""
        if not fullnames:
            return 0
        with self.store.session() as s:
            return _count(s.execute(update(RedditItem)
                                    .where(RedditItem.fullname.in_(fullnames),
                                           RedditItem.claimed_by == self.owner)
                                    .values(claimed_until=now + timedelta(seconds=lease_s))))

    def release(self, fullname: str) -> None:
        """Let other processes take the row (it is finished or waits for a later try)."""
        with self.store.session() as s:
            s.execute(update(RedditItem).where(RedditItem.fullname == fullname,
                                               RedditItem.claimed_by == self.owner)
                      .values(claimed_by=None, claimed_until=None))

    def release_dead(self) -> int:
        """Free the claims of processes on this host that are gone (a restart after a crash
        resumes at once instead of waiting for their leases); returns how many."""
        with self.store.session() as s:
            owners = s.scalars(select(RedditItem.claimed_by).distinct()
                               .where(RedditItem.claimed_by.is_not(None))).all()
            dead = [o for o in owners if o and o != self.owner and _dead_here(o, self.owner)]
            if not dead:
                return 0
            return _count(s.execute(update(RedditItem).where(RedditItem.claimed_by.in_(dead))
                                    .values(claimed_by=None, claimed_until=None)))

    def backlog(self) -> int:
        """How many summons are unfinished (waiting, generating or being posted)."""
        with self.store.session() as s:
            return s.scalar(select(func.count()).where(RedditItem.state.in_(ACTIVE))) or 0

    def due(self, now: datetime, limit: int = 50) -> list[Row]:
        """Unfinished rows whose next attempt time has come and that no other live process
        holds, oldest first."""
        with self.store.session() as s:
            q = (select(RedditItem).where(RedditItem.state.in_(ACTIVE), self._mine(now))
                 .where((RedditItem.next_attempt_at.is_(None))
                        | (RedditItem.next_attempt_at <= now))
                 .order_by(RedditItem.created_at).limit(limit))
            return [Row.of(i) for i in s.scalars(q)]

    def mark_read(self, fullnames: list[str]) -> None:
        """Record that these inbox items are marked read on Reddit (whoever holds them)."""
        with self.store.session() as s:
            s.execute(update(RedditItem).where(RedditItem.fullname.in_(fullnames))
                      .values(marked_read=True))

    def pending_read(self, fullnames: list[str]) -> list[str]:
        """Of these inbox fullnames, the finished ones not yet marked read."""
        rows = self.known(fullnames)
        return [f for f, r in rows.items() if r.state in FINAL and not r.marked_read]

    def reconcile(self, parent_to_reply: dict[str, str]) -> list[str]:
        """Mark rows whose reply exists on Reddit as posted; returns the fullnames fixed."""
        fixed = []
        with self.store.session() as s:
            items = s.scalars(select(RedditItem)
                              .where(RedditItem.fullname.in_(list(parent_to_reply))))
            for item in items:
                if item.state != "posted":
                    item.state, item.reply_fullname = "posted", parent_to_reply[item.fullname]
                    item.error = None
                    fixed.append(item.fullname)
        return fixed

    # ---- facts for the guards ----------------------------------------------------------------
    def facts(self, summon: Summon, author_key: str, now: datetime) -> Facts:
        """Opt-out, ban, summon-chain and cap counts for one summons."""
        with self.store.session() as s:
            facts = Facts(opted_out=s.get(OptOut, (PLATFORM, author_key)) is not None)
            facts.banned = self._banned(s, summon.subreddit, now)
            if summon.parent_id:
                facts.parent_is_bot_reply = (s.scalar(
                    select(func.count()).where(RedditItem.reply_fullname == summon.parent_id)
                ) or 0) > 0
            if summon.link_id:
                facts.thread_replies = s.scalar(select(func.count()).where(
                    RedditItem.link_id == summon.link_id, RedditItem.state.in_(COUNTED))) or 0
            facts.user_replies_last_hour = s.scalar(select(func.count()).where(
                RedditItem.author == author_key, RedditItem.state.in_(COUNTED),
                RedditItem.created_at >= now - timedelta(hours=1))) or 0
            return facts

    @staticmethod
    def _banned(s, subreddit: str | None, now: datetime) -> bool:
        if not subreddit:
            return False
        ban = s.get(SubredditBan, subreddit.lower())
        recheck = _aware(ban.recheck_at) if ban is not None else None
        return recheck is not None and recheck > now

    # ---- opt-outs and bans -------------------------------------------------------------------
    def set_opt_out(self, author_key: str, out: bool) -> None:
        """Persist `!optout` (out=True) or `!optin` (out=False) for a user."""
        with self.store.session() as s:
            if out and s.get(OptOut, (PLATFORM, author_key)) is None:
                s.add(OptOut(platform=PLATFORM, user=author_key))
            elif not out:
                s.execute(delete(OptOut).where(OptOut.platform == PLATFORM,
                                               OptOut.user == author_key))

    def is_opted_out(self, author_key: str) -> bool:
        """True when the user asked the bot to leave them alone."""
        with self.store.session() as s:
            return s.get(OptOut, (PLATFORM, author_key)) is not None

    def ban(self, subreddit: str, now: datetime, recheck_hours: float) -> None:
        """Record that a subreddit banned the bot; it is tried again after recheck_hours."""
        with self.store.session() as s:
            ban = s.get(SubredditBan, subreddit.lower())
            if ban is None:
                ban = SubredditBan(subreddit=subreddit.lower())
                s.add(ban)
            ban.banned_at, ban.recheck_at = now, now + timedelta(hours=recheck_hours)
