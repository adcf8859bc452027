"""What happens to one interaction: limits, defer, Request to the Dispatcher, Reply back.

No business logic: the Dispatcher decides answers; this module decides how they appear on
Discord (deferred message, queue line, streamed edits, buttons, follow-ups, privacy). It is
also the one place a failure is turned into the user's short private message (``fail``),
for slash commands, context menus and button presses alike.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord import app_commands

from bot import logs, metrics
from bot.adapters.discord.limits import Admission, Limits, Where
from bot.adapters.discord.passages import InteractionSurface, Passages
from bot.adapters.discord.replies import send_private, send_reply
from bot.config import DiscordConfig
from bot.messages import Request

log = logging.getLogger(__name__)

PLATFORM = "discord"
QUICK_ANSWER_S = 1.0  # answer cheap commands directly if they finish this fast, else defer
ERROR_MESSAGE = ("Something went wrong on our side; it has been logged. "
                 "Please try again in a minute.")


def where(interaction: discord.Interaction) -> Where:
    """The ids the limits need."""
    return Where(interaction.user.id, interaction.guild_id, interaction.channel_id)


def moderates(perms: discord.Permissions) -> bool:
    """The one rule for a moderator: a member who may manage messages or the server."""
    return bool(perms.manage_messages or perms.manage_guild)


def to_request(interaction: discord.Interaction, command: str, args: dict[str, Any],
               channel: int | None = None) -> Request:
    """Translate an interaction into the platform-neutral Request (None options dropped)."""
    channel = channel or interaction.channel_id
    return Request(
        platform=PLATFORM, user=str(interaction.user.id), command=command,
        args={k: v for k, v in args.items() if v is not None},
        channel=str(channel) if channel else None,
        guild=str(interaction.guild_id) if interaction.guild_id else None,
        request_id=str(interaction.id),
        moderator=bool(interaction.guild_id) and moderates(interaction.permissions),
        display_name=interaction.user.display_name)


class InteractionFlow:
    """Handlers the command tree calls; one instance per running bot."""

    def __init__(self, app, cfg: DiscordConfig, limits: Limits | None = None):
        self.app = app
        self.cfg = cfg
        self.limits = limits or Limits(cfg)
        self.quick_answer_s = QUICK_ANSWER_S
        self.tasks: set[asyncio.Task] = set()
        self.passages = Passages(app.dispatcher, cfg.edit_interval_s)

    # ---- generation ----------------------------------------------------------------------
    async def generate(self, interaction: discord.Interaction, command: str,
                       args: dict[str, Any], heading: str | None = None) -> None:
        """A generating command or press: admit, defer at once, stream, then the passage."""
        logs.bind_request(str(interaction.id))  # this task serves this interaction only
        adm = self.limits.admit(where(interaction), generating=True)
        if not adm.ok:
            await self.refuse(interaction, command, adm)
            return
        self.track()
        try:
            await interaction.response.defer(thinking=True)
            await self.passages.post(to_request(interaction, command, args),
                                     InteractionSurface(interaction),
                                     spoilers=self.spoilers(interaction.guild_id),
                                     heading=heading)
        finally:
            self.limits.release(adm)

    async def press(self, interaction: discord.Interaction, command: str, rid: str) -> None:
        """A button under a passage: Regenerate and Continue write a new passage (a new
        message), Stop answers privately. Who may press what is the Dispatcher's call."""
        self.track()
        try:
            if command == "stop":
                await self.answer(interaction, command, {"parent": rid})
                return
            why = await self._quick_refusal(to_request(interaction, command, {"parent": rid}))
            if why is not None:  # say so privately, before a public "thinking…"
                await send_private(interaction, why[:1].upper() + why[1:])
                await self.record(interaction, command, "refused", why)
                return
            await self.generate(interaction, command, {"parent": rid})
        except Exception as exc:  # discord.py would only log a button's failure
            await self.fail(interaction, command, exc)

    async def _quick_refusal(self, req: Request) -> str | None:
        """Why the Dispatcher would refuse this press, if it can tell within quick_answer_s;
        a slower database leaves the verdict to after the defer (Discord waits 3 s, no more)."""
        check = asyncio.create_task(self.app.dispatcher.stories.refusal(req))
        done, _ = await asyncio.wait({check}, timeout=self.quick_answer_s)
        if not done:
            check.cancel()
            return None
        return check.result()

    def spoilers(self, guild_id: int | None) -> bool:
        """Whether passages in this server hide behind spoiler tags."""
        return guild_id in self.cfg.spoiler_guilds

    # ---- everything else -----------------------------------------------------------------
    async def answer(self, interaction: discord.Interaction, command: str,
                     args: dict[str, Any] | None = None) -> None:
        """A cheap command: answered directly when quick, else deferred and then edited."""
        logs.bind_request(str(interaction.id))
        adm = self.limits.admit(where(interaction), generating=False)
        if not adm.ok:
            await self.refuse(interaction, command, adm)
            return
        self.track()
        task = asyncio.create_task(self.app.dispatcher.handle(
            to_request(interaction, command, args or {})))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.quick_answer_s)
            if not done:
                await interaction.response.defer(thinking=True)
            await send_reply(interaction, await task)
        finally:
            task.cancel()

    async def book_choices(self, interaction: discord.Interaction,
                           current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete for a `book` option: matching (title, code) pairs from the database."""
        pairs = await asyncio.to_thread(self.app.dispatcher.book_choices, current, 25)
        return [app_commands.Choice(name=_choice_name(code, title), value=code)
                for code, title in pairs]

    # ---- helpers -------------------------------------------------------------------------
    def track(self) -> None:
        """Remember the running handler so the adapter can cancel it on shutdown."""
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def refuse(self, interaction: discord.Interaction, command: str,
                      adm: Admission) -> None:
        """Tell the user privately why not (and when to retry), and log the refusal."""
        await send_private(interaction, adm.refusal or "Not now.", links=True)
        await self.record(interaction, command, "refused", adm.refusal)
        metrics.request_done(PLATFORM, command, "refused")
        metrics.filter_action(PLATFORM, "limits")

    async def fail(self, interaction: discord.Interaction, name: str,
                   cause: BaseException) -> None:
        """The one handler for a failure: details to the log, a short private note to the
        user, the outcome to the interaction log."""
        log.error("/%s failed (interaction %s)", name, interaction.id, exc_info=cause)
        metrics.error(PLATFORM, cause)
        try:
            await send_private(interaction, ERROR_MESSAGE)
        except discord.HTTPException:
            log.warning("could not tell the user about the failure of /%s", name,
                        exc_info=True)
        await self.record(interaction, name, "error", f"{type(cause).__name__}: {cause}")

    async def record(self, interaction: discord.Interaction, command: str, outcome: str,
                     error: str | None) -> None:
        """Log an outcome the Dispatcher never saw (adapter refusals, failed deliveries)."""
        await self.record_at(str(interaction.id), where(interaction), command, outcome, error)

    async def record_at(self, request_id: str, at: Where, command: str, outcome: str,
                        error: str | None) -> None:
        """``record`` for any request (a message in a story thread has no interaction)."""
        store = self.app.store
        fields = dict(platform=PLATFORM, request_id=request_id,
                      user=store.user_key(PLATFORM, str(at.user)),
                      guild=store.user_key(PLATFORM, str(at.guild)) if at.guild else None,
                      channel=str(at.channel) if at.channel else None,
                      command=command[:32], options={}, outcome=outcome,
                      error=(error or "")[:500] or None)
        await self.app.dispatcher.log_row(**fields)  # the log's own writer; never raises


def _choice_name(code: str, title: str) -> str:
    name = f"{title} ({code})"
    return name if len(name) <= 100 else f"{title[: 96 - len(code)]}… ({code})"
