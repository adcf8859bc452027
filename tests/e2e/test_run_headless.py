"""`spren run` as a real process without a terminal (as under `docker run -d`): with a
platform configured it serves until stopped, whatever stdin does; with none it stops at once
with one clear line. The running process logs JSON and serves /metrics and /healthz."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.fake_reddit import FakeRedditServer
from tests.e2e.reddit_harness import CREDS_ENV
from tests.metrics_client import free_port, get, health, parse
from tests.paths import REPO_ROOT


def _env(home, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPREN_", "DISCORD_",
                                                                      "REDDIT_"))}
    return {**env, "SPREN_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def _wait(cond, timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"spren run exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_no_platform_and_no_terminal_is_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bot", "run"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
                          env=_env(tmp_path))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no platform is configured" in lines[0], proc.stderr
    assert "spren chat" in lines[0]


@pytest.mark.slow
def test_a_configured_platform_keeps_serving_after_end_of_input(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeRedditServer() as server:
        fake = server.fake
        env = _env(tmp_path, **CREDS_ENV, SPREN_REDDIT__OAUTH_URL=server.url,
                   SPREN_REDDIT__REDDIT_URL=server.url, SPREN_REDDIT__SUBREDDITS="oz",
                   SPREN_REDDIT__POLL_INTERVAL_S="0.2", SPREN_METRICS__LISTEN=f"127.0.0.1:{port}",
                   SPREN_LOG__FORMAT="json", SPREN_LOG__LEVEL="info",
                   SPREN_MODEL__PATH=str(tmp_path / "no-model-here"))
        summons = fake.add_comment("dorothy", "u/sprenbot tell me of Oz", fake.add_link("oz"),
                                   mention=True)
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=REPO_ROOT, env=env)
        try:
            _wait(lambda: len(fake.calls("GET", "/message/unread")) >= 3, 120,
                  "the bot to poll Reddit", proc)
            _wait(lambda: not fake.is_unread(summons), 60, "the summons to be handled", proc)
            assert proc.poll() is None, "spren run stopped at the end of its (empty) input"
            status, report = health(base)
            _, text = get(f"{base}/metrics")
        finally:
            proc.send_signal(signal.SIGTERM)  # what `docker stop` sends
            out, err = proc.communicate(timeout=60)
    # no model is there, so the engine is down and says why; Reddit itself is fine
    assert status == 503 and report["checks"]["reddit"] == "ok"
    assert "no model loaded" in report["checks"]["engine"]
    samples = parse(text)
    assert samples.value("spren_requests_total", platform="reddit", command="oz",
                         outcome="refused") == 1
    assert samples.value("spren_reddit_backlog") == 0
    entries = [json.loads(line) for line in err.splitlines() if line.strip()]
    about = [e for e in entries if summons in e["message"]]
    assert about and all(e.get("request_id") == summons for e in about)
    assert [e for e in entries if e["logger"] == "bot.dispatch"][0]["request_id"] == summons
    assert "fake-password" not in err and "tell me of Oz" not in err
    assert proc.returncode == 0 and entries[-1]["message"] == "stopped"
