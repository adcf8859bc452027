"""What a Reddit summons asks the Dispatcher for, and the passage text its reply carries.

A mention or keyword asks for a new passage from its prompt; a ``!continue`` reply under one
of the bot's comments asks for the next passage after the one that comment holds (the
passage is found by the summons it answered: its request id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.adapters.reddit.ledger import Ledger, Row
from bot.adapters.reddit.rules import Summon, skip_reason
from bot.config import RedditConfig
from bot.messages import Reply, Request


def join_passage(prompt: str, continuation: str) -> str:
    """The prompt followed by its continuation, as one passage."""
    continuation = continuation.strip()
    if not continuation or continuation == "…":
        return prompt
    glue = "" if continuation[0] in ".,;:!?'’”)" else " "
    return f"{prompt}{glue}{continuation}"


def continue_reason(ledger: Ledger, s: Summon, author_key: str, me: str, rc: RedditConfig,
                    now: datetime) -> str | None:
    """Why a ``!continue`` reply must not be answered: it is not under one of the bot's
    passages, or any guard of a summons refuses it (except the chain rule: being under the
    bot's comment is the point). Blocking (the ledger): run it on a worker thread."""
    if ledger.summons_answered_by(s.parent_id) is None:
        return "not under a passage"
    return skip_reason(s, me, rc, ledger.facts(s, author_key, now))


def passage_request(row: Row, live: Summon, generate_command: str,
                    parent: str | None) -> Request:
    """The request for a summons; ``parent`` is the summons a continued passage answered."""
    args: dict[str, Any] = {"seed": row.seed}
    if row.kind == "continue":
        command, args = "continue", {**args, "parent": parent, "text": row.prompt}
    else:
        command, args = generate_command, {**args, "prompt": row.prompt}
    # the subreddit is where its moderators rule (blocks, pause, spoiler policy, filter)
    return Request(platform="reddit", user=(live.author or "").lower(), command=command,
                   args=args, channel=row.subreddit, guild=row.subreddit,
                   request_id=row.fullname)


def reply_text(row: Row, reply: Reply) -> str:
    """What the bot's comment quotes: a new passage with its prompt; a continuation alone
    (the passage it follows is the comment right above)."""
    if row.kind == "continue":
        return reply.text.strip()
    return join_passage(str(reply.meta.get("prompt") or row.prompt), reply.text)
