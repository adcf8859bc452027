"""What the cheap path may know about a reader without asking the database.

Stats answers are given from memory on the event loop when possible (``StatsService.peek``)
and identical requests share one answer; both need the reader's spoiler view and whether
they are blocked, before any thread runs. This keeps, in memory: the readers who have set
any reading progress, the blocked users of each place, and each place's spoiler policy.
Readers with progress always take the slow path (their view is read from the database);
everyone else's view follows from their place's policy, which is known here.

Writes made through this process update it at once; other processes' writes are seen at
the next check (at most every ``CHECK_S``, in the background, like the library check), and
nothing is answered from it once it is ``10 * CHECK_S`` old.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import func, select

from bot.store import BlockedUser, PlaceSettings, ReadingProgress, Store

CHECK_S = 1.0


class Audience:
    """Readers with progress, blocked users and spoiler policies, for answers from memory."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._version: tuple[Any, ...] | None = None
        self._readers: set[tuple[str, str]] = set()
        self._blocked: frozenset[tuple[str, str, str]] = frozenset()
        self._policies: dict[tuple[str, str], str | None] = {}
        self._checked = float("-inf")

    def stale(self) -> bool:
        """True when the tables were last checked for changes over ``CHECK_S`` ago."""
        return time.monotonic() - self._checked >= CHECK_S

    def known(self) -> bool:
        """True while what is here may be trusted (checked recently)."""
        return time.monotonic() - self._checked < 10 * CHECK_S

    def refresh(self, force: bool = False) -> None:
        """Reload when any of the three tables changed (or ``force``)."""
        if not force and not self.stale():
            return
        started = time.monotonic()
        with self.store.session() as s:
            version = tuple(tuple(s.execute(select(func.count(), func.max(column))).one())
                            for column in (ReadingProgress.updated_at, PlaceSettings.updated_at,
                                           BlockedUser.created_at))
            if force or version != self._version:
                readers = {(p, u) for p, u in s.execute(
                    select(ReadingProgress.platform, ReadingProgress.user).distinct())}
                blocked = frozenset((p, place, u) for p, place, u in s.execute(
                    select(BlockedUser.platform, BlockedUser.place, BlockedUser.user)))
                policies = {(p, place): policy for p, place, policy in s.execute(
                    select(PlaceSettings.platform, PlaceSettings.place,
                           PlaceSettings.spoiler_policy))}
                with self._lock:
                    self._readers, self._blocked, self._policies = readers, blocked, policies
                    self._version = version
        self._checked = started  # from before the read: a write meanwhile is seen next time

    def has_progress(self, platform: str, user_key: str) -> bool:
        """True when this reader set any progress (their view needs the database)."""
        with self._lock:
            return (platform, user_key) in self._readers

    def is_blocked(self, platform: str, place: str | None, user_key: str) -> bool:
        with self._lock:
            return (platform, place or "", user_key) in self._blocked

    def policy(self, platform: str, place: str | None) -> str | None:
        """The place's own spoiler policy (None: the default)."""
        with self._lock:
            return self._policies.get((platform, place or ""))

    def reading(self, platform: str, user_key: str, has_progress: bool) -> None:
        """This process saved (or cleared) a reader's progress."""
        with self._lock:
            if has_progress:
                self._readers.add((platform, user_key))
            else:
                self._readers.discard((platform, user_key))
