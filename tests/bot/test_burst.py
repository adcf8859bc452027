"""Bursts of cheap commands: own lane, own log writer, per-user rate, bounded caches.

No test here asserts a wall-clock figure (benchmarks/burst.py measures those); they assert
the causes: answers and log rows do not wait for the default thread pool, identical
requests are answered once, a flooding user is refused with a retry time, memory for charts
stays within its bound, and every request gets exactly one interaction row.
"""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from bot.app import open_app
from bot.messages import Request
from bot.store import Interaction
from tests.bot.conftest import make_config


def _rows(app) -> int:
    with app.store.session() as s:
        return s.scalar(select(func.count(Interaction.id)))


def test_answers_and_log_rows_do_not_wait_for_the_default_thread_pool(oz_library):
    pool = ThreadPoolExecutor(2)

    async def go():
        async with open_app(make_config(oz_library), load_model=False) as app:
            loop = asyncio.get_running_loop()
            loop.set_default_executor(pool)  # the pool every asyncio.to_thread uses
            gate = threading.Event()
            blockers = [loop.run_in_executor(None, gate.wait, 60) for _ in range(2)]
            before = _rows(app)
            try:  # every worker of the default pool is busy until the gate opens
                requests = [Request("test", f"u{i}", "sentiment", {"book": "oz1"})
                            for i in range(20)]
                requests += [Request("test", "u0", "wordcount", {"term": "Toto"}),
                             Request("test", "u1", "books"), Request("test", "u2", "help")]
                replies = await asyncio.wait_for(
                    asyncio.gather(*(app.dispatcher.handle(r) for r in requests)), 30)
                assert [r.outcome for r in replies] == ["ok"] * len(requests)
                assert _rows(app) - before == len(requests)  # written meanwhile too
                assert not any(b.done() for b in blockers)
            finally:
                gate.set()
                await asyncio.gather(*blockers)

    try:
        asyncio.run(go())
    finally:
        pool.shutdown()


def test_a_burst_from_many_users_gets_one_answer_and_one_row_each(oz_library, monkeypatch):
    async def go():
        cfg = make_config(oz_library)
        async with open_app(cfg, load_model=False) as app:
            computed: list[tuple] = []
            real = app.stats._sentiment_reply

            def counting(*args):
                computed.append(args[3:5])
                return real(*args)

            monkeypatch.setattr(app.stats, "_sentiment_reply", counting)
            before = _rows(app)
            ranges = ["last 37", "first 11", ""]
            requests = [Request("test", f"user{i % 300}", "sentiment",
                                {"book": "oz2", "range": ranges[i % 3]}, request_id=str(i))
                        for i in range(900)]
            replies = await asyncio.gather(*(app.dispatcher.handle(r) for r in requests))
            ok = [r for r in replies if r.outcome == "ok"]
            busy = [r for r in replies if r.outcome == "refused"]
            assert len(ok) + len(busy) == len(requests)
            assert all(r.retry_after and "try again" in r.text for r in busy)
            assert len(ok) >= 600  # three distinct answers: everything else is a cache hit
            assert len(computed) <= 3  # identical requests in flight were answered once
            await app.dispatcher.aclose()
            assert _rows(app) - before == len(requests)

    asyncio.run(go())


def test_a_flooding_user_is_rate_limited_and_told_when_to_retry(oz_library):
    async def go():
        cfg = make_config(oz_library, limits={"user_burst": "5", "user_per_minute": "6"})
        async with open_app(cfg, load_model=False) as app:
            before = _rows(app)
            flood = [app.dispatcher.handle(Request("test", "flooder", "help"))
                     for _ in range(30)]
            replies = await asyncio.gather(*flood)
            other = await app.dispatcher.handle(Request("test", "someone else", "help"))
            assert [r.outcome for r in replies[:5]] == ["ok"] * 5
            refused = replies[5:]
            assert all(r.outcome == "refused" and r.private for r in refused)
            assert all("faster than I answer" in r.text and r.retry_after > 0 for r in refused)
            assert other.outcome == "ok"
            await app.dispatcher.aclose()
            assert _rows(app) - before == 31

    asyncio.run(go())


def test_charts_for_every_range_stay_within_the_cache_bound(oz_library):
    async def go():
        cfg = make_config(oz_library, limits={"reply_cache_mb": "0.2", "user_per_minute": "0"})
        async with open_app(cfg, load_model=False) as app:
            for n in range(1, 26):
                reply = await app.dispatcher.handle(
                    Request("test", "u", "sentiment", {"book": "oz3", "range": f"last {n}"}))
                assert reply.outcome == "ok", reply.text
                assert f"last {n} sentence" in reply.text
            cache = app.stats._replies
            assert cache.bytes <= 0.2 * 2**20 and len(cache) < 25

    asyncio.run(go())
