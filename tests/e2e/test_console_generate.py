"""The console generation command end to end: `spren chat` streams a passage and logs it."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO_ROOT

REPO = REPO_ROOT


def chat(home: Path, model: Path, lines: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, SPREN_HOME=str(home), HF_HUB_OFFLINE="1")
    env.pop("SPREN_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", "--set", f"model.path={model}",
         "--set", "generation.max_new_tokens=40", "chat"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, cwd=REPO,
        timeout=300)


def test_generate_command_prints_the_passage_and_logs_it(tmp_path, tiny_model_dir):
    proc = chat(tmp_path, tiny_model_dir, ["/oz Dorothy walked seed=7", "/oz Dorothy walked seed=7",
                                           "/oz Dorothy walked seed=8 length=20", "/queue"])
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Queue:" in proc.stdout
    db = sqlite3.connect(tmp_path / "spren.db")
    rows = db.execute("SELECT seed, output, model_id, outcome, user FROM interactions "
                      "WHERE command='oz' ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [7, 7, 8]
    assert all(r[3] == "ok" and r[2].startswith(tiny_model_dir.name) for r in rows)
    first, second, third = (r[1] for r in rows)
    assert len(first.split()) >= 3
    assert first == second          # same seed, same passage
    assert third != first           # another seed, another passage
    # the terminal shows exactly prompt + final passage, in order
    assert proc.stdout.startswith("".join(f"Dorothy walked{t}\n" for t in (first, second, third)))
    assert os.environ.get("USER", "console") not in {r[4] for r in rows}


def test_bad_generation_options_are_refused_clearly(tmp_path, tiny_model_dir):
    proc = chat(tmp_path, tiny_model_dir, ["/oz Dorothy walked temperature=hot",
                                           "/oz Dorothy walked length=100000", "/oz"])
    assert proc.returncode == 0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("!")]
    assert "temperature='hot' must be a number" in lines[0]
    assert "length='100000' is out of range: use a whole number 1..400" in lines[1]
    assert "give me the start of a passage" in lines[2]

