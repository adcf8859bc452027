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


def message(msg_id: int, channel_id: int, body: dict[str, Any], *,
            webhook: bool = True) -> dict[str, Any]:
    """A message object echoing what the bot sent (content, embeds, attachments, buttons):
    an interaction's response or follow-up (``webhook``), else a plain channel message."""
    attachments = [
        {"id": str(next_id()), "filename": a.get("filename", "file"), "size": 0,
         "url": "http://127.0.0.1/a", "proxy_url": "http://127.0.0.1/a"}
        for a in body.get("attachments", [])
    ]
    out = {
        "id": str(msg_id), "channel_id": str(channel_id), "type": 20 if webhook else 0,
        "content": body.get("content") or "", "author": bot_user(), "timestamp": now_iso(),
        "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
        "mention_roles": [], "attachments": attachments, "embeds": body.get("embeds") or [],
        "pinned": False, "flags": body.get("flags", 0) or 0,
        "components": body.get("components") or [],
    }
    if webhook:
        out.update(webhook_id=str(APP_ID), application_id=str(APP_ID))
    if body.get("message_reference"):
        out["type"] = 19
        out["message_reference"] = body["message_reference"]
    return out


def user_message(msg_id: int, channel_id: int, guild_id: int, user_id: int, content: str, *,
                 bot: bool = False, mentions_bot: bool = False) -> dict[str, Any]:
    """A MESSAGE_CREATE from someone in a server channel or thread."""
    who = user(user_id, f"user{user_id % 1000}", bot=bot)
    return {
        "id": str(msg_id), "channel_id": str(channel_id), "guild_id": str(guild_id),
        "type": 0, "content": content, "author": who, "timestamp": now_iso(),
        "edited_timestamp": None, "tts": False, "mention_everyone": False,
        "mentions": [bot_user()] if mentions_bot else [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": False, "flags": 0, "components": [],
        "member": {"roles": [], "joined_at": now_iso(), "deaf": False, "mute": False,
                   "flags": 0, "nick": None},
    }


def thread(thread_id: int, parent_id: int, guild_id: int, name: str) -> dict[str, Any]:
    """A public thread the bot started."""
    return {"id": str(thread_id), "type": 11, "guild_id": str(guild_id),
            "parent_id": str(parent_id), "owner_id": str(BOT_ID), "name": name,
            "last_message_id": None, "rate_limit_per_user": 0, "message_count": 0,
            "member_count": 1, "flags": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": 10080,
                                "archive_timestamp": now_iso(), "locked": False,
                                "invitable": True, "create_timestamp": now_iso()}}


def ready(session_id: str, resume_url: str) -> dict[str, Any]:
    """The READY dispatch: no guilds, so discord.py becomes ready at once."""
    return {"v": 10, "user": bot_user(), "guilds": [], "session_id": session_id,
            "resume_gateway_url": resume_url, "private_channels": [], "relationships": [],
            "application": {"id": str(APP_ID), "flags": 0}, "shard": [0, 1]}


MEMBER_PERMISSIONS = 2248473465835073  # a member's usual rights: no Manage Messages/Server
MANAGE_MESSAGES = 1 << 13
MANAGE_GUILD = 1 << 5


def _context(user_id: int, guild_id: int | None, channel_id: int,
             permissions: int = MEMBER_PERMISSIONS, channel_type: int = 0) -> dict[str, Any]:
    who = user(user_id, f"user{user_id % 1000}")
    if guild_id is None:  # a DM with the bot
        return {"user": who, "context": 1,
                "channel": {"id": str(channel_id), "type": 1, "recipients": [who]}}
    member = {"user": who, "roles": [], "permissions": str(permissions), "flags": 0,
              "joined_at": now_iso(), "deaf": False, "mute": False, "nick": None}
    channel = {"id": str(channel_id), "type": channel_type, "guild_id": str(guild_id),
               "name": "general", "position": 0, "permission_overwrites": [], "nsfw": False,
               "parent_id": None}
    if channel_type == 11:  # a thread: discord.py reads these for thread channels
        channel.update(thread(channel_id, 7001, guild_id, "a thread"))
    return {"member": member, "guild_id": str(guild_id), "channel": channel, "context": 0,
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "guild_locale": "en-US"}


def interaction(kind: int, name: str, options: list[dict[str, Any]], *, user_id: int,
                guild_id: int | None, channel_id: int, command_id: int = 0,
                data: dict[str, Any] | None = None, permissions: int = MEMBER_PERMISSIONS,
                channel_type: int = 0,
                resolved: dict[str, Any] | None = None) -> dict[str, Any]:
    """An INTERACTION_CREATE payload (kind 2 = command, 3 = component, 4 = autocomplete)."""
    data = data or {"id": str(command_id or next_id()), "name": name, "type": 1,
                    "options": options}
    if resolved:
        data["resolved"] = resolved
    payload = {
        "id": str(next_id()), "application_id": str(APP_ID), "type": kind, "data": data,
        "token": f"tok{next_id()}", "version": 1, "locale": "en-US", "app_permissions": "0",
        "entitlements": [], "authorizing_integration_owners": {}, "attachment_size_limit":
        8 * 1024 * 1024, "channel_id": str(channel_id),
    }
    payload.update(_context(user_id, guild_id, channel_id, permissions, channel_type))
    return payload


def subcommand(name: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    """A sub-command of a group, as the option the group's command carries."""
    return {"name": name, "type": 1, "options": options}


def user_option(name: str, user_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A user option and the ``resolved`` data that goes with it."""
    return ({"name": name, "type": 6, "value": str(user_id)},
            {"users": {str(user_id): user(user_id, f"user{user_id % 1000}")}})


def message_command_data(name: str, target: dict[str, Any]) -> dict[str, Any]:
    """The data of a message context menu used on ``target``."""
    return {"id": str(next_id()), "name": name, "type": 3, "target_id": target["id"],
            "resolved": {"messages": {target["id"]: target}}}


def component_data(custom_id: str) -> dict[str, Any]:
    """The data of a button press."""
    return {"custom_id": custom_id, "component_type": 2}


def option(name: str, value: Any, *, focused: bool = False) -> dict[str, Any]:
    """One command option; the type follows the Python value."""
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else (
        10 if isinstance(value, float) else 3)
    out: dict[str, Any] = {"name": name, "type": kind, "value": value}
    if focused:
        out["focused"] = True
    return out
