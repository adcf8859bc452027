"""A fake Discord on 127.0.0.1 for driving the real discord.py: REST v10 and a gateway.

It records every request, keeps one ``Exchange`` per interaction it dispatched (callback,
edits of the original message, follow-ups) and can answer the next edit(s) with a 429.
Messages the bot sends, with their buttons, and the threads it starts live in ``channels``
(``fake_discord_channels``), so a test can press a button (``press``: a MESSAGE_COMPONENT
interaction carrying the message), use a message context menu (``message_command``), post
as a member (``channels.member_says``: MESSAGE_CREATE), even against a restarted bot. It
refuses the Message Content intent at IDENTIFY (close 4014) when told the portal has not
allowed it. Answers carry ``Content-Type: application/json`` exactly, as discord.py requires.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from tests.e2e import fake_discord_payloads as P
from tests.e2e.fake_discord_channels import MESSAGE_CONTENT, Channels
from tests.e2e.fake_discord_records import Call, Exchange, FilePart

JSON = "application/json"


class FakeDiscord:
    """The server. ``async with FakeDiscord() as fake`` starts it on a free port."""

    def __init__(self, *, allow_message_content: bool = True) -> None:
        self.allow_message_content = allow_message_content  # ticked in the "portal"
        self.intents = 0  # what the bot identified with
        self.channels = Channels(self)
        self.guild_of: dict[int, int] = {}  # channel id -> guild id, learnt from payloads
        self.calls: list[Call] = []
        self.exchanges: dict[str, Exchange] = {}
        self.identifies = 0
        self.resumes = 0
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self._ready = asyncio.Event()
        self._changed = asyncio.Condition()
        self._edit_faults: list[tuple[int, float]] = []  # (status, retry_after)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> FakeDiscord:
        app = web.Application()
        app.add_routes(self._routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def _routes(self) -> list:
        b = "/api/v10"
        hook = b + "/webhooks/{app}/{token}"
        return [
            web.get(b + "/users/@me", self._json(P.bot_user)),
            web.get(b + "/applications/@me", self._json(P.application)),
            web.get(b + "/oauth2/applications/@me", self._json(P.application)),
            web.get(b + "/gateway", self._json(lambda: {"url": self.gateway_url})),
            web.get(b + "/gateway/bot", self._json(self._gateway_bot)),
            web.put(b + "/applications/{app}/commands", self._sync),
            web.put(b + "/applications/{app}/guilds/{guild}/commands", self._sync),
            web.post(b + "/interactions/{iid}/{token}/callback", self._callback),
            web.patch(hook + "/messages/{mid}", self._edit),
            web.get(hook + "/messages/{mid}", self._get_message),
            web.delete(hook + "/messages/{mid}", self._delete),
            web.post(hook, self._followup),
            web.get("/gateway", self._gateway),
            *self.channels.routes(b),
        ]

    # ---- recording ---------------------------------------------------------------------
    async def _record(self, request: web.Request, status: int = 200) -> Call:
        body: Any = None
        files: list[FilePart] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()
                if part.name == "payload_json":
                    body = json.loads(data)
                else:
                    files.append(FilePart(part.name, part.filename or "", part.headers.get(
                        "Content-Type", ""), bytes(data)))
        elif request.can_read_body:
            body = await request.json()
        call = Call(request.method, request.path, dict(request.query), body, files,
                    time.monotonic(), status)
        self.calls.append(call)
        return call

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (checked after every request)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    @staticmethod
    def _reply(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
        # body= (not text=) so aiohttp adds no '; charset=' that discord.py would reject
        return web.Response(status=status, body=json.dumps(data).encode(), headers={
            "Content-Type": JSON, **(headers or {})})

    def _json(self, make: Callable[[], Any]):
        async def handler(request: web.Request) -> web.Response:
            await self._record(request)
            return self._reply(make())
        return handler

    def _gateway_bot(self) -> dict[str, Any]:
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}

    # ---- REST handlers -----------------------------------------------------------------
    async def _sync(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        guild = request.match_info.get("guild")
        out = [{**cmd, "id": str(P.next_id()), "application_id": str(P.APP_ID), "version": "1",
                "type": cmd.get("type", 1), "description": cmd.get("description", ""),
                **({"guild_id": guild} if guild else {})} for cmd in call.body or []]
        return self._reply(out)

    async def _callback(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        ex = self.exchanges.get(request.match_info["token"])
        if ex is not None:
            ex.callbacks.append(call)
        await self._notify()
        kind = call.body["type"]
        data = call.body.get("data") or {}
        out: dict[str, Any] = {"interaction": {
            "id": request.match_info["iid"], "type": ex.payload["type"] if ex else 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool((data.get("flags") or 0) & 64)}}
        if kind in (4, 5):
            msg = self.channels.add(self._channel(ex), data, webhook=True)
            if ex is not None:
                ex.original_id = int(msg["id"])
            out["interaction"]["response_message_id"] = msg["id"]
            out["resource"] = {"type": kind, "message": msg}
        elif kind == 7 and ex is not None and "message" in ex.payload:  # update the message
            self.channels.edit(int(ex.payload["message"]["id"]), data)
        return self._reply(out)

    @staticmethod
    def _channel(ex: Exchange | None) -> int:
        return int(ex.payload["channel"]["id"]) if ex else 1

    async def _edit(self, request: web.Request) -> web.Response:
        if self._edit_faults and request.match_info["mid"] == "@original":
            return await self._fault(request, *self._edit_faults.pop(0))
        call = await self._record(request)
        ex = self.exchanges.get(request.match_info["token"])
        if ex is not None:
            ex.edits.append(call)
        msg = self.channels.edit(self._message_id(ex, request), call.body or {})
        await self._notify()
        return self._reply(msg or P.message(P.next_id(), self._channel(ex), call.body or {}))

    @staticmethod
    def _message_id(ex: Exchange | None, request: web.Request) -> int:
        mid = request.match_info["mid"]
        if mid == "@original":
            return ex.original_id if ex is not None and ex.original_id else 0
        return int(mid)

    async def _fault(self, request: web.Request, status: int, retry_after: float):
        call = await self._record(request, status=status)
        ex = self.exchanges.get(request.match_info["token"])
        if ex is not None:
            ex.edits.append(call)
        if status != 429:
            return self._reply({"message": "Unknown Message", "code": 10008}, status)
        headers = {"Retry-After": f"{retry_after:.3f}", "X-RateLimit-Limit": "5",
                   "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                   "X-RateLimit-Bucket": "fakebucket", "X-RateLimit-Scope": "user",
                   "Via": "1.1 google"}
        body = {"message": "You are being rate limited.", "retry_after": retry_after,
                "global": False}
        return self._reply(body, 429, headers)

    async def _get_message(self, request: web.Request) -> web.Response:
        await self._record(request)
        ex = self.exchanges.get(request.match_info["token"])
        stored = self.channels.messages.get(self._message_id(ex, request))
        if stored is not None:
            return self._reply(stored)
        content = ex.original_content() if ex else ""
        return self._reply(P.message(P.next_id(), self._channel(ex), {"content": content}))

    async def _delete(self, request: web.Request) -> web.Response:
        await self._record(request)
        ex = self.exchanges.get(request.match_info["token"])
        if ex is not None:
            ex.deleted_original = True
        self.channels.deleted.add(self._message_id(ex, request))
        await self._notify()
        return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        ex = self.exchanges.get(request.match_info["token"])
        if ex is not None:
            ex.followups.append(call)
        msg = self.channels.add(self._channel(ex), call.body or {}, webhook=True)
        await self._notify()
        return self._reply(msg)

    # ---- failure injection -------------------------------------------------------------
    def rate_limit_next_edits(self, count: int = 1, retry_after: float = 0.5) -> None:
        """Answer the next ``count`` edits of an original message with a 429."""
        self._edit_faults.extend([(429, retry_after)] * count)

    def fail_next_edits(self, count: int = 1, status: int = 404) -> None:
        """Answer the next ``count`` edits of an original message with an error."""
        self._edit_faults.extend([(status, 0.0)] * count)

    # ---- gateway -----------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            await self._on_gateway_message(ws, json.loads(msg.data))
        return ws

    async def _on_gateway_message(self, ws: web.WebSocketResponse, msg: dict) -> None:
        op = msg.get("op")
        if op == 1:  # heartbeat
            await ws.send_str(json.dumps({"op": 11}))
        elif op == 2:  # identify
            self.identifies += 1
            self.intents = int(msg["d"].get("intents", 0))
            if self.intents & MESSAGE_CONTENT and not self.allow_message_content:
                await ws.close(code=4014)  # "Disallowed intent(s)"
                return
            await self._send("READY", P.ready(uuid.uuid4().hex, self.gateway_url))
            self._ready.set()
        elif op == 6:  # resume
            self.resumes += 1
            await self._send("RESUMED", {})
            self._ready.set()

    async def _send(self, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await self._ws.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until a bot has identified (or resumed) on the gateway."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def drop_connection(self) -> None:
        """Close the gateway socket as Discord does before asking for a reconnect."""
        self._ready.clear()
        await self._ws.close(code=4000)

    # ---- interactions ------------------------------------------------------------------
    async def send_interaction(self, payload: dict[str, Any]) -> Exchange:
        """Dispatch INTERACTION_CREATE and start recording what the bot does with it."""
        ex = Exchange(payload, time.monotonic())
        self.exchanges[payload["token"]] = ex
        if payload.get("guild_id"):
            self.guild_of[int(payload["channel_id"])] = int(payload["guild_id"])
        await self._send("INTERACTION_CREATE", payload)
        return ex

    async def command(self, name: str, options: dict[str, Any] | None = None, *,
                      user_id: int = 1001, guild_id: int | None = 5001,
                      channel_id: int = 7001, subcommand: str | None = None,
                      users: dict[str, int] | None = None,
                      permissions: int = P.MEMBER_PERMISSIONS) -> Exchange:
        """Send a slash command with the given options (``users``: user options by name;
        ``subcommand``: the options go to that subcommand of a group)."""
        opts = [P.option(k, v) for k, v in (options or {}).items()]
        resolved: dict[str, Any] = {}
        for key, uid in (users or {}).items():
            opt, res = P.user_option(key, uid)
            opts.append(opt)
            resolved.setdefault("users", {}).update(res["users"])
        if subcommand is not None:
            opts = [P.subcommand(subcommand, opts)]
        return await self.send_interaction(P.interaction(
            2, name, opts, user_id=user_id, guild_id=guild_id, channel_id=channel_id,
            permissions=permissions, resolved=resolved))

    async def autocomplete(self, name: str, focused: str, value: str, *, user_id: int = 1001,
                           guild_id: int | None = 5001, channel_id: int = 7001) -> Exchange:
        """Send an autocomplete request for option ``focused`` typed so far as ``value``."""
        opts = [P.option(focused, value, focused=True)]
        return await self.send_interaction(P.interaction(
            4, name, opts, user_id=user_id, guild_id=guild_id, channel_id=channel_id))

    async def press(self, message: dict[str, Any], custom_id: str, *, user_id: int = 1001,
                    guild_id: int | None = 5001,
                    permissions: int = P.MEMBER_PERMISSIONS) -> Exchange:
        """Press a button of a message the bot sent (as Discord holds it now)."""
        current = self.channels.messages[int(message["id"])]
        assert custom_id in self.channels.custom_ids(current), (custom_id, current)
        payload = P.interaction(3, "", [], user_id=user_id, guild_id=guild_id,
                                channel_id=int(current["channel_id"]),
                                data=P.component_data(custom_id), permissions=permissions)
        payload["message"] = dict(current, guild_id=str(guild_id)) if guild_id else current
        return await self.send_interaction(payload)

    async def message_command(self, name: str, target: dict[str, Any], *,
                              user_id: int = 1001, guild_id: int | None = 5001,
                              channel_id: int = 7001) -> Exchange:
        """Use a message context menu on ``target``."""
        return await self.send_interaction(P.interaction(
            2, name, [], user_id=user_id, guild_id=guild_id, channel_id=channel_id,
            data=P.message_command_data(name, target)))

    async def subcommand(self, group: str, name: str, options: dict[str, Any] | None = None,
                         *, user_id: int = 1001, guild_id: int | None = 5001,
                         channel_id: int = 7001, channel_type: int = 0) -> Exchange:
        """``/group name options...``."""
        sub = P.subcommand(name, [P.option(k, v) for k, v in (options or {}).items()])
        return await self.send_interaction(P.interaction(
            2, group, [sub], user_id=user_id, guild_id=guild_id, channel_id=channel_id,
            channel_type=channel_type))
