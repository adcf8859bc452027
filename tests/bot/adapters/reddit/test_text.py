"""Summons parsing, prompt cleaning and reply formatting for Reddit."""

import re

import pytest

from bot.adapters.reddit.text import (
    clean_prompt,
    cut_at_sentence,
    find_trigger,
    footer,
    format_reply,
    has_command,
    keyword_pattern,
    mention_pattern,
    parse_retry_seconds,
)

MENTION = mention_pattern("sprenbot")
KEYWORD = keyword_pattern("!stormlight")


@pytest.mark.parametrize("body, rest", [
    ("u/sprenbot Kaladin charged", " Kaladin charged"),
    ("hey /u/SprenBot: Kaladin charged\nsecond line", ": Kaladin charged"),
    ("first line\nu/sprenbot", ""),
    ("u/sprenbotter Kaladin", None),
    ("mu/sprenbot Kaladin", None),
    ("> u/sprenbot quoted, not a summons", None),
])
def test_mention_trigger(body, rest):
    assert find_trigger(body, MENTION) == rest


@pytest.mark.parametrize("body, rest", [
    ("!stormlight Kaladin charged", " Kaladin charged"),
    ("ok !STORMLIGHT Shallan drew", " Shallan drew"),
    ("!stormlighter no", None),
    ("!!stormlight no", None),
    ("stormlight no", None),
])
def test_keyword_trigger(body, rest):
    assert find_trigger(body, KEYWORD) == rest


def test_clean_prompt_strips_links_markup_and_quotes():
    raw = ' "Kaladin" **charged** [the wall](https://x.y/z) see https://a.b/c ~~now~~ >!spoil!<'
    assert clean_prompt(raw, 500, "default") == "Kaladin charged the wall see now spoil"


def test_clean_prompt_bounds_at_a_word_and_defaults_when_empty():
    assert clean_prompt("one two three four", 9, "d") == "one two"
    assert clean_prompt("   ** [](http://x) ", 100, "It was a bright morning") == \
        "It was a bright morning"


def test_has_command():
    assert has_command("thanks\n!optout please", "!optout")
    assert not has_command("do not !optout", "!optout")


def test_reply_is_a_blockquote_with_a_footer():
    text = format_reply("Dorothy walked.\n\nToto ran.", spoiler=False,
                        footer_text=footer("https://src"), max_chars=10000)
    quote, rest = text.split("\n\n---\n\n")
    assert quote == "> Dorothy walked.\n\n> Toto ran."
    assert "I am a bot" in rest and "!optout" in rest and "https://src" in rest


def test_spoiler_reply_tags_every_paragraph():
    text = format_reply("One.\n\nTwo.", spoiler=True, footer_text="f", max_chars=10000)
    assert text.startswith("> >!One.!<\n\n> >!Two.!<")


def test_reply_escapes_markdown_from_the_model():
    text = format_reply("[click](http://x) #1 >!x!< *bold*", spoiler=False, footer_text="f",
                        max_chars=1000)
    first = text.split("\n")[0]
    assert "\\[click\\]" in first and "\\#1" in first and "\\*bold\\*" in first
    assert ">!x!<" not in first


def test_reply_is_cut_at_a_sentence_within_the_limit():
    passage = " ".join(f"Sentence number {i} ends here." for i in range(200))
    text = format_reply(passage, spoiler=False, footer_text=footer("u"), max_chars=600)
    assert len(text) <= 600
    quote = text.split("\n\n---")[0]
    assert quote.endswith("ends here.") and "Sentence number 0" in quote


def test_cut_at_sentence_falls_back_to_a_word():
    assert cut_at_sentence("no full stop in this long line", 12) == "no full…"
    assert cut_at_sentence("Short.", 100) == "Short."


@pytest.mark.parametrize("message, seconds", [
    ("Looks like you've been doing that a lot. Take a break for 9 minutes before trying "
     "again.", 540),
    ("you are doing that too much. try again in 30 seconds.", 30),
    ("try again in 1 minute", 60),
    ("try again in 500 milliseconds", 0.5),
    ("no number here", None),
])
def test_parse_retry_seconds(message, seconds):
    assert parse_retry_seconds(message) == seconds


LIVE = re.compile(r"(?<![\w\\])/?[ur]/[\w-]", re.IGNORECASE)


@pytest.mark.parametrize("raw", [
    "u/victim", "/u/victim", "U/Victim", "/U/victim", "r/oz", "/r/oz", "(u/victim)",
    "hi,u/victim", "u\u200b/victim", "u/\u200bvictim", "x/u/victim", "**u/victim**",
])
def test_no_user_or_subreddit_summons_stays_live(raw):
    from bot.adapters.reddit.text import defuse_mentions

    out = defuse_mentions(raw)
    assert not LIVE.search(out), out
    reply = format_reply(f"Dorothy met {raw} today.", spoiler=False, footer_text="f",
                         max_chars=1000)
    assert not LIVE.search(reply), reply


def test_words_that_only_look_like_summons_are_kept():
    from bot.adapters.reddit.text import defuse_mentions

    assert defuse_mentions("a user/guide and 3/4 u/") == "a user/guide and 3/4 u/"


def test_command_answers_render_spoilers_per_paragraph_and_fit():
    from bot.adapters.reddit.text import format_text_reply
    from bot.safety.spoilers import hide

    text = "**Word count** u/x\noz1 12\noz2 " + hide("34\nand more")
    out = format_text_reply(text, footer_text="foot", max_chars=200)
    assert out.split("\n\n")[:4] == ["Word count u\\/x", "oz1 12", "oz2 >!34!<", ">!and more!<"]
    assert out.endswith("foot") and len(out) <= 200
    short = format_text_reply(text * 20, footer_text="foot", max_chars=120)
    assert len(short) <= 120 and short.count(">!") == short.count("!<")
