"""The store on SQLite and PostgreSQL alike: what users type is logged whatever it holds."""

from __future__ import annotations

from sqlalchemy import select

from bot import migrate
from bot.adapters.reddit.ledger import Ledger
from bot.adapters.reddit.rules import Summon
from bot.store import Interaction, RedditItem, Store


def test_nul_characters_and_overlong_ids_do_not_lose_log_rows(db_url):
    migrate.upgrade(db_url)
    store = Store(db_url, salt="pepper")
    try:
        row_id = store.log_interaction(platform="discord", request_id="r" * 500,
                                       user=store.user_key("discord", "1"), command="oz",
                                       channel="c" * 200, options={"seed": "\x00"},
                                       prompt="Toto\x00 ran", outcome="ok")
        summon = Summon(fullname="t1_nul", kind="keyword", body="!oz To\x00to", author="a",
                        subreddit="oz", link_id="t3_x", parent_id="t3_x")
        assert Ledger(store).insert(summon, "k", "To\x00to", "queued")
        with store.session() as s:
            logged = s.get(Interaction, row_id)
            prompt = s.scalar(select(RedditItem.prompt))
    finally:
        store.dispose()
    # PostgreSQL text cannot hold NUL: it is stored as U+FFFD there
    assert logged.prompt in ("Toto\x00 ran", "Toto\ufffd ran")
    assert prompt in ("To\x00to", "To\ufffdto")
    assert logged.request_id == "r" * 64 and logged.channel == "c" * 80
