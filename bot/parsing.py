"""Typed command lines -> (command, args), in one linear pass over a bounded line.

No regular expression runs on user text here: the line is refused past ``max_chars`` before
anything else, then split into whitespace tokens once (``str.split`` is linear), and every
decision looks only at the first or last few tokens. A 100 KB line of spaces costs the same
as any other 100 KB line: one split.
"""

from __future__ import annotations

from typing import Any

from bot.errors import BadRequest
from bot.messages import well_formed_text
from bot.options import GEN_OPTIONS

DEFAULT_MAX_CHARS = 4000  # [limits] max_input_chars
GEN_OPTION_KEYS = frozenset(GEN_OPTIONS)
_QUOTES = "\"'“”"
_RANGE_WORDS = ("first", "last")
SAFETY_COMMANDS = ("progress", "forget-me", "forgetme", "forget_me", "mod")
_REVEAL = ("reveal", "reveal:true", "reveal:yes", "reveal:1")
_FINISHED = ("finished", "done", "read", "all", "end")
_CHAPTER_WORDS = ("chapter", "ch", "ch.")
_CLEAR = ("clear", "reset", "forget")


def shown_command(command: str, limit: int = 32) -> str:
    """A command name fit to echo back: at most ``limit`` characters."""
    return command if len(command) <= limit else command[: limit - 1] + "…"


def parse_command_line(line: str, generate_command: str,
                       max_chars: int = DEFAULT_MAX_CHARS) -> tuple[str, dict[str, Any]]:
    """Turn a typed line like '/wordcount Tin Woodman exact' into (command, args)."""
    if len(line) > max_chars:
        raise BadRequest(f"that line is {len(line):,} characters long; a command may be at "
                         f"most {max_chars:,}. Shorten it and try again.")
    line = well_formed_text(line).strip()  # a lone surrogate: U+FFFD (see well_formed)
    if not line:
        raise BadRequest("type a command, e.g. /help")
    if line[0] in "/!":
        line = line[1:]
    if not line.strip():
        raise BadRequest("type a command after the slash, e.g. /help")
    head, *tail = line.split(maxsplit=1)
    command = head.lower()
    rest = tail[0].strip() if tail else ""
    if command in SAFETY_COMMANDS:
        return command, _safety_args(command, rest.split())
    if command in ("sentiment", "wordcount"):
        words, reveal = _split_reveal(rest.split())
        args = (_sentiment_args if command == "sentiment" else _wordcount_args)(words)
        return command, {**args, "reveal": True} if reveal else args
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


def _split_reveal(words: list[str]) -> tuple[list[str], bool]:
    """A trailing 'reveal' (or 'reveal:true', 'reveal: yes') asks to see everything."""
    if words and words[-1].lower() in _REVEAL:
        return words[:-1], True
    if len(words) >= 2 and words[-2].lower() == "reveal:" \
            and words[-1].lower() in ("true", "yes", "1"):
        return words[:-2], True
    return words, False


def _safety_args(command: str, words: list[str]) -> dict[str, Any]:
    """The args of /progress, /mod and /forget-me (which takes none)."""
    if command == "progress":
        return progress_args(words)
    if command == "mod":
        action = words[0].lower() if words else "status"
        args: dict[str, Any] = {"action": action}
        value = " ".join(words[1:])
        if action in ("block", "unblock"):
            args["user"] = value.removeprefix("/u/").removeprefix("u/").lower()
        elif value:
            args["value"] = value
        return args
    return {}


def progress_args(words: list[str]) -> dict[str, Any]:
    """'wor 45' / 'wor chapter 45' / 'wor ch.45' / 'wor finished' / 'book:wor chapter:45' /
    'clear' -> args; only the first, the last two and any ``name:`` words are looked at."""
    if len(words) == 1 and words[0].lower() in _CLEAR:
        return {"clear": True}
    named = _named(words)
    if named is not None:
        return named
    if not words:
        return {}
    chapter, used = _chapter_at_end(words)
    if chapter is None or used == len(words):
        return {"book": " ".join(words)}
    return {"book": " ".join(words[:-used]), **_chapter_arg(chapter)}


def _named(words: list[str]) -> dict[str, Any] | None:
    """'book:wor chapter:45' (also 'book: wor'): None when no word names a field."""
    fields: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(words):
        name, sep, value = words[i].partition(":")
        name = name.lower()
        if sep and name in ("book", "chapter") and name not in fields:
            if not value and i + 1 < len(words):  # 'book: wor'
                i += 1
                value = words[i]
            fields[name] = value
        else:
            rest.append(words[i])
        i += 1
    if not fields:
        return None
    args: dict[str, Any] = {"book": fields.get("book", "")}
    return {**args, **_chapter_arg(fields.get("chapter") or " ".join(rest))}


def _chapter_at_end(words: list[str]) -> tuple[str | None, int]:
    """The chapter the line ends with and how many words it took (1 or 2), else None."""
    last = words[-1].lower()
    for prefix in ("chapter", "ch.", "ch"):  # 'ch.45', 'ch45' as one word
        if last.startswith(prefix) and _is_chapter(last[len(prefix):]) and last != prefix:
            return last[len(prefix):], 1
    if not _is_chapter(last):
        return None, 0
    if len(words) >= 3 and words[-2].lower() in _CHAPTER_WORDS:
        return last, 2
    return last, 1


def _is_chapter(word: str) -> bool:
    return (word.isdigit() and len(word) <= 4) or word in _FINISHED


def _chapter_arg(value: str) -> dict[str, Any]:
    v = value.strip().lower()
    if not v:
        return {}
    if v in _FINISHED:
        return {"finished": True}
    return {"chapter": v}
