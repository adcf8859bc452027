"""`spren run --config F` with a [reddit] section and a tiny real model: one summons, one reply.

The crash test forks bot processes from a preloaded forkserver for speed; this one checks
the real command-line wiring end to end (config file, credentials from the environment,
model loading, the adapter started by `spren run`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.fake_reddit import FakeRedditServer
from tests.e2e.reddit_harness import CREDS_ENV

pytestmark = pytest.mark.slow


def _config(tmp_path, url: str, model_dir) -> str:
    path = tmp_path / "spren.toml"
    path.write_text(f"""
[bot]
data_dir = "{tmp_path / 'data'}"
generate_command = "oz"

[model]
path = "{model_dir}"

[generation]
max_new_tokens = 24

[reddit]
oauth_url = "{url}"
reddit_url = "{url}"
subreddits = ["oz"]
poll_interval_s = 0.1
""")
    return str(path)


def _wait(cond, proc, log_path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"spren run exited: {log_path.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for spren run")
        time.sleep(0.05)


def test_spren_run_answers_a_summons_with_the_real_model(tmp_path, tiny_model_dir):
    with FakeRedditServer() as server:
        fake = server.fake
        link = fake.add_link("oz")
        c = fake.add_comment("alice", "u/sprenbot Dorothy walked", link, mention=True)
        cmd = [sys.executable, "-m", "bot", "--config",
               _config(tmp_path, server.url, tiny_model_dir), "run"]
        env = {**os.environ, **CREDS_ENV, "HF_HUB_OFFLINE": "1", "SPREN_SALT": "test-salt"}
        log_path = tmp_path / "spren.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
            try:
                _wait(lambda: not fake.is_unread(c) and fake.replies_to(c), proc, log_path, 120)
                later = fake.add_comment("bob", "!oz The Tin Woodman", link)
                _wait(lambda: fake.replies_to(later), proc, log_path, 60)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        (reply,) = fake.replies_to(c)
        assert reply["body"].startswith("> Dorothy walked") and len(reply["body"]) > 40
        assert len(fake.replies_to(later)) == 1
