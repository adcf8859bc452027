"""Platform-neutral request/reply types shared by the dispatcher and every adapter."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """One user command, whatever platform it came from.

    ``args`` holds named options (Discord gives them as such; text platforms get them from
    ``parse_command_line``). ``user`` is the platform's raw user id: the store hashes it.
    ``guild`` is the place moderators rule (a Discord server, a subreddit); ``moderator``
    says the adapter checked that the user moderates it (may manage other people's messages).
    ``display_name`` is kept only with passages of a story thread (its export names them).
    """

    platform: str
    user: str
    command: str
    args: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None
    guild: str | None = None
    request_id: str | None = None
    moderator: bool = False
    display_name: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file to send with a reply (charts are PNGs)."""

    filename: str
    data: bytes
    content_type: str = "image/png"


@dataclass
class Reply:
    """What a command answers: text parts (each fits one message), files, and privacy."""

    parts: list[str] = field(default_factory=list)
    files: list[Attachment] = field(default_factory=list)
    private: bool = False
    title: str | None = None
    outcome: str = "ok"  # ok | refused | error | cancelled | timeout
    retry_after: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(self.parts)


@dataclass(frozen=True)
class QueueUpdate:
    """Sent while a generation waits: 1-based position and estimated seconds until done."""

    position: int
    eta_s: float


@dataclass(frozen=True)
class TokenUpdate:
    """Sent while a generation streams: the whole text generated so far (already cleaned)."""

    text: str


Event = QueueUpdate | TokenUpdate
EventCallback = Callable[[Event], Any]


_SURROGATE = re.compile("[\ud800-\udfff]")


def well_formed_text(value: Any, depth: int = 8) -> Any:
    """``value`` with every lone UTF-16 surrogate in its strings (lists and dicts included,
    ``depth`` levels down: no adapter nests its options deeper) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if depth <= 0:
        return value
    if isinstance(value, list | tuple):
        return type(value)(well_formed_text(v, depth - 1) for v in value)
    if isinstance(value, dict):
        return {well_formed_text(k, depth - 1): well_formed_text(v, depth - 1)
                for k, v in value.items()}
    return value


def well_formed(req: Request) -> Request:
    """``req`` with text every layer can encode. A lone surrogate (JSON may carry one as a
    ``\\udcff`` escape; a console reading undecodable bytes makes one) is valid in a Python
    string but in no encoding: the tokenizer, matplotlib and both databases refuse it, so it
    would have turned a prompt into an internal error and lost its log row."""
    fields = {name: well_formed_text(getattr(req, name)) for name in
              ("user", "command", "args", "channel", "guild", "display_name")}
    if all(fields[name] is getattr(req, name) for name in fields):
        return req
    return dataclasses.replace(req, **fields)
