"""The Docker image, checked without a Docker engine: hadolint on the Dockerfile, its stages
and runtime settings, the make targets its build runs, and what .dockerignore keeps out."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.dockerfile import exec_form, parse
from tests.paths import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def stages():
    return parse(DOCKERFILE)


def test_hadolint_finds_nothing():
    proc = subprocess.run([str(BIN / "hadolint"), "--no-color", "--failure-threshold", "info",
                           str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_would_notice_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text().replace("USER 10001:10001", "USER root"))
    proc = subprocess.run([str(BIN / "hadolint"), "--no-color", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "DL3002" in proc.stdout  # last USER should not be root


def test_the_runtime_stage_is_slim_non_root_and_headless(stages):
    _, (build, runtime) = stages
    assert build.name == "build" and runtime.name == "runtime"
    assert "slim" in runtime.base and "slim" not in build.base
    user = runtime.last("USER")
    assert user is not None and user.split(":")[0] not in ("root", "0")
    assert exec_form(runtime.last("CMD")) == ["spren", "run"]
    health = runtime.last("HEALTHCHECK")
    assert health is not None and exec_form(health) == ["python", "-m", "bot.healthcheck"]
    env = runtime.env()
    assert env["SPREN_HOME"] == "/data" and env["SPREN_METRICS__LISTEN"].endswith(":9108")
    assert runtime.all("VOLUME") == ['["/data"]']
    model = env["SPREN_MODEL__PATH"]
    assert not model.startswith("/data"), "a volume on /data would hide the model"
    assert build.env()["SPREN_MODEL__PATH"] == model


def test_no_build_or_dev_tools_in_the_runtime_stage(stages):
    _, (_, runtime) = stages
    assert runtime.all("RUN") and not any(
        re.search(r"\b(make|pip|apt-get|gcc|pytest|ruff|mypy)\b", run)
        for run in runtime.all("RUN"))
    copies = runtime.all("COPY")
    assert copies and all(c.startswith("--from=build ") for c in copies)
    for run in stages[1][0].all("RUN"):
        assert "[dev" not in run and "make install" not in run  # dev extras never installed


def _make_calls(stages) -> list[list[str]]:
    """Each `make ...` the build stage runs, with the build args' defaults filled in."""
    args = {**stages[0], **{a.partition("=")[0]: a.partition("=")[2].strip('"')
                            for a in stages[1][0].all("ARG")}}
    calls = []
    for run in stages[1][0].all("RUN"):
        for part in run.split("&&"):
            words = shlex.split(re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""),
                                       part))
            if words and words[0] == "make":
                calls.append(words)
    return calls


def test_the_image_build_runs_make_targets_that_ci_runs(stages):
    calls = _make_calls(stages)
    assert [c[1] for c in calls] == ["runtime", "demo-model"]
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\bdemo-model\b", makefile, re.M)  # CI's `make test` runs them
    assert re.search(r"^\$\(STAMP\): \$\(RUNTIME_STAMP\)", makefile, re.M)
    venv = "/nonexistent/venv"  # dry runs: nothing is built
    plan = subprocess.run(["make", "-n", "-B", *[w.replace("/opt/spren/venv", venv)
                                                  for w in calls[0][1:]]],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    torch = [ln for ln in plan.stdout.replace("\\\n", " ").splitlines() if "torch==" in ln]
    assert torch and "--index-url https://download.pytorch.org/whl/cpu" in torch[0]
    assert "'.[postgres]'" in plan.stdout and "[dev" not in plan.stdout


def test_a_build_argument_picks_another_torch(stages):
    plan = subprocess.run(["make", "-n", "-B", "runtime", "VENV=/nonexistent/venv",
                           "TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert "--index-url https://download.pytorch.org/whl/cu128" in plan.stdout
    assert "TORCH_INDEX_URL" in dict(a.partition("=")[::2] for a in stages[1][0].all("ARG"))


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, for the simple patterns used here: a path is left out when it or a
    folder above it matches a pattern (``**/`` matches at any depth); later ``!`` wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    out = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        deep = pattern.startswith("**/")
        name = pattern[3:] if deep else pattern
        hit = any(fnmatch.fnmatchcase(p.rsplit("/", 1)[-1] if deep else p, name)
                  for p in prefixes)
        if hit:
            out = not negate
    return out


@pytest.mark.parametrize("path, left_out", [
    (".venv/bin/python", True), (".spren/spren.db", True), (".spren/models/oz-demo/x", True),
    (".git/HEAD", True), ("bot/__pycache__/app.cpython-311.pyc", True),
    ("spren.egg-info/PKG-INFO", True), ("tests/conftest.py", True), ("spren.db", True),
    ("bot/app.py", False), ("engine/generation/generator.py", False),
    ("migrations/env.py", False), ("models/oz-demo/adapter.safetensors", False),
    ("pyproject.toml", False), ("Makefile", False), ("README.md", False),
])
def test_dockerignore_keeps_a_developer_checkout_out(path, left_out):
    patterns = [ln.strip() for ln in (REPO_ROOT / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    assert _ignored(path, patterns) == left_out
