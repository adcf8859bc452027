"""Community-safety tables: reading progress, per-place settings, blocks, the audit log,
filter events and the anonymous usage counters that outlive forgotten users.

A *place* is where moderators rule: a Discord server (guild id) or a subreddit (lower-case
name). Places are public ids and stored as they are; people are stored as salted hashes
(``Store.user_key``), like everywhere else.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.base import Base, utcnow


class ReadingProgress(Base):
    """How far one reader has read one book (by book code, so re-ingesting keeps it)."""

    __tablename__ = "reading_progress"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    user: Mapped[str] = mapped_column(String(80), primary_key=True)
    book_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    # chapters 0..chapter_idx are read (0-based position); None with finished=True: all of it
    chapter_idx: Mapped[int | None] = mapped_column(Integer)
    finished: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class PlaceSettings(Base):
    """What a place's moderators set: generation paused, spoiler policy, filter action."""

    __tablename__ = "place_settings"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    place: Mapped[str] = mapped_column(String(80), primary_key=True)
    paused: Mapped[bool] = mapped_column(default=False)
    spoiler_policy: Mapped[str | None] = mapped_column(String(64))
    filter_action: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class BlockedUser(Base):
    """A user a place's moderators blocked from the bot there (hashed id)."""

    __tablename__ = "blocked_users"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    place: Mapped[str] = mapped_column(String(80), primary_key=True)
    user: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """One moderator change: who (hashed), where, what, to whom (hashed) and the new value."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    platform: Mapped[str] = mapped_column(String(16))
    place: Mapped[str] = mapped_column(String(80), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(80))
    value: Mapped[str | None] = mapped_column(String(200))


class FilterEvent(Base):
    """The output filter acted: on whose request, at which stage, how, and which list entries.

    No user text is kept: only the block-list entries that matched.
    """

    __tablename__ = "filter_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    platform: Mapped[str] = mapped_column(String(16))
    place: Mapped[str | None] = mapped_column(String(80))
    user: Mapped[str] = mapped_column(String(80), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # prompt | output
    action: Mapped[str] = mapped_column(String(16))  # mask | regenerate | refuse
    hits: Mapped[int] = mapped_column(Integer)
    terms: Mapped[str] = mapped_column(Text, default="")


class UsageCounter(Base):
    """Requests per day, platform, command and outcome: counts that identify no one."""

    __tablename__ = "usage_counters"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD (UTC)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    command: Mapped[str] = mapped_column(String(32), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
