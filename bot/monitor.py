"""The monitoring endpoint of `spren run`: Prometheus text at ``/metrics``, health at
``/healthz``.

``[metrics] listen = "HOST:PORT"`` turns it on (empty: off). It runs on the bot's event loop
(aiohttp, already a dependency of discord.py); a scrape formats counters that live in memory,
so it costs the loop well under a millisecond. ``/healthz`` answers 200 when every registered
check passes (the engine, each platform adapter) and 503 with the reasons otherwise,
including while the bot is still starting; both answer JSON.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from bot.errors import ConfigError

log = logging.getLogger(__name__)

Check = Callable[[], str | None]  # None when fine, else why not
_LISTEN = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.\-]+)):(?P<port>\d{1,5})$")


def parse_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` or ``"[::1]:9108"`` -> (host, port); ConfigError otherwise."""
    m = _LISTEN.match(value.strip())
    port = int(m.group("port")) if m else -1
    if m is None or not 0 <= port <= 65535:
        raise ConfigError(f"[metrics] listen must be HOST:PORT like \"127.0.0.1:9108\" (or "
                          f"empty to turn the endpoint off), got {value!r}")
    return m.group("v6") or m.group("host"), port


class Health:
    """Named checks that together say whether the bot is up."""

    def __init__(self) -> None:
        self.checks: dict[str, Check] = {}
        self.starting: str | None = "starting"  # cleared once every part is wired

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def report(self) -> tuple[bool, dict[str, str]]:
        """(healthy, {part: "ok" or the reason it is not})."""
        parts: dict[str, str | None] = {"bot": self.starting} if self.starting else {}
        for name, check in self.checks.items():
            try:
                parts[name] = check()
            except Exception as exc:  # a broken check means we cannot vouch for that part
                parts[name] = f"health check failed: {type(exc).__name__}"
        return all(v is None for v in parts.values()), {k: v or "ok" for k, v in parts.items()}


class MonitorServer:
    """The HTTP server behind ``[metrics] listen`` (start it with ``serve``)."""

    def __init__(self, health: Health):
        self.health = health
        self.url = ""
        self._runner: Any = None

    async def start(self, host: str, port: int) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(f"[metrics] listen = \"{host}:{port}\": cannot listen there "
                              f"({exc.strerror or exc}); pick a free port") from None
        bound = self._runner.addresses[0]  # the real port when 0 was asked for
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.url = f"http://{shown}:{bound[1]}"
        log.info("metrics at %s/metrics, health at %s/healthz", self.url, self.url)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: Any) -> Any:
        from aiohttp import web
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        from bot.metrics import REGISTRY

        return web.Response(body=generate_latest(REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: Any) -> Any:
        from aiohttp import web

        ok, parts = self.health.report()
        body = {"status": "ok" if ok else "unhealthy", "checks": parts}
        return web.Response(status=200 if ok else 503, text=json.dumps(body),
                            content_type="application/json")


@asynccontextmanager
async def serve(listen: str, health: Health) -> AsyncIterator[MonitorServer | None]:
    """Serve /metrics and /healthz on ``listen`` for the duration (nothing when empty)."""
    if not listen.strip():
        yield None
        return
    server = MonitorServer(health)
    await server.start(*parse_listen(listen))
    try:
        yield server
    finally:
        await server.close()


def engine_check(service: Any) -> Check:
    """The engine's health: the queue's workers run (no model loaded is down too)."""
    if service is None:
        return lambda: "no model loaded: generation is off (build or configure [model])"
    return service.health
