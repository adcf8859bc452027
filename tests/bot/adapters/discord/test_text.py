"""Discord text rules: the 2,000-character limit, natural split points, safe mentions."""


import re

import discord  # noqa: F401
import pytest

from bot.adapters.discord.text import (
    MESSAGE_LIMIT,
    ZWSP,
    neutralise_mentions,
    passage_messages,
    passage_preview,
    queue_line,
    split_message,
)

SENTENCES = [f"Sentence number {i} tells of the road of yellow bricks." for i in range(200)]


def _words(text: str) -> list[str]:
    return text.replace("||", " ").split()


def test_short_text_is_one_piece():
    assert split_message("Hello there.") == ["Hello there."]
    assert split_message("") == [""]


def test_split_prefers_paragraph_ends():
    paras = ["\n".join(SENTENCES[i: i + 8]) for i in range(0, 64, 8)]
    text = "\n\n".join(paras)
    pieces = split_message(text, 1000)
    assert all(len(p) <= 1000 for p in pieces)
    # every piece is a run of whole paragraphs
    for piece in pieces:
        assert all(para in paras for para in piece.split("\n\n"))
    assert "\n\n".join(pieces) == text


def test_split_at_sentence_ends_without_paragraphs():
    text = " ".join(SENTENCES)
    pieces = split_message(text)
    assert len(pieces) == -(-len(text) // MESSAGE_LIMIT) or len(pieces) > 1
    assert all(len(p) <= MESSAGE_LIMIT for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == text


def test_split_falls_back_to_spaces_then_hard_cuts():
    words = " ".join(["abcdefghij"] * 500)
    pieces = split_message(words, 95)
    assert all(len(p) <= 95 for p in pieces)
    assert " ".join(pieces) == words
    blob = "x" * 5000
    pieces = split_message(blob)
    assert [len(p) for p in pieces] == [2000, 2000, 1000]


@pytest.mark.parametrize("raw", ["@everyone look", "hi @here", "<@123456789>", "<@!42>",
                                 "<@&77> role", "@EVERYONE", "see <#123>", "</oz:99> now"])
def test_mentions_are_neutralised(raw):
    out = neutralise_mentions(raw)
    assert ZWSP in out
    assert not re.search(r"@(everyone|here)|<[@#/][!&]?[\w:]*\d+>", out, re.IGNORECASE)
    assert out.replace(ZWSP, "") == raw


def test_plain_at_signs_are_left_alone_and_own_channel_links_kept():
    assert neutralise_mentions("mail me@example.com") == "mail me@example.com"
    assert neutralise_mentions("go to <#123>", channels=False) == "go to <#123>"
    assert neutralise_mentions("<@1> in <#123>", channels=False) == f"<{ZWSP}@1> in <#123>"


def test_spoiler_spans_render_as_discord_spoilers_across_split_pieces():
    from bot.adapters.discord.text import plain_messages
    from bot.safety.spoilers import hide

    text = "open part " + hide("secret " * 400 + "a || b")
    pieces = plain_messages(text, limit=1000)
    assert all(len(p) <= 1000 for p in pieces) and len(pieces) >= 3
    assert pieces[0].startswith("open part ||") and pieces[0].endswith("||")
    assert all(p.startswith("||") and p.endswith("||") for p in pieces[1:])
    assert "\x0e" not in "".join(pieces) and "\x0f" not in "".join(pieces)
    assert f"|{ZWSP}|" in pieces[-1]  # a '||' inside cannot end the spoiler early


def test_passage_messages_keep_every_word_and_the_limit():
    text = " ".join(SENTENCES)
    pieces = passage_messages("Dorothy @everyone said", text)
    assert pieces[0].startswith(f"**Dorothy @{ZWSP}everyone said** Sentence")
    assert all(len(p) <= MESSAGE_LIMIT for p in pieces)
    assert _words(" ".join(pieces).replace("**", "")) == _words(
        "Dorothy @" + ZWSP + "everyone said " + text)


def test_spoilers_wrap_each_piece_within_the_limit():
    text = " ".join(SENTENCES) + " a || b"
    pieces = passage_messages(None, text, spoilers=True)
    assert len(pieces) > 1
    for piece in pieces:
        assert len(piece) <= MESSAGE_LIMIT
        assert piece.startswith("||") and piece.endswith("||")
        assert "||" not in piece[2:-2]


def test_prompt_markdown_cannot_escape_the_bold():
    first = passage_messages("**bold** _it_", "and on.")[0]
    assert first == r"**\*\*bold\*\* \_it\_** and on."


def test_preview_fits_and_marks_more_to_come():
    preview = passage_preview("Once", " ".join(SENTENCES))
    assert len(preview) <= MESSAGE_LIMIT
    assert preview.endswith(" …")


def test_queue_line():
    assert queue_line(3, 7.6) == "⏳ #3 in queue (~8 s)"
    assert queue_line(1, 0.1) == "⏳ #1 in queue (~1 s)"
