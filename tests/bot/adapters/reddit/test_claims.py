"""Claims on ledger rows across bot processes, on SQLite and PostgreSQL: one winner per row,
leases that expire, fenced writes, and freeing the claims of processes that died."""

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot import migrate
from bot.adapters.reddit.ledger import CLAIM_S, Ledger, LostClaim, process_id
from bot.adapters.reddit.rules import Summon
from bot.store import Store


@pytest.fixture
def store(db_url):
    migrate.upgrade(db_url)
    store = Store(db_url, salt="pepper")
    yield store
    store.dispose()


def summon(n: int) -> Summon:
    return Summon(fullname=f"t1_{n}", kind="keyword", body="!oz x", author="alice",
                  subreddit="oz", link_id=f"t3_{n}", parent_id=f"t3_{n}")


def test_one_process_holds_a_row_and_the_other_keeps_off(store):
    now = datetime.now(UTC)
    a, b = Ledger(store, owner="host-a/1"), Ledger(store, owner="host-b/1")
    a.insert(summon(1), "k", "p", "queued")
    row = a.claim("t1_1", now)
    assert row is not None and row.state == "queued"
    assert b.claim("t1_1", now) is None
    assert [r.fullname for r in b.due(now)] == [] and [r.fullname for r in a.due(now)] == ["t1_1"]
    a.update("t1_1", state="generating")
    with pytest.raises(LostClaim):
        b.update("t1_1", state="posting")
    assert a.get("t1_1").state == "generating"
    a.release("t1_1")
    assert b.claim("t1_1", now) is not None


def test_a_lapsed_claim_can_be_taken_and_fences_out_its_old_holder(store):
    now = datetime.now(UTC)
    a, b = Ledger(store, owner="host-a/1"), Ledger(store, owner="host-b/1")
    a.insert(summon(1), "k", "p", "ready")
    assert a.claim("t1_1", now, lease_s=10) is not None
    assert b.claim("t1_1", now + timedelta(seconds=5)) is None
    assert a.renew(["t1_1"], now + timedelta(seconds=5), lease_s=10) == 1  # now till +15 s
    assert b.claim("t1_1", now + timedelta(seconds=12)) is None
    assert b.claim("t1_1", now + timedelta(seconds=16)) is not None
    assert a.renew(["t1_1"], now + timedelta(seconds=16)) == 0
    with pytest.raises(LostClaim):  # a stalled holder cannot move the row to posting
        a.update("t1_1", state="posting")


def test_only_unfinished_due_rows_are_claimed(store):
    now = datetime.now(UTC)
    a = Ledger(store, owner="host-a/1")
    for n, state in enumerate(["posted", "skipped", "failed", "queued"]):
        a.insert(summon(n), "k", "p", state)
    a.update("t1_3", next_attempt_at=now + timedelta(minutes=1))
    assert [a.claim(f"t1_{n}", now) for n in range(4)] == [None] * 4
    assert a.claim("t1_3", now + timedelta(minutes=2)) is not None
    assert a.claim("t1_404", now) is None


def test_simultaneous_claims_have_exactly_one_winner(store):
    """Eight claimants (each with its own connection pool) race for the same 20 rows."""
    now = datetime.now(UTC)
    Ledger(store).insert(summon(0), "k", "p", "queued")
    for n in range(1, 20):
        Ledger(store).insert(summon(n), "k", "p", "queued")
    wins: dict[str, list[str]] = {f"t1_{n}": [] for n in range(20)}
    start = threading.Barrier(8)

    def race(i: int) -> None:
        own = Store(store.url, salt="pepper")
        ledger = Ledger(own, owner=f"host-{i}/1")
        start.wait()
        for fullname in wins:
            if ledger.claim(fullname, now) is not None:
                wins[fullname].append(ledger.owner)
        own.dispose()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert {f: len(w) for f, w in wins.items()} == dict.fromkeys(wins, 1)


def test_claims_of_dead_processes_on_this_host_are_freed(store):
    now = datetime.now(UTC)
    host = process_id().rpartition("/")[0]
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    owners = {1: f"{host}/{gone}", 2: f"{host}/1", 3: f"elsewhere/{gone}"}  # pid 1 lives
    for n, owner in owners.items():
        Ledger(store).insert(summon(n), "k", "p", "queued")
        assert Ledger(store, owner=owner).claim(f"t1_{n}", now) is not None
    me = Ledger(store)
    assert me.release_dead() == 1
    assert me.claim("t1_1", now) is not None
    assert me.claim("t1_2", now) is None and me.claim("t1_3", now) is None
    assert me.claim("t1_3", now + timedelta(seconds=CLAIM_S + 1)) is not None
