"""Discord-side text: message limits, splitting at paragraph/sentence ends, safe mentions.

Pure functions; the adapter applies them to every text it sends.
"""

from __future__ import annotations

import re

from bot.safety import spoilers
from bot.stories.export import passage_markdown

MESSAGE_LIMIT = 2000  # characters in one message's content
EMBED_LIMIT = 4096  # characters in one embed description
ZWSP = "\u200b"
ELLIPSIS = " …"

_MENTION = re.compile(r"@(?=everyone|here)|<(?=[@#/])", re.IGNORECASE)
_USER_MENTION = re.compile(r"@(?=everyone|here)|<(?=[@/])", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]*_]*\s+")


def neutralise_mentions(text: str, channels: bool = True) -> str:
    """Break @everyone, @here, <@id>/<@&id> (users, roles), <#id> (channels) and </cmd:id>
    so they render as text and ping no one. ``channels=False`` keeps channel links (for the
    bot's own refusals that point at its allowed channels)."""
    pattern = _MENTION if channels else _USER_MENTION
    return pattern.sub(lambda m: m.group(0) + ZWSP, text)


def render_spoilers(pieces: list[str]) -> list[str]:
    """Pieces of a marked reply (bot.safety.spoilers) with spans as Discord ||spoilers||."""
    return [spoilers.render(p, "||", "||", _break_bars) for p in spoilers.balance(pieces)]


def _break_bars(text: str) -> str:
    """'||' inside a spoiler would end it early: break it."""
    return text.replace("||", "|" + ZWSP + "|")


def marked_room(text: str, limit: int) -> int:
    """How long a piece of marked text may be so that it fits ``limit`` once rendered."""
    return max(1, limit - 4 - 2 * (text.count(spoilers.OPEN) + text.count(spoilers.CLOSE))
               - text.count("||"))


def _cut_point(window: str, limit: int) -> int:
    """Where to end the first piece of ``window`` (at most limit + 1 chars): a paragraph
    end, else a sentence end, else a space."""
    floor = limit // 3  # don't make a tiny piece just to end on a boundary
    para = window.rfind("\n\n", 0, limit)
    if para > floor:
        return para
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if floor < m.end() <= limit]
    if ends:
        return ends[-1]
    space = max(window.rfind(" ", 0, limit), window.rfind("\n", 0, limit))
    return space if space > floor else limit


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split text into pieces of at most ``limit`` characters at natural boundaries."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    pieces: list[str] = []
    text = text.strip()
    start, n = 0, len(text)  # an index, not ever shorter copies: linear in the text
    while n - start > limit:
        window = text[start : start + limit + 1]
        cut = _cut_point(window, limit)
        pieces.append(window[:cut].rstrip())
        start += cut
        while start < n and text[start].isspace():
            start += 1
    if start < n or not pieces:
        pieces.append(text[start:])
    return pieces


def passage_text(prompt: str | None, text: str) -> str:
    """The passage as shown: the user's prompt in bold, then what the model wrote (the same
    Markdown a story export has), with mentions broken."""
    return neutralise_mentions(passage_markdown(prompt, text))


def spoiler(piece: str) -> str:
    """Wrap a piece in a spoiler tag; a '||' inside would end the tag early, so break it."""
    return f"||{piece.replace('||', '|' + ZWSP + '|')}||"


def passage_messages(prompt: str | None, text: str, *, spoilers: bool = False,
                     limit: int = MESSAGE_LIMIT) -> list[str]:
    """The final passage as a list of message contents, each within ``limit``."""
    # a spoiler wrap adds 4 characters and may lengthen '||' runs by one each
    room = limit - 4 - text.count("||") if spoilers else limit
    pieces = split_message(passage_text(prompt, text), max(room, 1))
    return [spoiler(p) for p in pieces] if spoilers else pieces


def passage_preview(prompt: str | None, text: str, *, spoilers: bool = False) -> str:
    """What the message shows while the passage streams in (the first message, '…')."""
    first = passage_messages(prompt, text, spoilers=spoilers,
                             limit=MESSAGE_LIMIT - len(ELLIPSIS))[0]
    return first + ELLIPSIS


def queue_line(position: int, eta_s: float) -> str:
    """The status shown while a request waits in the generation queue."""
    return f"⏳ #{position} in queue (~{max(1, round(eta_s))} s)"


def plain_messages(text: str, limit: int = MESSAGE_LIMIT, channels: bool = True) -> list[str]:
    """A non-passage reply as message contents (mentions neutralised, spoilers, split)."""
    text = neutralise_mentions(text, channels)
    return render_spoilers(split_message(text, marked_room(text, limit)))
