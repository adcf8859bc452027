"""Commands on Reddit: ``!progress``, ``!forgetme``, ``!mod``, ``!sentiment``,
``!wordcount``, ``!books`` and ``!help``, in a private message to the bot or after a
mention (``u/sprenbot !progress wor 45``).

They are cheap, so they are answered while the summons is read: the answer is formatted
and stored in the ledger row (state ``ready``) and posted like a passage, exactly once.
``!mod <subreddit> <action> [value]`` works by private message, for the moderators of a
subreddit the bot watches (asked of Reddit's moderator list).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.adapters.reddit import client as rc_api
from bot.adapters.reddit.rules import Summon
from bot.adapters.reddit.text import footer, format_text_reply
from bot.dispatch import parse_command_line
from bot.messages import Request

COMMANDS = ("!progress", "!forgetme", "!forget-me", "!mod", "!sentiment", "!wordcount",
            "!books", "!help")
FORGET = ("!forgetme", "!forget-me")
MAX_LINE = 300


def find_command(s: Summon, trigger: str | None) -> str | None:
    """The command line of a private message (its first line that is one), or of the text
    after a mention; None when there is no command."""
    lines = (s.body or "").splitlines() if s.kind == "message" else [trigger or ""]
    for line in lines:
        text = " ".join(line.split())
        if text.split(" ")[0].lower() in COMMANDS:
            return text[:MAX_LINE]
    return None


def is_command(prompt: str) -> bool:
    """True when a ledger row's prompt is a command (its output is a formatted answer)."""
    return (prompt or "").split(" ")[0].lower() in COMMANDS


def is_forget(line: str) -> bool:
    return line.split(" ")[0].lower() in FORGET


class RedditCommands:
    """Runs one command through the Dispatcher and formats its answer for Reddit."""

    def __init__(self, app: Any, call: Callable[..., Awaitable[Any]]):
        self.app = app
        self.call = call  # runs a reddit_client function on the praw thread
        self.cfg = app.cfg

    async def run(self, s: Summon, line: str) -> str:
        """The formatted answer to ``line`` from the author of ``s``."""
        author = (s.author or "").lower()
        place, moderator = s.subreddit, False
        if line.split(" ")[0].lower() == "!mod":
            parts = line.split(" ", 2)
            if s.kind != "message" or len(parts) < 2:
                return self._format("Moderator commands work by private message: "
                                    "`!mod <subreddit> pause|resume|block <user>|unblock "
                                    "<user>|spoilers <policy>|filter <action>|status`")
            place = parts[1].lower().removeprefix("r/").removeprefix("/r/")
            line = "!mod " + (parts[2] if len(parts) > 2 else "status")
            if place not in {x.lower().removeprefix("r/") for x in self.cfg.reddit.subreddits}:
                return self._format(f"I don't watch r/{place}, so it has no settings here.")
            moderator = await self.call(rc_api.is_moderator, place, author)
        command, args = parse_command_line(line, self.cfg.bot.generate_command)
        req = Request(platform="reddit", user=author, command=command, args=args,
                      channel=s.subreddit, guild=place, request_id=s.fullname,
                      moderator=moderator)
        reply = await self.app.dispatcher.handle(req)
        text = reply.text
        if command == "mod" and not moderator and reply.outcome != "ok":
            text = f"Only the moderators of r/{place} can change its settings."
        return self._format(text)

    def _format(self, text: str) -> str:
        note = footer(self.cfg.bot.source_url).replace(
            " This passage is machine-generated, not quoted from the books.", "")
        return format_text_reply(text, footer_text=note,
                                 max_chars=self.cfg.reddit.max_reply_chars)
