"""Chapter numbers written as digits, Roman numerals or English words."""

from __future__ import annotations

import re

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORDS = {w: i for i, w in enumerate(_UNITS)}
_TEN_WORDS = {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
_TOKEN_RE = re.compile(r"[A-Za-z]+|\d+")


def roman_to_int(token: str) -> int:
    """'XIV' -> 14 (no validation beyond the letters)."""
    values = [_ROMAN[c] for c in token.lower()]
    total = 0
    for i, value in enumerate(values):
        total += -value if i + 1 < len(values) and values[i + 1] > value else value
    return total


def _is_roman(token: str) -> bool:
    return bool(token) and all(c in _ROMAN for c in token.lower()) and len(token) <= 7


def parse_number_prefix(text: str) -> tuple[int, str] | None:
    """'Twenty-Three: Title' -> (23, ': Title'); None when text does not start with a number."""
    match = _TOKEN_RE.match(text)
    if not match:
        return None
    token = match.group(0)
    rest = text[match.end() :]
    if token.isdigit():
        return int(token), rest
    word = token.lower()
    if word in _TEN_WORDS:
        return _tens(_TEN_WORDS[word], rest)
    if word in _WORDS:
        return _WORDS[word], rest
    if _is_roman(token) and (token.isupper() or len(token) <= 4):
        return roman_to_int(token), rest
    return None


def _tens(value: int, rest: str) -> tuple[int, str]:
    # "Twenty-One", "Twenty One" and plain "Twenty" all occur in the Oz books.
    match = re.match(r"[\s-]+([A-Za-z]+)", rest)
    if match and match.group(1).lower() in _UNITS[1:10]:
        return value + _UNITS.index(match.group(1).lower()), rest[match.end() :]
    return value, rest
