"""Discord-side limits: DMs on/off, channel allow-list, per-user cooldown and pending cap,
per-guild concurrency. Refusals say why and when to try again.

Plain bookkeeping in memory (one process, one event loop); the clock is injectable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.config import DiscordConfig


@dataclass(frozen=True)
class Where:
    """Who asked and from where (raw Discord ids; guild is None in DMs)."""

    user: int
    guild: int | None
    channel: int | None


@dataclass
class Admission:
    """The answer to 'may this run now?': a ticket to release, or a refusal message."""

    where: Where
    generating: bool
    refusal: str | None = None
    retry_after: float | None = None
    started: float = 0.0
    released: bool = field(default=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.refusal is None


def _seconds(value: float) -> str:
    return f"{max(1, round(value))} s"


class Limits:
    """Admits or refuses interactions; generating ones hold a ticket until released."""

    def __init__(self, cfg: DiscordConfig, clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.clock = clock
        self._last_start: dict[int, float] = {}
        self._by_user: dict[int, list[Admission]] = {}
        self._by_guild: dict[int, list[Admission]] = {}
        self._typical_s = 20.0  # learned from finished tickets; a guess until then

    def admit(self, where: Where, *, generating: bool) -> Admission:
        """Check every limit; on success a generating request counts until ``release``."""
        adm = Admission(where, generating, started=self.clock())
        adm.refusal, adm.retry_after = self._place_refusal(where)
        if adm.ok and generating:
            adm.refusal, adm.retry_after = self._load_refusal(where, adm.started)
        if adm.ok and generating:
            self._last_start[where.user] = adm.started
            self._by_user.setdefault(where.user, []).append(adm)
            if where.guild is not None:
                self._by_guild.setdefault(where.guild, []).append(adm)
        return adm

    def release(self, adm: Admission) -> None:
        """Give back a generating ticket (safe to call twice or on a refusal)."""
        if not adm.ok or not adm.generating or adm.released:
            return
        adm.released = True
        self._by_user[adm.where.user].remove(adm)
        if adm.where.guild is not None:
            self._by_guild[adm.where.guild].remove(adm)
        took = self.clock() - adm.started
        self._typical_s = 0.8 * self._typical_s + 0.2 * took

    def pending(self, user: int) -> int:
        """How many generating requests this user has in flight."""
        return len(self._by_user.get(user, ()))

    # ---- the checks --------------------------------------------------------------------
    def _place_refusal(self, where: Where) -> tuple[str | None, float | None]:
        if where.guild is None:
            if not self.cfg.allow_dms:
                return ("I don't answer in direct messages here. Use my commands in a server "
                        "channel I'm in."), None
            return None, None
        allowed = self.cfg.allowed_channels
        if allowed and where.channel not in allowed:
            where_to = ", ".join(f"<#{c}>" for c in allowed[:5])
            return f"I only answer in {where_to} on this server. Try there.", None
        return None, None

    def _load_refusal(self, where: Where, now: float) -> tuple[str | None, float | None]:
        last = self._last_start.get(where.user)
        if last is not None and now - last < self.cfg.cooldown_s:
            wait = self.cfg.cooldown_s - (now - last)
            return f"Slow down a little: try again in {_seconds(wait)}.", wait
        mine = self._by_user.get(where.user, [])
        if len(mine) >= self.cfg.per_user_pending:
            wait = self._wait_for_one(mine, now)
            return (f"You already have {len(mine)} passages on the way (the limit is "
                    f"{self.cfg.per_user_pending}). Try again in about {_seconds(wait)}, "
                    "when one is done."), wait
        theirs = self._by_guild.get(where.guild, []) if where.guild is not None else []
        if len(theirs) >= self.cfg.per_guild_concurrent:
            wait = self._wait_for_one(theirs, now)
            return (f"This server already has {len(theirs)} passages on the way. "
                    f"Try again in about {_seconds(wait)}."), wait
        return None, None

    def _wait_for_one(self, tickets: list[Admission], now: float) -> float:
        """Estimate when the oldest ticket finishes, from how long tickets usually take."""
        oldest = min(t.started for t in tickets)
        return max(1.0, self._typical_s - (now - oldest))
