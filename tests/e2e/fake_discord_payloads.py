"""JSON payloads the fake Discord sends: users, messages, READY and INTERACTION_CREATE.

Only the fields discord.py 2.7 reads are filled in; values are made-up snowflakes.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

BOT_ID = 900000000000000001
APP_ID = 900000000000000002
OWNER_ID = 900000000000000003
_ids = itertools.count(1_000_000_000_000_000_000)


def next_id() -> int:
    """A fresh, increasing snowflake."""
    return next(_ids)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "avatar": None,
            "global_name": name, "bot": bot}


def bot_user() -> dict[str, Any]:
    return user(BOT_ID, "spren-test", bot=True)


def application() -> dict[str, Any]:
    """GET /applications/@me."""
    return {"id": str(APP_ID), "name": "spren-test", "description": "", "icon": None,
            "bot_public": True, "bot_require_code_grant": False, "verify_key": "00",
            "owner": user(OWNER_ID, "owner"), "flags": 0, "summary": ""}


def message(msg_id: int, channel_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """A message object echoing what the bot sent (content, embeds, attachments)."""
    attachments = [
        {"id": str(next_id()), "filename": a.get("filename", "file"), "size": 0,
         "url": "http://127.0.0.1/a", "proxy_url": "http://127.0.0.1/a"}
        for a in body.get("attachments", [])
    ]
    return {
        "id": str(msg_id), "channel_id": str(channel_id), "type": 20,
        "content": body.get("content") or "", "author": bot_user(), "timestamp": now_iso(),
        "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
        "mention_roles": [], "attachments": attachments, "embeds": body.get("embeds") or [],
        "pinned": False, "flags": body.get("flags", 0) or 0, "components": [],
        "webhook_id": str(APP_ID), "application_id": str(APP_ID),
    }


def ready(session_id: str, resume_url: str) -> dict[str, Any]:
    """The READY dispatch: no guilds, so discord.py becomes ready at once."""
    return {"v": 10, "user": bot_user(), "guilds": [], "session_id": session_id,
            "resume_gateway_url": resume_url, "private_channels": [], "relationships": [],
            "application": {"id": str(APP_ID), "flags": 0}, "shard": [0, 1]}


def _context(user_id: int, guild_id: int | None, channel_id: int) -> dict[str, Any]:
    who = user(user_id, f"user{user_id % 1000}")
    if guild_id is None:  # a DM with the bot
        return {"user": who, "context": 1,
                "channel": {"id": str(channel_id), "type": 1, "recipients": [who]}}
    member = {"user": who, "roles": [], "permissions": "2248473465835073", "flags": 0,
              "joined_at": now_iso(), "deaf": False, "mute": False, "nick": None}
    channel = {"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": "general",
               "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None}
    return {"member": member, "guild_id": str(guild_id), "channel": channel, "context": 0,
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "guild_locale": "en-US"}


def interaction(kind: int, name: str, options: list[dict[str, Any]], *, user_id: int,
                guild_id: int | None, channel_id: int, command_id: int = 0) -> dict[str, Any]:
    """An INTERACTION_CREATE payload (kind 2 = command, 4 = autocomplete)."""
    data = {"id": str(command_id or next_id()), "name": name, "type": 1, "options": options}
    payload = {
        "id": str(next_id()), "application_id": str(APP_ID), "type": kind, "data": data,
        "token": f"tok{next_id()}", "version": 1, "locale": "en-US", "app_permissions": "0",
        "entitlements": [], "authorizing_integration_owners": {}, "attachment_size_limit":
        8 * 1024 * 1024, "channel_id": str(channel_id),
    }
    payload.update(_context(user_id, guild_id, channel_id))
    return payload


def option(name: str, value: Any, *, focused: bool = False) -> dict[str, Any]:
    """One command option; the type follows the Python value."""
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else (
        10 if isinstance(value, float) else 3)
    out: dict[str, Any] = {"name": name, "type": kind, "value": value}
    if focused:
        out["focused"] = True
    return out
