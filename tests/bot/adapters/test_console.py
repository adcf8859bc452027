"""`spren chat` with piped input: answers in order, writes charts, exits at end of input."""

import os
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO_ROOT

REPO = REPO_ROOT


def chat(home: Path, lines: list[str], *extra: str, timeout=120) -> subprocess.CompletedProcess:
    env = dict(os.environ, SPREN_HOME=str(home), HF_HUB_OFFLINE="1")
    env.pop("SPREN_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "bot", *extra, "chat", "--no-model"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=timeout)


def test_piped_chat_answers_each_line_in_order(oz_library):
    proc = chat(oz_library, ["/help", "/books", "/sentiment oz2", "/wordcount Tin Woodman exact",
                             "/frobnicate", "/sentiment nowhere"])
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in out + proc.stderr
    order = [out.index(s) for s in ("== Help ==", "== 3 books ==", "== Sentiment: The Marvel",
                                    "== Word count: Tin Woodman", "unknown command '/frobnicate'",
                                    "no book called 'nowhere'")]
    assert order == sorted(order)
    charts = [line.split("chart: ", 1)[1] for line in out.splitlines()
              if line.startswith("chart: ")]
    assert len(charts) == 2
    for c in charts:
        assert Path(c).read_bytes().startswith(b"\x89PNG")


def test_generation_without_a_model_explains_itself(oz_library):
    proc = chat(oz_library, ["/oz Dorothy walked"])
    assert proc.returncode == 0
    assert "no model is loaded" in proc.stdout


def test_quit_stops_before_later_lines(oz_library):
    proc = chat(oz_library, ["/quit", "/books"])
    assert proc.returncode == 0 and "books ==" not in proc.stdout


def test_bad_config_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[queue]\nmax_batch = 'x'\n")
    proc = chat(tmp_path, [], "--config", str(bad))
    assert proc.returncode != 0
    assert "[queue] max_batch must be an integer" in proc.stderr
    assert "Traceback" not in proc.stderr
