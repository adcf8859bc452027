"""What happens to one interaction: limits, defer, Request to the Dispatcher, Reply back.

No business logic: the Dispatcher decides answers; this module decides how they appear on
Discord (deferred message, queue line, streamed edits, follow-ups, privacy).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord import app_commands

from bot import logs, metrics
from bot.adapters.discord import text
from bot.adapters.discord.limits import Admission, Limits, Where
from bot.adapters.discord.replies import NO_MENTIONS, send_private, send_reply
from bot.adapters.discord.streaming import PassageProgress, ThrottledMessage
from bot.config import DiscordConfig
from bot.messages import Request

log = logging.getLogger(__name__)

PLATFORM = "discord"
QUICK_ANSWER_S = 1.0  # answer cheap commands directly if they finish this fast, else defer


def where(interaction: discord.Interaction) -> Where:
    """The ids the limits need."""
    return Where(interaction.user.id, interaction.guild_id, interaction.channel_id)


def to_request(interaction: discord.Interaction, command: str, args: dict[str, Any]) -> Request:
    """Translate an interaction into the platform-neutral Request (None options dropped)."""
    return Request(
        platform=PLATFORM, user=str(interaction.user.id), command=command,
        args={k: v for k, v in args.items() if v is not None},
        channel=str(interaction.channel_id) if interaction.channel_id else None,
        guild=str(interaction.guild_id) if interaction.guild_id else None,
        request_id=str(interaction.id))


class InteractionFlow:
    """Handlers the command tree calls; one instance per running bot."""

    def __init__(self, app, cfg: DiscordConfig, limits: Limits | None = None):
        self.app = app
        self.cfg = cfg
        self.limits = limits or Limits(cfg)
        self.quick_answer_s = QUICK_ANSWER_S
        self.tasks: set[asyncio.Task] = set()

    # ---- generation ----------------------------------------------------------------------
    async def generate(self, interaction: discord.Interaction, command: str,
                       args: dict[str, Any]) -> None:
        """A generating command: admit, defer at once, stream, then the final passage."""
        logs.bind_request(str(interaction.id))  # this task serves this interaction only
        adm = self.limits.admit(where(interaction), generating=True)
        if not adm.ok:
            await self._refuse(interaction, command, adm)
            return
        self._track()
        try:
            await interaction.response.defer(thinking=True)
            await self._generate_deferred(interaction, command, args)
        finally:
            self.limits.release(adm)

    async def _generate_deferred(self, interaction: discord.Interaction, command: str,
                                 args: dict[str, Any]) -> None:
        spoilers = interaction.guild_id in self.cfg.spoiler_guilds
        prompt = " ".join(str(args.get("prompt") or "").split())
        message = ThrottledMessage(lambda c: interaction.edit_original_response(
            content=c, allowed_mentions=NO_MENTIONS), self.cfg.edit_interval_s)
        progress = PassageProgress(
            message, text.queue_line,
            lambda t: text.passage_preview(prompt, t, spoilers=spoilers))
        reply = await self.app.dispatcher.handle(to_request(interaction, command, args),
                                                 progress.on_event)
        if reply.private or reply.outcome != "ok":
            await message.abandon()
            await send_reply(interaction, reply)
            return
        pieces = text.passage_messages(reply.meta.get("prompt", prompt), reply.text,
                                       spoilers=spoilers)
        await message.finish(pieces[0])
        for piece in pieces[1:]:  # over 2,000 characters: the rest as follow-ups
            await interaction.followup.send(piece, allowed_mentions=NO_MENTIONS)

    # ---- everything else -----------------------------------------------------------------
    async def answer(self, interaction: discord.Interaction, command: str,
                     args: dict[str, Any] | None = None) -> None:
        """A cheap command: answered directly when quick, else deferred and then edited."""
        logs.bind_request(str(interaction.id))
        adm = self.limits.admit(where(interaction), generating=False)
        if not adm.ok:
            await self._refuse(interaction, command, adm)
            return
        self._track()
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
    def _track(self) -> None:
        """Remember the running handler so the adapter can cancel it on shutdown."""
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _refuse(self, interaction: discord.Interaction, command: str,
                      adm: Admission) -> None:
        """Tell the user privately why not (and when to retry), and log the refusal."""
        await send_private(interaction, adm.refusal or "Not now.")
        await self.record(interaction, command, "refused", adm.refusal)
        metrics.request_done(PLATFORM, command, "refused")
        metrics.filter_action(PLATFORM, "limits")

    async def record(self, interaction: discord.Interaction, command: str, outcome: str,
                     error: str | None) -> None:
        """Log an outcome the Dispatcher never saw (adapter refusals, failed deliveries)."""
        store = self.app.store
        fields = dict(platform=PLATFORM, request_id=str(interaction.id),
                      user=store.user_key(PLATFORM, str(interaction.user.id)),
                      guild=store.user_key(PLATFORM, str(interaction.guild_id))
                      if interaction.guild_id else None,
                      channel=str(interaction.channel_id) if interaction.channel_id else None,
                      command=command[:32], options={}, outcome=outcome,
                      error=(error or "")[:500] or None)
        await self.app.dispatcher.log_row(**fields)  # the log's own writer; never raises


def _choice_name(code: str, title: str) -> str:
    name = f"{title} ({code})"
    return name if len(name) <= 100 else f"{title[: 96 - len(code)]}… ({code})"
