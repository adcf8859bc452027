"""Passage trees: every generated passage with what made it, and the story threads they form.

A passage row is written when generation starts (state ``generating``) and completed when it
ends (``done``, ``stopped``, ``failed``, ``cancelled``; ``interrupted`` when the process died
first). ``parent_id`` links a regeneration or a continuation to the passage it came from;
``context`` and ``params`` (seed included) are exactly what the model was given, so any
passage can be generated again. ``request_id`` is the platform's id of the request that
asked for it (a Discord interaction or message id, a Reddit comment fullname): Discord
buttons carry it, so a press finds its passage after a restart.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.base import Base, utcnow


class Story(Base):
    """A story thread: passages that continue one another, started with ``/story start``."""

    __tablename__ = "stories"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    platform: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(80))  # the thread's id on the platform
    title: Mapped[str] = mapped_column(String(100))
    user: Mapped[str] = mapped_column(String(80))  # who started it (salted hash)
    __table_args__ = (UniqueConstraint("platform", "channel"),)


class Passage(Base):
    """One generated passage and everything needed to generate it again."""

    __tablename__ = "passages"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    platform: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64))
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("passages.id", ondelete="SET NULL"), index=True)
    relation: Mapped[str] = mapped_column(String(16))  # root | regenerate | continue
    user: Mapped[str] = mapped_column(String(80), index=True)  # salted hash
    asked_by: Mapped[str | None] = mapped_column(String(80))  # display name, story threads only
    channel: Mapped[str | None] = mapped_column(String(80))
    prompt: Mapped[str] = mapped_column(Text, default="")  # what the user added
    context: Mapped[str] = mapped_column(Text)  # exactly what the model was conditioned on
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # every GenParams field
    seed: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[str | None] = mapped_column(String(200))
    output: Mapped[str | None] = mapped_column(Text)
    new_tokens: Mapped[int | None] = mapped_column(Integer)
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    __table_args__ = (UniqueConstraint("platform", "request_id"),)
