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


def test_the_log_writer_keeps_rows_of_every_shape_and_length(db_url, caplog):
    """The Dispatcher's rows and the adapters' shorter ones (a refusal names fewer columns)
    arrive in the same batch under load; one multi-row insert takes its columns from its
    first row, so such a batch used to fail and go row by row with a warning. An overlong
    model id was refused by PostgreSQL there, and the row lost."""
    import asyncio

    from bot.store.log_writer import InteractionWriter

    migrate.upgrade(db_url)
    store = Store(db_url, salt="pepper")
    writer = InteractionWriter(store)
    full = dict(platform="discord", command="oz", options={}, outcome="ok", prompt="Toto",
                seed=7, model_id="m" * 300, output="ran", queue_wait_s=0.1, generation_s=0.2)
    short = dict(platform="discord", command="oz", options={}, outcome="refused",
                 error="not in this channel")

    async def burst() -> None:
        await asyncio.gather(*(writer.write(request_id=f"r{i}", user=f"u{i}",
                                            **(full if i % 3 else short)) for i in range(60)))
        await writer.close()

    try:
        with caplog.at_level("WARNING", logger="bot.store.log_writer"):
            asyncio.run(burst())
        with store.session() as s:
            rows = s.scalars(select(Interaction).order_by(Interaction.id)).all()
    finally:
        store.dispose()
    assert not [r for r in caplog.records if r.name == "bot.store.log_writer"], caplog.text
    assert [r.request_id for r in rows] == [f"r{i}" for i in range(60)]  # every row, in order
    assert {(r.outcome, r.seed, r.model_id) for r in rows} == {
        ("ok", 7, "m" * 200), ("refused", None, None)}
