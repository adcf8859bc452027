"""A real, throwaway PostgreSQL server for the test session, on 127.0.0.1.

The server binaries come from the distribution's package (Debian's ``postgresql``, which
``.ci/run`` installs): ``initdb`` and ``postgres`` from ``pg_config --bindir`` or
``/usr/lib/postgresql/*/bin``, or ``SPREN_PG_BINDIR``. initdb refuses to run as root, so when
the tests run as root the server runs as the unprivileged ``postgres`` user the package
creates (``nobody`` otherwise), in a data folder owned by that user. Trust authentication on
loopback only: the server is private to the test run and gone when it ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SUPERUSER = "spren"


def find_bindir() -> Path | None:
    """The folder holding initdb and postgres, or None when no server is installed."""
    candidates = [os.environ.get("SPREN_PG_BINDIR", "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            candidates.append(subprocess.run([pg_config, "--bindir"], capture_output=True,
                                             text=True, check=True).stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "postgres").is_file():
            return Path(folder)
    return None


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the server process: SIGQUIT (PostgreSQL's immediate shutdown) when the test process
    dies, so a killed test run leaves no server behind (Linux). Nothing is imported here:
    this runs between fork and exec, already as the server's user."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    """The account to run the server as: None for ourselves, else an unprivileged user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run "
                       "PostgreSQL as")


class PostgresServer:
    """initdb + postgres on a free loopback port; ``create_database()`` gives fresh URLs."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.user = _run_as()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="spren-pg-"))
        self.data = self.root / "data"
        self.proc: subprocess.Popen | None = None
        self.log = self.root / "server.log"

    def _own(self, path: Path) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; returns once it accepts connections."""
        os.chmod(self.root, 0o755)
        self.data.mkdir(mode=0o700)
        self._own(self.data)
        self.log.touch()
        self._own(self.log)
        subprocess.run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                        "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                       check=True, capture_output=True, user=self.user, cwd=self.root)
        settings = {"listen_addresses": "127.0.0.1", "port": str(self.port),
                    "unix_socket_directories": str(self.data), "fsync": "off",
                    "synchronous_commit": "off", "full_page_writes": "off",
                    "max_connections": "200", "shared_buffers": "32MB"}
        args = [str(self.bindir / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         user=self.user, cwd=self.root,
                                         preexec_fn=_die_with_parent)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.admin_dsn(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("PostgreSQL did not start: "
                                       + self.log.read_text(errors="replace")[-2000:]) from None
                time.sleep(0.1)

    def admin_dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # immediate: the cluster is thrown away
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
