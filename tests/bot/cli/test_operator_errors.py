"""An operator's mistakes end as one line saying what to do: no traceback, exit code 1."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def spren(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SPREN_")}
    environ.update(SPREN_HOME=str(home), HF_HUB_OFFLINE="1", **env)
    return subprocess.run([sys.executable, "-m", "bot", *args], env=environ, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("url, expected", [
    ("nonsense", "is not a database URL"),
    ("foo://bar/x", "does not know the database kind 'foo'"),
    ("sqlite:////proc/spren-test/x.db", "cannot create the folder /proc/spren-test"),
    ("postgresql+psycopg://spren:hunter2@127.0.0.1:1/spren", "cannot open the database"),
])
def test_bad_database_urls(tmp_path, url, expected):
    if url.startswith("postgresql"):
        pytest.importorskip("psycopg")  # without the driver: the operations work's message
    line = _one_line(spren("books", home=tmp_path, SPREN_DATABASE__URL=url))
    assert expected in line
    assert "hunter2" not in line  # a password in the URL is never shown


def test_database_folder_or_data_dir_that_is_a_file(tmp_path):
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    line = _one_line(spren("books", home=tmp_path,
                           SPREN_DATABASE__URL=f"sqlite:///{a_file}/spren.db"))
    assert f"cannot use {a_file} as the folder for the database file: it is a file" in line
    line = _one_line(spren("db", "upgrade", home=a_file))
    assert f"cannot use {a_file} as the folder" in line


def test_a_database_path_that_is_a_folder(tmp_path):
    (tmp_path / "spren.db").mkdir()
    line = _one_line(spren("books", home=tmp_path))
    assert "cannot open the database" in line and "check [database] url" in line


def test_bad_config_values_are_one_line_too(tmp_path):
    line = _one_line(spren("books", home=tmp_path, SPREN_GENERATION__TOP_P="7.5"))
    assert line == ("Error: [generation] top_p = 7.5 is out of range: use a value from 1e-06 "
                    "to 1")
