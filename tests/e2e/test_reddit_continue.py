"""`!continue` under one of the bot's passages: real praw against the fake Reddit, the real
adapter and ledger, the passage tree in SQLite."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.store import Passage, RedditItem, Store
from tests.e2e.fake_reddit import FakeRedditServer
from tests.e2e.reddit_harness import reddit_config, run_until


@pytest.fixture
def server():
    with FakeRedditServer() as srv:
        yield srv


def _rows(cfg, table):
    store = Store(cfg.database_url, salt="x")
    try:
        with store.session() as s:
            return list(s.scalars(select(table)))
    finally:
        store.dispose()


def _ledger(cfg) -> dict[str, RedditItem]:
    return {r.fullname: r for r in _rows(cfg, RedditItem)}


def _finished(cfg, *fullnames) -> bool:
    rows = _ledger(cfg)
    return all(f in rows and rows[f].state in ("posted", "skipped", "failed") for f in fullnames)


def _answer(server, cfg, author: str, body: str) -> tuple[str, dict]:
    """A summons in a new thread, answered; returns (its fullname, the bot's reply)."""
    fake = server.fake
    link = fake.add_link("oz")
    summons = fake.add_comment(author, body, link, mention=True)
    asyncio.run(run_until(cfg, lambda: _finished(cfg, summons)))
    (reply,) = fake.replies_to(summons)
    return summons, reply


def test_continue_replies_with_the_next_passage(server, tmp_path):
    fake = server.fake
    cfg = reddit_config(tmp_path, server.url)
    summons, reply = _answer(server, cfg, "alice", "u/sprenbot Dorothy walked")
    link = reply["link_id"]
    more = fake.add_comment("bob", "Lovely.\n!continue and the road turned", link,
                            parent=reply["name"], reply_to_bot=True)
    chain = fake.add_comment("bob", "u/sprenbot again please", link, parent=reply["name"],
                             reply_to_bot=True)
    # marked read only after the reply is recorded: wait for both
    asyncio.run(run_until(cfg, lambda: _finished(cfg, more, chain) and not fake.is_unread(more)))
    (answer,) = fake.replies_to(more)
    assert answer["parent_id"] == more and answer["body"].startswith("> and the wind number")
    assert "I am a bot" in answer["body"]
    assert fake.replies_to(chain) == []  # anything else under the bot's reply is a chain
    rows = _ledger(cfg)
    assert (rows[more].kind, rows[more].state) == ("continue", "posted")
    assert rows[chain].error == "summon chain" and not fake.is_unread(more)
    root, cont = sorted(_rows(cfg, Passage), key=lambda p: p.id)
    assert (root.request_id, cont.request_id) == (summons, more)
    assert (cont.relation, cont.parent_id, cont.prompt) == ("continue", root.id,
                                                            "and the road turned")
    assert cont.context == f"{root.prompt}{root.output}\n\nand the road turned"
    assert cont.seed == rows[more].seed and cont.output in answer["body"].replace("\\", "")


def test_continue_keeps_the_opt_out_and_the_thread_cap(server, tmp_path):
    fake = server.fake
    cfg = reddit_config(tmp_path, server.url, per_thread_cap=2, continue_keyword="!more")
    _, reply = _answer(server, cfg, "alice", "u/sprenbot The Lion")
    link = reply["link_id"]
    fake.add_message("carol", "!optout")
    opted = fake.add_comment("carol", "!more", link, parent=reply["name"], reply_to_bot=True)
    first = fake.add_comment("dave", "!more", link, parent=reply["name"], reply_to_bot=True)
    old_word = fake.add_comment("erin", "!continue", link, parent=reply["name"],
                                reply_to_bot=True)  # the keyword is configurable
    asyncio.run(run_until(cfg, lambda: _finished(cfg, opted, first, old_word)))
    (answer,) = fake.replies_to(first)
    over = fake.add_comment("dave", "!more", link, parent=answer["name"], reply_to_bot=True)
    asyncio.run(run_until(cfg, lambda: _finished(cfg, over)))
    rows = _ledger(cfg)
    assert rows[opted].error == "opted out" and fake.replies_to(opted) == []
    assert rows[old_word].state == "skipped" and fake.replies_to(old_word) == []
    assert rows[over].error == "thread cap reached" and fake.replies_to(over) == []
