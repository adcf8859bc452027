"""Reddit's tables: the exactly-once ledger (``reddit_items``), opt-outs and subreddit bans.

The ledger's states and transitions are described in ``bot.adapters.reddit.ledger``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.base import Base, utcnow


class RedditItem(Base):
    """The exactly-once ledger: one row per summoning comment/message, keyed by fullname."""

    __tablename__ = "reddit_items"
    fullname: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # mention | keyword | message
    subreddit: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(80))  # salted hash unless configured
    link_id: Mapped[str | None] = mapped_column(String(32), index=True)
    prompt: Mapped[str] = mapped_column(Text, default="")
    # queued -> generating -> ready -> posting -> posted | failed, or skipped (see the adapter)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply_fullname: Mapped[str | None] = mapped_column(String(32), index=True)
    output: Mapped[str | None] = mapped_column(Text)
    seed: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    marked_read: Mapped[bool] = mapped_column(default=False)
    # The bot process answering it ("host/pid") and until when: the cross-process claim that
    # keeps two processes from answering one summons (see bot.adapters.reddit.ledger).
    claimed_by: Mapped[str | None] = mapped_column(String(96))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class OptOut(Base):
    """Users who asked the bot to leave them alone (per platform, hashed id)."""

    __tablename__ = "optouts"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    user: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubredditBan(Base):
    """A subreddit that banned the bot, and when to check again."""

    __tablename__ = "subreddit_bans"
    subreddit: Mapped[str] = mapped_column(String(64), primary_key=True)
    banned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recheck_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
