"""The bot on the remote backend, end to end: `spren chat`, `spren generate` and the Discord
adapter (real discord.py against the fake) with passages from a real `transformers serve`;
a server that answers 500s never crashes the bot."""

import asyncio
import os
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from engine.generation.params import GenParams
from engine.generation.remote import RemoteEngine
from tests.e2e.discord_harness import make_config, running_bot
from tests.engine.generation.remote.misbehaving import Misbehaving
from tests.paths import REPO_ROOT


def _spren(home, server, args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, SPREN_HOME=str(home), HF_HUB_OFFLINE="1")
    env.pop("SPREN_CONFIG", None)
    remote = ["--set", "model.backend=openai", "--set", f"model.urls={server.url}",
              "--set", f"model.name={server.name}"]
    return subprocess.run([sys.executable, "-m", "bot", *remote, *args], input=stdin,
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)


@pytest.fixture
def engine(served_tiny):
    engine = RemoteEngine([served_tiny.url], name=served_tiny.name, max_concurrency=2)
    yield engine
    engine.close()


def test_console_chat_streams_remote_passages_and_logs_the_server(tmp_path, served_tiny):
    lines = ["/oz Dorothy walked seed=7 length=30", "/oz Dorothy walked seed=7 length=30",
             "/about"]
    proc = _spren(tmp_path, served_tiny, ["chat"], "\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = sqlite3.connect(tmp_path / "spren.db").execute(
        "SELECT seed, output, model_id, outcome FROM interactions WHERE command='oz'").fetchall()
    assert [(r[0], r[3]) for r in rows] == [(7, "ok"), (7, "ok")]
    assert rows[0][1] == rows[1][1] and len(rows[0][1].split()) >= 3  # same seed, same text
    assert rows[0][2] == f"{served_tiny.name} @ {served_tiny.url}"  # which server answered
    assert proc.stdout.startswith(f"Dorothy walked{rows[0][1]}\nDorothy walked{rows[1][1]}\n")
    assert "Generation servers:" in proc.stdout and "server 1: up" in proc.stdout
    assert served_tiny.url not in proc.stdout  # users see no internal addresses


def test_spren_generate_uses_the_configured_servers(tmp_path, served_tiny, engine):
    proc = _spren(tmp_path, served_tiny, ["generate", "--prompt", "Toto barked", "--seed",
                                          "4", "--max-new-tokens", "20", "--no-guard"])
    assert proc.returncode == 0, proc.stderr
    (expected,) = engine.generate(["Toto barked"], [GenParams(max_new_tokens=20, seed=4)])
    assert proc.stdout == f"Toto barked{expected.text}\n"


def test_spren_generate_without_a_server_says_so_clearly(tmp_path, monkeypatch):
    with Misbehaving() as gone:
        url = gone.url
    monkeypatch.setenv("SPREN_HOME", str(tmp_path))
    monkeypatch.delenv("SPREN_CONFIG", raising=False)
    result = CliRunner().invoke(cli, [
        "--set", "model.backend=openai", "--set", f"model.urls={url}", "--set", "model.name=m",
        "generate", "--prompt", "Toto", "--no-guard"])
    assert result.exit_code == 1 and result.exception is not None
    assert "no generation server is answering right now" in result.output


def test_discord_passage_streams_from_the_server_with_live_edits(tmp_path, engine):
    cfg = make_config(tmp_path, edit_interval_s=0.1)
    prompt = "Dorothy looked at the Scarecrow and"

    async def scenario():
        async with running_bot(cfg, engine) as bot:
            ex = await bot.fake.command("oz", {"prompt": prompt, "seed": 9, "length": 60},
                                        user_id=4242)
            await bot.idle(ex, timeout=120)
            about = await bot.fake.command("about", {})
            await bot.idle(about)
            return ex, about, bot.app.service.snapshot()

    ex, about, snap = asyncio.run(scenario())
    assert snap.measured and snap.tokens_per_s > 0  # ETAs now use the server's speed
    g = cfg.generation
    (expected,) = engine.generate([prompt], [GenParams(
        max_new_tokens=60, temperature=g.temperature, top_k=g.top_k, top_p=g.top_p,
        repetition_penalty=g.repetition_penalty, seed=9, stop_at_sentence=g.stop_at_sentence,
        memory_window=g.memory_window)])
    contents = [c.body["content"] for c in ex.ok_edits()]
    assert contents[0].startswith("⏳ #1 in queue (~")
    assert any(c.endswith(" …") for c in contents[1:-1])  # typed in before the final text
    final = contents[-1]
    assert final.startswith(f"**{prompt}**") and final.endswith(expected.text.strip())
    body = str(about.callback.body)
    assert "Generation servers:" in body and "server 1: up" in body and "127.0.0.1" not in body


def test_a_server_answering_500_never_crashes_the_bot(tmp_path):
    cfg = make_config(tmp_path)
    with Misbehaving("500") as bad:
        engine = RemoteEngine([bad.url], name="m")
        try:
            async def scenario():
                async with running_bot(cfg, engine) as bot:
                    first = await bot.fake.command("oz", {"prompt": "Toto ran", "seed": 1})
                    await bot.idle(first, timeout=30)
                    bad.mode = "garbage"
                    second = await bot.fake.command("oz", {"prompt": "Toto ran", "seed": 2},
                                                    user_id=77)
                    await bot.idle(second, timeout=30)
                    books = await bot.fake.command("books", {})
                    await bot.idle(books)
                    return first, second, books

            first, second, books = asyncio.run(scenario())
        finally:
            engine.close()
    for ex in (first, second):
        text = str([c.body for c in ex.sends()])
        assert "generation server" in text and "try again" in text
        assert "Traceback" not in text
    assert books.callbacks  # the bot still answers
