"""Two bot processes answer one subreddit from one PostgreSQL database at the same time:
every summons still gets exactly one reply, and both processes do part of the work.

Both run the real adapter (real praw) against one fake Reddit; they see the same inbox and
comment stream, so without the ledger's claims they would both answer most summons.
"""

from __future__ import annotations

import multiprocessing
import time

import pytest
from sqlalchemy import select

from bot.store import RedditItem, Store
from tests.e2e.fake_reddit import FakeRedditServer
from tests.e2e.reddit_harness import serve

pytestmark = pytest.mark.slow
PRELOAD = ["tests.e2e.reddit_harness", "bot.app", "bot.serving.service",
           "bot.adapters.reddit.adapter", "engine.generation.generator"]
WAVES, PER_WAVE = 4, 8
SALT = "one-salt-for-every-process"  # user hashes must agree across processes


def _bot(ctx, tmp_path, url: str, db_url: str, name: str):
    data = tmp_path / name
    data.mkdir()
    return ctx.Process(target=serve, args=(str(data), url, 0.05, db_url, SALT),
                       kwargs={"user_agent": f"spren-test-{name}", "per_user_hourly": 100},
                       daemon=True)


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_two_processes_on_one_postgresql_database_answer_each_summons_once(tmp_path, pg_url):
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    with FakeRedditServer() as server:
        fake = server.fake
        bots = [_bot(ctx, tmp_path, server.url, pg_url, name) for name in ("a", "b")]
        for bot in bots:
            bot.start()  # both migrate the same empty database at once, too
        summons: list[tuple[str, bool]] = []
        try:
            for wave in range(WAVES):
                for i in range(PER_WAVE):
                    mention = i % 2 == 0
                    body = f"u/sprenbot wave {wave} item {i}" if mention else f"!oz w{wave} i{i}"
                    link = fake.add_link("oz")
                    summons.append((fake.add_comment(f"user{i}", body, link,
                                                     mention=mention), mention))
                _wait(lambda: all(fake.replies_to(f) for f, _ in summons), 60,
                      f"wave {wave} to be answered")
            time.sleep(1.0)  # a late duplicate would show up now
            assert all(b.is_alive() for b in bots), "a bot process died"
        finally:
            for bot in bots:
                bot.kill()
                bot.join(10)
    doubled = {f: len(fake.replies_to(f)) for f, _ in summons if len(fake.replies_to(f)) != 1}
    assert not doubled, f"summons answered more or less than once: {doubled}"
    assert not [f for f, mention in summons if mention and fake.is_unread(f)]
    agents = {agent.split()[0] for agent in fake.posted_by.values()}
    assert agents == {"spren-test-a", "spren-test-b"}, "both processes should have answered"
    store = Store(pg_url, salt="x")
    with store.session() as s:
        rows = s.execute(select(RedditItem.state, RedditItem.claimed_by)).all()
    store.dispose()
    assert len(rows) == WAVES * PER_WAVE
    assert set(rows) == {("posted", None)}  # every claim was let go once answered
