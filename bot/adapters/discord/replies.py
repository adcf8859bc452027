"""Sending a ``Reply`` on Discord: embeds with charts, splitting, privacy after a defer.

Every send passes ``AllowedMentions.none()`` so nothing the bot posts can ping anyone.
"""

from __future__ import annotations

import io
from typing import Any

import discord

from bot.adapters.discord.text import (
    EMBED_LIMIT,
    marked_room,
    neutralise_mentions,
    plain_messages,
    render_spoilers,
    split_message,
)
from bot.messages import Reply

NO_MENTIONS = discord.AllowedMentions.none()
EMBED_COLOUR = discord.Colour.dark_teal()
MAX_EMBEDS_TEXT = 5500  # stay under Discord's 6,000 characters across one message's embeds

Message = dict[str, Any]  # keyword arguments for one send: content / embeds / files


def _files(reply: Reply) -> list[discord.File]:
    return [discord.File(io.BytesIO(a.data), filename=a.filename) for a in reply.files]


def _embeds(reply: Reply) -> list[discord.Embed]:
    """One embed per piece of text; the first carries the title and shows the first PNG."""
    safe = [neutralise_mentions(part) for part in reply.parts]
    pieces = [p for part in safe for p in render_spoilers(
        split_message(part, marked_room(part, EMBED_LIMIT)))]
    embeds = [discord.Embed(description=p, colour=EMBED_COLOUR) for p in pieces or [""]]
    if reply.title:
        embeds[0].title = neutralise_mentions(reply.title)[:256]
    pngs = [a.filename for a in reply.files if a.content_type == "image/png"]
    if pngs:
        embeds[0].set_image(url=f"attachment://{pngs[0]}")
    return embeds


def reply_messages(reply: Reply) -> list[Message]:
    """The messages a reply becomes: embeds (+ files) when it has a title or files."""
    if not (reply.title or reply.files):
        return [{"content": c} for c in plain_messages(reply.text)]
    messages: list[Message] = []
    for embed in _embeds(reply):
        size = sum(len(e.description or "") for e in messages[-1]["embeds"]) if messages else 0
        if messages and len(messages[-1]["embeds"]) < 10 and size + len(
                embed.description or "") <= MAX_EMBEDS_TEXT:
            messages[-1]["embeds"].append(embed)
        else:
            messages.append({"embeds": [embed]})
    messages[0]["files"] = _files(reply)
    return messages


async def _first(interaction: discord.Interaction, msg: Message, private: bool) -> None:
    """The first message: the interaction response, or the deferred message's edit."""
    if not interaction.response.is_done():
        await interaction.response.send_message(**msg, ephemeral=private,
                                                allowed_mentions=NO_MENTIONS)
        return
    if private:
        # a public "thinking…" message cannot turn private: replace it with a private one
        await interaction.delete_original_response()
        await interaction.followup.send(**msg, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return
    files = msg.get("files", [])
    await interaction.edit_original_response(
        content=msg.get("content"), embeds=msg.get("embeds", []), attachments=files,
        allowed_mentions=NO_MENTIONS)


async def send_messages(interaction: discord.Interaction, messages: list[Message],
                        private: bool) -> None:
    """Send a list of messages as the answer to an interaction (first, then follow-ups)."""
    await _first(interaction, messages[0], private)
    for msg in messages[1:]:
        await interaction.followup.send(**msg, ephemeral=private, allowed_mentions=NO_MENTIONS)


async def send_reply(interaction: discord.Interaction, reply: Reply) -> None:
    """Send a whole ``Reply``, private when it says so."""
    await send_messages(interaction, reply_messages(reply), reply.private)


async def send_private(interaction: discord.Interaction, text: str, links: bool = False) -> None:
    """A short private message, whatever state the interaction is in (``links``: the text is
    the bot's own and may link channels)."""
    await send_messages(interaction, [{"content": c} for c in plain_messages(
        text, channels=not links)], True)
