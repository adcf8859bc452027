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


def _passages(home: Path) -> list[tuple]:
    db = sqlite3.connect(home / "spren.db")
    try:
        return db.execute("SELECT id, relation, parent_id, prompt, context, output, seed "
                          "FROM passages ORDER BY id").fetchall()
    finally:
        db.close()


def test_continue_and_regen_work_on_the_last_passage_even_after_a_restart(tmp_path,
                                                                          tiny_model_dir):
    proc = chat(tmp_path, tiny_model_dir, ["/continue", "/oz Dorothy walked seed=7",
                                           "/continue", "/regen"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("! there is no finished passage to work from yet")
    root, cont, regen = _passages(tmp_path)
    assert (cont[1], cont[2], cont[3]) == ("continue", root[0], "")
    assert cont[4] == "Dorothy walked" + root[5]  # the passage so far, as it ended
    assert (regen[1], regen[2], regen[4]) == ("regenerate", cont[0], cont[4])  # the last one
    assert regen[6] != cont[6]
    assert f"…{cont[5]}\n" in proc.stdout and f"↻{regen[5]}\n" in proc.stdout
    # a new process: the last passage is found in the database
    again = chat(tmp_path, tiny_model_dir, ["/continue The Lion roared."])
    assert again.returncode == 0, again.stderr
    *_, last = _passages(tmp_path)
    assert (last[1], last[2], last[3]) == ("continue", regen[0], "The Lion roared.")
    assert last[4] == f"Dorothy walked{root[5]}{regen[5]}".rstrip() + "\n\nThe Lion roared."
