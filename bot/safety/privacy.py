"""Forget-me and data retention.

``forget`` deletes one person's logged prompts, outputs, reading progress, opt-in state and
filter events, and the text of their passages and story titles (the rows stay, blanked, so
other people's continuations keep their place; the person's words are cut out of those
continuations' kept context too); their interaction rows are folded into
``usage_counters`` (day, platform, command, outcome: counts that identify no one) and
deleted. Their Reddit ledger rows keep
only what exactly-once needs (the summons' fullname, state and the bot's reply fullname):
prompt, passage, error and author are blanked, and unfinished ones are closed, so nothing
is posted for them afterwards and nothing is answered twice.

``purge_old`` deletes logged text older than ``[privacy] keep_days``: prompts, passages,
errors and options of interactions, the text of finished Reddit ledger rows, and old
filter events. ``retention_loop`` runs it on a schedule.

Tables added elsewhere that hold a person's text register an eraser (``ERASERS``) and a
purger (``PURGERS``), so forget-me and retention cover them too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.store import (
    FilterEvent,
    Interaction,
    OptOut,
    Passage,
    ReadingProgress,
    RedditItem,
    Store,
    Story,
    UsageCounter,
)

log = logging.getLogger(__name__)

FORGOTTEN = "forgotten"
UNFINISHED = ("seen", "queued", "generating", "ready", "posting")
FINISHED = ("posted", "failed", "skipped")

Eraser = Callable[[Session, str, str], int]  # (session, platform, user key) -> rows changed
Purger = Callable[[Session, datetime], int]  # (session, cutoff) -> rows changed


@dataclass
class ForgetReport:
    """What forget-me removed, table by table."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def text(self) -> str:
        parts = [f"{n} {name}" for name, n in self.counts.items() if n]
        return ", ".join(parts) or "nothing (there was nothing stored about you)"


def count_usage(s: Session, day: str, platform: str, command: str, outcome: str,
                n: int = 1) -> None:
    """Add ``n`` to an anonymous usage counter."""
    row = s.get(UsageCounter, (day, platform, command[:32], outcome[:16]))
    if row is None:
        s.add(UsageCounter(day=day, platform=platform, command=command[:32],
                           outcome=outcome[:16], count=n))
    else:
        row.count += n


def _interactions(s: Session, platform: str, user: str) -> int:
    """Fold a person's interaction rows into the counters, then delete them."""
    rows = s.execute(select(Interaction.created_at, Interaction.command, Interaction.outcome)
                     .where(Interaction.platform == platform, Interaction.user == user)).all()
    groups = Counter((at.strftime("%Y-%m-%d"), command, outcome) for at, command, outcome in rows)
    for (day, command, outcome), n in groups.items():
        count_usage(s, day, platform, command, outcome, n)
    return _rows(s.execute(delete(Interaction).where(Interaction.platform == platform,
                                                     Interaction.user == user)))


def _reddit_items(s: Session, platform: str, user: str) -> int:
    if platform != "reddit":
        return 0
    mine = (RedditItem.author == user)
    s.execute(update(RedditItem).where(mine, RedditItem.state.in_(UNFINISHED))
              .values(state="skipped", next_attempt_at=None))
    return _rows(s.execute(update(RedditItem).where(mine).values(
        author=FORGOTTEN, prompt="", output=None, error=FORGOTTEN)))


def _passages(s: Session, platform: str, user: str) -> int:
    """A person's passages keep their place in the story trees (others' continuations hang
    from them) but lose their text and who asked; their words are also cut out of
    the context kept with every passage that continued them."""
    mine = s.scalars(select(Passage).where(Passage.platform == platform,
                                           Passage.user == user)).all()
    words = {t for p in mine for t in (p.prompt, p.output) if t and t.strip()}
    for p in mine:
        p.user, p.asked_by, p.prompt, p.context, p.output = FORGOTTEN, None, "", "", None
        p.state = FORGOTTEN  # not continued or regenerated again: there is nothing left
    frontier = [p.id for p in mine]
    seen = set(frontier)
    while frontier and words:  # the passages below theirs, level by level
        below = s.scalars(select(Passage).where(Passage.parent_id.in_(frontier))).all()
        frontier = [p.id for p in below if p.id not in seen]
        seen.update(frontier)
        for p in below:
            for text in sorted(words, key=len, reverse=True):
                p.context = p.context.replace(text.strip(), "")
    return len(mine)


def _stories(s: Session, platform: str, user: str) -> int:
    """Stories a person started keep their thread (and others' passages); the title, made
    from their prompt, goes."""
    return _rows(s.execute(update(Story).where(Story.platform == platform, Story.user == user)
                           .values(user=FORGOTTEN, title="(forgotten)")))


def _simple(model, column: str) -> Eraser:
    def erase(s: Session, platform: str, user: str) -> int:
        return _rows(s.execute(delete(model).where(model.platform == platform,
                                                   getattr(model, column) == user)))
    return erase


def _rows(result) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


ERASERS: dict[str, Eraser] = {
    "logged requests": _interactions,
    "Reddit summonses": _reddit_items,
    "passages": _passages,
    "stories started": _stories,
    "reading-progress entries": _simple(ReadingProgress, "user"),
    "opt-outs": _simple(OptOut, "user"),
    "filter events": _simple(FilterEvent, "user"),
}


def forget(store: Store, platform: str, user: str) -> ForgetReport:
    """Delete everything stored about one (hashed) user on one platform, in one transaction."""
    report = ForgetReport()
    with store.session() as s:
        for name, erase in ERASERS.items():
            report.counts[name] = erase(s, platform, user)
        count_usage(s, datetime.now(UTC).strftime("%Y-%m-%d"), platform, "forget-me", "ok")
    log.info("forget-me on %s: %s", platform, report.text())
    return report


# ---- retention ------------------------------------------------------------------------------


def _purge_interactions(s: Session, cutoff: datetime) -> int:
    has_text = (Interaction.prompt.is_not(None) | Interaction.output.is_not(None)
                | Interaction.error.is_not(None))
    return _rows(s.execute(update(Interaction)
                           .where(Interaction.created_at < cutoff, has_text)
                           .values(prompt=None, output=None, error=None, options={})))


def _purge_reddit(s: Session, cutoff: datetime) -> int:
    return _rows(s.execute(update(RedditItem).where(
        RedditItem.updated_at < cutoff, RedditItem.state.in_(FINISHED),
        (RedditItem.prompt != "") | RedditItem.output.is_not(None))
        .values(prompt="", output=None, error=None)))


def _purge_filter_events(s: Session, cutoff: datetime) -> int:
    return _rows(s.execute(delete(FilterEvent).where(FilterEvent.created_at < cutoff)))


PURGERS: dict[str, Purger] = {
    "interactions": _purge_interactions,
    "reddit_items": _purge_reddit,
    "filter_events": _purge_filter_events,
}


def purge_old(store: Store, keep_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete logged text older than ``keep_days`` (0 keeps everything); rows changed per table."""
    if keep_days <= 0:
        return {}
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    with store.session() as s:
        done = {name: purge(s, cutoff) for name, purge in PURGERS.items()}
    if any(done.values()):
        log.info("retention: removed text older than %d days: %s", keep_days, done)
    return done


async def retention_loop(store: Store, keep_days: int, interval_s: float) -> None:
    """Run ``purge_old`` now and then every ``interval_s`` until cancelled."""
    while True:
        purge = asyncio.ensure_future(asyncio.to_thread(purge_old, store, keep_days))
        try:
            await asyncio.shield(purge)
        except asyncio.CancelledError:
            # the thread runs on regardless: let it end before the caller closes the store,
            # or its connection outlives the engine
            await asyncio.gather(purge, return_exceptions=True)
            raise
        except Exception:  # a failed purge is retried next time; it must not stop the bot
            log.exception("retention: purging old text failed")
        await asyncio.sleep(interval_s)
