"""Running the real bot (open_app + DiscordAdapter + discord.py) against FakeDiscord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.adapters.discord.adapter import DiscordAdapter
from bot.app import App, open_app
from bot.config import Config, load_config
from tests.e2e.fake_discord import FakeDiscord
from tests.e2e.fake_discord_records import Exchange

TOKEN = "fake-token-for-tests"


def make_config(tmp: Path, db_url: str | None = None, **discord: Any) -> Config:
    """A config for the tests: its own data dir, the fake's endpoints filled in later."""
    sections: dict[str, dict[str, Any]] = {
        "bot": {"data_dir": str(tmp), "generate_command": "oz"},
        "discord": {"cooldown_s": 0.0, "edit_interval_s": 0.2, **discord},
        "queue": {"max_batch": 4},
    }
    if db_url:
        sections["database"] = {"url": db_url}
    return load_config(environ={}, overrides=sections)


@dataclass
class Bot:
    """A running bot and the fake it talks to."""

    fake: FakeDiscord
    app: App
    adapter: DiscordAdapter

    async def idle(self, *exchanges: Exchange, timeout: float = 30.0) -> None:
        """Wait until every exchange got its first answer and no handler is still running."""
        await self.fake.wait_for(lambda: all(ex.callbacks for ex in exchanges), timeout)
        async with asyncio.timeout(timeout):
            while self.adapter.flow.tasks:  # a handler's task leaves this set when it ends
                await asyncio.sleep(0.02)


async def _started(fake: FakeDiscord, task: asyncio.Task) -> None:
    """Wait for the bot to identify; if the adapter dies first, raise its error."""
    ready = asyncio.create_task(fake.wait_ready())
    await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()
        raise RuntimeError("the Discord adapter stopped before connecting")
    ready.result()


@contextlib.asynccontextmanager
async def running_bot(cfg: Config, generator=None,
                      fake: FakeDiscord | None = None) -> AsyncIterator[Bot]:
    """Start the fake (unless one is given: a restarted bot meets the same Discord), open
    the app, run the adapter; stop the bot, and a fake started here, on exit."""
    async with contextlib.AsyncExitStack() as stack:
        if fake is None:
            fake = await stack.enter_async_context(FakeDiscord())
        cfg.discord.api_base, cfg.discord.gateway_url = fake.api_base, fake.gateway_url
        async with open_app(cfg, generator=generator, load_model=False) as app:
            adapter = DiscordAdapter(app, TOKEN)
            task = asyncio.create_task(adapter.run())
            try:
                await _started(fake, task)
                yield Bot(fake, app, adapter)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                fake._ready.clear()  # the next bot must identify again
