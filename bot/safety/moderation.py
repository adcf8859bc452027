"""Moderator controls per place (a Discord server or a subreddit): pause and resume
generation, block and unblock a user, the spoiler policy and the filter action.

Who is a moderator is the adapter's business (Manage Server on Discord; the subreddit's
moderator list on Reddit); this module only records the settings, and each change as one
``audit_log`` row written in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from bot.config_checks import FILTER_ACTIONS
from bot.errors import BadRequest
from bot.store import AuditEntry, BlockedUser, PlaceSettings, Store

ACTIONS = ("status", "pause", "resume", "block", "unblock", "spoilers", "filter")


@dataclass(frozen=True)
class PlaceState:
    """A place's settings (defaults when its moderators never changed anything)."""

    paused: bool = False
    spoiler_policy: str | None = None
    filter_action: str | None = None
    blocked: int = 0


@dataclass(frozen=True)
class Change:
    """One moderator action, already validated (``target`` is a hashed user id)."""

    platform: str
    place: str
    actor: str
    action: str
    target: str | None = None
    value: str | None = None


class Moderation:
    """Reads and writes place settings, blocks and the audit log through a Store."""

    def __init__(self, store: Store):
        self.store = store

    def state(self, platform: str, place: str | None) -> PlaceState:
        """The settings of a place (None, e.g. the console or a DM: the defaults)."""
        if not place:
            return PlaceState()
        with self.store.session() as s:
            row = s.get(PlaceSettings, (platform, place))
            blocked = len(s.scalars(select(BlockedUser.user).where(
                BlockedUser.platform == platform, BlockedUser.place == place)).all())
            if row is None:
                return PlaceState(blocked=blocked)
            return PlaceState(row.paused, row.spoiler_policy, row.filter_action, blocked)

    def is_blocked(self, platform: str, place: str | None, user: str) -> bool:
        """True when the place's moderators blocked this (hashed) user."""
        if not place:
            return False
        with self.store.session() as s:
            return s.get(BlockedUser, (platform, place, user)) is not None

    def apply(self, change: Change) -> str:
        """Make one change and log it in the audit log; returns what was done, in words."""
        if change.action not in ACTIONS[1:]:
            raise BadRequest(f"unknown moderator action {change.action!r}; use one of: "
                             f"{', '.join(ACTIONS)}")
        with self.store.session() as s:
            done = self._apply(s, change)
            s.add(AuditEntry(platform=change.platform, place=change.place, actor=change.actor,
                             action=change.action, target=change.target,
                             value=(change.value or None) and change.value[:200]))
        return done

    def _apply(self, s, c: Change) -> str:
        if c.action in ("block", "unblock"):
            if not c.target:
                raise BadRequest(f"/{'mod'} {c.action} needs a user")
            key = (c.platform, c.place, c.target)
            if c.action == "block" and s.get(BlockedUser, key) is None:
                s.add(BlockedUser(platform=c.platform, place=c.place, user=c.target))
            elif c.action == "unblock":
                s.execute(delete(BlockedUser).where(BlockedUser.platform == c.platform,
                                                    BlockedUser.place == c.place,
                                                    BlockedUser.user == c.target))
            return f"user {c.action}ed here" if c.action == "block" else "user unblocked here"
        row = s.get(PlaceSettings, (c.platform, c.place))
        if row is None:
            row = PlaceSettings(platform=c.platform, place=c.place, paused=False)
            s.add(row)
        if c.action in ("pause", "resume"):
            row.paused = c.action == "pause"
            return "generation paused here" if row.paused else "generation resumed here"
        if c.action == "filter":
            if c.value not in FILTER_ACTIONS:
                raise BadRequest(f"filter action must be one of {', '.join(FILTER_ACTIONS)}")
            row.filter_action = c.value
            return f"filter action set to {c.value}"
        row.spoiler_policy = c.value
        return f"spoiler policy set to {c.value}"

    def audit(self, platform: str, place: str, limit: int = 10) -> list[AuditEntry]:
        """The newest audit-log rows of a place."""
        with self.store.session() as s:
            return list(s.scalars(select(AuditEntry).where(
                AuditEntry.platform == platform, AuditEntry.place == place)
                .order_by(AuditEntry.id.desc()).limit(limit)))
