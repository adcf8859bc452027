"""One llama.cpp decode step, 1 row against 8 rows, in spren's library and in the peer's.

Usage: .venv/bin/python benchmarks/decode_steps.py [--gguf FILE] [--threads 2,1]
       [--peer-python .peers-venv/bin/python] [--steps 40]

spren's side runs twice when ``make native-llama`` has built llama.cpp for this CPU (under
``$SPREN_HOME/lib``): on the wheel's generic library and on that build.

Both libraries are driven the same way, without any sampling or Python loop around them:
eight sequences, each with its own KV stream (``kv_unified`` off, as spren runs), are
prefilled with 20 tokens; then ``--steps`` decode steps feed one token to sequence 0 alone,
and as many feed one token to each of the eight. spren's side goes through spren's own
ctypes layer (the pinned xllamacpp wheel's library); the peer's side runs this file under
``--peer-python`` (llama-cpp-python's low-level bindings on its own build, e.g. the one
``make bench-peers`` makes). It separates what the library costs from what a runtime adds
around it (compare ``benchmarks/peers.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PREFILL, ROWS = 20, 8


def _timings(decode: Callable[[list[tuple[int, int, int, bool]]], None],
             forget: Callable[[int, int], None], steps: int) -> dict[str, float]:
    """ms per step for 1 row and for 8 rows, after prefilling every sequence."""
    for seq in range(ROWS):
        decode([(300 + i, i, seq, i == PREFILL - 1) for i in range(PREFILL)])

    def run(seqs: list[int]) -> float:
        start = time.perf_counter()
        for i in range(steps):
            decode([(100 + i, PREFILL + i, seq, True) for seq in seqs])
        elapsed = (time.perf_counter() - start) / steps * 1000
        for seq in seqs:
            forget(seq, PREFILL)
        return elapsed

    run([0])  # warm-up
    return {"one": run([0]), "eight": run(list(range(ROWS)))}


def spren_side(gguf: str, threads: int, steps: int, library: str) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from engine.generation.llama.batch import Context

    context = Context(Path(gguf), threads=threads, sequences=ROWS, per_row=512,
                      library=None if library == "wheel" else Path(library))
    try:
        def decode(items: list[tuple[int, int, int, bool]]) -> None:
            context.decode(items)

        def forget(seq: int, start: int) -> None:
            context.lib.memory_seq_rm(context.memory, seq, start, -1)

        return _timings(decode, forget, steps)
    finally:
        context.close()


def peer_side(gguf: str, threads: int, steps: int) -> dict[str, float]:
    import llama_cpp as L  # the peer's venv only

    L.llama_backend_init()
    model = L.llama_model_load_from_file(gguf.encode(), L.llama_model_default_params())
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = ROWS * 512, 512, 512, ROWS
    cp.n_threads = cp.n_threads_batch = threads
    cp.kv_unified = False
    ctx = L.llama_init_from_model(model, cp)
    batch = L.llama_batch_init(512, 0, ROWS)
    memory = L.llama_get_memory(ctx)

    def decode(items: list[tuple[int, int, int, bool]]) -> None:
        for i, (token, pos, seq, want) in enumerate(items):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = 1 if want else 0
        batch.n_tokens = len(items)
        if L.llama_decode(ctx, batch) != 0:
            raise SystemExit("the peer's llama_decode failed")

    def forget(seq: int, start: int) -> None:
        L.llama_memory_seq_rm(memory, seq, start, -1)

    return _timings(decode, forget, steps)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    home = Path(os.environ.get("SPREN_HOME", REPO / ".spren"))
    ap.add_argument("--gguf", default=str(home / "models" / "oz-demo" / "model.gguf"))
    ap.add_argument("--threads", default="2,1", help="thread counts, comma-separated")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--peer-python", default=None,
                    help="a python with llama-cpp-python (make bench-peers builds one)")
    ap.add_argument("--side", choices=["spren", "peer"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--library", default="wheel", help=argparse.SUPPRESS)
    args = ap.parse_args()
    try:
        threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        ap.error(f"--threads {args.threads!r}: give whole numbers, e.g. 2,1")
    if not threads or min(threads) < 1 or args.steps < 1:
        ap.error("--threads and --steps must be at least 1")
    if args.side == "peer":  # the child run under --peer-python: print JSON, nothing else
        print(json.dumps({t: peer_side(args.gguf, t, args.steps) for t in threads}))
        return 0
    if args.side == "spren":  # a child per library: a process loads one llama.cpp library
        print(json.dumps({t: spren_side(args.gguf, t, args.steps, args.library)
                          for t in threads}))
        return 0
    if not Path(args.gguf).is_file():
        ap.error(f"no GGUF at {args.gguf}: run `make demo-model` or pass --gguf FILE")
    print(f"{args.gguf}; {args.steps} steps; one KV stream per row; load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| library | threads | 1 row | 8 rows | 8 rows / 1 row |\n|---|---|---|---|---|")
    sys.path.insert(0, str(REPO))
    from engine.generation.llama.native import find_build

    native, _ = find_build(home / "lib")
    sides = [("xllamacpp wheel (spren)", [sys.executable, "--side", "spren"])]
    if native is not None:
        sides.append(("native build (spren)",
                      [sys.executable, "--side", "spren", "--library", str(native)]))
    if args.peer_python:
        sides.append(("peer (llama-cpp-python)", [args.peer_python, "--side", "peer"]))
    for t in threads:
        rows = []
        for name, (python, *side) in sides:
            out = subprocess.run([python, __file__, *side, "--gguf", args.gguf, "--threads",
                                  str(t), "--steps", str(args.steps)],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise SystemExit(f"{name}'s run failed: {out.stderr.strip()[-300:]}")
            rows.append((name, json.loads(out.stdout)[str(t)]))
        for name, r in rows:
            print(f"| {name} | {t} | {r['one']:.1f} ms | {r['eight']:.1f} ms | "
                  f"{r['eight'] / r['one']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
