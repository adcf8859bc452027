"""Community safety through the real bot and discord.py against the fake Discord: spoilers by
reading progress (text and chart as the fake receives them), moderator controls, the word
filter and mentions in passages."""

import asyncio
import re
from pathlib import Path

import discord  # noqa: F401
import pytest
from sqlalchemy import select

from bot.app import open_store
from bot.ingest import Ingestor
from bot.store import AuditEntry, FilterEvent, Store
from engine.stats import charts
from tests.e2e import fake_discord_payloads as P
from tests.e2e.discord_harness import make_config, running_bot
from tests.paths import OZ_DIR

BOOKS = ["01-the-wonderful-wizard-of-oz.txt", "02-the-marvelous-land-of-oz.txt"]
MOD = P.MEMBER_PERMISSIONS | P.MANAGE_GUILD
READER, OTHER, MODERATOR = 1001, 1002, 1003


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """A data dir whose database holds the first two Oz books."""
    if not all((OZ_DIR / b).exists() for b in BOOKS):
        pytest.skip(f"Oz corpus not found at {OZ_DIR.resolve()}")
    data = tmp_path_factory.mktemp("safety_library")
    cfg = make_config(data)
    store = open_store(cfg)
    try:
        results = Ingestor(store, cfg).run([OZ_DIR / b for b in BOOKS], jobs=1)
    finally:
        store.dispose()
    assert [r.status for r in results] == ["added", "added"]
    return data


class ScriptGenerator:
    """A stand-in model that writes the same text for every prompt."""

    model_id = "script-test"
    supports_joins = supports_holds = independent_rows = False

    def __init__(self, text: str):
        self.text = text

    def generate(self, prompts, params, on_token=None, should_stop=None, **no_joins):
        from engine.generation.generator import GenResult

        return [GenResult(prompt=p, text=self.text, seed=q.seed or 1, new_tokens=9,
                          finish_reason="sentence", model_id=self.model_id, guard=None,
                          seconds=0.0) for p, q in zip(prompts, params, strict=True)]


def _body(call) -> dict:
    return call.body.get("data", call.body) if call.body else {}


def _final(ex) -> dict:
    """The last call that carried text or files to the user."""
    return _body([c for c in ex.sends() if _body(c).get("embeds") or _body(c).get("content")
                  or c.files][-1])


def _text(body: dict) -> str:
    return body.get("content") or "\n".join(e.get("description", "") for e in
                                            body.get("embeds", []))


def _chart(ex) -> bytes | None:
    files = [f for c in ex.sends() for f in c.files]
    return files[-1].data if files else None


def _run(cfg, steps, generator=None):
    async def scenario():
        async with running_bot(cfg, generator) as bot:
            bot.adapter.flow.quick_answer_s = 5.0  # answer directly, even on a busy machine
            out = []
            for step in steps:
                ex = await step(bot.fake)
                await bot.idle(ex)
                out.append(ex)
            return out

    return asyncio.run(scenario())


def _counts(text: str) -> dict[str, str]:
    """'oz1    123  Title' lines -> {code: what stands in the count column}."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^(oz\d)\s+(\S+)", text, re.M)}


def test_progress_hides_later_books_and_chapters_and_reveal_shows_them(library):
    cfg = make_config(library)
    exs = _run(cfg, [
        lambda f: f.command("progress", {"book": "oz1", "chapter": 5}),
        lambda f: f.command("wordcount", {"term": "Dorothy"}),
        lambda f: f.command("wordcount", {"term": "Dorothy", "reveal": True}),
        lambda f: f.command("sentiment", {"book": "oz2"}),
        lambda f: f.command("sentiment", {"book": "oz1"}),
    ])
    saved, hidden, revealed, later, current = exs
    assert _final(saved)["flags"] & 64 and "chapter 5" in _text(_final(saved))

    text = _text(_final(hidden))
    counts = _counts(text)
    assert re.fullmatch(r"\|\|[\d,]+\|\|", counts["oz2"]), text  # later book: spoiler only
    seen = int(counts["oz1"])  # the book being read: counted up to chapter 5, in the open
    full = _counts(_text(_final(revealed)))
    assert 0 < seen < int(full["oz1"].replace(",", ""))
    assert "reveal:true" in text and "||" not in _text(_final(revealed))
    # the chart the fake received has exactly the visible bar; reveal's has every book
    assert _chart(hidden) == charts.counts_chart("Dorothy", ["oz1 1–5"], [seen])
    assert _chart(revealed) == charts.counts_chart(
        "Dorothy", ["oz1", "oz2"], [int(full[c].replace(",", "")) for c in ("oz1", "oz2")])

    later_text = _text(_final(later))
    assert _chart(later) is None and "Sentences:" not in later_text.split("||")[0]
    assert re.search(r"\|\|[^|]*Sentences: [\d,]+", later_text)
    assert _chart(current) is not None and "Chapters 1–5" in _text(_final(current))


def test_moderators_set_a_spoiler_policy_and_others_cannot(library):
    cfg = make_config(library)
    g = 6001
    exs = _run(cfg, [
        lambda f: f.command("mod", {"policy": "first 1"}, subcommand="spoilers",
                            user_id=OTHER, guild_id=g),
        lambda f: f.command("mod", {"policy": "first 1"}, subcommand="spoilers",
                            user_id=MODERATOR, permissions=MOD, guild_id=g),
        lambda f: f.command("wordcount", {"term": "Tip"}, user_id=OTHER, guild_id=g),
    ])
    refused, done, count = exs
    assert "only moderators" in _text(_final(refused)) and _final(refused)["flags"] & 64
    assert "spoiler policy set" in _text(_final(done))
    text = _text(_final(count))
    assert re.fullmatch(r"\|\|[\d,]+\|\|", _counts(text)["oz2"])
    assert "spoiler policy: only the first book" in text
    rows = _rows(cfg, AuditEntry, place=str(g))
    assert [(r.action, r.value) for r in rows] == [("spoilers", "first:1")]


def test_paused_server_refuses_politely_and_resumes(library):
    cfg = make_config(library)
    g = 6002
    mod = {"user_id": MODERATOR, "permissions": MOD, "guild_id": g}
    exs = _run(cfg, [
        lambda f: f.command("mod", subcommand="pause", **mod),
        lambda f: f.command("oz", {"prompt": "Dorothy walked"}, guild_id=g),
        lambda f: f.command("oz", {"prompt": "Dorothy walked"}, guild_id=g + 1),
        lambda f: f.command("mod", {}, subcommand="block", users={"user": OTHER}, **mod),
        lambda f: f.command("wordcount", {"term": "Toto"}, user_id=OTHER, guild_id=g),
        lambda f: f.command("mod", subcommand="resume", **mod),
        lambda f: f.command("oz", {"prompt": "Dorothy walked"}, guild_id=g),
    ], ScriptGenerator("and the wind rose."))
    _, paused, elsewhere, _, blocked, _, resumed = exs
    body = _final(paused)
    assert body["flags"] & 64 and "paused passage writing here" in _text(body)
    assert "wind rose" in (elsewhere.original_content() or "")  # another server is not paused
    assert "blocked you" in _text(_final(blocked))
    assert "wind rose" in (resumed.original_content() or "")
    assert [r.action for r in _rows(cfg, AuditEntry, place=str(g))] == [
        "resume", "block", "pause"]


def test_filter_masks_listed_words_and_disguises_and_logs_it(library):
    cfg = make_config(library)
    cfg.filter.block = ["voidbringer"]
    g = 6004
    passage = ("and a v0idbr1nger, a V-O-I-D-B-R-I-N-G-E-R and a voiiidbringer came; "
               "the fuuuck was loud <@42> <#7> @everyone.")
    (ex,) = _run(cfg, [lambda f: f.command("oz", {"prompt": "Dorothy saw sh1t"}, guild_id=g)],
                 ScriptGenerator(passage))
    final = ex.original_content() or ""
    assert "█" in final and not re.search(r"(?i)v\W*o\W*i+\W*d|fu+ck|sh1t", final), final
    assert "Dorothy saw" in final and "came" in final
    assert not re.search(r"@(everyone|here)|<[@#][&!]?\d+>", final)
    for call in ex.sends():
        if _body(call).get("content") is not None:
            assert _body(call)["allowed_mentions"] == {"parse": []}
    events = _rows(cfg, FilterEvent, place=str(g))
    assert {(e.stage, e.action) for e in events} == {("prompt", "mask"), ("output", "mask")}
    assert all(e.user and e.platform == "discord" for e in events)
    assert "voidbringer" in " ".join(e.terms for e in events)


def _rows(cfg, model, place: str) -> list:
    store = Store(cfg.database_url, salt="x")
    try:
        with store.session() as s:
            return list(s.scalars(select(model).where(model.place == place)
                                  .order_by(model.created_at.desc(), model.id.desc())))
    finally:
        store.dispose()
