"""The Reddit ledger: one row per summons, caps, opt-outs, bans, reconciliation (on SQLite
and PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest

from bot import migrate
from bot.adapters.reddit.adapter import backoff, credentials_from_env
from bot.adapters.reddit.ledger import Ledger
from bot.adapters.reddit.passages import join_passage
from bot.adapters.reddit.rules import Summon
from bot.config import load_config
from bot.errors import ConfigError
from bot.store import Store


@pytest.fixture
def ledger(db_url):
    """A ledger on an empty database of each kind (SQLite, PostgreSQL)."""
    migrate.upgrade(db_url)
    store = Store(db_url, salt="pepper")
    yield Ledger(store)
    store.dispose()


def summon(n: int, author="alice", link="t3_l", parent="t3_l") -> Summon:
    return Summon(fullname=f"t1_{n}", kind="keyword", body="!oz x", author=author,
                  subreddit="oz", link_id=link, parent_id=parent)


def test_insert_is_once_per_fullname(ledger):
    key = ledger.user_key("Alice")
    assert key == ledger.user_key("alice") and "alice" not in key
    assert ledger.insert(summon(1), key, "p", "queued")
    assert not ledger.insert(summon(1), key, "p", "queued")
    assert ledger.get("t1_1").state == "queued"


def test_due_respects_next_attempt_and_final_states(ledger):
    now = datetime.now(UTC)
    for n, state in enumerate(["queued", "posting", "posted", "skipped", "ready"]):
        ledger.insert(summon(n), "k", "p", state)
    ledger.update("t1_4", next_attempt_at=now + timedelta(minutes=5))
    assert [r.fullname for r in ledger.due(now)] == ["t1_0", "t1_1"]
    assert [r.fullname for r in ledger.due(now + timedelta(minutes=6))] == [
        "t1_0", "t1_1", "t1_4"]


def test_facts_count_threads_users_chains_and_bans(ledger):
    now = datetime.now(UTC)
    key = ledger.user_key("alice")
    ledger.insert(summon(1), key, "p", "posted")
    ledger.update("t1_1", reply_fullname="t1_r")
    ledger.insert(summon(2), key, "p", "skipped")
    ledger.insert(summon(3, author="bob"), ledger.user_key("bob"), "p", "queued")
    facts = ledger.facts(summon(4, parent="t1_r"), key, now)
    assert (facts.thread_replies, facts.user_replies_last_hour) == (2, 1)
    assert facts.parent_is_bot_reply and not facts.opted_out and not facts.banned
    ledger.set_opt_out(key, True)
    ledger.ban("Oz", now, recheck_hours=1)
    facts = ledger.facts(summon(4), key, now)
    assert facts.opted_out and facts.banned
    assert not ledger.facts(summon(4), key, now + timedelta(hours=2)).banned
    ledger.set_opt_out(key, False)
    assert not ledger.is_opted_out(key)


def test_reconcile_marks_found_replies_posted(ledger):
    ledger.insert(summon(1), "k", "p", "posting")
    ledger.insert(summon(2), "k", "p", "posting")
    assert ledger.reconcile({"t1_1": "t1_reply", "t1_9": "t1_other"}) == ["t1_1"]
    row = ledger.get("t1_1")
    assert (row.state, row.reply_fullname) == ("posted", "t1_reply")
    assert ledger.get("t1_2").state == "posting"


def test_pending_read(ledger):
    ledger.insert(summon(1), "k", "p", "posted")
    ledger.insert(summon(2), "k", "p", "queued")
    ledger.insert(summon(3), "k", "p", "failed")
    ledger.update("t1_3", marked_read=True)
    assert ledger.pending_read(["t1_1", "t1_2", "t1_3"]) == ["t1_1"]


def test_credentials_come_from_the_environment(monkeypatch):
    cfg = load_config(None, environ={}, overrides={"reddit": {"client_id_env": "MY_ID"}})
    for name in ("MY_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USERNAME", "REDDIT_PASSWORD"):
        monkeypatch.setenv(name, name.lower())
    monkeypatch.setenv("REDDIT_PASSWORD", "")
    with pytest.raises(ConfigError, match="REDDIT_PASSWORD is not set"):
        credentials_from_env(cfg)
    monkeypatch.setenv("REDDIT_PASSWORD", "pw")
    creds = credentials_from_env(cfg)
    assert (creds.client_id, creds.username, creds.password) == ("my_id", "reddit_username", "pw")


def test_backoff_grows_and_is_capped():
    assert [backoff(n, 1.0) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert backoff(50, 1.0) == 600.0


def test_join_passage():
    assert join_passage("Dorothy walked", "home. The end.") == "Dorothy walked home. The end."
    assert join_passage("Dorothy walked", ", slowly.") == "Dorothy walked, slowly."
    assert join_passage("Dorothy walked", "…") == "Dorothy walked"
