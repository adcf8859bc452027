"""Crash safety: the bot process is SIGKILLed at random points while answering summons and
restarted, many times over; every summons must still get exactly one reply.

Bot processes are forked from a forkserver that has already imported the bot, so a restart
costs a fraction of a second instead of a fresh interpreter's imports.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
import threading
import time

import pytest
from sqlalchemy import select

from bot.store import Passage, Store
from tests.e2e.fake_reddit import FakeRedditServer
from tests.e2e.reddit_harness import serve

pytestmark = pytest.mark.slow
ROUNDS = 10
PRELOAD = ["tests.e2e.reddit_harness", "bot.app", "bot.serving.service",
           "bot.adapters.reddit.adapter", "engine.generation.generator"]
KILL_AT = {"post": ("POST", "/api/comment"), "read": ("POST", "/api/read_message"),
           "info": ("GET", "/api/info")}


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Bot:
    """The bot as a killable child process."""

    def __init__(self, data_dir, url):
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        self.args = (str(data_dir), url, 0.02)
        self.proc = None

    def start(self) -> None:
        self.proc = self.ctx.Process(target=serve, args=self.args, daemon=True)
        self.proc.start()

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            # it may exit between the check and the kill
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.join(10)


def _arm(fake, bot: Bot, target: tuple[str, str]) -> threading.Event:
    """Kill the bot right after the fake carried out the next `target` request."""
    fired = threading.Event()

    def hook(method: str, path: str) -> None:
        if (method, path) == target and not fired.is_set():
            fired.set()
            bot.kill()

    fake.on_request = hook
    return fired


def _answered(fake, summons: list[tuple[str, bool]]) -> bool:
    doubled = [f for f, _ in summons if len(fake.replies_to(f)) > 1]
    assert not doubled, f"answered twice: {doubled}"
    return all(len(fake.replies_to(f)) == 1 and not (mention and fake.is_unread(f))
               for f, mention in summons)


def test_sigkill_anywhere_still_gives_exactly_one_reply(tmp_path):
    rng = random.Random(20261108)
    with FakeRedditServer() as server:
        fake = server.fake
        bot = Bot(tmp_path, server.url)
        bot.start()
        summons: list[tuple[str, bool]] = []
        try:
            for rnd in range(ROUNDS):
                new = []
                for i in range(rng.randint(1, 3)):
                    mention = i == 0 or rng.random() < 0.5
                    body = (f"u/sprenbot round {rnd} item {i}" if mention
                            else f"!oz round {rnd} item {i}")
                    link = fake.add_link("oz")  # one thread each: the per-thread cap is 3
                    new.append((fake.add_comment(f"user{rnd}{i}", body, link,
                                                 mention=mention), mention))
                summons += new
                mode = rng.choice(["delay", *KILL_AT])
                if mode == "delay":
                    seen = len(fake.calls("GET", "/message/unread"))
                    _wait(lambda s=seen: len(fake.calls("GET", "/message/unread")) > s, 30,
                          "the bot to poll")
                    time.sleep(rng.uniform(0, 0.3))
                    bot.kill()
                else:
                    fired = _arm(fake, bot, KILL_AT[mode])
                    _wait(fired.is_set, 30, f"a {mode} request to kill at")
                    bot.kill()
                    fake.on_request = None
                bot.start()
                _wait(lambda s=summons: _answered(fake, s), 30, f"round {rnd} ({mode})")
            time.sleep(0.5)  # a late duplicate would show up now
        finally:
            fake.on_request = None
            bot.kill()
        for fullname, mention in summons:
            assert len(fake.replies_to(fullname)) == 1, fullname
            assert not (mention and fake.is_unread(fullname))
        assert len(summons) >= ROUNDS


def test_continue_is_answered_exactly_once_across_a_crash(tmp_path):
    """A `!continue` under a passage: the bot is killed right after each Reddit step of its
    answer (posting it, marking it read, looking it up) and restarted; one reply each."""
    with FakeRedditServer() as server:
        fake = server.fake
        bot = Bot(tmp_path, server.url)
        bot.start()
        asked: list[tuple[str, bool]] = []
        try:
            for step, target in KILL_AT.items():
                link = fake.add_link("oz")
                summons = fake.add_comment(f"reader_{step}", "u/sprenbot Ozma smiled", link,
                                           mention=True)
                _wait(lambda s=summons: _answered(fake, [(s, True)]), 30, "the passage")
                (reply,) = fake.replies_to(summons)
                fired = _arm(fake, bot, target)
                more = fake.add_comment(f"other_{step}", "!continue", link,
                                        parent=reply["name"], reply_to_bot=True)
                asked.append((more, True))
                _wait(fired.is_set, 30, f"a {step} request to kill at")
                bot.kill()
                fake.on_request = None
                bot.start()
                _wait(lambda a=list(asked): _answered(fake, a), 30, f"the continuation ({step})")
            time.sleep(0.5)  # a late duplicate would show up now
        finally:
            fake.on_request = None
            bot.kill()
        for fullname, _ in asked:
            (answer,) = fake.replies_to(fullname)
            assert answer["body"].startswith("> and the wind number")
    store = Store(f"sqlite:///{tmp_path / 'spren.db'}", salt="x")
    with store.session() as s:  # one passage per continuation, however often it restarted
        rows = s.scalars(select(Passage).where(Passage.relation == "continue")).all()
        assert sorted(p.request_id for p in rows) == sorted(f for f, _ in asked)
        assert all(p.parent_id is not None and p.state == "done" for p in rows)
    store.dispose()
