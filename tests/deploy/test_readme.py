"""The README's operations sections are the tested commands: its PostgreSQL commands run
against a real server, its metric table is what /metrics serves, and its Docker commands name
build arguments, profiles and settings that exist."""

from __future__ import annotations

import logging
import re
import shlex
import shutil

import pytest
import yaml
from click.testing import CliRunner

from bot import metrics
from bot.cli.main import cli
from bot.config import load_config
from tests.deploy.dockerfile import parse
from tests.paths import OZ_DIR, REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def commands(text: str) -> list[list[str]]:
    """The shell commands of a section's sh blocks (continuations joined, comments cut)."""
    out = []
    for block in blocks(text, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                out.append(shlex.split(line))
    return out


@pytest.fixture
def restore_logging():
    """`spren` configures the root logger; put it back for the tests after this one."""
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    yield
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])


@pytest.mark.slow
def test_the_postgresql_commands_work_as_written(tmp_path, pg_url, restore_logging):
    """Every `spren` command of the section, with the URL in the README's plain form."""
    books = tmp_path / "books"
    books.mkdir()
    for name in sorted(p.name for p in OZ_DIR.glob("*.txt"))[:2]:
        shutil.copy(OZ_DIR / name, books / name)
    text = section("Run it with PostgreSQL")
    cmds = commands(text)
    (export,) = [c for c in cmds if c[0] == "export"]
    assert export[1].startswith("SPREN_DATABASE__URL=postgresql://")
    url = "postgresql://" + pg_url.split("://", 1)[1]  # the README's form, the test server
    env = {"SPREN_HOME": str(tmp_path), "SPREN_DATABASE__URL": url, "SPREN_CONFIG": None}
    runs = [c[1:] for c in cmds if c[0] == ".venv/bin/spren" and c[1] != "run"]
    runs += [shlex.split(m)[1:] for m in re.findall(r"`(spren db \w+ ?\w*)`", text)]
    assert [r[:2] for r in runs] == [["db", "upgrade"], ["ingest", "../shared/corpus/oz/"],
                                     ["books"], ["stats", "wordcount"], ["db", "downgrade"],
                                     ["db", "upgrade"]]
    out = {}
    for args in runs:  # in this process: the same `spren` code without 6 interpreter starts
        args = [str(books) if a == "../shared/corpus/oz/" else a for a in args]
        result = CliRunner(env=env).invoke(cli, [*args], catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
        out[" ".join(args[:2])] = result.stdout
    assert "oz1" in out["books"] and "oz2" in out["books"]
    assert "Toto" in out["stats wordcount"] and re.search(r"\d", out["stats wordcount"])
    assert "2 added" in out[f"ingest {books}"]
    assert "database at revision None" in out["db downgrade"]


def test_the_metric_table_is_what_the_endpoint_serves():
    documented = set(re.findall(r"^\| `(spren_\w+)` \|", section("Monitoring"), re.M))
    served = set(metrics._LiveGauges.SERIES)
    for family in metrics.REGISTRY.collect():
        if family.name.startswith("spren_"):
            served.add(family.name + ("_total" if family.type == "counter" else ""))
    assert documented == served


def test_the_scrape_config_targets_the_address_shown():
    text = section("Monitoring")
    (config,) = [yaml.safe_load(b) for b in blocks(text, "yaml")]
    (job,) = config["scrape_configs"]
    listen = re.search(r"SPREN_METRICS__LISTEN=(\S+)", text).group(1)
    assert job["static_configs"][0]["targets"] == [listen]
    assert load_config(None, environ={"SPREN_METRICS__LISTEN": listen}).metrics.listen == listen


def test_the_docker_commands_name_what_exists():
    text = section("Docker")
    _, (build, runtime) = parse(REPO_ROOT / "Dockerfile")
    args = {a.partition("=")[0] for a in build.all("ARG")}
    named = set(re.findall(r"--build-arg (\w+)=", text))
    assert named and named <= args
    compose = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    profiles = {p for s in compose["services"].values() for p in s.get("profiles", [])}
    assert set(re.findall(r"--profile (\w+)", text)) <= profiles
    settings = dict(re.findall(r"-e (SPREN_\w+)=(\S+)", text))
    assert settings and load_config(None, environ=settings).discord.enabled
    env = runtime.env()
    assert env["SPREN_MODEL__PATH"] in text and env["SPREN_METRICS__LISTEN"].split(":")[1] in text
    assert re.search(r"docker run .*spren spren ingest /books", text)
