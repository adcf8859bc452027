"""Operator commands: `spren health` asks a running bot's /healthz (see bot.healthcheck)."""

from __future__ import annotations

import click

from bot.healthcheck import check, health_url


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
