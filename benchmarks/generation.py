"""Benchmark the generation queue on a real model and print one table.

Measures, through ``bot.serving.service.GenerationService`` (so queueing and batching count):
single-request tokens/s; aggregate tokens/s and p50/p95 latency with N concurrent requests;
8 concurrent vs the same 8 served one at a time (target >= 3x); fairness (user A floods,
user B sends one, at the same moment and again once A's first batch is running: B's wait,
and that wait over the time of one request, target <= 2); and, with ``--heldout FILE``,
bits per character on the first 100,000 characters of that (cleaned) book.

    .venv/bin/python benchmarks/generation.py [--model DIR] [--new-tokens 64] [--heldout FILE]

Every request uses a fixed seed and ``stop_at_sentence=False`` so runs are comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.serving.service import GenerationService
from engine.generation.generator import Generator, GenParams

PROMPTS = [
    "Dorothy walked along the yellow road until",
    "The Scarecrow scratched his head and said",
    "In the morning the Tin Woodman found",
    "The Lion roared so loudly that",
    "Far away in the Emerald City,",
    "Toto barked at the strange little man who",
    "The Wizard looked down from his throne and",
    "When the storm had passed, the girl",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; every size is a flag."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="model dir (default: the config's model)")
    p.add_argument("--new-tokens", type=int, default=64, help="tokens per request")
    p.add_argument("--levels", default="1,4,8,16", help="concurrency levels, comma-separated")
    p.add_argument("--max-batch", type=int, default=8, help="the service's max_batch")
    p.add_argument("--shared-batch", type=int, default=0,
                   help="the service's shared_batch (rows while several users are served; "
                        "0 = the engine's choice, as the bot; = --max-batch turns the smaller "
                        "shared batch off)")
    p.add_argument("--flood", type=int, default=20, help="requests user A floods with")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="torch threads (default: every logical core, as the bot uses)")
    p.add_argument("--runtime", default="auto", choices=["auto", "llama", "torch"],
                   help="local runtime, as [model] runtime (auto: llama when model.gguf is "
                        "in the folder)")
    p.add_argument("--library", default="auto", choices=["auto", "native", "wheel"],
                   help="llama runtime's library, as [model] llama_library (auto: the native "
                        "build of `make native-llama` when there is one)")
    p.add_argument("--dtype", default="auto",
                   help="torch runtime dtype: auto (the bot's default: int8 on CPU) | int8 | "
                        "bfloat16 | float32")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each pattern this many times and keep the median (noisy hosts)")
    p.add_argument("--heldout", type=Path, help="a book file for held-out bits per char")
    return p.parse_args(argv)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


class Bench:
    """Runs request patterns through one service and keeps the figures."""

    def __init__(self, svc: GenerationService, new_tokens: int, repeat: int = 1):
        self.svc, self.new_tokens, self.repeat = svc, new_tokens, max(1, repeat)

    async def median(self, pattern, *args, key=None):
        """Run a pattern ``repeat`` times; keep the median run (by ``key``)."""
        runs = [await pattern(*args) for _ in range(self.repeat)]
        return sorted(runs, key=key)[len(runs) // 2]

    def params(self, i: int) -> GenParams:
        return GenParams(max_new_tokens=self.new_tokens, seed=1000 + i, stop_at_sentence=False)

    async def one(self, user: str, i: int) -> tuple[float, int]:
        """(seconds from submit to result, tokens generated) for one request."""
        start = time.perf_counter()
        result = await self.svc.generate(user, PROMPTS[i % len(PROMPTS)], self.params(i))
        return time.perf_counter() - start, result.new_tokens

    async def concurrent(self, n: int) -> dict:
        """n users send one request each at the same moment."""
        start = time.perf_counter()
        runs = await asyncio.gather(*[self.one(f"user{i}", i) for i in range(n)])
        wall = time.perf_counter() - start
        lat = [s for s, _ in runs]
        tokens = sum(t for _, t in runs)
        return {"n": n, "wall": wall, "tok_s": tokens / wall, "p50": percentile(lat, 50),
                "p95": percentile(lat, 95)}

    async def sequential(self, n: int) -> float:
        """Aggregate tokens/s when the same n requests are served one at a time."""
        start = time.perf_counter()
        tokens = 0
        for i in range(n):
            tokens += (await self.one(f"user{i}", i))[1]
        return tokens / (time.perf_counter() - start)

    async def fairness(self, flood: int, late: bool) -> tuple[float, float]:
        """(B's wait, B's wait / one lone request just before) for one request B sends with
        A's flood (or, if ``late``, once A's first batch is already generating, so that B
        must also wait that batch out). The lone request is timed right before, so the ratio
        holds up on a host whose load drifts."""
        lone, _ = await self.one("lone", flood + 1)
        floods = [asyncio.ensure_future(self.one("A", i)) for i in range(flood)]
        await asyncio.sleep(0)  # let A's requests reach the queue first
        while late and self.svc.snapshot().in_flight == 0:
            await asyncio.sleep(0.005)
        b_wait, _ = await self.one("B", flood)
        await asyncio.gather(*floods)
        return b_wait, b_wait / lone


async def run_all(gen: Generator, args: argparse.Namespace) -> dict:
    """Every measurement, on one service and one loaded model."""
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    svc = GenerationService(gen, max_batch=args.max_batch, shared_batch=args.shared_batch,
                            per_user_pending=args.flood + 1,
                            max_pending=max(64, args.flood + max(levels)), timeout_s=3600.0)
    async with svc:
        bench = Bench(svc, args.new_tokens, args.repeat)
        await bench.one("warmup", 0)
        by_speed = {"key": lambda row: row["tok_s"]}
        rows = [await bench.median(bench.concurrent, n, **by_speed) for n in levels]
        seq8 = await bench.median(bench.sequential, 8)
        conc8 = next((r for r in rows if r["n"] == 8), None)
        conc8 = conc8 or await bench.median(bench.concurrent, 8, **by_speed)
        single = next((r for r in rows if r["n"] == 1), None)
        single = single or await bench.median(bench.concurrent, 1, **by_speed)
        b_wait = [await bench.median(bench.fairness, args.flood, late, key=lambda w: w[1])
                  for late in (False, True)]
    return {"rows": rows, "seq8": seq8, "conc8": conc8, "single": single, "b_wait": b_wait,
            "service_tok_s": svc.snapshot().tokens_per_s}


def heldout_bpc(model: Path, path: Path, threads: int | None) -> str:
    """Bits per char on the first 100,000 chars of a cleaned book, if the engine has it."""
    try:
        from engine.corpus import parse_book
        from engine.training.evaluation import bits_per_char
    except ImportError as exc:
        return f"n/a ({exc})"
    text = parse_book(path).text
    return f"{bits_per_char(model, text, max_chars=100_000, threads=threads).bpc:.3f}"


def report(model: Path, gen: Any, args: argparse.Namespace, r: dict, bpc: str | None):
    """Print the results as one markdown table."""
    single = r["single"]
    print(f"model {gen.model_id} ({model}), {args.new_tokens} new tokens/request, "
          f"max_batch {args.max_batch}, shared_batch {args.shared_batch or gen.shared_batch}, "
          f"runtime {gen.runtime}{args.library_name}, dtype {args.dtype}, "
          f"threads {args.threads or 'default'}, "
          f"median of {args.repeat} run(s)")
    print("| measure | value |\n|---|---|")
    print(f"| single request | {single['tok_s']:.1f} tok/s, {single['p50']:.2f} s |")
    for row in r["rows"]:
        print(f"| {row['n']} concurrent | {row['tok_s']:.1f} tok/s aggregate; latency p50 "
              f"{row['p50']:.2f} s, p95 {row['p95']:.2f} s |")
    ratio = r["conc8"]["tok_s"] / r["seq8"]
    print(f"| 8 one at a time | {r['seq8']:.1f} tok/s aggregate |")
    print(f"| 8 concurrent / 8 one at a time | {ratio:.2f}x (target >= 3) |")
    for (wait, ratio), when in zip(r["b_wait"], ("with the flood", "once A's batch runs"),
                                   strict=True):
        print(f"| fairness: A floods {args.flood}, B sends 1 {when} | B waits {wait:.2f} s = "
              f"{ratio:.2f} x one lone request (target <= 2) |")
    print(f"| service EWMA at the end | {r['service_tok_s']:.1f} tok/s |")
    if bpc is not None:
        print(f"| held-out bits/char ({args.heldout.name}, first 100k chars) | {bpc} |")


def main(argv: list[str] | None = None) -> None:
    """Load the model once, run every measurement, print the table."""
    args = parse_args(argv)
    from bot.app import llama_library
    from bot.config import load_config
    from engine.generation.llama.runtime import GGUF_NAME, LlamaGenerator

    cfg = load_config()
    args.model = args.model or cfg.model_dir()
    args.library_name = ""

    runtime = args.runtime
    if runtime == "auto":
        runtime = "llama" if (Path(args.model) / GGUF_NAME).is_file() else "torch"
    if runtime == "llama":
        library = llama_library(cfg, args.library)
        args.library_name = " (native build)" if library else " (wheel library)"
        gen: Any = LlamaGenerator(args.model, threads=args.threads,
                                  sequences=args.max_batch + 4, library=library)
    else:
        gen = Generator(args.model, threads=args.threads,
                        dtype=None if args.dtype == "auto" else args.dtype)
    results = asyncio.run(run_all(gen, args))
    bpc = heldout_bpc(args.model, args.heldout, args.threads) if args.heldout else None
    report(args.model, gen, args, results, bpc)


if __name__ == "__main__":
    main()
