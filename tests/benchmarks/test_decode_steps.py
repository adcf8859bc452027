"""benchmarks/decode_steps.py: spren's side runs and prints its row; bad options are one line."""

import subprocess
import sys

from tests.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "decode_steps.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO_ROOT)


def test_spren_side_prints_one_row_per_thread_count(llama_model_dir):
    out = _run("--gguf", str(llama_model_dir / "model.gguf"), "--threads", "1",
               "--steps", "2")
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| xllamacpp")]
    assert len(rows) == 1 and rows[0].split("|")[2].strip() == "1"
    one, eight = (float(rows[0].split("|")[i].split()[0]) for i in (3, 4))
    assert one > 0 and eight > 0


def test_bad_options_are_one_line(tmp_path):
    for args, words in ((["--threads", "two"], "whole numbers"),
                        (["--gguf", str(tmp_path / "none.gguf")], "no GGUF")):
        out = _run(*args)
        assert out.returncode == 2 and words in out.stderr
        assert "Traceback" not in out.stderr
