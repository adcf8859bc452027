"""Posting one passage on Discord: stream it into a message with a Stop button, then show the
final text with Regenerate and Continue. The same for every way a passage starts: a slash
command, a button press, a story thread's message, a message's context menu.

A *surface* is where the passage goes: an interaction's response (``InteractionSurface``)
or messages the bot sends in a channel or thread (``ChannelSurface``).
"""

from __future__ import annotations

from typing import Any, Protocol

import discord

from bot.adapters.discord import text
from bot.adapters.discord.buttons import finished_view, writing_view
from bot.adapters.discord.replies import NO_MENTIONS, send_reply
from bot.adapters.discord.streaming import PassageProgress, ThrottledMessage
from bot.messages import Reply, Request

NOTE_TTL_S = 20.0  # a refusal posted in a thread (no private channel there) is removed after


class Surface(Protocol):
    """Where a passage is shown."""

    async def show(self, content: str, view: discord.ui.View | None) -> None:
        """Create or edit the passage's first message."""

    async def more(self, content: str, view: discord.ui.View | None) -> None:
        """Send a further message (a passage over 2,000 characters)."""

    async def refuse(self, reply: Reply) -> None:
        """Answer with a refusal or error instead of a passage."""


class InteractionSurface:
    """The deferred response of an interaction, then its follow-ups."""

    def __init__(self, interaction: discord.Interaction):
        self.interaction = interaction

    async def show(self, content: str, view: discord.ui.View | None) -> None:
        await self.interaction.edit_original_response(content=content, view=view,
                                                      allowed_mentions=NO_MENTIONS)

    async def more(self, content: str, view: discord.ui.View | None) -> None:
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        await self.interaction.followup.send(content, allowed_mentions=NO_MENTIONS, **extra)

    async def refuse(self, reply: Reply) -> None:
        await send_reply(self.interaction, reply)


class ChannelSurface:
    """Messages sent in a channel or thread, the first one replying to ``reference``.

    Refusals go privately through ``interaction`` when there is one; otherwise (a reader's
    message in a thread) as a short reply that removes itself after ``NOTE_TTL_S``.
    """

    def __init__(self, channel: discord.abc.Messageable, *,
                 reference: discord.Message | None = None,
                 interaction: discord.Interaction | None = None):
        self.channel, self.reference, self.interaction = channel, reference, interaction
        self.message: discord.Message | None = None

    async def show(self, content: str, view: discord.ui.View | None) -> None:
        if self.message is None:
            extra = _with(view, self.reference)
            self.message = await self.channel.send(content, allowed_mentions=NO_MENTIONS,
                                                   **extra)
        else:
            await self.message.edit(content=content, view=view, allowed_mentions=NO_MENTIONS)

    async def more(self, content: str, view: discord.ui.View | None) -> None:
        await self.channel.send(content, allowed_mentions=NO_MENTIONS, **_with(view, None))

    async def refuse(self, reply: Reply) -> None:
        if self.message is not None:  # the queue line that was showing
            await self.message.delete()
            self.message = None
        if self.interaction is not None:  # its response is the thread's starter: keep it
            for piece in text.plain_messages(reply.text):
                await self.interaction.followup.send(piece, ephemeral=True,
                                                     allowed_mentions=NO_MENTIONS)
            return
        extra: dict[str, Any] = {"reference": self.reference} if self.reference else {}
        for piece in text.plain_messages(reply.text):
            await self.channel.send(piece, allowed_mentions=NO_MENTIONS,
                                    delete_after=NOTE_TTL_S, **extra)


def _with(view: discord.ui.View | None,
          reference: discord.Message | None) -> dict[str, Any]:
    """Optional keywords of a send (discord.py wants them absent rather than None)."""
    extra: dict[str, Any] = {"view": view} if view is not None else {}
    return extra | ({"reference": reference} if reference is not None else {})


class Passages:
    """Runs a passage request through the Dispatcher and shows it on a surface."""

    def __init__(self, dispatcher: Any, edit_interval_s: float):
        self.dispatcher = dispatcher
        self.edit_interval_s = edit_interval_s

    async def post(self, req: Request, surface: Surface, *, spoilers: bool,
                   heading: str | None = None) -> Reply:
        """Stream the passage in (Stop button), then the final text (Regenerate, Continue).

        ``heading`` is what the preview shows in bold while streaming; the final message
        shows the Dispatcher's (a regeneration learns it from the database)."""
        rid = req.request_id or "0"
        if heading:  # as the final reply will show it: through the word filter
            heading = self.dispatcher.safety.filter.check(heading).masked
        view: list[discord.ui.View | None] = [writing_view(rid)]
        message = ThrottledMessage(lambda c: surface.show(c, view[0]), self.edit_interval_s)
        progress = PassageProgress(message, text.queue_line,
                                   lambda t: text.passage_preview(heading, t, spoilers=spoilers))
        try:
            reply = await self.dispatcher.handle(req, progress.on_event)
        except BaseException:  # cancelled (shutting down): leave no edit task behind
            message.cancel()
            raise
        if reply.private or reply.outcome != "ok":
            await message.abandon()
            await surface.refuse(reply)
            return reply
        pieces = text.passage_messages(reply.meta.get("prompt"), reply.text, spoilers=spoilers)
        buttons = finished_view(rid)
        view[0] = buttons if len(pieces) == 1 else None
        await message.finish(pieces[0], always=True)  # the buttons change even if the text not
        for i, piece in enumerate(pieces[1:], start=2):  # the rest as further messages
            await surface.more(piece, buttons if i == len(pieces) else None)
        return reply
