"""The building blocks of the cheap path: rate limiter, bounded lane, byte-bounded cache."""

import asyncio
import threading

import pytest

from bot.errors import QueueFull
from bot.limits import ByteLRU, CheapLane, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_a_burst_then_refills_at_the_rate():
    clock = Clock()
    rate = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [rate.take("u") for _ in range(3)] == [None, None, None]
    wait = rate.take("u")
    assert wait == pytest.approx(1.0)
    assert rate.take("other") is None  # per user
    clock.now = 1.0
    assert rate.take("u") is None and rate.take("u") is not None


def test_rate_limiter_memory_is_bounded_and_zero_rate_means_off():
    rate = RateLimiter(per_minute=60, burst=1, clock=Clock(), max_users=100)
    for i in range(1000):
        rate.take(f"user{i}")
    assert len(rate._buckets) == 100
    off = RateLimiter(per_minute=0, burst=1)
    assert all(off.take("u") is None for _ in range(50))


def test_byte_lru_evicts_the_least_recently_used_past_its_bytes():
    cache = ByteLRU(max_bytes=100)
    for i in range(10):
        cache.put(i, f"v{i}", 30)
        assert cache.bytes <= 100
    assert len(cache) == 3 and cache.get(9) == "v9" and cache.get(0) is None
    cache.get(7)
    cache.put("new", "x", 30)
    assert cache.get(7) == "v7" and cache.get(8) is None
    cache.put("huge", "y", 1000)
    assert cache.get("huge") is None and cache.bytes <= 100


def test_lane_refuses_at_once_when_it_could_not_answer_soon():
    async def go():
        lane = CheapLane(workers=1, max_queue=1000, max_wait_s=0.05)
        lane._job_s = 0.02  # as measured after a few jobs of 20 ms
        gate = threading.Event()
        first = asyncio.ensure_future(lane.run(gate.wait, 10))
        others = [asyncio.ensure_future(lane.run(lambda: "ok")) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="busy") as err:
            await lane.run(lambda: "late")
        assert err.value.retry_after >= 1
        gate.set()
        assert await asyncio.gather(*others) == ["ok"] * 2
        await first
        assert await lane.run(lambda: "again") == "again"  # room once the work is done
        lane.close()

    asyncio.run(go())


def test_lane_bounds_its_queue_by_count_too():
    async def go():
        lane = CheapLane(workers=1, max_queue=2, max_wait_s=3600)
        gate = threading.Event()
        waiting = [asyncio.ensure_future(lane.run(gate.wait, 10)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            await lane.run(lambda: None)
        gate.set()
        await asyncio.gather(*waiting)
        lane.close()

    asyncio.run(go())
