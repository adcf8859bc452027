"""Shared pieces for the Reddit end-to-end tests and benchmark: config, a fake generator,
and a way to run the real adapter against the fake Reddit until a condition holds."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.config import Config, load_config

CREDS_ENV = {"REDDIT_CLIENT_ID": "fake-id", "REDDIT_CLIENT_SECRET": "fake-secret",
             "REDDIT_USERNAME": "sprenbot", "REDDIT_PASSWORD": "fake-password"}


def reddit_config(data_dir: Path, url: str, db_url: str = "", **reddit: Any) -> Config:
    """A config with its own data dir and database (SQLite there unless `db_url`), pointing
    praw at the fake."""
    section = {"oauth_url": url, "reddit_url": url, "subreddits": ["oz"],
               "poll_interval_s": 0.05, "ignore_users": ["otherbot"], **reddit}
    return load_config(None, environ={}, overrides={
        "bot": {"data_dir": str(data_dir), "generate_command": "oz"},
        "database": {"url": db_url or f"sqlite:///{data_dir / 'spren.db'}"},
        "reddit": section})


class EchoGenerator:
    """A deterministic stand-in for the model: the text depends on prompt and seed only."""

    model_id = "echo-test"
    supports_joins = supports_holds = independent_rows = False

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s

    def generate(self, prompts, params, on_token=None, should_stop=None, **no_joins):
        from engine.generation.generator import GenResult

        time.sleep(self.delay_s)
        out = []
        for prompt, p in zip(prompts, params, strict=True):
            seed = p.seed if p.seed is not None else 1
            text = f"and the wind number {seed % 1000} rose. Then it was quiet again."
            out.append(GenResult(prompt=prompt, text=text, seed=seed, new_tokens=12,
                                 finish_reason="sentence", model_id=self.model_id,
                                 guard=None, seconds=self.delay_s))
        return out


async def run_until(cfg: Config, done: Callable[[], bool], *, timeout: float = 20.0,
                    generator: Any = None) -> Any:
    """Run the real RedditAdapter in this loop until done() holds; returns the adapter.

    Fails if the adapter stops by itself or the time runs out."""
    from bot.adapters.reddit.adapter import RedditAdapter
    from bot.app import open_app

    async with open_app(cfg, generator=generator or EchoGenerator()) as app:
        adapter = RedditAdapter(app, _creds(cfg))
        task = asyncio.create_task(adapter.run())
        try:
            deadline = time.monotonic() + timeout
            while not done():
                if task.done():
                    task.result()
                    raise AssertionError("the adapter stopped by itself")
                if time.monotonic() > deadline:
                    raise AssertionError("timed out waiting for the adapter")
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return adapter


def _creds(cfg: Config):
    from bot.adapters.reddit.adapter import RedditCredentials

    return RedditCredentials(*CREDS_ENV.values())


def serve(data_dir: str, url: str, delay_s: float = 0.0, db_url: str = "", salt: str = "",
          **reddit: Any) -> None:
    """A bot process's main: run the adapter until killed (the crash test's child)."""
    if salt:  # processes sharing a database must hash user ids alike
        os.environ["SPREN_SALT"] = salt
    cfg = reddit_config(Path(data_dir), url, db_url, **reddit)
    asyncio.run(run_until(cfg, lambda: False, timeout=float("inf"),
                          generator=EchoGenerator(delay_s)))
