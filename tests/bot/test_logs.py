"""Log lines as text or JSON, and the request id on every line about a request, including
lines the engine worker thread writes."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from sqlalchemy import select

from bot import logs
from bot.app import open_app
from bot.messages import Request
from bot.store import Interaction
from tests.bot.conftest import make_config

ABOUT_A_REQUEST = ("bot.dispatch", "bot.serving.worker")


class BrokenGenerator:
    """A model that fails on every prompt (the worker logs it, the user gets a message)."""

    model_id = "broken-test"
    supports_joins = supports_holds = independent_rows = False

    def generate(self, prompts, params, on_token=None, should_stop=None, **no_joins):
        raise RuntimeError("the model fell over")


@pytest.fixture
def captured():
    """Route every log line through logs.configure into a buffer; restore logging after."""
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    buffer = io.StringIO()
    yield lambda fmt: (logs.configure(fmt, logging.INFO, buffer), buffer)[1]
    for handler in [h for h in root.handlers if h not in saved[1]]:
        root.removeHandler(handler)
    root.setLevel(saved[0])


def _ask(cfg, requests):
    async def go():
        async with open_app(cfg, generator=BrokenGenerator()) as app:
            replies = [await app.dispatcher.handle(r) for r in requests]
            with app.store.session() as s:
                ids = list(s.scalars(select(Interaction.request_id).order_by(Interaction.id)))
            return replies, ids
    return asyncio.run(go())


def test_json_lines_carry_the_request_id_even_from_the_worker_thread(tmp_path, captured):
    buffer = captured("json")
    replies, ids = _ask(make_config(tmp_path), [
        Request("discord", "1234", "oz", {"prompt": "Toto barked"}, request_id="req-42"),
        Request("console", "me", "books")])
    entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    about = [e for e in entries if e["logger"] in ABOUT_A_REQUEST]
    worker = [e for e in about if e["logger"] == "bot.serving.worker"]
    assert worker and "the model fell over" in worker[0]["exception"]
    assert worker[0]["request_id"] == "req-42"
    first = [e for e in about if e.get("request_id") == "req-42"]
    second = [e for e in about if e.get("request_id") not in (None, "req-42")]
    assert len(first) >= 2 and second  # the worker's warning and the dispatcher's line
    assert not [e for e in about if "request_id" not in e]
    assert replies[0].outcome == "refused" and replies[1].outcome == "ok"
    # a console request had no id: it got one, and the log and the database agree on it
    assert ids == ["req-42", second[0]["request_id"]]
    assert "Toto barked" not in buffer.getvalue() and "1234" not in buffer.getvalue()


def test_text_lines_end_with_the_request_id(tmp_path, captured):
    buffer = captured("text")
    _ask(make_config(tmp_path), [Request("console", "me", "help", request_id="req-7")])
    lines = [ln for ln in buffer.getvalue().splitlines() if " bot.dispatch: " in ln]
    assert lines and all(ln.endswith("[request_id=req-7]") for ln in lines)


def test_the_id_is_only_on_lines_about_that_request(captured):
    buffer = captured("json")
    log = logging.getLogger("bot.test")
    log.warning("before")
    with logs.request_context("r1"):
        log.warning("during")
    log.warning("after")
    entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [e.get("request_id") for e in entries] == [None, "r1", None]
