"""Discord refusing connections: the real discord.py retries with backoff, one line a try.

A closed port on 127.0.0.1 stands for Discord's REST API or gateway being down. Before,
a refused gateway ended in ``AttributeError: 'NoneType' object has no attribute
'sequence'`` deep in discord.py, after a logged traceback.
"""

import asyncio
import logging
import socket

import pytest

from bot.adapters.discord.adapter import DiscordAdapter, sync_commands
from bot.app import open_app
from bot.errors import ConfigError
from tests.e2e.discord_harness import TOKEN, make_config
from tests.e2e.fake_discord import FakeDiscord


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _run_for(cfg, seconds: float) -> asyncio.Task:
    async with open_app(cfg, load_model=False) as app:
        task = asyncio.create_task(DiscordAdapter(app, TOKEN).run())
        await asyncio.sleep(seconds)
        alive = not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert alive, task.exception()
        return task


def _retries(caplog, what: str) -> list[logging.LogRecord]:
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    return [r for r in caplog.records
            if f"cannot reach the Discord {what}" in r.getMessage() and "trying again" in
            r.getMessage()]


def test_a_refused_rest_api_is_retried_with_backoff(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    port = _closed_port()
    cfg = make_config(tmp_path, api_base=f"http://127.0.0.1:{port}/api/v10",
                      gateway_url=f"ws://127.0.0.1:{port}/")
    asyncio.run(_run_for(cfg, 3.5))
    tries = _retries(caplog, "API")
    assert len(tries) >= 2
    assert "ConnectionRefusedError" in tries[0].getMessage()
    assert "again in 1 s" in tries[0].getMessage() and "again in 2 s" in tries[1].getMessage()


def test_a_refused_gateway_is_retried_and_connects_when_it_is_up(tmp_path, caplog):
    caplog.set_level(logging.INFO)

    async def scenario():
        async with FakeDiscord() as fake:
            port = _closed_port()
            cfg = make_config(tmp_path, api_base=fake.api_base,
                              gateway_url=f"ws://127.0.0.1:{port}/")
            async with open_app(cfg, load_model=False) as app:
                task = asyncio.create_task(DiscordAdapter(app, TOKEN).run())
                await asyncio.sleep(2.5)
                assert not task.done(), task.exception()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            assert len(_retries(caplog, "gateway")) >= 2
            caplog.clear()
            cfg.discord.gateway_url = fake.gateway_url  # the gateway is back
            async with open_app(cfg, load_model=False) as app:
                task = asyncio.create_task(DiscordAdapter(app, TOKEN).run())
                await asyncio.wait_for(fake.wait_ready(), 30)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_command_sync_against_a_refused_api_is_one_clear_line(tmp_path):
    port = _closed_port()
    cfg = make_config(tmp_path, api_base=f"http://127.0.0.1:{port}/api/v10")
    with pytest.raises(ConfigError, match=r"cannot reach the Discord API at http://127\.0\.0\.1"
                                          r".*ConnectionRefusedError.*run the command again"):
        asyncio.run(sync_commands(cfg, TOKEN))
