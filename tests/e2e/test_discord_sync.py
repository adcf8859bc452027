"""`spren discord sync` registers the slash commands over REST only, against the fake."""


import asyncio
import threading

import discord  # noqa: F401
import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from tests.e2e import fake_discord_payloads as P
from tests.e2e.fake_discord import FakeDiscord


@pytest.fixture()
def fake():
    """The fake Discord on its own event loop thread (the CLI runs asyncio.run itself)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeDiscord()
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _sync(fake, tmp_path, *args, token="sync-token"):
    env = {"DISCORD_TOKEN": token, "SPREN_DISCORD__API_BASE": fake.api_base,
           "SPREN_DISCORD__GATEWAY_URL": fake.gateway_url, "SPREN_BOT__DATA_DIR": str(tmp_path),
           "SPREN_CONFIG": ""}
    return CliRunner().invoke(cli, ["discord", "sync", *args], env=env)


def _puts(fake):
    return [c for c in fake.calls if c.method == "PUT"]


def test_sync_to_one_guild(fake, tmp_path):
    result = _sync(fake, tmp_path, "--guild", "4242")
    assert result.exit_code == 0, result.output
    (put,) = _puts(fake)
    assert put.path == f"/api/v10/applications/{P.APP_ID}/guilds/4242/commands"
    by_name = {c["name"]: c for c in put.body}
    assert {"oz", "sentiment", "wordcount", "queue", "about"} <= set(by_name)
    book = next(o for o in by_name["sentiment"]["options"] if o["name"] == "book")
    assert book["autocomplete"] is True
    length = next(o for o in by_name["oz"]["options"] if o["name"] == "length")
    assert (length["min_value"], length["max_value"]) == (1, 400)
    assert "registered 12 commands in server 4242" in result.output  # 9 + the safety three
    assert {"progress", "forget-me", "mod"} <= set(by_name)
    mod = {o["name"]: o for o in by_name["mod"]["options"]}
    assert mod["pause"]["type"] == 1 and mod["block"]["type"] == 1  # subcommands
    assert int(by_name["mod"]["default_member_permissions"]) == 1 << 13  # Manage Messages
    assert "/oz prompt: [length]" in result.output
    assert "/story start prompt:" in result.output and "/story export" in result.output
    story = {o["name"]: o for o in by_name["story"]["options"]}
    assert story["start"]["type"] == 1 and story["start"]["options"][0]["name"] == "prompt"
    menu = by_name["Continue in the books' voice"]
    assert menu["type"] == 3  # a message context menu
    assert "Continue in the books' voice (on a message" in result.output
    # REST only: no gateway connection was opened
    assert fake.identifies == 0 and not any("gateway" in c.path for c in fake.calls)


def test_sync_globally(fake, tmp_path):
    result = _sync(fake, tmp_path)
    assert result.exit_code == 0, result.output
    (put,) = _puts(fake)
    assert put.path == f"/api/v10/applications/{P.APP_ID}/commands"
    assert "all servers" in result.output


def test_sync_without_a_token_says_what_to_do(fake, tmp_path):
    result = _sync(fake, tmp_path, token="")
    assert result.exit_code != 0
    assert "DISCORD_TOKEN" in result.output and "Reset Token" in result.output
    assert fake.calls == []
