"""Stats commands through the real bot and discord.py: charts as PNGs, autocomplete, errors."""


import asyncio
from pathlib import Path

import discord  # noqa: F401
import pytest

from bot.app import open_store
from bot.ingest import Ingestor
from tests.e2e.discord_harness import make_config, running_bot
from tests.paths import OZ_DIR

OZ = OZ_DIR
BOOKS = ["01-the-wonderful-wizard-of-oz.txt", "02-the-marvelous-land-of-oz.txt"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """A data dir whose database holds two ingested Oz books."""
    if not all((OZ / b).exists() for b in BOOKS):
        pytest.skip(f"Oz corpus not found at {OZ.resolve()}")
    data = tmp_path_factory.mktemp("discord_library")
    cfg = make_config(data)
    store = open_store(cfg)
    try:
        results = Ingestor(store, cfg).run([OZ / b for b in BOOKS], jobs=1)
    finally:
        store.dispose()
    assert [r.status for r in results] == ["added", "added"], [r.error for r in results]
    return data


def _run(library: Path, steps, quick_answer_s: float | None = None):
    async def scenario():
        async with running_bot(make_config(library)) as bot:
            if quick_answer_s is not None:  # 0: defer first, as a slow answer would
                bot.adapter.flow.quick_answer_s = quick_answer_s
            exchanges = await steps(bot.fake)
            await bot.idle(*exchanges)
            return exchanges

    return asyncio.run(scenario())


def _chart_send(ex):
    """The call that carried the chart: the direct answer or the deferred message's edit."""
    return next(c for c in ex.sends() if c.files)


@pytest.mark.parametrize("deferred", [False, True])
def test_sentiment_sends_an_embed_with_the_png_chart(library, deferred):
    async def steps(fake):
        return [await fake.command("sentiment", {"book": "oz1"}),
                await fake.command("sentiment", {"book": "oz2", "range": "last 200"})]

    exchanges = _run(library, steps, 0.0 if deferred else None)
    for ex, title in zip(exchanges, ("Wonderful Wizard", "Land of Oz"), strict=True):
        assert ex.callback.body["type"] == (5 if deferred else 4)
        call = _chart_send(ex)
        body = call.body.get("data", call.body)
        (png,) = call.files
        assert png.data.startswith(PNG_MAGIC) and png.filename.endswith(".png")
        embed = body["embeds"][0]
        assert title in embed["title"]
        assert embed["image"]["url"] == f"attachment://{png.filename}"
        assert body["allowed_mentions"] == {"parse": []}
        assert not (body.get("flags") or 0) & 64  # public


def test_wordcount_sends_counts_and_a_chart(library):
    async def steps(fake):
        return [await fake.command("wordcount", {"term": "Scarecrow", "exact": True})]

    (ex,) = _run(library, steps)
    call = _chart_send(ex)
    body = call.body.get("data", call.body)
    assert call.files[0].data.startswith(PNG_MAGIC)
    assert "oz1" in body["embeds"][0]["description"]


def test_book_autocomplete_returns_matching_books(library):
    async def steps(fake):
        return [await fake.autocomplete("sentiment", "book", "wonder"),
                await fake.autocomplete("sentiment", "book", "oz")]

    wonder, oz = _run(library, steps)
    assert wonder.callback.body["type"] == 8
    choices = wonder.callback.body["data"]["choices"]
    assert choices == [{"name": "The Wonderful Wizard of Oz (oz1)", "value": "oz1"}]
    assert {c["value"] for c in oz.callback.body["data"]["choices"]} == {"oz1", "oz2"}


@pytest.mark.parametrize("deferred", [False, True])
def test_unknown_book_is_a_private_error_with_suggestions(library, deferred):
    async def steps(fake):
        return [await fake.command("sentiment", {"book": "Wonderfull Wizard of Oz"}),
                await fake.command("sentiment", {"book": "Harry Potter"})]

    for ex in _run(library, steps, 0.0 if deferred else None):
        sends = ex.sends()
        body = sends[-1].body.get("data", sends[-1].body)
        assert body["flags"] & 64
        assert "no book called" in body["content"]
        assert "oz1" in body["content"]  # a suggestion or the list of examples
        # a public "thinking…" message, if one was shown, is gone
        assert ex.callback.body["type"] == 4 or ex.deleted_original
