"""The shipped demo model: `make run`'s `/oz Dorothy walked` generates offline.

`make test` builds the demo model first (`spren model build-demo`, into $SPREN_HOME), exactly
as `make run` does; this test then drives the console chat with it.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

REPO = REPO_ROOT
HOME = Path(os.environ.get("SPREN_HOME", REPO / ".spren"))
DEMO = HOME / "models" / "oz-demo"

pytestmark = pytest.mark.skipif(
    not (DEMO / "config.json").exists(),
    reason=f"demo model not built at {DEMO}: run `make demo-model` (make test does)")


def test_demo_model_writes_a_passage_offline(tmp_path):
    env = dict(os.environ, SPREN_HOME=str(tmp_path), HF_HUB_OFFLINE="1")
    env.pop("SPREN_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--set", f"model.path={DEMO}", "chat"],
        input="/oz Dorothy walked seed=11 length=40\n/about\n", capture_output=True, text=True,
        env=env, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr
    # the passage is everything before /about's answer (it may hold paragraph breaks)
    passage = proc.stdout.split("== About ==")[0]
    assert passage.startswith("Dorothy walked"), proc.stdout
    assert len(passage.split()) >= 8, proc.stdout
    assert "Model: oz-demo" in proc.stdout
