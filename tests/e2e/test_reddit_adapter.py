"""The real RedditAdapter and real praw against the fake Reddit on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from bot.store import OptOut, RedditItem, Store, SubredditBan
from tests.e2e.fake_reddit import BOT, FakeRedditServer, Fault
from tests.e2e.reddit_harness import reddit_config, run_until


@pytest.fixture
def server():
    with FakeRedditServer() as srv:
        yield srv


def _run(cfg, done, **kw):
    return asyncio.run(run_until(cfg, done, **kw))


def _ledger(cfg) -> dict[str, RedditItem]:
    store = Store(cfg.database_url, salt="x")
    try:
        with store.session() as s:
            return {r.fullname: r for r in s.scalars(select(RedditItem))}
    finally:
        store.dispose()


def _settled(fake, *fullnames) -> bool:
    """Every item has a reply or is read (finished)."""
    return all(fake.replies_to(f) or not fake.is_unread(f) for f in fullnames)


def test_mention_gets_one_reply_then_is_marked_read(server, tmp_path):
    fake = server.fake
    link = fake.add_link("anywhere")
    c = fake.add_comment("alice", "Great chapter.\nu/sprenbot Dorothy walked [home](http://x.y)",
                         link, mention=True)
    cfg = reddit_config(tmp_path, server.url)
    _run(cfg, lambda: not fake.is_unread(c) and _ledger(cfg)[c].marked_read)
    (reply,) = fake.replies_to(c)
    assert reply["parent_id"] == c and reply["link_id"] == link
    assert reply["body"].startswith("> Dorothy walked home and the wind")
    assert "I am a bot" in reply["body"] and "!optout" in reply["body"]
    order = [(m, p) for m, p, _ in fake.requests]
    assert order.index(("POST", "/api/comment")) < order.index(("POST", "/api/read_message"))
    assert fake.calls("POST", "/api/v1/access_token")
    row = _ledger(cfg)[c]
    assert (row.state, row.reply_fullname, row.marked_read) == ("posted", reply["name"], True)
    assert row.author != "alice" and row.seed is not None and "Dorothy walked" in row.output


def test_keyword_only_in_listed_subreddits_and_spoilers(server, tmp_path):
    fake = server.fake
    listed, spoiler, unlisted = (fake.add_link(s) for s in ("oz", "ozspoilers", "elsewhere"))
    a = fake.add_comment("bob", "!oz The Tin Woodman said", listed)
    b = fake.add_comment("bob", "ok !OZ Glinda smiled", spoiler)
    c = fake.add_comment("bob", "!oz nobody answers here", unlisted)
    cfg = reddit_config(tmp_path, server.url, subreddits=["oz", "r/ozspoilers"],
                        spoiler_subreddits=["ozspoilers"])
    _run(cfg, lambda: fake.replies_to(a) and fake.replies_to(b))
    assert fake.replies_to(a)[0]["body"].startswith("> The Tin Woodman said")
    assert fake.replies_to(b)[0]["body"].startswith("> >!Glinda smiled") and "!<" in \
        fake.replies_to(b)[0]["body"]
    assert fake.replies_to(c) == []
    assert c not in _ledger(cfg)


def test_guards_refuse_self_bots_chains_and_opted_out_users(server, tmp_path):
    fake = server.fake
    link = fake.add_link("oz")
    mine = fake.add_comment(BOT, "!oz talking to myself", link)
    robot = fake.add_comment("OtherBot", "!oz beep", link)
    out = fake.add_message("carol", "!optout")
    optout_first = fake.add_comment("carol", "u/sprenbot please", link, mention=True)
    ok = fake.add_comment("dave", "u/SprenBot The Scarecrow", link, mention=True)
    cfg = reddit_config(tmp_path, server.url)
    _run(cfg, lambda: fake.replies_to(ok) and not fake.is_unread(out)
         and not fake.is_unread(optout_first))
    (bot_reply,) = fake.replies_to(ok)
    chain = fake.add_comment("dave", "u/sprenbot again!", link, parent=bot_reply["name"],
                             reply_to_bot=True)
    _run(cfg, lambda: not fake.is_unread(chain))
    for fullname in (mine, robot, optout_first, chain):
        assert fake.replies_to(fullname) == []
    rows = _ledger(cfg)
    assert rows[optout_first].error == "opted out" and rows[chain].error == "summon chain"
    assert rows[mine].error == "own comment" and rows[robot].error == "ignored user"
    assert len(fake.replies_to(ok)) == 1 and fake.sent == []


def test_optin_after_optout_is_answered_again(server, tmp_path):
    fake = server.fake
    link = fake.add_link("oz")
    fake.add_message("erin", "!optout")
    cfg = reddit_config(tmp_path, server.url)
    _run(cfg, lambda: not any(fake.is_unread(i["data"]["name"]) for i in fake.inbox))
    store = Store(cfg.database_url, salt="x")
    with store.session() as s:
        assert len(s.scalars(select(OptOut)).all()) == 1
    store.dispose()
    fake.add_message("erin", "!optin\nthanks")
    c = fake.add_comment("erin", "!oz Ozma ruled", link)
    _run(cfg, lambda: fake.replies_to(c))
    assert len(fake.replies_to(c)) == 1


def test_locked_thread_gets_no_reply_but_a_private_message(server, tmp_path):
    fake = server.fake
    locked = fake.add_link("oz", locked=True)
    c = fake.add_comment("frank", "u/sprenbot Dorothy slept", locked, mention=True)
    cfg = reddit_config(tmp_path, server.url)
    _run(cfg, lambda: not fake.is_unread(c) and fake.sent)
    assert fake.replies_to(c) == []
    (pm,) = fake.sent
    assert pm["to"] == "frank" and "locked" in pm["text"] and "Dorothy slept" in pm["text"]
    row = _ledger(cfg)[c]
    assert row.state == "failed" and "THREAD_LOCKED" in row.error


@pytest.mark.parametrize("after_create", [False, True])
def test_server_error_on_post_still_gives_exactly_one_reply(server, tmp_path, after_create):
    fake = server.fake
    link = fake.add_link("oz")
    c = fake.add_comment("gail", "u/sprenbot The lion roared", link, mention=True)
    fake.fail(Fault("/api/comment", 500, after_create=after_create))
    cfg = reddit_config(tmp_path, server.url)
    _run(cfg, lambda: not fake.is_unread(c))
    assert len(fake.replies_to(c)) == 1
    assert len(fake.calls("POST", "/api/comment")) == (1 if after_create else 2)


def test_ratelimit_reschedules_the_reply(server, tmp_path):
    fake = server.fake
    link = fake.add_link("oz")
    c = fake.add_comment("hank", "!oz Toto barked", link)
    # praw sleeps through RATELIMITs of up to 5 s itself; a longer one comes to the adapter
    fake.fail(Fault("/api/comment", ratelimit="Looks like you've been doing that a lot. "
                    "Take a break for 6 seconds before trying again."))
    cfg = reddit_config(tmp_path, server.url)
    started = time.monotonic()
    # Wait for the ledger too: stopping the adapter right after the fake saw the reply could
    # cancel it before it records "posted" (a crash, which the ledger recovers from).
    _run(cfg, lambda: fake.replies_to(c) and c in (led := _ledger(cfg))
         and led[c].state == "posted", timeout=30)
    assert time.monotonic() - started >= 5.5  # it waited as Reddit said
    assert len(fake.replies_to(c)) == 1 and len(fake.calls("POST", "/api/comment")) == 2
    row = _ledger(cfg)[c]
    assert row.state == "posted" and row.attempts == 1


def test_banned_subreddit_is_recorded_and_skipped(server, tmp_path):
    fake = server.fake
    fake.banned.add("oz")
    link = fake.add_link("oz")
    c = fake.add_comment("ivy", "!oz The Wizard", link)
    cfg = reddit_config(tmp_path, server.url)
    _run(cfg, lambda: _ledger(cfg).get(c) is not None and _ledger(cfg)[c].state == "failed")
    later = fake.add_comment("ivy", "!oz The Wizard again", link)
    _run(cfg, lambda: later in _ledger(cfg))
    rows = _ledger(cfg)
    assert rows[later].state == "skipped" and rows[later].error == "banned from subreddit"
    store = Store(cfg.database_url, salt="x")
    with store.session() as s:
        (ban,) = s.scalars(select(SubredditBan)).all()
        assert ban.subreddit == "oz"
    store.dispose()
    assert fake.replies_to(c) == [] and fake.replies_to(later) == []


def test_reply_made_before_a_lost_ledger_is_not_repeated(server, tmp_path):
    """Start-up reconciliation: the bot's own comments say what it already answered."""
    fake = server.fake
    link = fake.add_link("oz")
    c = fake.add_comment("jo", "u/sprenbot Kansas", link, mention=True)
    fake._make_comment(BOT, "> an earlier answer", link, c)
    cfg = reddit_config(tmp_path, server.url)
    _run(cfg, lambda: not fake.is_unread(c))
    assert len(fake.replies_to(c)) == 1
    assert fake.calls("POST", "/api/comment") == []
    assert _ledger(cfg)[c].state == "posted"


def test_per_thread_cap(server, tmp_path):
    fake = server.fake
    link = fake.add_link("oz")
    cs = [fake.add_comment(f"user{i}", f"!oz line {i}", link) for i in range(3)]
    cfg = reddit_config(tmp_path, server.url, per_thread_cap=2)
    _run(cfg, lambda: sum(bool(fake.replies_to(c)) for c in cs) == 2
         and len(_ledger(cfg)) == 3)
    assert [bool(fake.replies_to(c)) for c in cs] == [True, True, False]
    assert _ledger(cfg)[cs[2]].error == "thread cap reached"
