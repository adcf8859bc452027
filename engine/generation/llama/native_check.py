"""Checking a llama.cpp library before spren uses it: decode with it on a model's GGUF in a
child process (a library that faults must not take the caller with it). It must decode, its
logits must be finite, and a row's logits must be the same alone and in a batch, bit for bit
(spren's guarantee that a passage does not depend on its batch).

``python -m engine.generation.llama.native_check LIBRARY GGUF`` is that child: it prints "ok"
or what went wrong, and exits 0 or 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.generation.llama.batch import Context

CHECK_TIMEOUT_S = 300
LONG = 300  # tokens of context for the long-context part: past ggml's 256-cell KV padding
PROMPT = 80  # tokens of the prompt fed whole and in parts: past ggml's 64-row attention tiles


def check(library: Path, gguf: Path) -> str | None:
    """Run :func:`_check_here` in a child process (a faulting build must not take this one
    with it); None when the build passed, else what went wrong."""
    cmd = [sys.executable, "-m", "engine.generation.llama.native_check", str(library), str(gguf)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"no answer in {CHECK_TIMEOUT_S} s"
    if done.returncode < 0:
        return f"it crashed with signal {-done.returncode}"
    if done.returncode != 0:
        return (done.stdout.strip() or done.stderr.strip() or "it failed").splitlines()[-1][:200]
    return None


def _check_here(library: Path, gguf: Path) -> str | None:
    """Decode with ``library`` on ``gguf``: one row alone, and five rows with the same tokens
    together (kernels that take four rows at a time see four of them and a single one);
    every logit finite, and the same for all six rows; a prompt fed whole and in parts; then
    the same for a row with a long context, alone and beside a short one."""
    import numpy as np

    from engine.generation.llama.batch import Context
    from engine.generation.llama.lib import load_lib

    load_lib(library)
    together = (1, 2, 3, 4, 5)
    context = Context(gguf, threads=min(2, os.cpu_count() or 1), sequences=1 + len(together),
                      per_row=LONG + 8)
    try:
        prompt = [(t % context.vocab_size, pos) for pos, t in enumerate((1, 100, 200, 300))]
        last = len(prompt) - 1
        context.decode([(t, pos, 0, pos == last) for t, pos in prompt])  # alone
        context.decode([(t, pos, seq, pos == last) for seq in together for t, pos in prompt])
        for step in range(len(prompt), len(prompt) + 3):
            token = (500 + step) % context.vocab_size
            alone = context.decode([(token, step, 0, True)])
            batch = context.decode([(token, step, seq, True) for seq in together])
            if not np.isfinite(alone).all() or not np.isfinite(batch).all():
                return "it computed logits that are not finite"
            if not all(np.array_equal(alone[0], row) for row in batch):
                return "a row's logits differ alone and in a batch"
        return _whole_and_in_parts(context) or _long_context(context)
    finally:
        context.close()


def _whole_and_in_parts(context: Context) -> str | None:
    """A prompt of ``PROMPT`` tokens fed in one piece, and in two (as a batch beside other rows
    may split it): the logits at every position the same. (From 64 tokens of a prompt at once,
    ggml would take its tiled attention kernel, whose sums differ from the row kernel's.)"""
    import numpy as np

    context.reset()
    tokens = [(11 * i + 40) % context.vocab_size for i in range(PROMPT)]
    whole = context.decode([(t, i, 0, True) for i, t in enumerate(tokens)])
    parts = np.concatenate([context.decode([(tokens[i], i, 1, True) for i in part])
                            for part in (range(5), range(5, PROMPT))])
    if not np.array_equal(whole, parts):
        return f"a prompt of {PROMPT} tokens gives other logits fed whole and in parts"
    return None


def _long_context(context: Context) -> str | None:
    """A row with ``LONG`` tokens of context: alone, and beside a short row. (ggml splits a
    lone row's KV cache of 512 cells or more between threads and merges the parts, which it
    does not do in a batch; spren's build takes one pass.)"""
    import numpy as np

    context.reset()
    tokens = [(7 * i + 300) % context.vocab_size for i in range(LONG)]
    for seq, length in ((0, LONG), (1, LONG), (2, 8)):
        for start in range(0, length, 64):
            context.decode([(tokens[i], i, seq, i == length - 1)
                            for i in range(start, min(start + 64, length))])
    for step in range(2):
        token = (900 + step) % context.vocab_size
        alone = context.decode([(token, LONG + step, 0, True)])
        beside = context.decode([(token, LONG + step, 1, True), (token, 8 + step, 2, True)])
        if not np.array_equal(alone[0], beside[0]):
            return (f"a row's logits differ alone and in a batch after {LONG} tokens of "
                    "context")
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m engine.generation.llama.native_check LIBRARY GGUF",
              file=sys.stderr)
        return 2
    problem = _check_here(Path(args[0]), Path(args[1]))
    print(problem or "ok")
    return 1 if problem else 0


if __name__ == "__main__":
    raise SystemExit(main())
