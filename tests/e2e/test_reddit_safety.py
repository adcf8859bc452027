"""Community safety on Reddit through real praw against the fake: no live u/ or r/ summons in
anything posted, moderator commands by private message, forget-me with exactly-once kept."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re

import pytest
from sqlalchemy import JSON, String, Text, select

from bot.store import AuditEntry, Base, RedditItem, Store, UsageCounter, load_salt
from tests.e2e.fake_reddit import FakeRedditServer
from tests.e2e.reddit_harness import EchoGenerator, reddit_config, run_until

LIVE = re.compile(r"(?<![\w\\])/?[ur]/[\w-]", re.IGNORECASE)  # what Reddit would link


class MentioningGenerator(EchoGenerator):
    """A model that itself writes summonses into its passages."""

    def generate(self, prompts, params, on_token=None, should_stop=None, **no_joins):
        return [dataclasses.replace(r, text="Then u/modelvictim and /U/other went to "
                                    "r/elsewhere and /r/oz. " + r.text)
                for r in super().generate(prompts, params)]


@pytest.fixture
def server():
    with FakeRedditServer() as srv:
        yield srv


def _run(cfg, done, **kw):
    # generous: the first generation imports torch, which takes a while on a busy machine
    return asyncio.run(run_until(cfg, done, timeout=90.0, **kw))


def test_no_reply_holds_a_live_user_or_subreddit_mention(server, tmp_path):
    fake = server.fake
    link = fake.add_link("oz")
    a = fake.add_comment("alice", "u/sprenbot Dorothy met u/victim and /u/victim in r/oz",
                         link, mention=True)
    b = fake.add_comment("bob", "!oz Ozma called U/Victim\u200b and u/\u200bvictim2", link)
    cfg = reddit_config(tmp_path, server.url)
    _run(cfg, lambda: fake.replies_to(a) and fake.replies_to(b),
         generator=MentioningGenerator())
    for fullname in (a, b):
        (reply,) = fake.replies_to(fullname)
        body = reply["body"]
        assert not LIVE.search(body), body
        assert "victim" in body and "modelvictim" in body  # the words stay, defused
    sent = fake.calls("POST", "/api/comment")
    assert sent and all(not LIVE.search(form["text"]) for form in sent)


def test_moderators_pause_a_subreddit_by_private_message(server, tmp_path):
    fake = server.fake
    fake.moderators["oz"] = {"ModBob"}
    link = fake.add_link("oz")
    cfg = reddit_config(tmp_path, server.url)
    pause = fake.add_message("modbob", "!mod r/oz pause")
    sneaky = fake.add_message("mallory", "!mod oz resume")
    _run(cfg, lambda: fake.replies_to_message(pause) and fake.replies_to_message(sneaky))
    assert "paused here" in fake.replies_to_message(pause)[0]["body"]
    assert "Only the moderators of r\\/oz" in fake.replies_to_message(sneaky)[0]["body"]
    quiet = fake.add_comment("carol", "!oz Dorothy walked", link)
    _run(cfg, lambda: _ledger(cfg).get(quiet) is not None
         and _ledger(cfg)[quiet].state == "failed")
    assert fake.replies_to(quiet) == [] and "paused" in _ledger(cfg)[quiet].error
    resume = fake.add_message("modbob", "!mod oz resume")
    again = fake.add_comment("carol", "!oz Dorothy walked on", link)
    _run(cfg, lambda: fake.replies_to_message(resume) and fake.replies_to(again))
    store = Store(cfg.database_url, salt="x")
    with store.session() as s:
        assert [r.action for r in s.scalars(select(AuditEntry).order_by(AuditEntry.id))] == [
            "pause", "resume"]
    store.dispose()


def test_forget_me_removes_every_trace_and_exactly_once_still_holds(server, tmp_path):
    fake = server.fake
    link = fake.add_link("oz")
    cfg = reddit_config(tmp_path, server.url)
    secret = "Dorothy whispered the zanzibar plan"
    summons = fake.add_comment("Alice", f"!oz {secret}", link)
    mention = fake.add_comment("alice", f"u/sprenbot {secret} again", link, mention=True)
    progress = fake.add_message("alice", "!progress clear")
    bystander = fake.add_comment("bob", "!oz The Scarecrow thought", link)
    _run(cfg, lambda: fake.replies_to(summons) and fake.replies_to(mention)
         and fake.replies_to(bystander) and fake.replies_to_message(progress))
    key = Store(cfg.database_url, salt=load_salt(cfg.data_dir, None)).user_key("reddit",
                                                                                "alice")
    assert _holding(cfg, key, "zanzibar"), "the test should start with alice's data stored"

    forget = fake.add_message("alice", "!forgetme")
    _run(cfg, lambda: fake.replies_to_message(forget))
    assert "deleted" in fake.replies_to_message(forget)[0]["body"]
    assert _holding(cfg, key, "zanzibar") == []
    assert _holding(cfg, "", "The Scarecrow thought")  # other people's rows are untouched
    rows = _ledger(cfg)
    assert rows[summons].state == "posted" and rows[summons].reply_fullname
    with Store(cfg.database_url, salt="x").session() as s:
        assert sum(c.count for c in s.scalars(select(UsageCounter))) >= 3

    # the same comments come round again in the stream and the inbox: nothing twice
    late = fake.add_comment("dave", "!oz A new day", fake.add_link("oz"))  # (thread cap: 3)
    _run(cfg, lambda: fake.replies_to(late))
    for fullname in (summons, mention, bystander):
        assert len(fake.replies_to(fullname)) == 1
    assert len(fake.replies_to_message(forget)) == 1
    assert len(fake.replies_to_message(progress)) == 1


def _ledger(cfg) -> dict[str, RedditItem]:
    store = Store(cfg.database_url, salt="x")
    try:
        with store.session() as s:
            return {r.fullname: r for r in s.scalars(select(RedditItem))}
    finally:
        store.dispose()


def _holding(cfg, key: str, text: str) -> list[tuple[str, str]]:
    """(table, column) of every text cell in every table that holds ``key`` or ``text``."""
    store = Store(cfg.database_url, salt="x")
    found = []
    try:
        with store.session() as s:
            for table in Base.metadata.sorted_tables:
                cols = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
                for row in s.execute(select(*cols)) if cols else []:
                    for col, value in zip(cols, row, strict=True):
                        cell = value if isinstance(value, str) else json.dumps(value)
                        if (key and key in cell) or text.lower() in cell.lower():
                            found.append((table.name, col.name))
    finally:
        store.dispose()
    return found
