"""The passage tree in the database: writing passages as they are generated, reading lines.

Synchronous (SQLAlchemy); callers on the event loop use ``asyncio.to_thread``. A passage's
*base* is the passage whose text it follows: a continuation's base is its parent, a
regeneration shares the base of the passage it replaces, and a root has none. The *line*
ending at a passage is its bases' texts followed by its own (see ``line_text``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from bot.store import Passage, Store, Story, utcnow
from bot.stories.text import extend
from engine.generation.params import GenParams, GenResult

FINISHED = ("done", "stopped")  # passages that can be continued
MAX_HOPS = 10_000  # a line is never walked further than this (a cycle would be a bug)


@dataclass(frozen=True)
class Plan:
    """A passage about to be generated: what it is conditioned on and where it belongs."""

    platform: str
    request_id: str | None
    user: str  # salted hash
    relation: str  # root | regenerate | continue
    prompt: str  # what the user added: the prompt, a reader's message, or ""
    context: str  # exactly what the model is given
    params: GenParams  # seed always set, so the passage can be generated again
    heading: str | None = None  # shown in bold above the passage (the prompt of a root)
    parent_id: int | None = None
    story_id: int | None = None
    channel: str | None = None
    asked_by: str | None = None


@dataclass(frozen=True)
class PassageInfo:
    """A detached copy of a passage row."""

    id: int
    platform: str
    request_id: str | None
    story_id: int | None
    parent_id: int | None
    relation: str
    user: str
    asked_by: str | None
    prompt: str
    context: str
    params: dict[str, Any]
    seed: int
    model_id: str | None
    output: str | None
    state: str
    finish_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Passage) -> PassageInfo:
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: getattr(row, name) for name in names})

    def gen_params(self, **changes: Any) -> GenParams:
        """The options this passage was generated with, with ``changes`` applied."""
        known = {f.name for f in dataclasses.fields(GenParams)}
        values = {k: v for k, v in self.params.items() if k in known}
        return dataclasses.replace(GenParams(**values), **changes)


@dataclass(frozen=True)
class StoryInfo:
    """A detached copy of a story row."""

    id: int
    platform: str
    channel: str
    title: str
    user: str
    created_at: datetime


class PassageTree:
    """Reads and writes passages and stories through a Store."""

    def __init__(self, store: Store):
        self.store = store

    # ---- writing passages ---------------------------------------------------------------
    def begin(self, plan: Plan) -> int:
        """Record a passage as generating; a request seen before (a retry) reuses its row."""
        fields = dict(
            story_id=plan.story_id, parent_id=plan.parent_id, relation=plan.relation,
            user=plan.user, asked_by=(plan.asked_by or "")[:80] or None, channel=plan.channel,
            prompt=plan.prompt, context=plan.context,
            params=dataclasses.asdict(plan.params), seed=plan.params.seed, model_id=None,
            output=None, new_tokens=None, finish_reason=None, state="generating",
            finished_at=None)
        with self.store.session() as s:
            row = None
            if plan.request_id is not None:
                row = s.scalar(select(Passage).where(Passage.platform == plan.platform,
                                                     Passage.request_id == plan.request_id))
            if row is None:
                row = Passage(platform=plan.platform, request_id=plan.request_id)
                s.add(row)
            for key, value in fields.items():
                setattr(row, key, value)
            s.flush()
            return row.id

    def finish(self, pid: int, result: GenResult, state: str) -> None:
        """Store a passage's text and how it ended (``done`` or ``stopped``)."""
        with self.store.session() as s:
            row = s.get(Passage, pid)
            if row is None:
                return
            row.output, row.seed, row.model_id = result.text, result.seed, result.model_id
            row.new_tokens, row.finish_reason = result.new_tokens, result.finish_reason
            row.state, row.finished_at = state, utcnow()

    def settle(self, pid: int, state: str) -> None:
        """End a passage that produced nothing usable (``failed``, ``cancelled``)."""
        with self.store.session() as s:
            row = s.get(Passage, pid)
            if row is not None:
                row.state, row.finished_at = state, utcnow()

    def discard(self, pid: int) -> None:
        """Forget a passage that never started (the queue refused it)."""
        with self.store.session() as s:
            row = s.get(Passage, pid)
            if row is not None:
                s.delete(row)

    def interrupt_stale(self, platforms: tuple[str, ...] | None = None) -> int:
        """Mark passages left generating by an earlier process as interrupted."""
        query = update(Passage).where(Passage.state == "generating")
        if platforms is not None:
            query = query.where(Passage.platform.in_(platforms))
        with self.store.session() as s:
            done = s.execute(query.values(state="interrupted", finished_at=utcnow()))
            return cast(CursorResult[Any], done).rowcount

    # ---- reading passages ---------------------------------------------------------------
    def get(self, pid: int) -> PassageInfo | None:
        with self.store.session() as s:
            row = s.get(Passage, pid)
            return PassageInfo.of(row) if row else None

    def by_request(self, platform: str, request_id: str) -> PassageInfo | None:
        """The passage a platform request asked for (a button carries this id)."""
        with self.store.session() as s:
            row = s.scalar(select(Passage).where(Passage.platform == platform,
                                                 Passage.request_id == request_id))
            return PassageInfo.of(row) if row else None

    def latest_for_user(self, platform: str, user: str) -> PassageInfo | None:
        """The newest passage this user asked for on this platform."""
        with self.store.session() as s:
            row = s.scalar(select(Passage).where(Passage.platform == platform,
                                                 Passage.user == user)
                           .order_by(Passage.id.desc()).limit(1))
            return PassageInfo.of(row) if row else None

    def base_of(self, passage: PassageInfo) -> PassageInfo | None:
        """The passage whose text this one follows (None for a root)."""
        with self.store.session() as s:
            row = _base(s, passage.relation, passage.parent_id)
            return PassageInfo.of(row) if row else None

    def line_text(self, pid: int, budget: int) -> str:
        """The story up to and including this passage; only about its last ``budget``
        characters are guaranteed (older passages are not read once the budget is covered)."""
        with self.store.session() as s:
            row = s.get(Passage, pid)
            segments: list[Passage] = []
            covered = 0
            while row is not None and covered < budget and len(segments) < MAX_HOPS:
                segments.append(row)
                covered += len(row.prompt or "") + len(row.output or "") + 2
                row = _base(s, row.relation, row.parent_id)
        text = ""
        for seg in reversed(segments):
            text = extend(text, seg.prompt or "") + (seg.output or "")
        return text

    # ---- stories ------------------------------------------------------------------------
    def create_story(self, platform: str, channel: str, title: str, user: str) -> int:
        """A new story living in ``channel`` (a thread)."""
        with self.store.session() as s:
            story = Story(platform=platform, channel=channel, title=title[:100], user=user)
            s.add(story)
            s.flush()
            return story.id

    def story_in(self, platform: str, channel: str) -> StoryInfo | None:
        """The story whose thread is ``channel``, if any."""
        with self.store.session() as s:
            row = s.scalar(select(Story).where(Story.platform == platform,
                                               Story.channel == channel))
            if row is None:
                return None
            return StoryInfo(row.id, row.platform, row.channel, row.title, row.user,
                             row.created_at)

    def story_passages(self, story_id: int) -> list[PassageInfo]:
        """Every passage of a story, oldest first."""
        with self.store.session() as s:
            rows = s.scalars(select(Passage).where(Passage.story_id == story_id)
                             .order_by(Passage.id))
            return [PassageInfo.of(r) for r in rows]

    def story_size(self, story_id: int) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count()).where(Passage.story_id == story_id)) or 0

    def latest_in_story(self, story_id: int) -> PassageInfo | None:
        """The newest passage of a story that can be continued."""
        with self.store.session() as s:
            row = s.scalar(select(Passage).where(Passage.story_id == story_id,
                                                 Passage.state.in_(FINISHED))
                           .order_by(Passage.id.desc()).limit(1))
            return PassageInfo.of(row) if row else None


def _base(s: Session, relation: str, parent_id: int | None) -> Passage | None:
    """Follow regenerations back to the passage whose text comes before."""
    hops = 0
    while relation != "root" and parent_id is not None and hops < MAX_HOPS:
        parent = s.get(Passage, parent_id)
        if parent is None:
            return None
        if relation == "continue":
            return parent
        relation, parent_id = parent.relation, parent.parent_id  # a regeneration: look past
        hops += 1
    return None
