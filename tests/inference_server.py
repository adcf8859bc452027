"""A real OpenAI-compatible server for the remote-backend tests: `transformers serve` on
127.0.0.1, started from the test suite (it comes with the `dev` extra)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

START_TIMEOUT_S = 240  # importing transformers + uvicorn takes ~25 s on 2 busy cores


def serve_executable() -> Path:
    """The `transformers` command of this environment; skips if the serving extra is absent."""
    exe = Path(sys.executable).parent / "transformers"
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        pytest.skip("transformers serve needs the serving extra: pip install -e '.[dev]'")
    if not exe.exists():
        pytest.skip(f"no `transformers` command at {exe}: pip install -e '.[dev]'")
    return exe


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the test process dies, so a killed test run leaves no
    server behind (Linux; elsewhere the fixtures' kill() is all there is)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class InferenceServer:
    """One `transformers serve MODEL --device cpu` process on a local port."""

    def __init__(self, model_dir: Path, log_dir: Path, port: int | None = None) -> None:
        self.model_dir, self.port = model_dir, port or free_port()
        self.log = log_dir / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def name(self) -> str:
        """The model name to request: a pinned server wants the path it was started with."""
        return str(self.model_dir)

    def start(self) -> InferenceServer:
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   OMP_NUM_THREADS="1")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(serve_executable()), "serve", str(self.model_dir), "--host", "127.0.0.1",
                 "--port", str(self.port), "--device", "cpu"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                preexec_fn=_die_with_parent)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> InferenceServer:
        """Block until /health answers; fail with the server's log if it dies or is slow."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url[:-3] + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"transformers serve not ready in {timeout} s: "
                           f"{self.log.read_text()[-2000:]}")

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """Die at once, as a crashed server does (no goodbye on open streams)."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)
