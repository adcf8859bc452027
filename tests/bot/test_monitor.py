"""The monitoring endpoint over real HTTP: live queue gauges, /healthz turning 503 with the
reason when the engine stops, `spren health` for the Docker HEALTHCHECK, errors by kind,
and the [metrics] / [log] settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest

from bot import metrics, monitor
from bot.app import open_app
from bot.errors import ConfigError
from bot.messages import Request
from engine.generation.params import GenResult
from tests.bot.conftest import make_config
from tests.metrics_client import free_port, health, scrape, until
from tests.paths import REPO_ROOT


class GatedGenerator:
    """Generates only when the test opens the gate: the queue fills up meanwhile."""

    model_id = "gated-test"
    supports_joins = supports_holds = independent_rows = False

    def __init__(self) -> None:
        self.gate = threading.Event()

    def generate(self, prompts, params, on_token=None, should_stop=None, **no_joins):
        self.gate.wait(30)
        return [GenResult(prompt=p, text="and so it went.", seed=1, new_tokens=5,
                          finish_reason="sentence", model_id=self.model_id, guard="cut",
                          seconds=0.5) for p in prompts]


def _spren_health(url: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "health", "--url", url],
                          capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


def _docker_healthcheck(listen: str) -> subprocess.CompletedProcess:
    """The image's HEALTHCHECK command, configured as the image is (by the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPREN_")}
    return subprocess.run([sys.executable, "-m", "bot.healthcheck"], capture_output=True,
                          text=True, timeout=60, cwd=REPO_ROOT,
                          env={**env, "SPREN_METRICS__LISTEN": listen})


def test_queue_gauges_health_and_the_health_command(tmp_path):
    cfg = make_config(tmp_path, queue={"max_batch": 1, "per_user_pending": 5})
    gen = GatedGenerator()

    async def scenario():
        health_state = monitor.Health()
        async with monitor.serve("127.0.0.1:0", health_state) as server, \
                open_app(cfg, generator=gen) as app:
            health_state.add("engine", monitor.engine_check(app.service))
            metrics.watch_queue(app.service.snapshot)
            assert (await asyncio.to_thread(health, server.url))[0] == 503  # "starting"
            health_state.starting = None
            try:
                return await _exercise(server.url, app, gen)
            finally:
                metrics.watch_queue(None)

    waiting, ok_cli, guard_delta, down, down_cli = asyncio.run(scenario())
    assert waiting == {"spren_queue_in_flight": 1, "spren_queue_length": 2}
    assert ok_cli.returncode == 0 and ok_cli.stdout.startswith("ok")
    assert guard_delta == 3
    status, body = down
    assert status == 503 and body["status"] == "unhealthy"
    assert "shut down" in body["checks"]["engine"]
    assert down_cli.returncode == 1
    assert "engine: the generation queue is shut down" in down_cli.stderr
    assert "Traceback" not in down_cli.stderr


async def _exercise(url: str, app, gen: GatedGenerator):
    before, _ = await asyncio.to_thread(scrape, url)
    tasks = [asyncio.create_task(app.dispatcher.handle(Request("console", f"u{i}", "oz",
                                                               {"prompt": "Toto ran"})))
             for i in range(3)]

    def queued() -> bool:
        now, _ = scrape(url)
        return now.value("spren_queue_length") + now.value("spren_queue_in_flight") == 3

    await until(queued, 20, "three requests in the queue")
    now, _ = await asyncio.to_thread(scrape, url)
    waiting = {k: now.value(k) for k in ("spren_queue_in_flight", "spren_queue_length")}
    ok_cli = await asyncio.to_thread(_spren_health, f"{url}/healthz")
    port = url.rsplit(":", 1)[1]
    ok_docker = await asyncio.to_thread(_docker_healthcheck, f"0.0.0.0:{port}")
    assert ok_docker.returncode == 0 and ok_docker.stdout.startswith("ok"), ok_docker.stderr
    gen.gate.set()
    assert [r.outcome for r in await asyncio.gather(*tasks)] == ["ok"] * 3
    after, _ = await asyncio.to_thread(scrape, url)
    guard_delta = (after.value("spren_guard_actions_total", action="cut")
                   - before.value("spren_guard_actions_total", action="cut"))
    await app.service.close()
    down = await asyncio.to_thread(health, url)
    down_cli = await asyncio.to_thread(_spren_health, f"{url}/healthz")
    down_docker = await asyncio.to_thread(_docker_healthcheck, f"0.0.0.0:{port}")
    assert down_docker.returncode == 1 and "shut down" in down_docker.stderr
    return waiting, ok_cli, guard_delta, down, down_cli


def test_unexpected_errors_are_counted_by_kind_without_user_data(tmp_path):
    cfg = make_config(tmp_path)

    async def scenario():
        async with monitor.serve("127.0.0.1:0", monitor.Health()) as server, \
                open_app(cfg, load_model=False) as app:
            def broken(*args, **kwargs):
                raise ZeroDivisionError("a bug")
            app.stats.books = broken  # a bug in a command handler
            before, _ = await asyncio.to_thread(scrape, server.url)
            reply = await app.dispatcher.handle(Request("console", "secret-user-77", "books"))
            after, text = await asyncio.to_thread(scrape, server.url)
            return reply, before, after, text

    reply, before, after, text = asyncio.run(scenario())
    assert reply.outcome == "error"
    labels = {"component": "dispatch", "kind": "ZeroDivisionError"}
    assert after.value("spren_errors_total", **labels) - before.value(
        "spren_errors_total", **labels) == 1
    assert after.value("spren_requests_total", platform="console", command="books",
                       outcome="error") == before.value(
        "spren_requests_total", platform="console", command="books", outcome="error") + 1
    assert "secret-user-77" not in text


def test_made_up_commands_share_one_label(tmp_path):
    cfg = make_config(tmp_path)

    async def scenario():
        async with open_app(cfg, load_model=False) as app:
            for name in ("xyzzy", "plugh", "Ω"):
                await app.dispatcher.handle(Request("console", "u", name))

    labels = {"platform": "console", "command": "other", "outcome": "refused"}
    before = metrics.REGISTRY.get_sample_value("spren_requests_total", labels) or 0
    asyncio.run(scenario())
    assert metrics.REGISTRY.get_sample_value("spren_requests_total", labels) == before + 3
    from prometheus_client import generate_latest

    text = generate_latest(metrics.REGISTRY).decode()
    assert "xyzzy" not in text and "plugh" not in text


@pytest.mark.parametrize("listen, expected", [("127.0.0.1:9108", ("127.0.0.1", 9108)),
                                              ("0.0.0.0:0", ("0.0.0.0", 0)),
                                              ("[::1]:9108", ("::1", 9108)),
                                              ("localhost:80", ("localhost", 80))])
def test_listen_addresses(listen, expected):
    assert monitor.parse_listen(listen) == expected


@pytest.mark.parametrize("section, key, value, fragment", [
    ("metrics", "listen", "9108", "HOST:PORT"),
    ("metrics", "listen", "127.0.0.1:99999", "HOST:PORT"),
    ("metrics", "listen", "http://127.0.0.1:9108", "HOST:PORT"),
    ("log", "format", "xml", "'text' or 'json'"),
    ("log", "level", "loud", "[log] level"),
])
def test_bad_ops_settings_are_one_clear_line(tmp_path, section, key, value, fragment):
    with pytest.raises(ConfigError) as info:
        make_config(tmp_path, **{section: {key: value}})
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_taken_port_is_a_clear_error(tmp_path):
    port = free_port()

    async def scenario():
        async with monitor.serve(f"127.0.0.1:{port}", monitor.Health()), \
                monitor.serve(f"127.0.0.1:{port}", monitor.Health()):
            pass

    with pytest.raises(ConfigError, match="cannot listen there"):
        asyncio.run(scenario())


def test_health_says_when_no_generation_server_is_up(tmp_path):
    from engine.generation.remote import RemoteEngine
    from tests.engine.generation.remote.misbehaving import Misbehaving

    with Misbehaving() as gone:
        url = gone.url  # nothing listens there any more
    engine = RemoteEngine([url], name="m")
    cfg = make_config(tmp_path)

    async def scenario():
        state = monitor.Health()
        async with monitor.serve("127.0.0.1:0", state) as server, \
                open_app(cfg, generator=engine) as app:
            state.add("engine", monitor.engine_check(app.service))
            state.starting = None
            return await asyncio.to_thread(health, server.url)

    try:
        status, body = asyncio.run(scenario())
    finally:
        engine.close()
    assert status == 503
    assert body["checks"]["engine"].startswith("no generation server is up: http://127.0.0.1:")
