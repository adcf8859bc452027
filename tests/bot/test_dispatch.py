"""The dispatcher: command parsing, stats answers, user errors, and the interaction log."""

import asyncio

import pytest
from sqlalchemy import select

from bot.app import open_app
from bot.dispatch import parse_command_line
from bot.errors import BadRequest
from bot.messages import Request
from bot.store import Interaction


@pytest.mark.parametrize("line, command, args", [
    ("/sentiment oz3", "sentiment", {"book": "oz3", "range": ""}),
    ("/sentiment ozma of oz last 200", "sentiment", {"book": "ozma of oz", "range": "last 200"}),
    ("/wordcount Tin Woodman exact", "wordcount", {"term": "Tin Woodman", "exact": True}),
    ("/wordcount Dorothy", "wordcount", {"term": "Dorothy", "exact": False}),
    ("/oz Dorothy walked seed=7 length=40", "oz",
     {"prompt": "Dorothy walked", "seed": "7", "length": "40"}),
    ("/oz x=1 is a prompt", "oz", {"prompt": "x=1 is a prompt"}),
    ("help", "help", {"text": ""}),
])
def test_parse_command_line(line, command, args):
    assert parse_command_line(line, "oz") == (command, args)


def test_parse_empty_line_is_refused():
    with pytest.raises(BadRequest):
        parse_command_line("   ", "oz")


def ask(cfg, command, **args):
    async def go():
        async with open_app(cfg, load_model=False) as app:
            reply = await app.dispatcher.handle(Request("test", "user-1", command, args))
            with app.store.session() as s:
                row = s.scalars(select(Interaction).order_by(Interaction.id.desc())).first()
            return reply, row
    return asyncio.run(go())


def test_sentiment_answers_with_stats_and_a_png(oz_cfg):
    reply, row = ask(oz_cfg, "sentiment", book="ozma")
    assert reply.outcome == "ok"
    assert "Ozma of Oz" in reply.text and "Sentences:" in reply.text
    assert "Most positive chapter" in reply.text and "Most negative chapter" in reply.text
    assert reply.files[0].data.startswith(b"\x89PNG")
    assert row.command == "sentiment" and row.outcome == "ok"
    assert row.user != "user-1" and len(row.user) == 32  # a salted hash, not the raw id


def test_sentiment_range_counts_sentences(oz_cfg):
    reply, _ = ask(oz_cfg, "sentiment", book="oz1", range="last 50")
    assert "last 50 sentences" in reply.text and "Sentences: 50 " in reply.text


def test_unknown_book_gets_suggestions_privately(oz_cfg):
    reply, row = ask(oz_cfg, "sentiment", book="ozmaa of oz")
    assert reply.private and reply.outcome == "refused"
    assert "oz3" in reply.text
    assert row.outcome == "refused"


def test_wordcount_exact_versus_substring(oz_cfg):
    loose, _ = ask(oz_cfg, "wordcount", term="oz")
    exact, _ = ask(oz_cfg, "wordcount", term="oz", exact=True)
    assert loose.meta["total"] > exact.meta["total"] > 0  # "Ozma" counts only when loose
    assert set(exact.meta["counts"]) == {"oz1", "oz2", "oz3"}
    assert exact.files[0].data.startswith(b"\x89PNG")


def test_wordcount_multiword_term(oz_cfg):
    reply, _ = ask(oz_cfg, "wordcount", term="Tin Woodman", exact=True)
    assert reply.meta["counts"]["oz1"] > 50


@pytest.mark.parametrize("command, args, fragment", [
    ("nonsense", {}, "unknown command"),
    ("wordcount", {"term": ""}, "which word"),
    ("sentiment", {"book": "oz1", "range": "middle 5"}, "first N"),
    ("oz", {"prompt": ""}, "give me the start"),
    ("oz", {"prompt": "x" * 5000}, "limit is 500"),
])
def test_user_errors_are_clear_and_private(oz_cfg, command, args, fragment):
    reply, _ = ask(oz_cfg, command, **args)
    assert reply.private and reply.outcome == "refused"
    assert fragment in reply.text


def test_help_books_about(oz_cfg):
    assert "/wordcount" in ask(oz_cfg, "help")[0].text
    books = ask(oz_cfg, "books")[0].text
    assert "oz1" in books and "Ozma of Oz" in books
    assert "Opt out" in ask(oz_cfg, "about")[0].text


def test_lone_surrogates_become_replacement_characters_and_keep_their_log_row(oz_cfg):
    """A lone UTF-16 surrogate (a JSON "\\udcff" escape, undecodable bytes on a console) is a
    valid Python string in no encoding: it used to become an internal error whose log row the
    database refused."""
    assert parse_command_line("/wordcount To\udcffto exact", "oz") == \
        ("wordcount", {"term": "To\ufffdto", "exact": True})
    reply, row = ask(oz_cfg, "wordcount", term="Dor\ud800othy")
    text = reply.text
    assert reply.outcome == "ok" and "Dor\ufffdothy" in text
    assert row.command == "wordcount" and row.outcome == "ok"  # its log row was written
    assert "Dor\ufffdothy" in str(row.options) or "Dor\ufffdothy" in (row.prompt or "")
    reply, row = ask(oz_cfg, "sentiment", book="oz\udcff1", range=["first \udfff"])
    text = reply.text
    assert reply.outcome == "refused" and row.command == "sentiment" and row.outcome == "refused"
    assert "oz\ufffd1" in text and "oz1" in text  # named as typed, and a suggestion
    assert not any("\ud800" <= ch <= "\udfff" for ch in str(row.options) + text)
