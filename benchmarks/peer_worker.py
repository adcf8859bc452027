"""The llama-cpp-python side of benchmarks/peers.py; run by the peer venv's python.

    .peers-venv/bin/python benchmarks/peer_worker.py MODEL.gguf --threads N

It never imports spren (the peer venv has only llama-cpp-python). It loads the GGUF once,
prints one JSON line ``{"ready": true, "version": ..., "load_s": ...}``, then answers each
JSON line on stdin, ``{"prompt": str, "tokens": int, "seed": int}``, with one JSON line
``{"tokens": int, "seconds": float, "eos": int, "prompt_tokens": int}``: the wall time from
tokenizing the prompt to the last of ``tokens`` new tokens (prefill included, as on spren's
side). ``Llama.generate`` does not stop at the end-of-text token, so every run makes exactly
``tokens`` tokens; ``eos`` counts how many of them were the model's end-of-text token.

Sampling matches spren's GenParams defaults: temperature 0.8, top-k 50, top-p 0.95,
repetition penalty 1.15, no min-p.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import llama_cpp
from llama_cpp import Llama


def run(llm: Llama, prompt: str, tokens: int, seed: int) -> dict[str, float | int]:
    """One timed single-stream generation of exactly ``tokens`` new tokens."""
    llm.reset()  # no reuse of the previous run's prompt cache
    llm.set_seed(seed)
    start = time.perf_counter()
    ids = llm.tokenize(prompt.encode("utf-8"))
    made = eos = 0
    eos_id = llm.token_eos()
    for token in llm.generate(ids, top_k=50, top_p=0.95, min_p=0.0, temp=0.8,
                              repeat_penalty=1.15):
        made += 1
        eos += int(token == eos_id)
        if made >= tokens:
            break
    return {"tokens": made, "seconds": time.perf_counter() - start, "eos": eos,
            "prompt_tokens": len(ids)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gguf")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--ctx", type=int, default=2048)
    args = ap.parse_args()
    start = time.perf_counter()
    llm = Llama(model_path=args.gguf, n_threads=args.threads, n_threads_batch=args.threads,
                n_ctx=args.ctx, seed=0, verbose=False)
    print(json.dumps({"ready": True, "version": llama_cpp.__version__,
                      "load_s": time.perf_counter() - start}), flush=True)
    for line in sys.stdin:
        if line.strip():
            req = json.loads(line)
            print(json.dumps(run(llm, req["prompt"], req["tokens"], req["seed"])), flush=True)


if __name__ == "__main__":
    main()
