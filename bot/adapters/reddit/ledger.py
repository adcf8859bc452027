"""The exactly-once ledger for Reddit summons, plus opt-outs and subreddit bans.

Synchronous (SQLAlchemy); the adapter calls it from a worker thread. Every row is keyed by
the summoning item's fullname, so a summons seen twice (inbox and stream, or after a
restart) is one row. States: queued -> generating -> ready (output and seed stored) ->
posting -> posted, or failed / skipped; the guards run before the insert, so a row starts
as queued or skipped (`seen` is accepted as unfinished but not written). A row in
`posting` may already have its reply on Reddit: it is reconciled against the bot's own
comments before any new attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from bot.adapters.reddit.rules import Facts, Summon
from bot.store import OptOut, RedditItem, Store, SubredditBan

ACTIVE = ("seen", "queued", "generating", "ready", "posting")
FINAL = ("posted", "failed", "skipped")
COUNTED = ("queued", "generating", "ready", "posting", "posted")
PLATFORM = "reddit"


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
    """Reads and writes the ledger tables through a Store."""

    def __init__(self, store: Store):
        self.store = store

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
               error: str | None = None) -> bool:
        """Add a row; False when the fullname is already there (someone got there first)."""
        item = RedditItem(fullname=summon.fullname, kind=summon.kind,
                          subreddit=summon.subreddit, author=author_key,
                          link_id=summon.link_id, prompt=prompt, state=state, attempts=0,
                          error=error, marked_read=False)
        try:
            with self.store.session() as s:
                s.add(item)
        except IntegrityError:
            return False
        return True

    def update(self, fullname: str, **fields) -> None:
        """Change fields of one row (state, output, error...) in one transaction."""
        with self.store.session() as s:
            item = s.get(RedditItem, fullname)
            for key, value in fields.items():
                setattr(item, key, value)

    def bump_attempts(self, fullname: str) -> int:
        """Count one more attempt; returns the new count."""
        with self.store.session() as s:
            item = s.get_one(RedditItem, fullname)
            item.attempts += 1
            return item.attempts

    def due(self, now: datetime, limit: int = 50) -> list[Row]:
        """Unfinished rows whose next attempt time has come, oldest first."""
        with self.store.session() as s:
            q = (select(RedditItem).where(RedditItem.state.in_(ACTIVE))
                 .where((RedditItem.next_attempt_at.is_(None))
                        | (RedditItem.next_attempt_at <= now))
                 .order_by(RedditItem.created_at).limit(limit))
            return [Row.of(i) for i in s.scalars(q)]

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
