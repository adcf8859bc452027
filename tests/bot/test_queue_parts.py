"""The queue's pure parts: round-robin order, the throughput meter and ETA planning."""

import asyncio
import math

import pytest

from bot.worker import FairQueue, Job, ThroughputMeter, plan_etas


def job(user: str, name: str, budget: int = 10) -> Job:
    loop = asyncio.new_event_loop()
    try:
        future = loop.create_future()
    finally:
        loop.close()
    return Job(user, name, None, None, future, 0.0, 100.0, budget)


def names(jobs) -> list[str]:
    return [j.prompt for j in jobs]


def test_fair_queue_interleaves_users_and_takes_in_the_promised_order():
    q = FairQueue()
    for j in [job("A", f"a{i}") for i in range(4)] + [job("B", "b0"), job("C", "c0")]:
        q.push(j)
    promised = names(q.ordered())
    assert promised == ["a0", "b0", "c0", "a1", "a2", "a3"]
    assert names(q.take(2)) == promised[:2]
    assert names(q.ordered()) == promised[2:]  # C, whose turn had not come, is next
    assert names(q.take(10)) == promised[2:] and len(q) == 0


def test_fair_queue_puts_a_returning_user_behind_waiting_ones():
    q = FairQueue()
    for j in (job("A", "a0"), job("A", "a1"), job("B", "b0")):
        q.push(j)
    assert names(q.take(2)) == ["a0", "b0"]
    q.push(job("B", "b1"))
    assert names(q.ordered()) == ["a1", "b1"]


def test_take_open_keeps_the_last_slot_for_a_user_with_nothing_running():
    q = FairQueue()
    for j in [job("A", f"a{i}") for i in range(5)]:
        q.push(j)
    assert names(q.take_open(3, set())) == ["a0", "a1"]  # A alone: third slot stays open
    q.push(job("B", "b0"))
    assert names(q.take_open(1, {"A"})) == ["b0"]  # the newcomer takes it at once
    q.push(job("C", "c0"))
    assert names(q.take_open(2, {"B"})) == ["a2", "c0"]
    assert names(q.take_open(1, {"A"})) == [] and len(q) == 2


def test_fair_queue_remove_and_count():
    q = FairQueue()
    a0, a1, b0 = job("A", "a0"), job("A", "a1"), job("B", "b0")
    for j in (a0, a1, b0):
        q.push(j)
    assert (q.count("A"), q.count("B"), q.count("Z")) == (2, 1, 0)
    assert q.remove(a1) and not q.remove(a1)
    assert q.remove(b0) and q.count("B") == 0
    assert names(q.drain()) == ["a0"] and len(q) == 0


def test_meter_uses_the_default_until_measured_then_an_ewma():
    m = ThroughputMeter(default_tokens_per_s=40.0, alpha=0.5)
    assert not m.measured and m.tokens_per_s == 40.0
    assert m.step_rate(4) == pytest.approx(20.0)  # default / sqrt(rows)
    m.record(rows=1, steps=100, tokens=100, budget=100, seconds=1.0)
    m.record(rows=1, steps=100, tokens=100, budget=100, seconds=0.5)
    assert m.measured and m.tokens_per_s == pytest.approx(150.0)
    assert m.step_rate(1) == pytest.approx(150.0)
    assert m.step_rate(4) == pytest.approx(75.0)  # nearest measured size, scaled


def test_meter_learns_how_much_of_the_budget_batches_use():
    m = ThroughputMeter(alpha=1.0)
    m.record(rows=2, steps=60, tokens=100, budget=120, seconds=1.0)
    assert m.fill == pytest.approx(0.5)
    assert m.batch_seconds(rows=2, budget=120) == pytest.approx(1.0)
    assert m.batch_seconds(rows=2, budget=120, done=30) == pytest.approx(0.5)
    assert m.batch_seconds(rows=2, budget=120, done=90) == pytest.approx(1 / 60)  # >= 1 step
    m.record(rows=0, steps=0, tokens=0, budget=1, seconds=0.0)  # ignored, no crash
    assert m.fill == pytest.approx(0.5)


def test_plan_etas_chunks_by_batch_and_uses_the_first_free_worker():
    m = ThroughputMeter(default_tokens_per_s=10.0)
    waiting = [job(u, u, budget=10) for u in "abcde"]
    one = plan_etas(waiting, [2.0], max_batch=2, meter=m)
    per_pair, single = 10 / (10 / math.sqrt(2)), 1.0
    assert one == pytest.approx([2 + per_pair] * 2 + [2 + 2 * per_pair] * 2
                                + [2 + 2 * per_pair + single])
    two = plan_etas(waiting, [2.0, 0.0], max_batch=2, meter=m)
    assert two == pytest.approx([per_pair] * 2 + [2 * per_pair] * 2 + [2 + single])
    assert plan_etas([], [1.0], 2, m) == []
