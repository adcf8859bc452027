"""Edge sizes answer instead of crashing: one-sentence books, `last 1`, tiny ranges."""

import asyncio

import pytest

from bot.app import open_app, open_store
from bot.ingest import Ingestor
from bot.messages import Request
from tests.bot.conftest import make_config


@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory):
    home = tmp_path_factory.mktemp("tiny")
    one = home / "01-one.txt"
    one.write_text("Dorothy lived in Kansas.\n", encoding="utf-8")
    two = home / "02-two.txt"
    two.write_text("CHAPTER I\n\nCHAPTER II\n\nThe wind rose. The house spun.\n\nCHAPTER III\n\n"
                   "It landed softly.\n", encoding="utf-8")
    cfg = make_config(home)
    store = open_store(cfg)
    results = Ingestor(store, cfg).run([one, two], jobs=1)
    store.dispose()
    assert [r.status for r in results] == ["added", "added"], [r.error for r in results]
    return home


def _ask(home, requests):
    async def go():
        async with open_app(make_config(home), load_model=False) as app:
            return [await app.dispatcher.handle(Request("test", "u", c, a)) for c, a in requests]

    return asyncio.run(go())


@pytest.mark.parametrize("book, spec, sentences", [
    ("oz1", "", 1), ("oz1", "last 1", 1), ("oz1", "first 1", 1), ("oz1", "last 9999999", 1),
    ("oz2", "", 3), ("oz2", "last 1", 1), ("oz2", "first 2", 2), ("oz2", "last 3", 3),
])
def test_tiny_books_and_ranges_answer_with_a_chart(tiny_library, book, spec, sentences):
    [reply] = _ask(tiny_library, [("sentiment", {"book": book, "range": spec})])
    assert reply.outcome == "ok", reply.text
    assert f"Sentences: {sentences} " in reply.text
    assert "too short" in reply.text or spec == ""
    assert reply.files[0].data.startswith(b"\x89PNG")


def test_last_one_of_a_real_book_and_refused_ranges(oz_library):
    replies = _ask(oz_library, [("sentiment", {"book": "oz1", "range": "last 1"}),
                                ("sentiment", {"book": "oz1", "range": "first 2"}),
                                ("sentiment", {"book": "oz1", "range": "last 0"}),
                                ("sentiment", {"book": "oz1", "range": "last " + "9" * 50}),
                                ("sentiment", {"book": "x" * 5000}),
                                ("wordcount", {"term": "w" * 5000})])
    assert [r.outcome for r in replies] == ["ok", "ok"] + ["refused"] * 4
    assert "last 1 sentence\nSentences: 1 " in replies[0].text
    assert all(len(r.text) < 400 for r in replies[2:])  # nothing long is echoed back
