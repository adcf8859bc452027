"""Platform adapters: platform events in, ``Request``s to the dispatcher, ``Reply``s out.

``console`` (the terminal chat), ``discord/`` and ``reddit/``. Adapters hold no business
logic; platform limits and every platform call's recorded outcome live here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import App, PlatformAdapter


def platform_adapters(app: App, secrets: dict[str, Any]) -> list[PlatformAdapter]:
    """An adapter for each platform with credentials in ``secrets`` (``app.platform_secrets``);
    each is imported only when configured."""
    adapters: list[PlatformAdapter] = []
    if "discord" in secrets:
        from bot.adapters.discord.adapter import DiscordAdapter

        adapters.append(DiscordAdapter(app, secrets["discord"]))
    if "reddit" in secrets:
        from bot.adapters.reddit.adapter import RedditAdapter

        adapters.append(RedditAdapter(app, secrets["reddit"]))
    return adapters
