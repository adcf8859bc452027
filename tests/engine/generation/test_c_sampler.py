"""spren's C sampler (kernels/sampling.inc, ``spren_sample_rows`` in a native build's
libggml-cpu) against the numpy sampler the wheel's library gets: the same penalised logits and
the same token for every row, over random logits, options and draws, with ties (the lower id
first), banned (-inf) tokens, every top-k path and the no-top-k widening; a row holding a NaN
is declined and sampled in numpy. The wheel's library has no C sampler."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.paths import REPO_ROOT

CHILD = r"""
import ctypes, json, sys
import numpy as np
from engine.generation.llama import sampling as S
from engine.generation.llama.lib import _SAMPLER_ARGS, SAMPLER

fn = getattr(ctypes.CDLL(sys.argv[1]), SAMPLER)
fn.argtypes, fn.restype = _SAMPLER_ARGS, None
rng = np.random.default_rng(int(sys.argv[2]))
report = {"rows": 0, "same_token": 0, "same_penalised": True, "declined_nan": None,
          "ties_by_id": None}
for trial in range(150):
    vocab = int(rng.choice([3, 700, 5000, 49152]))
    rows = int(rng.integers(1, 9))
    logits = (rng.standard_normal((rows, vocab)) * rng.uniform(0.2, 6)).astype(np.float32)
    if trial % 4 == 0:
        logits = np.round(logits, 1)  # many equal logits
    if trial % 5 == 0:
        logits[:, rng.integers(0, vocab, vocab // 3)] = -np.inf
    seen = [S.Seen(rng.integers(0, vocab, int(rng.integers(0, 300))).tolist())
            for _ in range(rows)]
    penalty = rng.uniform(1.0, 1.6, rows).tolist()
    temperature = rng.uniform(0.1, 2.0, rows).tolist()
    top_k = rng.choice([0, 0, 1, 7, 50, 100, 1000], rows).tolist()
    top_p = rng.choice([0.05, 0.5, 0.9, 0.95, 1.0], rows).tolist()
    uniforms = rng.random(rows).tolist()
    mine = logits.copy()
    got = S.sample_in_c(fn, mine, seen, penalty, temperature, top_k, top_p, uniforms)
    ref = S.penalise_repeats(logits, seen, np.array(penalty, dtype=np.float32))
    want = S.sample_next(ref, temperature, top_k, top_p, uniforms)
    report["rows"] += rows
    report["same_token"] += sum(a == b for a, b in zip(got, want))
    report["same_penalised"] &= bool(np.array_equal(mine, ref))
# a NaN row: declined by C (its token -1), penalised, then sampled by numpy
row = rng.standard_normal((2, 1000)).astype(np.float32)
row[1, 5] = np.nan
out = (ctypes.c_int32 * 2)()
ids, ends = (ctypes.c_int32 * 1)(7), (ctypes.c_int64 * 2)(0, 1)
options = (ctypes.c_double * 10)(1.5, 1.0, 50, 0.9, 0.5, 1.5, 1.0, 50, 0.9, 0.5)
before = float(row[1, 7])
fn(row.ctypes.data, 2, 1000, ctypes.addressof(ids), ctypes.addressof(ends),
   ctypes.addressof(options), ctypes.addressof(out))
report["declined_nan"] = [out[0] >= 0, out[1] == -1, float(row[1, 7]) != before]
# equal logits: the lower id first, whichever path finds them
flat = np.zeros((1, 49152), dtype=np.float32)
flat[0, [40000, 9, 30000]] = 5.0
firsts = [S.sample_in_c(fn, flat.copy(), [S.Seen()], [1.0], [1.0], [k], [1.0], [0.0])[0]
          for k in (1, 2, 500)]
report["ties_by_id"] = firsts
print(json.dumps(report))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_the_c_sampler_picks_what_the_numpy_sampler_picks(ggml_cpu, seed):
    done = subprocess.run([sys.executable, "-c", CHILD, str(ggml_cpu), str(seed)],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["rows"] > 400 and report["same_token"] == report["rows"]
    assert report["same_penalised"]
    assert report["declined_nan"] == [True, True, True]
    assert report["ties_by_id"] == [9, 9, 9]


def test_the_wheel_has_no_c_sampler():
    """The runtime then samples in numpy (checked in a child: a process loads one library)."""
    done = subprocess.run([sys.executable, "-c", (
        "from engine.generation.llama.lib import load_lib\n"
        "print(load_lib().sample_rows is None)")], capture_output=True, text=True,
        timeout=120, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
