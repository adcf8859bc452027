"""Thousands of generated inputs at the dispatcher, the way the console and Discord send them.

Typed lines go through ``parse_command_line`` (an unparsable one is refused and logged, as the
console does); structured requests carry option values of every type, as a hostile Discord
client could send. The real stats service, SQLite and a tiny real model answer them.
Asserted: every input gets an answer that is not "something went wrong", nothing is logged
with a traceback, the interactions table gains exactly one row per request, and the
process's memory stops growing once its bounded caches are full.
"""

import asyncio
import logging
import os
import random
import string

from sqlalchemy import func, select

from bot.app import open_app
from bot.errors import BadRequest
from bot.messages import Request
from bot.parsing import parse_command_line
from bot.store import Interaction
from tests.bot.conftest import make_config

SEED = 20261130
COMMANDS = ["help", "books", "about", "queue", "sentiment", "wordcount", "oz", "Oz", "OZ",
            "nonsense", "sentiments", "", "quit", "optout"]
WORDS = ["Dorothy", "Toto", "oz1", "oz2", "oz3", "ozma", "the", "land", "of", "Tin Woodman",
         "exact", "first", "last", "seed=7", "length=4", "temperature=0.5", "top_p=0.9"]
HOSTILE = [" " * 3000, "[" * 400, "[a](" * 100, "_a " * 200, "\u202e\u200b", "\x00\x01\x7f",
           "🙂" * 50, "Ω≈ç√", "@everyone <@123>", "\\" * 30, "'\"“”" * 20, "\n", "\t\t",
           "9" * 5000, "-0", "nan", "inf", "1e309", "-1", "0", "2147483648", "10" * 20,
           "\udcff", "To\ud800to", "\udfff\ud83d"]  # lone surrogates: undecodable input
NUMBERS = ["1", "2", "3", "5", "50", "200", "9999999", "0", "-3", "x", "1.5", "9" * 40]
OPTIONS = ["length", "temperature", "top_p", "top_k", "seed"]
VALUES = ["1", "0", "-1", "0.5", "7.5", "1e-46", "1e309", "nan", "inf", "9" * 5000, "abc", "",
          "2147483647", "400", "401", "16"]
ODD_VALUES = [None, True, False, 0, -1, 1e-46, float("nan"), float("inf"), 10**30, 2**31,
              [1, 2], {"a": 1}, "x" * 10_000, b"bytes", 3.5]


def _line(rng: random.Random) -> str:
    command = rng.choice(COMMANDS)
    parts = [rng.choice("/!") * rng.randint(0, 1) + command]
    for _ in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.45:
            parts.append(rng.choice(WORDS))
        elif kind < 0.6:
            parts.append(f"{rng.choice(['first', 'last', 'FIRST'])} {rng.choice(NUMBERS)}")
        elif kind < 0.75:
            parts.append(f"{rng.choice(OPTIONS)}={rng.choice(VALUES)}")
        elif kind < 0.9:
            parts.append(rng.choice(HOSTILE))
        else:
            parts.append("".join(rng.choice(string.printable) for _ in range(rng.randint(1, 30))))
    return rng.choice([" ", "  ", "\t"]).join(parts)


def _structured(rng: random.Random) -> tuple[str, dict]:
    command = rng.choice(["sentiment", "wordcount", "oz", "books", "help", "queue", "about"])
    keys = ["book", "range", "term", "exact", "prompt", *OPTIONS, "text", "junk"]
    args = {}
    for key in rng.sample(keys, rng.randint(0, 4)):
        source = rng.random()
        args[key] = (rng.choice(ODD_VALUES) if source < 0.4 else rng.choice(WORDS + HOSTILE)
                     if source < 0.8 else f"{rng.choice(['first', 'last'])} "
                                          f"{rng.choice(NUMBERS)}")
    return command, args


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _answer(app, rng: random.Random, i: int):
    user = f"fuzzer{rng.randrange(400)}"
    if rng.random() < 0.7:
        try:
            command, args = parse_command_line(_line(rng), "oz", app.cfg.limits.max_input_chars)
        except BadRequest as exc:
            req = Request("fuzz", user, "(unparsed)", request_id=f"f{i}")
            return await app.dispatcher.refuse(req, str(exc))
    else:
        command, args = _structured(rng)
    return await app.dispatcher.handle(Request("fuzz", user, command, args, request_id=f"f{i}"))


def test_thousands_of_generated_inputs(oz_library, tiny_model_dir, caplog):
    caplog.set_level(logging.WARNING)
    cfg = make_config(oz_library, model={"path": str(tiny_model_dir)},
                      generation={"max_new_tokens": "4", "max_new_tokens_limit": "16"},
                      limits={"reply_cache_mb": "4"})
    rng = random.Random(SEED)

    async def go():
        async with open_app(cfg) as app:
            assert app.service is not None  # generation requests reach the real model
            with app.store.session() as s:
                before = s.scalar(select(func.count(Interaction.id)))
            replies, rss = [], []
            for batch in range(60):  # 3,000 inputs, 50 at a time (bursts, many users)
                replies += await asyncio.gather(*(_answer(app, rng, batch * 50 + k)
                                                  for k in range(50)))
                if batch in (19, 59):
                    rss.append(_rss_mb())
            await app.dispatcher.aclose()  # every queued log row written
            with app.store.session() as s:
                after = s.scalar(select(func.count(Interaction.id)))
            return replies, after - before, rss

    replies, rows, rss = asyncio.run(go())
    outcomes = {r.outcome for r in replies}
    assert len(replies) == 3000 and rows == 3000
    assert "error" not in outcomes, [r.text for r in replies if r.outcome == "error"][:3]
    assert {"ok", "refused"} <= outcomes
    assert all(r.text for r in replies)  # every answer says something
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, tracebacks[0].getMessage()
    assert rss[1] - rss[0] < 48, rss  # bounded: the last 2,000 inputs did not keep growing it
