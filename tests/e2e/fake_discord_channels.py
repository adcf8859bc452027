"""The fake Discord's messages and threads: what the bot posted (with its buttons), edits,
deletions, threads it started, and messages members post (MESSAGE_CREATE on the gateway).

Every message the bot creates, whether an interaction's response, a follow-up or a channel
message, is kept here by id with its latest content and components, so a test can press a
button on it later, even after the bot has restarted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.e2e import fake_discord_payloads as P

if TYPE_CHECKING:
    from tests.e2e.fake_discord import FakeDiscord

MESSAGE_CONTENT = 1 << 15  # the privileged gateway intent


class Channels:
    """Messages by id, threads by id, and the REST handlers that change them."""

    def __init__(self, fake: FakeDiscord):
        self.fake = fake
        self.messages: dict[int, dict[str, Any]] = {}
        self.deleted: set[int] = set()
        self.threads: dict[int, dict[str, Any]] = {}
        self.thread_faults = 0  # answer the next thread creations with 403

    # ---- the store -----------------------------------------------------------------------
    def add(self, channel_id: int, body: dict[str, Any], *, webhook: bool) -> dict[str, Any]:
        """Keep a message the bot sent; returns its payload."""
        msg = P.message(P.next_id(), channel_id, body, webhook=webhook)
        self.messages[int(msg["id"])] = msg
        return msg

    def edit(self, msg_id: int, body: dict[str, Any]) -> dict[str, Any] | None:
        """Apply an edit (only the fields it names, as Discord does)."""
        msg = self.messages.get(msg_id)
        if msg is None:
            return None
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                msg[key] = body[key] if body[key] is not None else ([] if key != "content"
                                                                     else "")
        return msg

    def in_channel(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages in a channel or thread that are still there, oldest first."""
        return [m for mid, m in sorted(self.messages.items())
                if int(m["channel_id"]) == channel_id and mid not in self.deleted]

    @staticmethod
    def custom_ids(msg: dict[str, Any]) -> list[str]:
        """The custom ids of a message's buttons, in order."""
        return [c["custom_id"] for row in msg.get("components") or []
                for c in row.get("components", []) if "custom_id" in c]

    # ---- REST ----------------------------------------------------------------------------
    def routes(self, base: str) -> list:
        ch = base + "/channels/{cid}"
        return [
            web.post(ch + "/messages", self._post),
            web.patch(ch + "/messages/{mid}", self._patch),
            web.delete(ch + "/messages/{mid}", self._delete),
            web.post(ch + "/messages/{mid}/threads", self._thread),
            web.post(ch + "/threads", self._thread),
        ]

    async def _post(self, request: web.Request) -> web.Response:
        call = await self.fake._record(request)
        channel = int(request.match_info["cid"])
        msg = self.add(channel, call.body or {}, webhook=False)
        await self.fake._notify()
        # as Discord does, the bot hears its own message too (and must ignore it)
        await self.fake._send("MESSAGE_CREATE", {**msg, "guild_id": str(
            self.fake.guild_of.get(channel, 5001))})
        return self.fake._reply(msg)

    async def _patch(self, request: web.Request) -> web.Response:
        call = await self.fake._record(request)
        msg = self.edit(int(request.match_info["mid"]), call.body or {})
        await self.fake._notify()
        if msg is None:
            return self.fake._reply({"message": "Unknown Message", "code": 10008}, 404)
        return self.fake._reply(msg)

    async def _delete(self, request: web.Request) -> web.Response:
        await self.fake._record(request)
        self.deleted.add(int(request.match_info["mid"]))
        await self.fake._notify()
        return web.Response(status=204)

    async def _thread(self, request: web.Request) -> web.Response:
        call = await self.fake._record(request)
        if self.thread_faults:
            self.thread_faults -= 1
            return self.fake._reply({"message": "Missing Permissions", "code": 50013}, 403)
        parent = int(request.match_info["cid"])
        guild = int(self.fake.guild_of.get(parent, 5001))
        tid = int(request.match_info.get("mid") or P.next_id())  # a thread takes its starter's id
        payload = P.thread(tid, parent, guild, (call.body or {}).get("name", "thread"))
        self.threads[tid] = payload
        self.fake.guild_of[tid] = guild
        await self.fake._send("THREAD_CREATE", {**payload, "newly_created": True})
        await self.fake._notify()
        return self.fake._reply(payload)

    # ---- members ---------------------------------------------------------------------------
    async def member_says(self, channel_id: int, content: str, *, user_id: int = 1001,
                          bot: bool = False, mention_bot: bool = False) -> dict[str, Any]:
        """A member (or another bot) posts in a channel; the bot gets MESSAGE_CREATE. Without
        the Message Content intent, Discord blanks the text unless the bot is mentioned."""
        if mention_bot:
            content = f"<@{P.BOT_ID}> {content}"
        shown = content if mention_bot or self.fake.intents & MESSAGE_CONTENT else ""
        guild = int(self.fake.guild_of.get(channel_id, 5001))
        msg = P.user_message(P.next_id(), channel_id, guild, user_id, shown, bot=bot,
                             mentions_bot=mention_bot)
        self.messages[int(msg["id"])] = dict(msg, content=content)
        await self.fake._send("MESSAGE_CREATE", msg)
        return msg
