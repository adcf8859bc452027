"""Benchmark the remote backend against `transformers serve`, and print one table.

For 1, 8 and 16 concurrent requests (each from its own user), it measures latency (p50, p95)
and aggregate tokens/s three ways: calling the server directly (streamed /v1/completions
with httpx, the same request bodies spren sends), through spren (``GenerationService`` +
``RemoteEngine``: the fair queue, streaming, tidying, guard checks) and on the local engine
(``GenerationService`` + ``Generator`` in this process). spren's added latency is its p50
over the direct p50 (target: <= 10 %).

    .venv/bin/python benchmarks/remote.py [--model DIR] [--new-tokens 64] [--levels 1,8,16]
    .venv/bin/python benchmarks/remote.py --url http://HOST:8000/v1 --name NAME  # a server
                                                                      # you started yourself
Every request uses a fixed seed and ``stop_at_sentence=False`` so runs are comparable.
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bot.config import load_config
from bot.serving.service import GenerationService
from engine.generation.generator import Generator
from engine.generation.params import GenParams
from engine.generation.remote import RemoteEngine
from engine.generation.remote.protocol import completion_body, events, lines
from tests.inference_server import InferenceServer

PROMPTS = ["Dorothy walked along the yellow road until", "The Scarecrow scratched his head",
           "In the morning the Tin Woodman found", "The Lion roared so loudly that"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="model dir to serve (default: the demo model)")
    p.add_argument("--url", help="use this running server instead of starting one")
    p.add_argument("--name", help="the model name the server at --url serves")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--levels", default="1,8,16")
    p.add_argument("--max-concurrency", type=int, default=2,
                   help="spren's requests in flight on the server (transformers serve runs "
                        "one at a time without --continuous-batching: more only queue there)")
    p.add_argument("--no-local", action="store_true", help="skip the local engine")
    return p.parse_args()


def _params(i: int, tokens: int) -> GenParams:
    return GenParams(max_new_tokens=tokens, seed=1000 + i, stop_at_sentence=False)


def _stats(latencies: list[float], tokens: int, wall: float) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, tokens / wall


async def direct(url: str, name: str, n: int, tokens: int, dialect: str) -> tuple:
    """n concurrent streamed requests straight to the server."""
    async with httpx.AsyncClient(timeout=600) as client:
        async def one(i: int) -> tuple[float, int]:
            body = completion_body(name, PROMPTS[i % 4], _params(i, tokens), 1000 + i, dialect)
            started, count = time.perf_counter(), 0
            async with client.stream("POST", url + "/completions", json=body) as response:
                async for chunk in events(lines(response.aiter_text())):
                    count += bool(chunk.text)
            return time.perf_counter() - started, count

        started = time.perf_counter()
        done = await asyncio.gather(*(one(i) for i in range(n)))
        return _stats([d for d, _ in done], sum(c for _, c in done),
                      time.perf_counter() - started)


async def through_service(engine, n: int, tokens: int, batch: int) -> tuple:
    """n concurrent requests from n users through the fair queue."""
    async with GenerationService(engine, max_batch=batch, shared_batch=batch,
                                 max_pending=1000) as service:
        async def one(i: int) -> tuple[float, int]:
            started = time.perf_counter()
            result = await service.generate(f"user{i}", PROMPTS[i % 4], _params(i, tokens))
            return time.perf_counter() - started, result.new_tokens

        await one(99)  # warm up (the dialect is learnt on the first request)
        started = time.perf_counter()
        done = await asyncio.gather(*(one(i) for i in range(n)))
        return _stats([d for d, _ in done], sum(c for _, c in done),
                      time.perf_counter() - started)


def main() -> None:
    args = parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    model = args.model or load_config().model_dir()
    server = None
    if args.url is None:
        server = InferenceServer(model, Path(tempfile.mkdtemp())).start().wait_ready()
        url, name = server.url, server.name
    else:
        url, name = args.url, args.name or ""
    local_gen = None if args.no_local else Generator(model, threads=os.cpu_count())
    try:
        engine = RemoteEngine([url], name=name, max_concurrency=args.max_concurrency,
                              request_timeout_s=600)
        asyncio.run(through_service(engine, 1, 4, args.max_concurrency))  # learn the dialect
        dialect = engine.servers[0].dialect
        print(f"{args.new_tokens} new tokens a request; server {url} ({dialect} dialect); "
              f"spren keeps {args.max_concurrency} in flight on it")
        print("| concurrent | direct p50 / p95 | direct tok/s | spren p50 / p95 | spren tok/s "
              "| spren added (p50) | local p50 / p95 | local tok/s |")
        print("|---|---|---|---|---|---|---|---|", flush=True)
        for n in levels:  # one row at a time, so a long run still shows what it measured
            d = asyncio.run(direct(url, engine.model_id, n, args.new_tokens, dialect))
            s = asyncio.run(through_service(engine, n, args.new_tokens, args.max_concurrency))
            lo = None if local_gen is None else \
                asyncio.run(through_service(local_gen, n, args.new_tokens, 8))
            loc = f"{lo[0]:.2f} / {lo[1]:.2f} s | {lo[2]:.1f}" if lo else "- | -"
            print(f"| {n} | {d[0]:.2f} / {d[1]:.2f} s | {d[2]:.1f} | {s[0]:.2f} / {s[1]:.2f} s "
                  f"| {s[2]:.1f} | {100 * (s[0] / d[0] - 1):+.1f} % | {loc} |", flush=True)
        engine.close()
    finally:
        if server is not None:
            server.kill()


if __name__ == "__main__":
    main()
