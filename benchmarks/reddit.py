"""Reddit adapter throughput and reply latency against the fake Reddit on 127.0.0.1.

Real praw, the real adapter and Dispatcher; the model is the instant EchoGenerator unless
--model points at a model directory. Prints summons handled per minute and the latency
from a summons appearing to its reply being created (p50/p95), for bursts of summons.

    .venv/bin/python benchmarks/reddit.py --summons 40 --poll 0.5
    .venv/bin/python benchmarks/reddit.py --model ~/.local/share/spren/models/oz-demo
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.e2e.fake_reddit import FakeRedditServer
from tests.e2e.reddit_harness import EchoGenerator, reddit_config, run_until


def _generator(model: str | None):
    if not model:
        return EchoGenerator()
    from engine.generation.generator import Generator

    return Generator(Path(model).expanduser())


def run_once(n: int, poll: float, generator, mentions: bool) -> dict[str, float]:
    """One burst of n summons; returns throughput and latency figures."""
    with FakeRedditServer() as server, tempfile.TemporaryDirectory() as tmp:
        fake = server.fake
        cfg = reddit_config(Path(tmp), server.url, poll_interval_s=poll, per_user_hourly=10**6,
                            per_thread_cap=10**6)
        cfg.generation.max_new_tokens = 60
        born: dict[str, float] = {}

        def inject() -> None:  # once the adapter is up, so start-up time is not counted
            for i in range(n):
                link = fake.add_link("oz")
                body = (f"u/sprenbot Dorothy walked {i}" if mentions
                        else f"!oz Dorothy walked {i}")
                born[fake.add_comment(f"user{i % 7}", body, link, mention=mentions)] = \
                    time.time()

        def done() -> bool:
            if not born and fake.calls("GET", "/message/unread"):
                inject()
            return bool(born) and all(fake.replies_to(c) for c in born)

        asyncio.run(run_until(cfg, done, timeout=600, generator=generator))
        started = min(born.values())
        lat = sorted(fake.replies_to(c)[0]["created_utc"] - t for c, t in born.items())
        span = max(fake.replies_to(c)[0]["created_utc"] for c in born) - started
        return {"n": n, "per_min": n / span * 60, "p50": statistics.median(lat),
                "p95": lat[min(len(lat) - 1, int(0.95 * len(lat)))],
                "dupes": sum(len(fake.replies_to(c)) - 1 for c in born)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--summons", type=int, nargs="+", default=[10, 40])
    ap.add_argument("--poll", type=float, default=0.5, help="poll_interval_s")
    ap.add_argument("--model", help="a model directory (default: the instant echo generator)")
    args = ap.parse_args()
    gen = _generator(args.model)
    print(f"model: {getattr(gen, 'model_id', 'echo')}   poll interval: {args.poll} s")
    print(f"{'route':<8} {'summons':>7} {'per min':>9} {'p50 s':>7} {'p95 s':>7} {'dupes':>5}")
    for mentions in (True, False):
        for n in args.summons:
            r = run_once(n, args.poll, gen, mentions)
            route = "mention" if mentions else "keyword"
            print(f"{route:<8} {r['n']:>7} {r['per_min']:>9.0f} {r['p50']:>7.2f} "
                  f"{r['p95']:>7.2f} {r['dupes']:>5}")


if __name__ == "__main__":
    main()
