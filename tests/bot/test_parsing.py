"""User text is bounded before parsing, and every parse is linear in what is left.

Console lines (``bot.parsing``), Reddit summons and prompts, Discord message splitting:
each hostile input of a few kinds is timed at two sizes in one run (see tests/scaling.py).
"""

import pytest

from bot.adapters.discord import text as discord_text
from bot.adapters.reddit import text as reddit_text
from bot.errors import BadRequest
from bot.parsing import parse_command_line
from tests.scaling import HOSTILE, assert_linear, swallow


def _parse(prefix: str):
    return swallow(lambda s: parse_command_line(prefix + s, "oz", max_chars=10**9))


def _reddit_prompt(s: str) -> str:
    line = reddit_text.find_trigger("hi u/sprenbot " + s, reddit_text.mention_pattern("sprenbot"))
    return reddit_text.clean_prompt(line or "", 10**9, "default")


# Each handler with the inputs that would hurt it: runs its patterns could backtrack on.
TEXT_HANDLERS = {
    "/sentiment": (_parse("/sentiment oz1 "), ["space run", "dots"]),
    "/wordcount": (_parse("/wordcount "), ["space run", "newlines"]),
    "/oz": (_parse("/oz "), ["space run", "numbered + spaces"]),
    "/progress": (_parse("/progress wor "), ["space run", "numbered + spaces", "dots"]),
    "/progress named": (_parse("/progress book: "), ["space run", "newlines"]),
    "/mod": (_parse("/mod block "), ["space run", "newlines"]),
    "/wordcount reveal": (lambda s: _parse("/wordcount ")(s + " reveal: true"),
                          ["space run", "newlines"]),
    "reddit summons + prompt": (_reddit_prompt, ["open brackets", "unclosed links",
                                                 "space run"]),
    "reddit keyword": (lambda s: reddit_text.find_trigger(
        s + " !oz x", reddit_text.keyword_pattern("!oz")), ["bangs", "space run"]),
    "reddit reply": (lambda s: reddit_text.format_reply(
        s, spoiler=True, footer_text="f", max_chars=10**9), ["blank lines", "dots"]),
    "reddit escape": (reddit_text.escape_markdown, ["blank lines", "quote marks"]),
    "discord split": (lambda s: discord_text.passage_messages("p", s, spoilers=True),
                      ["space run", "dots", "stars"]),
}
CASES = [(h, p) for h, (_, patterns) in sorted(TEXT_HANDLERS.items()) for p in patterns]


@pytest.mark.parametrize("handler, pattern", CASES)
def test_user_text_handling_is_linear(handler, pattern):
    assert_linear(TEXT_HANDLERS[handler][0], HOSTILE[pattern], f"{handler} on {pattern}")


def test_a_long_line_is_refused_before_it_is_parsed():
    with pytest.raises(BadRequest, match=r"100,001 characters long; a command may be at most "
                                         r"4,000"):
        parse_command_line("/sentiment " + " " * (100_001 - len("/sentiment ")), "oz")
    command, args = parse_command_line("/oz " + "word " * 700, "oz", max_chars=4000)
    assert command == "oz" and args["prompt"].count("word") == 700


@pytest.mark.parametrize("line, command, args", [
    ("/sentiment oz1 last 1", "sentiment", {"book": "oz1", "range": "last 1"}),
    ("/sentiment  the   land  of oz   FIRST   20 ", "sentiment",
     {"book": "the land of oz", "range": "FIRST 20"}),
    ("/sentiment last 200", "sentiment", {"book": "last 200", "range": ""}),
    ("/sentiment", "sentiment", {"book": "", "range": ""}),
    ("/wordcount exact", "wordcount", {"term": "", "exact": True}),
    ("/wordcount \u201cTin Woodman\u201d EXACT", "wordcount",
     {"term": "Tin Woodman", "exact": True}),
    ("!oz seed=1 seed=2", "oz", {"prompt": "", "seed": "1"}),
    ("/oz a\tb  length=5", "oz", {"prompt": "a b", "length": "5"}),
    ("/oz length= x", "oz", {"prompt": "length= x"}),
    ("/HELP\textra", "help", {"text": "extra"}),
])
def test_parse_edge_cases(line, command, args):
    assert parse_command_line(line, "oz") == (command, args)


@pytest.mark.parametrize("line", ["", "   ", "/", "!", "/   ", "! \t"])
def test_empty_commands_are_refused_clearly(line):
    with pytest.raises(BadRequest, match="type a command"):
        parse_command_line(line, "oz")


def test_reddit_prompt_is_bounded_and_cleaned():
    raw = "[Dorothy](http://x) walked " + "[" * 50_000
    assert reddit_text.clean_prompt(raw, 40, "d") == "Dorothy walked"
    assert reddit_text.escape_markdown("a\n\n  > b\n>c") == "a\n\n  \\> b\n\\>c"
