"""Measure generation speed (new tokens/s) of engine.generation.generator.Generator; prints a table.

Usage: python benchmarks/gen_speed.py MODEL_DIR [--dtypes float32,bfloat16,int8]
       [--batches 1,4,8] [--threads N] [--tokens 100] [--repeats 2]

The machine is shared: numbers are the best of --repeats runs (the least disturbed one).
Measured on the shared 2-core box, SmolLM2-135M, 100 new tokens (load average 2-10, so
+-30%): threads=1 float32 ~13-14 tok/s, bfloat16 ~14, int8 (weight-only) 22-28, batch 4
~57, batch 8 ~93 tok/s in all. threads=2 reached 35 tok/s once on a quiet moment but fell
to 0.5-2 tok/s whenever other processes were busy (spinning OpenMP threads): use 1.
"""

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from engine.generation.generator import Generator, GenParams

PROMPT = "Dorothy looked up at the tall trees and"


def tokens_per_second(gen: Generator, batch: int, tokens: int, repeats: int):
    """Best new-tokens/s over repeats, and the best time to the first streamed text."""
    # No stop at sentence ends, so rows run to `tokens` unless the model emits its eos.
    params = [GenParams(max_new_tokens=tokens, seed=i, stop_at_sentence=False)
              for i in range(batch)]
    best, first = 0.0, float("inf")
    for _ in range(repeats):
        stamps: list[float] = []
        start = time.perf_counter()
        results = gen.generate([PROMPT] * batch, params,
                               on_token=lambda i, t, s=stamps: s.append(time.perf_counter()))
        elapsed = time.perf_counter() - start
        best = max(best, sum(r.new_tokens for r in results) / elapsed)
        first = min(first, (stamps[0] - start) if stamps else elapsed)
    return best, first


def main() -> None:
    """Parse options, load each dtype once, print one table row per (dtype, batch)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--dtypes", default="float32,bfloat16,int8")
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}, "
          f"{args.tokens} new tokens, best of {args.repeats}")
    print("| dtype | batch | tok/s (all rows) | tok/s per row | first token s | load s |")
    print("|---|---|---|---|---|---|")
    for dtype in args.dtypes.split(","):
        start = time.perf_counter()
        gen = Generator(args.model_dir, dtype=dtype, threads=args.threads)
        load = time.perf_counter() - start
        gen.generate([PROMPT], [GenParams(max_new_tokens=4, seed=0)])  # warm up kernels
        for batch in (int(b) for b in args.batches.split(",")):
            rate, first = tokens_per_second(gen, batch, args.tokens, args.repeats)
            print(f"| {dtype} | {batch} | {rate:.1f} | {rate / batch:.1f} | {first:.2f} "
                  f"| {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
