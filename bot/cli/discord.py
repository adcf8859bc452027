"""`spren discord ...`: Discord chores that are not the running bot (command sync)."""

from __future__ import annotations

import asyncio

import click

from bot.errors import ConfigError


def _token(cfg) -> str:
    from bot.adapters.discord.adapter import discord_config

    env = discord_config(cfg).token_env
    token = cfg.secret(env)
    if not token:
        raise ConfigError(f"the environment variable {env} is empty: export your bot's token "
                          "there (Developer Portal → your application → Bot → Reset Token)")
    return token


def _describe(command) -> list[str]:
    """How a registered command is typed: one line, or one per sub-command of a group."""
    import discord

    if command.type is discord.AppCommandType.message:
        return [f"{command.name} (on a message: Apps → {command.name})"]
    options = getattr(command, "options", [])
    subs = [o for o in options if isinstance(o, discord.app_commands.AppCommandGroup)]
    if subs:
        return [line for sub in subs for line in _describe_sub(command.name, sub)]
    args = " ".join(f"{o.name}:" if o.required else f"[{o.name}]" for o in options)
    return [f"/{command.name} {args}".rstrip()]


def _describe_sub(parent: str, sub) -> list[str]:
    args = " ".join(f"{o.name}:" if o.required else f"[{o.name}]" for o in sub.options)
    return [f"/{parent} {sub.name} {args}".rstrip()]


@click.group("discord")
def discord_group() -> None:
    """Discord: register the slash commands."""


@discord_group.command("sync")
@click.option("--guild", type=int, default=None,
              help="Register in this server only (instant; good for testing). "
                   "Default: [discord] dev_guild if set, else everywhere.")
@click.option("--global", "everywhere", is_flag=True,
              help="Register globally even when [discord] dev_guild is set.")
@click.pass_obj
def sync(get_config, guild: int | None, everywhere: bool) -> None:
    """Register the slash commands with Discord over REST (no gateway connection).

    Run it once after install and after changing commands or [bot] generate_command; the
    running bot never syncs by itself.
    """
    from bot.adapters.discord.adapter import discord_config, sync_commands

    cfg = get_config()
    if guild is None and not everywhere:
        guild = discord_config(cfg).dev_guild or None
    if guild is not None and everywhere:
        raise click.UsageError("give --guild ID or --global, not both")
    registered = asyncio.run(sync_commands(cfg, _token(cfg), guild))
    where = f"server {guild}" if guild else "all servers (global commands can take a while " \
                                            "to appear)"
    click.echo(f"registered {len(registered)} commands in {where}:")
    for command in registered:
        for line in _describe(command):
            click.echo(f"  {line}")


def register(cli: click.Group) -> None:
    """Mount the `discord` group on the main CLI."""
    cli.add_command(discord_group)
