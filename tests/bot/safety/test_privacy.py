"""Forget-me and retention against a real (migrated) SQLite database."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import open_store
from bot.safety import privacy, progress
from bot.safety.moderation import Change, Moderation
from bot.store import (
    AuditEntry,
    BlockedUser,
    FilterEvent,
    Interaction,
    OptOut,
    ReadingProgress,
    RedditItem,
    UsageCounter,
)
from tests.bot.conftest import make_config


@pytest.fixture
def store(tmp_path):
    s = open_store(make_config(tmp_path))
    yield s
    s.dispose()


def _fill(store, platform: str, user: str, text: str, when: datetime) -> str:
    key = store.user_key(platform, user)
    store.log_interaction(platform=platform, user=key, command="oz", options={"term": text},
                          outcome="ok", prompt=text, output=text + " went on", created_at=when)
    progress.save(store, platform, key, "oz1", progress.Entry(3))
    with store.session() as s:
        s.add(OptOut(platform=platform, user=key))
        s.add(FilterEvent(platform=platform, user=key, stage="output", action="mask", hits=1,
                          terms="x", created_at=when))
        s.add(RedditItem(fullname=f"t1_{user}", kind="keyword", subreddit="oz", author=key,
                         link_id="t3_a", prompt=text, state="queued", attempts=0,
                         output=text, created_at=when, updated_at=when))
    return key


def test_forget_me_removes_one_person_and_keeps_anonymous_counts(store):
    now = datetime.now(UTC)
    gone = _fill(store, "reddit", "alice", "alice's secret", now)
    kept = _fill(store, "reddit", "bob", "bob's prompt", now)
    Moderation(store).apply(Change("reddit", "oz", kept, "block", target=gone))

    report = privacy.forget(store, "reddit", gone)
    assert report.counts["logged requests"] == 1 and report.total >= 5
    with store.session() as s:
        for model in (Interaction, ReadingProgress, OptOut, FilterEvent):
            users = [r.user for r in s.scalars(select(model))]
            assert users == [kept], model.__tablename__
        rows = {r.fullname: r for r in s.scalars(select(RedditItem))}
        alice = rows["t1_alice"]  # kept for exactly-once, without text or author
        assert (alice.author, alice.prompt, alice.output, alice.state) == (
            privacy.FORGOTTEN, "", None, "skipped")
        assert rows["t1_bob"].prompt == "bob's prompt"
        counts = {(c.command, c.outcome): c.count for c in s.scalars(select(UsageCounter))}
        assert counts == {("oz", "ok"): 1, ("forget-me", "ok"): 1}
        # a moderator's block stays (it holds no text, and forgetting must not lift it)
        assert [b.user for b in s.scalars(select(BlockedUser))] == [gone]
        assert len(s.scalars(select(AuditEntry)).all()) == 1


def test_retention_deletes_old_text_only(store):
    now = datetime.now(UTC)
    old = _fill(store, "discord", "carol", "old words", now - timedelta(days=40))
    _fill(store, "discord", "dave", "new words", now)
    with store.session() as s:
        item = s.get(RedditItem, "t1_carol")
        item.state, item.updated_at = "posted", now - timedelta(days=40)
    done = privacy.purge_old(store, keep_days=30, now=now)
    assert done == {"interactions": 1, "reddit_items": 1, "filter_events": 1}
    with store.session() as s:
        rows = {r.user: r for r in s.scalars(select(Interaction))}
        assert (rows[old].prompt, rows[old].output, rows[old].options) == (None, None, {})
        assert rows[old].outcome == "ok"  # the row (a count) stays
        assert rows[store.user_key("discord", "dave")].prompt == "new words"
        assert s.get(RedditItem, "t1_carol").prompt == ""
        assert s.get(RedditItem, "t1_carol").state == "posted"
    assert privacy.purge_old(store, keep_days=0, now=now) == {}
