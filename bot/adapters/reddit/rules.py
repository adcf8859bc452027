"""Who and where the Reddit bot may answer: pure decisions over a summons and ledger facts."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import RedditConfig

INBOX_KINDS = ("mention", "reply", "message")
GONE_BODIES = ("[deleted]", "[removed]")


@dataclass
class Summon:
    """A comment or message that may call the bot, as plain data (no lazy praw objects)."""

    fullname: str
    kind: str  # mention | keyword | reply | message | continue (a reply asking for more)
    body: str
    author: str | None  # None when the account is deleted
    subreddit: str | None = None  # lower case
    link_id: str | None = None
    parent_id: str | None = None
    created_utc: float = 0.0
    parent_is_me: bool = False  # a reply to one of the bot's own comments
    locked: bool = False
    removed: bool = False

    @property
    def from_inbox(self) -> bool:
        return self.kind in INBOX_KINDS


@dataclass
class Facts:
    """What the ledger knows that bears on a summons."""

    opted_out: bool = False
    banned: bool = False
    parent_is_bot_reply: bool = False
    thread_replies: int = 0
    user_replies_last_hour: int = 0


def _lower(names: list[str]) -> set[str]:
    return {n.lower().removeprefix("u/").removeprefix("r/") for n in names}


def place_reason(s: Summon, rc: RedditConfig) -> str | None:
    """Why this subreddit is off limits (deny list; keyword only in listed subs), or None."""
    sub = (s.subreddit or "").lower()
    if sub and sub in _lower(rc.deny_subreddits):
        return "subreddit denied"
    if s.kind == "keyword" and sub not in _lower(rc.subreddits):
        return "subreddit not listed"
    return None


def author_reason(s: Summon, me: str) -> str | None:
    """Why this author must not be answered by name alone (the bot itself, deleted)."""
    if s.author is None:
        return "author deleted"
    if s.author.lower() == me.lower():
        return "own comment"
    return None


def skip_reason(s: Summon, me: str, rc: RedditConfig, facts: Facts) -> str | None:
    """The first guard that refuses this summons, or None when the bot may answer it."""
    reason = author_reason(s, me) or place_reason(s, rc)
    if reason:
        return reason
    checks = [
        ((s.author or "").lower() in _lower(rc.ignore_users), "ignored user"),
        (facts.opted_out, "opted out"),
        # a reply under the bot's own may only ask it to continue (no summons chains)
        (s.kind != "continue" and (s.parent_is_me or facts.parent_is_bot_reply),
         "summon chain"),
        (facts.banned, "banned from subreddit"),
        (s.removed or s.body.strip() in GONE_BODIES, "target deleted"),
        (facts.thread_replies >= rc.per_thread_cap, "thread cap reached"),
        (facts.user_replies_last_hour >= rc.per_user_hourly, "user hourly cap reached"),
    ]
    return next((why for hit, why in checks if hit), None)


def live_reason(s: Summon) -> str | None:
    """Why the target, as it is now, cannot take a reply (removed, deleted or locked)."""
    if s.author is None or s.removed or s.body.strip() in GONE_BODIES:
        return "target deleted"
    if s.locked:
        return "THREAD_LOCKED"
    return None
