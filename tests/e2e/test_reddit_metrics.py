"""Reddit's metrics, scraped over HTTP while the real adapter runs against the fake Reddit:
retries by reason, the backlog, summons the guards turned away, requests by outcome."""

from __future__ import annotations

import asyncio

from bot import metrics, monitor
from tests.e2e.fake_reddit import FakeRedditServer, Fault
from tests.e2e.reddit_harness import reddit_config, run_until
from tests.metrics_client import scrape

RETRIES = "spren_reddit_retries_total"


def _backlog() -> float | None:
    """The gauge as the adapter last set it (read in-process: the loop must not wait on
    its own HTTP server)."""
    return metrics.REGISTRY.get_sample_value("spren_reddit_backlog")


def test_retries_backlog_and_guard_actions_are_counted(tmp_path):
    with FakeRedditServer() as server:
        fake = server.fake
        fake.fail(Fault("/api/comment", status=500, times=2))  # two failed posts, then fine
        answered = fake.add_comment("alice", "u/sprenbot Dorothy walked", fake.add_link("oz"),
                                    mention=True)
        ignored = fake.add_comment("otherbot", "!oz spam", fake.add_link("oz"))
        cfg = reddit_config(tmp_path, server.url, poll_interval_s=0.05)
        seen: list[float | None] = []  # the backlog gauge while the adapter runs

        async def scenario():
            async with monitor.serve("127.0.0.1:0", monitor.Health()) as mon:
                before, _ = await asyncio.to_thread(scrape, mon.url)
                await run_until(cfg, lambda: seen.append(_backlog()) or bool(
                    fake.replies_to(answered)) and not fake.is_unread(answered)
                    and _backlog() == 0, timeout=60)
                after, text = await asyncio.to_thread(scrape, mon.url)
                return before, after, text

        before, after, text = asyncio.run(scenario())
    assert len(fake.replies_to(answered)) == 1 and not fake.replies_to(ignored)
    delta = {name: after.value(name, **labels) - before.value(name, **labels)
             for name, labels in [(RETRIES, {"reason": "transient"}),
                                  ("spren_filter_actions_total",
                                   {"platform": "reddit", "action": "ignored_user"}),
                                  ("spren_requests_total",
                                   {"platform": "reddit", "command": "oz", "outcome": "ok"})]}
    assert delta == {RETRIES: 2, "spren_filter_actions_total": 1, "spren_requests_total": 1}
    assert 1 in seen and after.value("spren_reddit_backlog") == 0
    assert "alice" not in text and "otherbot" not in text and "Dorothy" not in text
