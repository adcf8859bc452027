"""spren's Q8_0 kernels (engine/generation/llama/kernels/q8_0_x86.inc), called directly in the
native build's libggml-cpu on weights and activations made here, against numpy: the seven-bit
repack, the seven-bit quantizer of the activations that meet such weights, the single-row
kernel, and the four-row kernel giving each row what it gives alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.paths import REPO_ROOT

CHILD = r"""
import ctypes, json, sys
import numpy as np

lib = ctypes.CDLL(sys.argv[1])
lib.ggml_cpu_init()  # ggml's half-to-float tables
for name in ("ggml_gemv_q8_0_4x8_q8_0", "ggml_gemm_q8_0_4x8_q8_0"):
    getattr(lib, name).argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
lib.spren_q8_0x4_repacked.argtypes = [ctypes.c_void_p, ctypes.c_int64]
lib.spren_q8_0x4_quantize.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                                      ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
lib.spren_q8_0x4_quantize.restype = ctypes.c_bool
QUAD = np.dtype([("d", "<u2", 4), ("qs", "i1", 128)])  # block_q8_0x4
ROW = np.dtype([("d", "<u2"), ("qs", "i1", 32)])  # block_q8_0
rng = np.random.default_rng(int(sys.argv[2]))
n, nc = 256, 12
nb = n // 32
f16 = lambda x: np.asarray(x, np.float32).astype(np.float16).view(np.uint16)
f32 = lambda bits: (np.asarray(bits, np.uint16) & 0x7FFF).view(np.float16).astype(np.float32)

# weights W[col, i] = q * d per block of 32; some blocks use only |q| <= 64, one scale negative
q = rng.integers(-127, 128, size=(nc, n)).astype(np.int64)
q[1, :32] = rng.integers(-64, 65, size=32)
q[2, 32:64] = 0
d = rng.uniform(0.001, 0.02, size=(nc, nb)).astype(np.float16).astype(np.float32)
d[3, 2] = -d[3, 2]

def pack(q, d):  # four weight columns (or activation rows) a block: qs[32 k + 8 c + j] =
    out = np.zeros(len(q) // 4 * nb, QUAD)  # column (row) c, value 8 k + j
    for x in range(len(q) // 4):
        for l in range(nb):
            b = out[x * nb + l]
            b["d"] = f16(d[4 * x:4 * x + 4, l])
            block = q[4 * x:4 * x + 4, 32 * l:32 * l + 32].reshape(4, 4, 8)  # c, k, j
            b["qs"] = block.transpose(1, 0, 2).reshape(128)
    return out

def seven(q, d):  # what the repack should make of them (sign bit of a scale: seven bits)
    q7, d7 = q.copy(), np.zeros_like(d)
    for c in range(nc):
        for l in range(nb):
            v = q[c, 32 * l:32 * l + 32] * (1 if d[c, l] >= 0 else -1)
            amax = int(np.abs(v).max())
            if amax > 64:
                num = v * 128 + np.where(v >= 0, amax, -amax)
                v = np.trunc(num / (2 * amax)).astype(np.int64)
            q7[c, 32 * l:32 * l + 32] = v
            d7[c, l] = np.float32(abs(d[c, l])) * np.float32(amax) / np.float32(64) \
                if amax > 64 else abs(d[c, l])
    return q7, d7.astype(np.float16).astype(np.float32)  # scales are stored as halves

report = {}
plain = pack(q, np.abs(d))  # eight-bit weights, as a stack of experts keeps them
w = pack(q, d)
lib.spren_q8_0x4_repacked(w.ctypes.data, len(w))
q7, d7 = seven(q, d)
want = pack(q7 + 64, d7)
want["d"] |= 0x8000
report["repack_exact"] = bool(np.array_equal(w["qs"].view(np.uint8), want["qs"].view(np.uint8))
                              and np.array_equal(w["d"], want["d"]))
report["all_scales_marked"] = bool((w["d"] & 0x8000).all())

# the activations' quantizer: seven bits for seven-bit weights, nothing done for others
x = rng.normal(0, 1, size=(4, n)).astype(np.float32) * rng.uniform(0.01, 30, size=(4, 1))
x = x.astype(np.float32)
x[1, :32] = 0.0  # an all-zero block
x[2, 40] = 1e4  # one large value in a block
amax = np.abs(x.reshape(4, nb, 32)).max(axis=2)
with np.errstate(divide="ignore"):
    inv = np.where(amax > 0, np.float32(63) / amax.astype(np.float32), np.float32(0))
want_q = np.rint(x.reshape(4, nb, 32) * inv.astype(np.float32)[:, :, None]).astype(np.int64)
want_d = f16(amax.astype(np.float32) / np.float32(63))
single = np.zeros((4, nb), ROW)
report["quantize_accepts_seven"] = all([lib.spren_q8_0x4_quantize(
    w.ctypes.data, nc, x[r].ctypes.data, single[r].ctypes.data, 1, n) for r in range(4)])
report["quantize_single_exact"] = bool(np.array_equal(single["qs"], want_q)
                                       and np.array_equal(single["d"], want_d))
report["quantize_within_63"] = int(np.abs(single["qs"]).max())
four = np.zeros(nb, QUAD)
report["quantize_accepts_seven"] &= bool(lib.spren_q8_0x4_quantize(
    w.ctypes.data, nc, x.ctypes.data, four.ctypes.data, 4, n))
report["quantize_four_as_single"] = bool(np.array_equal(
    four, pack(single["qs"].reshape(4, n).astype(np.int64), f32(single["d"]))))
untouched = np.zeros(nb, ROW)
report["quantize_declines_eight"] = not lib.spren_q8_0x4_quantize(
    plain.ctypes.data, nc, x[0].ctypes.data, untouched.ctypes.data, 1, n) and not untouched[
    "qs"].any()

# activations as the kernels meet them: seven bits beside seven-bit weights, eight beside eight
ROWS = 20  # up to five blocks of four rows: the kernel takes 16 rows at a time, two blocks
acts = {"seven": rng.integers(-63, 64, size=(ROWS, n)).astype(np.int64),  # together
        "eight": rng.integers(-127, 128, size=(ROWS, n)).astype(np.int64)}
da = rng.uniform(0.01, 0.1, size=(ROWS, nb)).astype(np.float16).astype(np.float32)
a = acts["seven"]

def gemv(weights, r):
    vy = np.zeros(nb, ROW)
    vy["d"] = f16(da[r]); vy["qs"] = a[r].reshape(nb, 32)
    out = np.zeros(nc, np.float32)
    lib.ggml_gemv_q8_0_4x8_q8_0(n, out.ctypes.data, nc, weights.ctypes.data, vy.ctypes.data, 1, nc)
    return out

def gemm(weights, rows):
    vy = pack(a[:rows], da[:rows])  # ggml quantises a batch's rows four to a block alike
    out = np.zeros((rows, nc), np.float32)
    lib.ggml_gemm_q8_0_4x8_q8_0(n, out.ctypes.data, nc, weights.ctypes.data, vy.ctypes.data,
                                rows, nc)
    return out

def reference(qw, dw, r):  # exact integer block sums, scaled and added in float64
    sums = (qw.reshape(nc, nb, 32) * a[r].reshape(1, nb, 32)).sum(axis=2)
    return (sums * dw.astype(np.float64) * da[r].astype(np.float64)).sum(axis=1)

def rel(x, y):
    return float(np.abs(x - y).max() / np.abs(y).max())

report["gemv_seven_error"] = max(rel(gemv(w, r), reference(q7, d7, r)) for r in range(8))
report["seven_vs_eight"] = max(rel(reference(q7, d7, r), reference(q, d, r)) for r in range(8))
a = acts["eight"]
report["gemv_eight_error"] = max(rel(gemv(plain, r), reference(q, np.abs(d), r)) for r in range(8))
for name, weights in (("seven", w), ("eight", plain)):
    a = acts[name]
    alone = np.array([gemv(weights, r) for r in range(ROWS)])
    report[f"gemm_{name}_rows_as_alone"] = [
        rows for rows in (4, 8, 12, 20) if np.array_equal(gemm(weights, rows), alone[:rows])]
print(json.dumps(report))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_spren_s_q8_kernels_compute_what_numpy_computes(ggml_cpu, seed):
    done = subprocess.run([sys.executable, "-c", CHILD, str(ggml_cpu), str(seed)],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    # every other matrix is re-rounded to seven bits exactly as specified, and marked so
    assert report["repack_exact"] and report["all_scales_marked"]
    # activations beside seven-bit weights: |q| <= 63 at scale amax / 63, rounded to nearest,
    # the same blocks one row at a time and four rows to a block; none for eight-bit weights
    assert report["quantize_accepts_seven"] and report["quantize_declines_eight"]
    assert report["quantize_single_exact"] and report["quantize_within_63"] == 63
    assert report["quantize_four_as_single"]
    # the integer sums are exact: only float rounding separates the kernels from float64
    assert report["gemv_seven_error"] < 1e-5 and report["gemv_eight_error"] < 1e-5
    # seven bits move a product by about a percent of its largest output, not more
    assert 1e-4 < report["seven_vs_eight"] < 0.05
    # 4, 8, 12 or 20 rows at a time give each row, bit for bit, what it gets alone
    for name in ("seven", "eight"):
        assert report[f"gemm_{name}_rows_as_alone"] == [4, 8, 12, 20]
