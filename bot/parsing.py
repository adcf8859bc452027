"""Typed command lines -> (command, args), in one linear pass over a bounded line.

No regular expression runs on user text here: the line is refused past ``max_chars`` before
anything else, then split into whitespace tokens once (``str.split`` is linear), and every
decision looks only at the first or last few tokens. A 100 KB line of spaces costs the same
as any other 100 KB line: one split.
"""

from __future__ import annotations

from typing import Any

from bot.errors import BadRequest

DEFAULT_MAX_CHARS = 4000  # [limits] max_input_chars
GEN_OPTION_KEYS = frozenset({"length", "temperature", "top_p", "top_k", "seed"})
_QUOTES = "\"'“”"
_RANGE_WORDS = ("first", "last")


def shown_command(command: str, limit: int = 32) -> str:
    """A command name fit to echo back: at most ``limit`` characters."""
    return command if len(command) <= limit else command[: limit - 1] + "…"


def parse_command_line(line: str, generate_command: str,
                       max_chars: int = DEFAULT_MAX_CHARS) -> tuple[str, dict[str, Any]]:
    """Turn a typed line like '/wordcount Tin Woodman exact' into (command, args)."""
    if len(line) > max_chars:
        raise BadRequest(f"that line is {len(line):,} characters long; a command may be at "
                         f"most {max_chars:,}. Shorten it and try again.")
    line = line.strip()
    if not line:
        raise BadRequest("type a command, e.g. /help")
    if line[0] in "/!":
        line = line[1:]
    if not line.strip():
        raise BadRequest("type a command after the slash, e.g. /help")
    head, *tail = line.split(maxsplit=1)
    command = head.lower()
    rest = tail[0].strip() if tail else ""
    if command == "sentiment":
        return command, _sentiment_args(rest.split())
    if command == "wordcount":
        return command, _wordcount_args(rest.split())
    if command == generate_command:
        return command, _generate_args(rest.split())
    return command, {"text": rest}


def _sentiment_args(words: list[str]) -> dict[str, Any]:
    """'ozma of oz last 200' -> book 'ozma of oz', range 'last 200' (the last two words)."""
    if len(words) >= 3 and words[-2].lower() in _RANGE_WORDS:
        return {"book": " ".join(words[:-2]), "range": f"{words[-2]} {words[-1]}"}
    return {"book": " ".join(words), "range": ""}


def _wordcount_args(words: list[str]) -> dict[str, Any]:
    """'Tin Woodman exact' -> term 'Tin Woodman', exact True (a trailing word 'exact')."""
    exact = bool(words) and words[-1].lower() == "exact"
    if exact:
        words = words[:-1]
    return {"term": " ".join(words).strip(_QUOTES), "exact": exact}


def _generate_args(words: list[str]) -> dict[str, Any]:
    """Trailing key=value words (seed=7 length=80) are options; the rest is the prompt."""
    args: dict[str, Any] = {}
    end = len(words)
    while end:
        key, sep, value = words[end - 1].partition("=")
        if not sep or not value or key not in GEN_OPTION_KEYS:
            break
        args[key] = value  # scanning from the end: the leftmost of repeated keys wins
        end -= 1
    args["prompt"] = " ".join(words[:end])
    return args
