"""Spoiler spans in reply text, platform-neutral: the dispatcher marks, each adapter renders.

A reply part may contain spans between ``OPEN`` and ``CLOSE`` (two control characters that
never survive from user input or book text: ``clean`` drops them). Discord renders a span
as ``||…||``, Reddit as ``>!…!<``, the console as ``[spoiler: …]``; ``render`` does it given
the platform's tags and an escape for text inside a span.
"""

from __future__ import annotations

from collections.abc import Callable

OPEN = "\x0e"
CLOSE = "\x0f"
_MARKERS = str.maketrans("", "", OPEN + CLOSE)


def clean(text: str) -> str:
    """Text from outside (a prompt, a term, a book quote) with any stray markers removed."""
    return text.translate(_MARKERS)


def hide(text: str) -> str:
    """``text`` as one spoiler span (markers inside it are dropped, so spans never nest)."""
    inner = clean(text)
    return f"{OPEN}{inner}{CLOSE}" if inner else ""


def has_spoilers(text: str) -> bool:
    """True when ``text`` holds at least one spoiler span."""
    return OPEN in text


def render(text: str, open_tag: str, close_tag: str,
           escape: Callable[[str], str] = lambda s: s) -> str:
    """Replace every span with the platform's tags (an unclosed span is closed at the end)."""
    out: list[str] = []
    inside = False
    for piece in _pieces(text):
        if piece == OPEN and not inside:
            out.append(open_tag)
            inside = True
        elif piece == CLOSE and inside:
            out.append(close_tag)
            inside = False
        elif piece not in (OPEN, CLOSE):
            out.append(escape(piece) if inside else piece)
    if inside:
        out.append(close_tag)
    return "".join(out)


def balance(pieces: list[str]) -> list[str]:
    """Pieces of one marked text split anywhere: a span cut in two is closed and reopened."""
    out: list[str] = []
    inside = False
    for piece in pieces:
        prefix = OPEN if inside else ""
        for ch in piece:
            if ch == OPEN:
                inside = True
            elif ch == CLOSE:
                inside = False
        out.append(prefix + piece + (CLOSE if inside else ""))
    return out


def _pieces(text: str) -> list[str]:
    """The text cut at each marker, the markers kept as their own pieces."""
    pieces: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch in (OPEN, CLOSE):
            if i > start:
                pieces.append(text[start:i])
            pieces.append(ch)
            start = i + 1
    if start < len(text):
        pieces.append(text[start:])
    return pieces
