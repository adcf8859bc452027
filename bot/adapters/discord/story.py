"""Story threads on Discord: ``/story start`` opens a thread with the first passage, each
reader's message in it continues the story, ``/story export`` attaches the whole story.

Which thread is a story, what a continuation is conditioned on and who may add to it are
the Dispatcher's (``bot.stories``); this module turns Discord events into its requests.

Reading readers' messages: with ``[discord] message_content`` on (the privileged Message
Content intent, ticked in the Developer Portal) every message in a story thread counts;
without it Discord only shows the bot messages that mention it, so readers add to the
story by mentioning the bot. The bot's own messages and other bots' are never read.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Literal

import discord

from bot.adapters.discord.flow import PLATFORM, InteractionFlow, moderates, to_request, where
from bot.adapters.discord.limits import Where
from bot.adapters.discord.passages import ChannelSurface
from bot.adapters.discord.replies import NO_MENTIONS, send_private
from bot.adapters.discord.text import neutralise_mentions
from bot.errors import BadRequest
from bot.messages import Request
from bot.stories.text import thread_title

if TYPE_CHECKING:
    from bot.stories import PassageTree

log = logging.getLogger(__name__)

READER_MESSAGES = (discord.MessageType.default, discord.MessageType.reply)
NO_THREADS = ("I may not start a thread here: I need the Create Public Threads and Send "
              "Messages in Threads permissions in this channel.")
AUTO_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week of quiet before Discord hides it


class StoryThreads:
    """``/story start``, ``/story export`` and readers' messages in story threads."""

    def __init__(self, flow: InteractionFlow, tree: PassageTree):
        self.flow, self.tree = flow, tree

    async def start(self, interaction: discord.Interaction, prompt: str) -> None:
        """Open a thread under a starter message and write the first passage into it."""
        adm = self.flow.limits.admit(where(interaction), generating=True)
        if not adm.ok:
            await self.flow.refuse(interaction, "story", adm)
            return
        self.flow.track()
        try:
            await self._start(interaction, prompt)
        finally:
            self.flow.limits.release(adm)

    async def _start(self, interaction: discord.Interaction, prompt: str) -> None:
        channel = interaction.channel
        why = None
        try:
            prompt = self.flow.app.dispatcher.clean_prompt(prompt)
        except BadRequest as exc:
            why = str(exc)
        if why is None and not isinstance(channel, discord.TextChannel):
            why = "Start a story from a text channel of a server (not a thread or a DM)."
        if why is not None or not isinstance(channel, discord.TextChannel):
            await send_private(interaction, why or "Not here.")
            await self.flow.record(interaction, "story", "refused", why)
            return
        await interaction.response.defer(thinking=True)
        who = neutralise_mentions(interaction.user.display_name)
        await interaction.edit_original_response(
            content=f"📖 {who} starts a story: **{thread_title(prompt)}** — add to it in the "
                    "thread.", allowed_mentions=NO_MENTIONS)
        starter = await interaction.original_response()
        try:
            thread = await channel.create_thread(name=thread_title(prompt), message=starter,
                                                 auto_archive_duration=AUTO_ARCHIVE_MINUTES)
        except discord.Forbidden:
            await interaction.edit_original_response(content=NO_THREADS)
            await self.flow.record(interaction, "story", "refused", NO_THREADS)
            return
        req = to_request(interaction, "story", {"prompt": prompt}, channel=thread.id)
        await self.flow.passages.post(req, ChannelSurface(thread, interaction=interaction),
                                      spoilers=self.flow.spoilers(interaction.guild_id),
                                      heading=prompt)

    # ---- readers' messages ----------------------------------------------------------------
    async def on_message(self, message: discord.Message, me: int) -> None:
        """A message in a story thread continues the story (bots' messages never do)."""
        if message.author.bot or message.webhook_id or message.type not in READER_MESSAGES:
            return
        channel = message.channel
        if isinstance(channel, discord.abc.GuildChannel | discord.abc.PrivateChannel) \
                and not isinstance(channel, discord.Thread):
            return  # only threads hold stories; the database need not be asked
        words = _without_mention(message.content, me)
        if not words:
            return  # no text (or, without Message Content, a message not meant for the bot)
        if await asyncio.to_thread(self.tree.story_in, PLATFORM, str(channel.id)) is None:
            return
        self.flow.track()
        try:
            await self._continue(message, words)
        except Exception:  # a reader's message has no private channel: log, say so briefly
            log.exception("a story continuation failed (message %s)", message.id)
            await self._note(message, "Something went wrong on our side; it has been logged. "
                                      "Please try again in a minute.")

    async def _continue(self, message: discord.Message, words: str) -> None:
        at = Where(message.author.id, message.guild.id if message.guild else None,
                   message.channel.id)
        adm = self.flow.limits.admit(at, generating=True)
        if not adm.ok:
            await self._note(message, adm.refusal or "Not now.")
            await self.flow.record_at(str(message.id), at, "continue", "refused", adm.refusal)
            return
        try:
            req = Request(platform=PLATFORM, user=str(message.author.id), command="continue",
                          args={"text": words}, channel=str(message.channel.id),
                          guild=str(at.guild) if at.guild else None,
                          request_id=str(message.id), moderator=_may_manage(message),
                          display_name=message.author.display_name)
            await self.flow.passages.post(req, ChannelSurface(message.channel, reference=message),
                                          spoilers=self.flow.spoilers(at.guild))
        finally:
            self.flow.limits.release(adm)

    @staticmethod
    async def _note(message: discord.Message, note: str) -> None:
        await message.channel.send(note[:2000], reference=message, allowed_mentions=NO_MENTIONS,
                                   delete_after=20.0)


def _without_mention(content: str, me: int) -> str:
    """The message's words, less any mention of the bot."""
    return " ".join(re.sub(rf"<@!?{me}>", " ", content or "").split())


def _may_manage(message: discord.Message) -> bool:
    """Whether the author moderates here (``flow.moderates``); False when Discord did not say."""
    try:
        perms = message.channel.permissions_for(message.author)  # type: ignore[arg-type]
    except (AttributeError, TypeError, ValueError):
        return False
    return moderates(perms)
