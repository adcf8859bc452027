"""The queue's pure parts: round-robin order, the throughput meter and ETA planning."""

import asyncio
import math

import pytest

from bot.serving.estimates import ThroughputMeter, plan_etas
from bot.serving.fair_queue import FairQueue, fair_shares, over_share, per_user
from bot.serving.worker import Job


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


def test_take_capped_gives_each_user_its_room_and_keeps_their_turn():
    q = FairQueue()
    for j in [job("A", f"a{i}") for i in range(5)] + [job("B", "b0"), job("B", "b1")]:
        q.push(j)
    assert q.counts() == {"A": 5, "B": 2}
    assert names(q.take_capped(4, {"A": 1, "B": 2})) == ["a0", "b0", "b1"]
    assert names(q.ordered())[0] == "a1"
    q.push(job("C", "c0"))
    assert names(q.take_capped(3, {"C": 1})) == ["c0"]
    assert names(q.take_capped(2, {"A": 8})) == ["a1", "a2"]  # A's turn was kept


def test_fair_shares_are_max_min_fair_within_the_shared_batch():
    assert fair_shares({"A": 20}, 8, 4) == {"A": 8}  # alone: the whole batch
    assert fair_shares({"A": 20, "B": 1}, 8, 4) == {"A": 3, "B": 1}
    assert fair_shares({"A": 20, "B": 20}, 8, 4) == {"A": 2, "B": 2}
    assert fair_shares({"A": 3, "B": 3, "C": 3}, 8, 4) == {"A": 2, "B": 1, "C": 1}
    assert fair_shares(dict.fromkeys("abcdefgh", 1), 8, 4) == dict.fromkeys("abcdefgh", 1)
    assert sum(fair_shares(dict.fromkeys("abcdefghij", 2), 8, 4).values()) == 8
    assert fair_shares({"A": 20, "B": 1}, 8, 8) == {"A": 7, "B": 1}  # sharing = max_batch
    assert fair_shares({"A": 0, "B": 2}, 8, 4) == {"B": 2} and fair_shares({}, 8, 4) == {}


def test_plan_etas_follows_the_fair_shares():
    m = ThroughputMeter(default_tokens_per_s=10.0)
    waiting = [job("A", "a0"), job("B", "b0"), job("A", "a1"), job("A", "a2"), job("A", "a3")]
    etas = plan_etas(waiting, [0.0], max_batch=8, meter=m, shared_batch=3)
    first = 10 / (10 / math.sqrt(3))  # a0, b0, a1: A's share of 3 with B waiting is 2
    assert etas[:3] == pytest.approx([first] * 3)
    assert etas[3:] == pytest.approx([first + 10 / (10 / math.sqrt(2))] * 2)  # A alone


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


def test_over_share_keeps_each_users_first_rows():
    jobs = [job("A", "a0"), job("A", "a1"), job("B", "b0"), job("A", "a2"), job("B", "b1")]
    assert per_user(jobs) == {"A": 3, "B": 2}
    assert over_share(jobs, {"A": 1, "B": 2}) == {1, 3}
    assert over_share(jobs, {"A": 3}) == {2, 4}  # a user with no share sits out entirely
