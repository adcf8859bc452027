"""Health checks of the remote backend's servers: a probe when a server is first seen, and
probes with doubling backoff while it is down, so a server that returns is used again."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx

from engine.generation.remote.protocol import ServerFailed
from engine.generation.remote.servers import Server

log = logging.getLogger(__name__)
PROBE_EVERY_S = 0.25  # how often the prober looks for a down server whose backoff ran out
MAX_BODY = 256 * 1024  # bytes of a health or /models answer that are read


class Prober:
    """Probes servers on the engine's loop: ``/health``, else ``/models``; reads the model
    name from ``/models`` when none is configured."""

    def __init__(self, client: httpx.AsyncClient, servers: list[Server]) -> None:
        self.client, self.servers = client, servers
        self._probing: set[int] = set()

    async def run_forever(self) -> None:
        """Probe each down server whose backoff has run out, forever (a task on the loop)."""
        while True:
            await asyncio.sleep(PROBE_EVERY_S)
            await self.probe_due()

    async def probe_due(self, force: bool = False) -> None:
        """Probe the down servers that are due (all of them when ``force``), concurrently."""
        now = time.monotonic()
        due = [s for s in self.servers if not s.up and id(s) not in self._probing
               and (force or now >= s.next_probe)]
        await asyncio.gather(*(self.probe(s) for s in due))

    async def probe(self, server: Server) -> None:
        """Check one server and mark it up or down (logging when its state changes)."""
        self._probing.add(id(server))
        try:
            await self._check(server)
        except ServerFailed as exc:
            first = not server.checked
            if server.mark_down(str(exc), time.monotonic()) or first:
                log.warning("generation server %s is down: %s", server.label, exc)
            return
        finally:
            self._probing.discard(id(server))
        if server.mark_up():
            log.info("generation server %s is up (model %s)", server.label, server.model)

    async def _check(self, server: Server) -> None:
        health, _ = await self._get(server.health_url)
        if not 200 <= health < 300:
            models, _ = await self._get(server.url + "/models")
            if not 200 <= models < 300:
                raise ServerFailed(f"its health check answered HTTP {health} and /models "
                                   f"HTTP {models}")
        if not server.model:
            server.model = await self._model_name(server)

    async def _model_name(self, server: Server) -> str:
        """The first model the server lists; ServerFailed (asking for [model] name) if none."""
        status, body = await self._get(server.url + "/models")
        name = _first_model(body) if 200 <= status < 300 else None
        if name is None:
            raise ServerFailed(f"could not read a model name from /models (HTTP {status}): "
                               "set [model] name to the model the server serves")
        return name

    async def _get(self, url: str) -> tuple[int, bytes]:
        """Status and the first ``MAX_BODY`` bytes of a GET (a huge body is not read)."""
        try:
            async with self.client.stream("GET", url) as response:
                body = b""
                async for piece in response.aiter_bytes():
                    body += piece
                    if len(body) >= MAX_BODY:
                        break
                return response.status_code, body[:MAX_BODY]
        except httpx.TimeoutException:
            raise ServerFailed("did not answer its health check in time") from None
        except httpx.HTTPError as exc:
            raise ServerFailed(f"could not be reached ({type(exc).__name__})") from None


def _first_model(raw: bytes) -> str | None:
    try:
        body: Any = json.loads(raw)
    except ValueError:
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        name = data[0].get("id")
        return name if isinstance(name, str) and name else None
    return None
