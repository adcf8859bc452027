"""Asking a running bot's /healthz: ``spren health`` and the Docker HEALTHCHECK
(``python -m bot.healthcheck``, which skips the CLI's imports: it runs every 30 s).

Exit status 0 when healthy, else 1 with one line saying why.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

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


def check(url: str, timeout: float = 5.0) -> tuple[bool, str]:
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


def main(argv: list[str] | None = None) -> int:
    """Check the bot the configuration (file and environment) describes; print one line."""
    from bot.config import load_config

    args = sys.argv[1:] if argv is None else argv
    try:
        url = args[0] if args else health_url(load_config().metrics.listen)
    except ConfigError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    ok, line = check(url)
    print(line, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
