"""Operator commands: `spren health` asks a running bot's /healthz (the Docker HEALTHCHECK)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import click

from bot.errors import ConfigError

WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def health_url(listen: str) -> str:
    """The /healthz URL of a bot listening on ``listen`` (wildcards become loopback)."""
    from bot.monitor import parse_listen

    if not listen.strip():
        raise ConfigError("[metrics] listen is empty, so the bot serves no /healthz: set it, "
                          "e.g. SPREN_METRICS__LISTEN=127.0.0.1:9108, or pass --url")
    host, port = parse_listen(listen)
    host = WILDCARDS.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"


def check(url: str, timeout: float) -> tuple[bool, str]:
    """(healthy, one line saying why) from a /healthz URL."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"unhealthy: nothing answers at {url} ({reason}); is `spren run` up?"
    try:
        report = json.loads(body)
        parts = report["checks"]
    except (ValueError, KeyError, TypeError):
        return False, f"unhealthy: {url} did not answer like spren's /healthz"
    bad = [f"{name}: {why}" for name, why in parts.items() if why != "ok"]
    if report.get("status") == "ok" and not bad:
        return True, "ok: " + ", ".join(parts) if parts else "ok"
    return False, "unhealthy: " + "; ".join(bad or ["unknown reason"])


def register(cli: click.Group) -> None:
    """Add `spren health` to the `spren` group."""

    @cli.command("health")
    @click.option("--url", default=None, help="The /healthz URL (default: from [metrics] "
                  "listen).")
    @click.option("--timeout", type=float, default=5.0, show_default=True,
                  help="Seconds to wait for the answer.")
    @click.pass_obj
    def health_cmd(get_config, url: str | None, timeout: float) -> None:
        """Ask a running bot whether it is healthy: exit 0 if so, 1 (with the reason) if not."""
        ok, line = check(url or health_url(get_config().metrics.listen), timeout)
        click.echo(line, err=not ok)
        if not ok:
            raise SystemExit(1)
