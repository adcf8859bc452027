"""Discord: slash commands on discord.py, streamed passages, per-server limits.

``adapter`` (the client, ``DiscordAdapter``, ``sync_commands``), ``commands`` (the command
tree), ``flow`` (one interaction's life), ``passages`` (a passage streamed in, then its
buttons), ``buttons`` (Regenerate / Continue / Stop, working across restarts), ``story``
(story threads), ``replies`` (sending a Reply), ``streaming`` (throttled message edits),
``limits`` (cooldowns and caps), ``text`` (splitting, mentions).
"""

from bot.adapters.discord.adapter import DiscordAdapter, discord_config, sync_commands

__all__ = ["DiscordAdapter", "discord_config", "sync_commands"]
