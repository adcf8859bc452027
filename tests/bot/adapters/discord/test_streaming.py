"""Throttled message edits: at most one per interval, newest content wins, final always sent."""


import asyncio
import time

import discord
import pytest

from bot.adapters.discord.streaming import PassageProgress, ThrottledMessage
from bot.messages import QueueUpdate, TokenUpdate


class Recorder:
    """Stands in for the Discord edit call (the network edge) and remembers timings."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0):
        self.sent: list[tuple[float, str]] = []
        self.fail_first = fail_first
        self.delay = delay

    async def __call__(self, content: str) -> None:
        await asyncio.sleep(self.delay)
        if self.fail_first:
            self.fail_first -= 1
            raise discord.HTTPException(_Resp(), "boom")
        self.sent.append((time.monotonic(), content))


class _Resp:
    status = 500
    reason = "test"


def test_edits_are_throttled_and_coalesced():
    async def scenario():
        rec = Recorder()
        msg = ThrottledMessage(rec, interval=0.2)
        for i in range(40):
            msg.show(f"text {i}")
            await asyncio.sleep(0.01)
        await msg.finish("final")
        return rec

    rec = asyncio.run(scenario())
    times = [t for t, _ in rec.sent]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(g >= 0.19 for g in gaps), gaps
    assert 2 <= len(rec.sent) <= 4  # 0.4 s of tokens at one edit per 0.2 s, plus the final
    assert rec.sent[0][1] == "text 0"  # the first frame goes out at once
    assert rec.sent[-1][1] == "final"


def test_final_is_sent_even_if_nothing_streamed_and_not_repeated():
    async def scenario():
        rec = Recorder()
        msg = ThrottledMessage(rec, interval=0.05)
        await msg.finish("only")
        return rec

    assert [c for _, c in asyncio.run(scenario()).sent] == ["only"]


def test_failed_intermediate_edit_is_skipped_but_failed_final_raises():
    async def scenario(fail: int):
        rec = Recorder(fail_first=fail)
        msg = ThrottledMessage(rec, interval=0.0)
        msg.show("partial")
        await asyncio.sleep(0.05)
        await msg.finish("final")
        return rec

    assert [c for _, c in asyncio.run(scenario(1)).sent] == ["final"]
    with pytest.raises(discord.HTTPException):
        asyncio.run(scenario(2))


def test_abandon_stops_without_sending_more():
    async def scenario():
        rec = Recorder(delay=0.05)
        msg = ThrottledMessage(rec, interval=0.5)
        msg.show("one")
        await asyncio.sleep(0.01)
        msg.show("two")  # waits for the throttle; abandoned before its slot
        await msg.abandon()
        return rec

    assert [c for _, c in asyncio.run(scenario()).sent] == ["one"]


def test_progress_shows_new_positions_only_then_text():
    async def scenario():
        rec = Recorder()
        msg = ThrottledMessage(rec, interval=0.0)
        progress = PassageProgress(msg, lambda p, eta: f"#{p}", lambda t: f"text:{t}")
        for event in [QueueUpdate(3, 9.0), QueueUpdate(3, 8.0), QueueUpdate(2, 5.0),
                      TokenUpdate(" "), TokenUpdate("Once")]:
            progress.on_event(event)
            await asyncio.sleep(0.02)
        await msg.finish("done")
        return rec, progress

    rec, progress = asyncio.run(scenario())
    assert progress.positions == [3, 2]
    assert [c for _, c in rec.sent] == ["#3", "#2", "text:Once", "done"]
