"""Ingest + scoring time for a whole corpus, and /sentiment and /wordcount latency.

Usage: .venv/bin/python benchmarks/stats.py [--corpus ../shared/corpus/oz] [--repeat 3]

Ingests every book into a fresh temporary database (timed), then sends requests through the
real dispatcher (logging included) and prints p50/p95 latency per command. Targets: ingest
≤ 60 s for the 14 Oz books on 2 cores; p95 ≤ 20 ms per stats command.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.app import open_app, open_store  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.ingest import Ingestor  # noqa: E402
from bot.messages import Request  # noqa: E402

TERMS = ["Dorothy", "Ozma", "Toto", "Scarecrow", "Tin Woodman", "Glinda", "Wizard", "Emerald City",
         "Nome King", "Billina", "Tik-Tok", "Shaggy Man", "Button-Bright", "Betsy", "Trot",
         "Cap'n Bill", "Ojo", "Scraps", "Hungry Tiger", "Cowardly Lion", "witch", "magic",
         "queen", "golden", "yellow brick road", "said the", "Kansas", "Jack Pumpkinhead"]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def latency(cfg, repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    async with open_app(cfg, load_model=False) as app:
        codes = [b.code for b in app.stats.books()]
        requests = [("sentiment", {"book": c}) for c in codes]
        requests += [("sentiment", {"book": c, "range": "last 300"}) for c in codes]
        requests += [("wordcount", {"term": t, "exact": e}) for t in TERMS for e in (False, True)]
        for rnd in range(repeat):
            for command, args in requests:
                key = f"{command}{' (range)' if args.get('range') else ''}"
                key += " first" if rnd == 0 else " repeat"
                t = time.perf_counter()
                reply = await app.dispatcher.handle(Request("bench", "u1", command, args))
                times.setdefault(key, []).append((time.perf_counter() - t) * 1000)
                assert reply.outcome == "ok", reply.text
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus" / "oz"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["SPREN_HOME"] = home
        cfg = load_config(None, environ={"SPREN_HOME": home})
        store = open_store(cfg)
        t = time.perf_counter()
        results = Ingestor(store, cfg).run([Path(args.corpus)], jobs=args.jobs)
        ingest_s = time.perf_counter() - t
        store.dispose()
        sentences = sum(r.report.get("sentences", 0) for r in results)
        failed = [r for r in results if r.error]
        print(f"cores: {os.cpu_count()}")
        print(f"ingest + scoring: {len(results)} books, {sentences:,} sentences, "
              f"{len(failed)} failed, {ingest_s:.1f} s (target ≤ 60 s)")
        times = asyncio.run(latency(cfg, args.repeat))
    print()
    print(f"{'request (through the dispatcher)':<34}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}")
    for key, vals in times.items():
        print(f"{key:<34}{len(vals):>5}{statistics.median(vals):>9.1f}{pct(vals, 0.95):>9.1f}")
    every = [v for vals in times.values() for v in vals]
    print(f"{'all stats requests':<34}{len(every):>5}{statistics.median(every):>9.1f}"
          f"{pct(every, 0.95):>9.1f}   (target p95 ≤ 20 ms)")


if __name__ == "__main__":
    main()
