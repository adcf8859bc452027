"""The buttons under a passage: 🔁 Regenerate, ➕ Continue, and ⏹ Stop while it is written.

Each is a ``discord.ui.DynamicItem`` whose custom id carries the passage's request id (the
interaction or message id it was logged under), e.g. ``spren:regen:1234``. The client
registers the class once, so presses on messages sent before a restart still reach it; what
the press does is decided from the database, not from anything held in memory.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

ACTIONS = {"regen": "regenerate", "more": "continue", "stop": "stop"}  # custom id -> command
TEMPLATE = r"spren:(?P<action>regen|more|stop):(?P<rid>[0-9]{1,20})"
_LOOKS = {
    "regen": ("Regenerate", "🔁", discord.ButtonStyle.secondary),
    "more": ("Continue", "➕", discord.ButtonStyle.primary),
    "stop": ("Stop", "⏹", discord.ButtonStyle.danger),
}


class PressHandler(Protocol):
    """What a press is handed to (``bot.adapters.discord.presses.Presses``)."""

    async def press(self, interaction: discord.Interaction, command: str, rid: str) -> None: ...


def custom_id(action: str, rid: str) -> str:
    """The custom id of one button of one passage."""
    return f"spren:{action}:{rid}"


class PassageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """One button of one passage; the client finds its handler as ``client.presses``."""

    def __init__(self, action: str, rid: str):
        label, emoji, style = _LOOKS[action]
        super().__init__(discord.ui.Button(label=label, emoji=emoji, style=style,
                                           custom_id=custom_id(action, rid)))
        self.action, self.rid = action, rid

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction,
                             item: discord.ui.Item[Any], match: re.Match[str]) -> PassageButton:
        return cls(match["action"], match["rid"])

    async def callback(self, interaction: discord.Interaction) -> None:
        handler: PressHandler | None = getattr(interaction.client, "presses", None)
        if handler is not None:
            await handler.press(interaction, ACTIONS[self.action], self.rid)


def _view(*buttons: PassageButton) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view


def writing_view(rid: str) -> discord.ui.View:
    """The buttons while a passage is being written: Stop."""
    return _view(PassageButton("stop", rid))


def finished_view(rid: str) -> discord.ui.View:
    """The buttons under a finished passage: Regenerate and Continue."""
    return _view(PassageButton("regen", rid), PassageButton("more", rid))
