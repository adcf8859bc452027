"""The Discord adapter: a discord.py client with slash commands, wired to the Dispatcher.

``DiscordAdapter(app, token).run()`` connects to the gateway and serves interactions until
cancelled. Slash commands are never synced here (not in ``on_ready``, which re-runs on every
reconnect): ``spren discord sync`` does that explicitly over REST via ``sync_commands``.

The package splits by responsibility: ``commands`` (the command tree), ``flow`` (one
interaction's life), ``passages`` (posting a passage with its buttons), ``buttons``
(Regenerate / Continue / Stop that survive restarts), ``story`` (story threads),
``replies`` (sending a Reply), ``streaming`` (throttled edits), ``limits`` (cooldowns and
caps), ``text`` (splitting, mentions).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import discord
import yarl
from discord import app_commands

from bot import metrics
from bot.adapters.discord.buttons import PassageButton
from bot.adapters.discord.commands import add_commands
from bot.adapters.discord.connect import (
    UNREACHABLE,
    describe,
    gateway_reachable,
    keep_connected,
    quiet_discord_tracebacks,
)
from bot.adapters.discord.flow import InteractionFlow
from bot.adapters.discord.replies import NO_MENTIONS
from bot.adapters.discord.story import StoryThreads
from bot.config import Config, DiscordConfig
from bot.errors import ConfigError

log = logging.getLogger(__name__)

MESSAGE_CONTENT_HELP = (
    "Discord refused the Message Content intent that [discord] message_content = true asks "
    "for: tick it in the Developer Portal (your application → Bot → Privileged Gateway "
    "Intents → Message Content), or set message_content = false (readers then add to a "
    "story by mentioning the bot)")


def discord_config(cfg: Config) -> DiscordConfig:
    """The [discord] section, or its defaults when the file has none."""
    return cfg.discord if cfg.discord is not None else DiscordConfig()


@contextmanager
def discord_endpoints(api_base: str = "", gateway_url: str = "") -> Iterator[None]:
    """Point discord.py at another REST base / gateway (tests, proxies); restored on exit."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


class SprenTree(app_commands.CommandTree):
    """The command tree, with the one error handler for every command."""

    flow: InteractionFlow | None = None

    async def on_error(self, interaction: discord.Interaction,
                       error: app_commands.AppCommandError) -> None:
        """Log the details; show the user a short private message."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        name = interaction.command.name if interaction.command else "?"
        if self.flow is not None:
            await self.flow.fail(interaction, name, cause)
        else:
            log.error("/%s failed (interaction %s)", name, interaction.id, exc_info=cause)


def intents_for(dcfg: DiscordConfig) -> discord.Intents:
    """Servers (for interactions) and their messages (story threads); Message Content, the
    one privileged intent, only when ``[discord] message_content`` asks for it."""
    return discord.Intents(guilds=True, guild_messages=True,
                           message_content=dcfg.message_content)


class SprenClient(discord.Client):
    """Serves interactions, passage buttons and the messages of story threads."""

    def __init__(self, cfg: Config, flow: InteractionFlow | None,
                 stories: StoryThreads | None = None):
        super().__init__(intents=intents_for(discord_config(cfg)),
                         allowed_mentions=NO_MENTIONS)
        self.tree = SprenTree(self)
        self.tree.flow = flow
        self.presses = flow  # passage buttons hand their presses to it (see buttons.py)
        self.stories = stories
        add_commands(self.tree, cfg, flow, stories)
        self._sessions = 0

    async def setup_hook(self) -> None:
        # buttons on messages sent before a restart keep working: the class is the handler
        self.add_dynamic_items(PassageButton)

    async def on_ready(self) -> None:
        # deliberately no tree.sync() here: on_ready runs again after every reconnect
        log.info("Discord: connected as %s", self.user)

    async def on_connect(self) -> None:
        """A new gateway session (READY); every one after the first is a reconnect."""
        self._sessions += 1
        if self._sessions > 1:
            metrics.discord_reconnect()

    async def on_resumed(self) -> None:
        log.info("Discord: gateway session resumed")
        metrics.discord_reconnect()

    async def on_message(self, message: discord.Message) -> None:
        if self.stories is not None and self.user is not None:
            await self.stories.on_message(message, self.user.id)


class DiscordAdapter:
    """Serves the slash commands of one bot account until cancelled."""

    name = "discord"

    def __init__(self, app, token: str):
        self.app = app
        self.token = token
        self.dcfg = discord_config(app.cfg)
        self.flow = InteractionFlow(app, self.dcfg)
        self.stories = StoryThreads(self.flow, app.dispatcher.stories.tree)
        self.client: SprenClient | None = None

    async def run(self) -> None:
        """Connect (retrying while Discord is unreachable) and serve until cancelled."""
        quiet_discord_tracebacks()
        with discord_endpoints(self.dcfg.api_base, self.dcfg.gateway_url):
            where = [f"the Discord API at {discord.http.Route.BASE}"]

            async def start() -> None:
                self.client = client = SprenClient(self.app.cfg, self.flow, self.stories)
                metrics.watch("spren_discord_gateway_latency_seconds", lambda: client.latency)
                async with self.client:
                    try:
                        where[0] = f"the Discord API at {discord.http.Route.BASE}"
                        await self.client.login(self.token)
                        gateway = str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
                        where[0] = f"the Discord gateway at {gateway}"
                        await gateway_reachable(gateway)  # see connect.py: first connects
                        await self.client.connect(reconnect=True)
                    except discord.LoginFailure as exc:
                        raise ConfigError(_token_help(self.dcfg)) from exc
                    except discord.PrivilegedIntentsRequired as exc:
                        raise ConfigError(MESSAGE_CONTENT_HELP) from exc
                    finally:
                        metrics.watch("spren_discord_gateway_latency_seconds", None)
                        await self._stop_handlers()

            await keep_connected(start, lambda: where[0])

    def health(self) -> str | None:
        """None while connected to the gateway; else why not."""
        client = self.client
        if client is None or client.is_closed():
            return "not running"
        if not client.is_ready():
            return "connecting to the Discord gateway"
        if client.ws is None or not client.ws.open:
            return "reconnecting to the Discord gateway"
        return None

    async def _stop_handlers(self) -> None:
        """Cancel interactions still being served, so nothing outlives the client."""
        tasks = [t for t in self.flow.tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _token_help(dcfg: DiscordConfig) -> str:
    return (f"Discord rejected the bot token in ${dcfg.token_env}. Copy it again from the "
            "Developer Portal (your application → Bot → Reset Token) and set "
            f"{dcfg.token_env}.")


async def sync_commands(cfg: Config, token: str,
                        guild: int | None = None) -> list[app_commands.AppCommand]:
    """Register the slash commands over REST only (no gateway): globally or in one guild."""
    dcfg = discord_config(cfg)
    with discord_endpoints(dcfg.api_base, dcfg.gateway_url):
        client = SprenClient(cfg, flow=None)
        async with client:
            try:
                await client.login(token)
                target = discord.Object(id=guild) if guild else None
                if target is not None:
                    client.tree.copy_global_to(guild=target)
                return await client.tree.sync(guild=target)
            except discord.LoginFailure as exc:
                raise ConfigError(_token_help(dcfg)) from exc
            except UNREACHABLE as exc:  # a one-shot command: say so, the operator retries
                raise ConfigError(f"cannot reach the Discord API at {discord.http.Route.BASE} "
                                  f"({describe(exc)}); check the network or [discord] "
                                  "api_base, then run the command again") from exc
