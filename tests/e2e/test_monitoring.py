"""`spren run` (bot.app.run) with Discord, a real model and [metrics] listen: the endpoint is
scraped over HTTP after real slash commands, and /healthz follows the gateway connection."""

from __future__ import annotations

import asyncio

import pytest

from bot import app as bot_app
from tests.e2e.discord_harness import TOKEN, make_config
from tests.e2e.fake_discord import FakeDiscord
from tests.metrics_client import free_port, health, scrape, until

USER, GUILD, CHANNEL = 987654321012, 5001, 7001
PROMPTS = ["Dorothy looked at the Scarecrow and", "The Tin Woodman sharpened his axe"]


def _delta(after, before, name, **labels):
    return after.value(name, **labels) - before.value(name, **labels)


@pytest.mark.slow
def test_metrics_and_health_of_a_running_discord_bot(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    base = f"http://127.0.0.1:{free_port()}"
    cfg = make_config(tmp_path)
    cfg.model.path = str(tiny_model_dir)
    cfg.metrics.listen = base.removeprefix("http://")

    async def scenario():
        async with FakeDiscord() as fake:
            cfg.discord.api_base, cfg.discord.gateway_url = fake.api_base, fake.gateway_url
            run = asyncio.create_task(bot_app.run(cfg, interactive=False))
            try:
                return await _drive(fake, base, run)
            finally:
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)

    results = asyncio.run(scenario())
    before, after, text, healthy, reconnected = results
    assert healthy["status"] == "ok" and set(healthy["checks"]) == {"engine", "discord"}
    assert _delta(after, before, "spren_requests_total", platform="discord", command="oz",
                  outcome="ok") == 2
    assert _delta(after, before, "spren_requests_total", platform="discord",
                  command="books", outcome="ok") == 1
    for hist in ("spren_queue_wait_seconds", "spren_generation_seconds",
                 "spren_generation_tokens_per_second"):
        assert _delta(after, before, f"{hist}_count") == 2, hist
    assert _delta(after, before, "spren_generation_seconds_sum") > 0
    assert _delta(after, before, "spren_generated_tokens_total") >= 2
    assert after.value("spren_queue_length") == 0 and after.value("spren_queue_in_flight") == 0
    latency = after.value("spren_discord_gateway_latency_seconds")
    assert after.has("spren_discord_gateway_latency_seconds") and 0 <= latency < 5
    assert reconnected >= 1
    # names, labels and help texts; not the sample values (a timing may contain "7001")
    described = "\n".join(ln if ln.startswith("#") else ln.rsplit(" ", 1)[0]
                           for ln in text.splitlines())
    for private in (str(USER), str(GUILD), str(CHANNEL), "Dorothy", "Scarecrow", "Woodman"):
        assert private not in described, f"{private!r} leaked into the metrics"


async def _drive(fake: FakeDiscord, base: str, run: asyncio.Task):
    def up() -> bool:
        if run.done():
            run.result()  # surface the bot's error
        try:
            return health(base)[0] == 200
        except OSError:
            return False

    await until(up, 60, "/healthz to answer 200")
    before, _ = await asyncio.to_thread(scrape, base)
    exchanges = [await fake.command("oz", {"prompt": p, "seed": 3, "length": 24}, user_id=USER,
                                    guild_id=GUILD, channel_id=CHANNEL) for p in PROMPTS]
    exchanges.append(await fake.command("books", user_id=USER, guild_id=GUILD))

    def answered() -> bool:
        now, _ = scrape(base)
        return (_delta(now, before, "spren_requests_total", platform="discord", command="oz",
                       outcome="ok") == 2 and
                _delta(now, before, "spren_requests_total", platform="discord",
                       command="books", outcome="ok") == 1)

    await until(answered, 60, "the three commands to be counted")
    assert all(ex.callbacks for ex in exchanges)
    after, text = await asyncio.to_thread(scrape, base)
    healthy = (await asyncio.to_thread(health, base))[1]
    await fake.drop_connection()
    await fake.wait_ready(30)
    await until(lambda: scrape(base)[0].value("spren_discord_reconnects_total")
                > before.value("spren_discord_reconnects_total"), 30, "the reconnect")
    await until(lambda: health(base)[0] == 200, 30, "health after the reconnect")
    reconnected = (await asyncio.to_thread(scrape, base))[0].value(
        "spren_discord_reconnects_total") - before.value("spren_discord_reconnects_total")
    return before, after, text, healthy, reconnected
