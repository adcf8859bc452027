"""Discord limits: DMs, channel allow-list, cooldown, per-user pending, per-guild concurrency."""


import discord  # noqa: F401

from bot.adapters.discord.limits import Limits, Where
from bot.config import DiscordConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limits(**kw):
    clock = Clock()
    return Limits(DiscordConfig(**kw), clock=clock), clock


def test_dms_can_be_turned_off():
    limits, _ = _limits(allow_dms=False)
    adm = limits.admit(Where(1, None, 9), generating=False)
    assert not adm.ok and "direct messages" in adm.refusal
    limits, _ = _limits(allow_dms=True)
    assert limits.admit(Where(1, None, 9), generating=True).ok


def test_channel_allow_list_names_the_allowed_channels():
    limits, _ = _limits(allowed_channels=[11, 12])
    assert limits.admit(Where(1, 5, 11), generating=True).ok
    refused = limits.admit(Where(1, 5, 99), generating=False)
    assert not refused.ok and "<#11>" in refused.refusal and "<#12>" in refused.refusal


def test_cooldown_says_when_to_retry():
    limits, clock = _limits(cooldown_s=10.0, per_user_pending=5)
    first = limits.admit(Where(1, 5, 7), generating=True)
    assert first.ok
    clock.now += 3
    again = limits.admit(Where(1, 5, 7), generating=True)
    assert not again.ok and again.retry_after == 7.0 and "7 s" in again.refusal
    assert limits.admit(Where(2, 5, 7), generating=True).ok  # other users are unaffected
    assert limits.admit(Where(1, 5, 7), generating=False).ok  # cheap commands are too
    clock.now += 7
    assert limits.admit(Where(1, 5, 7), generating=True).ok


def test_pending_cap_until_release():
    limits, clock = _limits(cooldown_s=0.0, per_user_pending=2)
    a = limits.admit(Where(1, 5, 7), generating=True)
    b = limits.admit(Where(1, 5, 7), generating=True)
    c = limits.admit(Where(1, 5, 7), generating=True)
    assert a.ok and b.ok and not c.ok
    assert "limit is 2" in c.refusal and c.retry_after >= 1
    assert limits.pending(1) == 2
    clock.now += 4
    limits.release(a)
    limits.release(a)  # twice is harmless
    limits.release(c)  # so is releasing a refusal
    assert limits.pending(1) == 1
    assert limits.admit(Where(1, 5, 7), generating=True).ok


def test_guild_concurrency_cap():
    limits, _ = _limits(cooldown_s=0.0, per_user_pending=5, per_guild_concurrent=3)
    tickets = [limits.admit(Where(u, 5, 7), generating=True) for u in range(3)]
    assert all(t.ok for t in tickets)
    refused = limits.admit(Where(9, 5, 7), generating=True)
    assert not refused.ok and "server" in refused.refusal
    assert limits.admit(Where(9, 6, 7), generating=True).ok  # another guild
    limits.release(tickets[0])
    assert limits.admit(Where(9, 5, 7), generating=True).ok


def test_retry_estimate_learns_from_finished_requests():
    limits, clock = _limits(cooldown_s=0.0, per_user_pending=1)
    for _ in range(20):
        t = limits.admit(Where(1, 5, 7), generating=True)
        clock.now += 2.0
        limits.release(t)
    held = limits.admit(Where(1, 5, 7), generating=True)
    refused = limits.admit(Where(1, 5, 7), generating=True)
    assert held.ok and not refused.ok
    assert 1.0 <= refused.retry_after < 3.0
