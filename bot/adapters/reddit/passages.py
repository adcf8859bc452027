"""What a Reddit summons asks the Dispatcher for, and the passage text its reply carries.

A mention or keyword asks for a new passage from its prompt; a ``!continue`` reply under one
of the bot's comments asks for the next passage after the one that comment holds (the
passage is found by the summons it answered: its request id).
"""

from __future__ import annotations

from typing import Any

from bot.adapters.reddit.ledger import Row
from bot.adapters.reddit.rules import Summon
from bot.messages import Reply, Request


def join_passage(prompt: str, continuation: str) -> str:
    """The prompt followed by its continuation, as one passage."""
    continuation = continuation.strip()
    if not continuation or continuation == "…":
        return prompt
    glue = "" if continuation[0] in ".,;:!?'’”)" else " "
    return f"{prompt}{glue}{continuation}"


def passage_request(row: Row, live: Summon, generate_command: str,
                    parent: str | None) -> Request:
    """The request for a summons; ``parent`` is the summons a continued passage answered."""
    args: dict[str, Any] = {"seed": row.seed}
    if row.kind == "continue":
        command, args = "continue", {**args, "parent": parent, "text": row.prompt}
    else:
        command, args = generate_command, {**args, "prompt": row.prompt}
    return Request(platform="reddit", user=(live.author or "").lower(), command=command,
                   args=args, channel=row.subreddit, request_id=row.fullname)


def reply_text(row: Row, reply: Reply) -> str:
    """What the bot's comment quotes: a new passage with its prompt; a continuation alone
    (the passage it follows is the comment right above)."""
    if row.kind == "continue":
        return reply.text.strip()
    return join_passage(str(reply.meta.get("prompt") or row.prompt), reply.text)
