"""A burst of stats requests through the real dispatcher: how fast is every one answered?

Usage: .venv/bin/python benchmarks/burst.py [--requests 2000] [--window 1.0] [--users 500]

Uses the database of ``SPREN_HOME`` (run ``make books`` first). Requests arrive spread evenly
over ``--window`` seconds, each from one of ``--users`` users, and every reply's latency is
measured from its own arrival. Three mixes are run:

- ``popular``: what a crowd asks at once (every book's arc, a few ranges and popular terms);
- ``distinct``: every request different (random ranges and terms: a new chart each time);
- ``one user``: all requests from a single user (the per-user rate limit answers most).

Target: p95 ≤ 250 ms for 2,000 requests arriving within one second. "ok" counts full
answers; the rest were refused promptly (busy, rate limit) with a retry time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.app import open_app  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.messages import Reply, Request  # noqa: E402

TERMS = ["Dorothy", "Ozma", "Toto", "Scarecrow", "Tin Woodman", "Glinda", "Wizard", "Kansas"]


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def popular(codes: list[str], rng: random.Random) -> tuple[str, dict]:
    """A request from the small set a crowd would send."""
    kind = rng.random()
    if kind < 0.5:
        return "sentiment", {"book": rng.choice(codes)}
    if kind < 0.7:
        return "sentiment", {"book": rng.choice(codes[:3]), "range": "last 200"}
    return "wordcount", {"term": rng.choice(TERMS)}


def distinct(codes: list[str], rng: random.Random) -> tuple[str, dict]:
    """A request unlike any before it (a new range or term: a chart never drawn)."""
    if rng.random() < 0.5:
        return "sentiment", {"book": rng.choice(codes),
                             "range": f"{rng.choice(['first', 'last'])} {rng.randint(5, 3000)}"}
    return "wordcount", {"term": f"{rng.choice(TERMS)[:4]}{rng.randint(0, 10**6)}"}


async def burst(app, make, n: int, window: float, users: int,
                seed: int) -> list[tuple[float, Reply]]:
    """Fire n requests spread over window seconds; (latency ms, reply) for each."""
    rng = random.Random(seed)
    codes = [b.code for b in app.stats.books()]
    reqs = [Request("bench", f"user{rng.randrange(users)}", *make(codes, rng),
                    request_id=f"b{seed}-{i}") for i in range(n)]
    start = time.perf_counter()

    async def one(i: int, req: Request) -> tuple[float, Reply]:
        due = start + window * i / n
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        arrived = time.perf_counter()
        reply = await app.dispatcher.handle(req)
        return (time.perf_counter() - arrived) * 1000, reply

    return await asyncio.gather(*(one(i, r) for i, r in enumerate(reqs)))


async def run(args) -> None:
    cfg = load_config(args.config, overrides={"limits": dict(s.split("=", 1) for s in args.set)}
                      if args.set else None)
    async with open_app(cfg, load_model=False) as app:
        if not app.stats.books():
            sys.exit("no books ingested: run `make books` first")
        await burst(app, popular, 50, 0.1, 50, seed=99)  # warm-up
        mixes = [("popular", popular, args.users), ("distinct", distinct, args.users),
                 ("one user", popular, 1)]
        print(f"{args.requests} requests over {args.window:g} s "
              f"(database {cfg.database_url})\n")
        print("| mix | users | ok | refused | p50 ms | p95 ms | max ms |")
        print("|---|---|---|---|---|---|---|")
        for seed, (name, make, users) in enumerate(mixes):
            out = await burst(app, make, args.requests, args.window, users, seed)
            ms = [m for m, _ in out]
            ok = sum(r.outcome == "ok" for _, r in out)
            other = {r.outcome for _, r in out} - {"ok", "refused"}
            assert not other, f"unexpected outcomes {other}"
            print(f"| {name} | {users} | {ok} | {len(out) - ok} | {pct(ms, .5):.0f} | "
                  f"{pct(ms, .95):.0f} | {max(ms):.0f} |")
            await asyncio.sleep(args.pause)  # let rate-limit buckets refill between mixes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--window", type=float, default=1.0)
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--pause", type=float, default=2.0, help="seconds between mixes")
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a [limits] key, e.g. --set cheap_queue=64")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
