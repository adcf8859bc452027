"""spren's own CPU kernels, added to llama.cpp's sources before a native build
(``native.build``): the pinned sources are edited in place, at anchors that must each match
exactly once, so the kernels never land anywhere unexpected.

- ``kernels/q8_0_x86.inc``: Q8_0 weights repacked four columns at a time with AVX2 matrix
  kernels (ggml does this on ARM only; on x86 its tinyBLAS path is slower for a batch of a few
  rows, which is what the bot's continuous batching decodes). The repack re-rounds every
  weight matrix (a stack of experts' excepted) to seven bits and stores it unsigned (+64), which
  saves AVX2 a sign instruction for every 32 products, and the activations multiplied with
  such weights are quantized to seven bits, which halves the widenings to int32 (held-out
  bits/char: see the model card). Not where the build has VNNI
  (tinyBLAS has an instruction for it there) or AMX (ggml's AMX kernels take Q8_0 first).
- ``kernels/flash_attn_f16.inc``: decoding attention over the F16 KV cache in chunks of 64
  positions with a vector exp and F32 sums, in place of ggml's one-position-at-a-time loop;
  one pass over a long cache where ggml would split a lone row's between threads (which
  made a row's logits differ alone and in a batch past 256 tokens of context); and the same
  kernel for a long prompt's prefill, where ggml would take its tiled kernel from 64 tokens
  (a prompt's logits then differed fed whole and fed in parts).
- ``kernels/sampling.inc``: ``spren_sample_rows``, the llama runtime's sampler in C (every row of
  a step in one call: repetition penalty, top-k, temperature, top-p and the seeded draw, by the
  rule of ``llama/sampling.py``), exported from libggml-cpu; the wheel's library has none, and
  the runtime then samples in numpy.
- ``src/CMakeLists.txt``: the llama.cpp sources no decoding step runs compile with -O1.

Both keep a row's result independent of its batch (``native_check`` verifies it on every
build). ``digest()`` names this set of kernels; a build records it, and a build made with
other kernels (or none) is not loaded (``native.find_build``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from engine.errors import ModelError

KERNELS = Path(__file__).with_name("kernels")
CPU = "ggml/src/ggml-cpu/"
X86_SECTION = "#elif defined(__x86_64__) || defined(__i386__)"
FA_FUNCTION = "static void ggml_compute_forward_flash_attn_ext_f16_one_chunk("
FA_NEXT = "static void ggml_compute_forward_flash_attn_ext_tiled("
FA_CONVERT = ("        if (v->type == GGML_TYPE_F16) {\n"
              "            for (int64_t d = 0; d < DV; ++d) {\n"
              "                VKQ32[d] = GGML_CPU_FP16_TO_FP32(VKQ16[d]);\n"
              "            }\n"
              "        }\n")
TILED = "                                neq1 >= Q_TILE_SZ);\n"


def _replace_once(text: str, old: str, new: str, where: str) -> str:
    if text.count(old) != 1:
        raise ModelError(f"spren's kernels do not fit these llama.cpp sources ({where}: an "
                         "anchor is missing or repeated); build with the pinned sdist")
    return text.replace(old, new)


def _fallback(text: str) -> str:
    """On x86, stop routing the Q8_0 four-column kernels to ggml's generic C versions."""
    start = text.find(X86_SECTION)
    end = text.find("#elif", start + len(X86_SECTION))
    if start < 0 or end < 0:
        raise ModelError("spren's kernels do not fit these llama.cpp sources (arch-fallback.h)")
    section = text[start:end]
    for kind in ("gemv", "gemm"):
        section = _replace_once(section, f"#define ggml_{kind}_q8_0_4x8_q8_0_generic "
                                f"ggml_{kind}_q8_0_4x8_q8_0\n", "", "arch-fallback.h")
    return text[:start] + section + text[end:]


def _select(text: str) -> str:
    """Choose the four-column Q8_0 repack for a build with AVX2 and F16C but no VNNI (with
    VNNI, tinyBLAS multiplies four int8 pairs in one instruction: left to it, unmeasured)."""
    anchor = "    } else if (cur->type == GGML_TYPE_Q8_0) {\n"
    return _replace_once(text, anchor, anchor + (
        "        if (ggml_cpu_has_avx2() && ggml_cpu_has_f16c() && !ggml_cpu_has_avx_vnni() &&\n"
        "            !ggml_cpu_has_avx512_vnni() && cur->ne[1] % 4 == 0) {\n"
        "            return &q8_0_4x8_q8_0;  // spren: kernels/q8_0_x86.inc\n"
        "        }\n"), "repack.cpp")


REPACK_8X4 = ("template <> int repack<block_q8_0, 8, 4>(struct ggml_tensor * t, const void * "
              "data, size_t data_size) {\n"
              "    return repack_q8_0_to_q8_0_4_bl(t, 8, data, data_size);\n}\n")


QUANTIZE_4 = ("                ggml_quantize_mat_t<INTER_SIZE, PARAM_TYPE>((float *) (data_ptr + "
              "i11 * nb11),\n")
QUANTIZE_1 = ("                from_float((float *) (data_ptr + i11 * nb11), (void *) (wdata_ptr + "
              "i11 * nbw1), ne10);\n")
SEVEN_HOOKS = """#if defined(__x86_64__) || defined(__i386__)  // spren: kernels/q8_0_x86.inc
extern "C" void spren_q8_0x4_repacked(void * data, int64_t count);
extern "C" bool spren_q8_0x4_quantize(const void * weights, int64_t ncols, const float * x,
                                      void * y, int rows, int64_t n);
#endif

// spren: the activations of a matmul with seven-bit weights quantized to seven bits (false:
// not such a matmul, ggml quantizes them)
template <typename BLOC_TYPE, int64_t INTER_SIZE, int64_t NB_COLS>
static bool spren_quantize(const ggml_tensor * w, const float * x, void * y, int rows, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if constexpr (std::is_same_v<BLOC_TYPE, block_q8_0> && INTER_SIZE == 8 && NB_COLS == 4) {
        return spren_q8_0x4_quantize(w->data, w->ne[1], x, y, rows, n);
    }
#endif
    GGML_UNUSED(w);
    GGML_UNUSED(x);
    GGML_UNUSED(y);
    GGML_UNUSED(rows);
    GGML_UNUSED(n);
    return false;
}
"""


def _seven_bit(text: str) -> str:
    """After the four-column repack on x86, re-round the weights of each matrix (not a stack
    of experts', which ggml multiplies elsewhere) to seven bits, unsigned; and quantize the
    activations multiplied with them to seven bits (what the kernels in q8_0_x86.inc take;
    ``spren_q8_0x4_repacked`` and ``spren_q8_0x4_quantize`` are defined there)."""
    text = _replace_once(text, REPACK_8X4, SEVEN_HOOKS + (
        "template <> int repack<block_q8_0, 8, 4>(struct ggml_tensor * t, const void * data, "
        "size_t data_size) {\n"
        "    const int rc = repack_q8_0_to_q8_0_4_bl(t, 8, data, data_size);\n"
        "#if defined(__x86_64__) || defined(__i386__)\n"
        "    if (rc == 0 && t->ne[2] == 1) {  // spren: seven-bit weights\n"
        "        spren_q8_0x4_repacked(t->data, ggml_nrows(t) / 4 * (t->ne[0] / QK8_0));\n"
        "    }\n"
        "#endif\n"
        "    return rc;\n}\n"), "repack.cpp")
    for anchor, rows in ((QUANTIZE_4, 4), (QUANTIZE_1, 1)):  # ggml's call, unless spren's took it
        text = _replace_once(text, anchor, (
            "                if (!spren_quantize<BLOC_TYPE, INTER_SIZE, NB_COLS>(src0, (float *) "
            "(data_ptr + i11 * nb11),\n"
            f"                    (void *) (wdata_ptr + i11 * nbw1), {rows}, ne10))  // spren\n"
            + anchor), "repack.cpp")
    return text


def _attention(text: str, kernel: str) -> str:
    """Insert the F16 attention kernel and route ggml's per-row loop to it where it fits."""
    start, end = text.find(FA_FUNCTION), text.find(FA_NEXT)
    if start < 0 or end < start:
        raise ModelError("spren's kernels do not fit these llama.cpp sources (ops.cpp)")
    body = text[start:end]
    edits = [
        ("    for (int ir = ir0; ir < ir1; ++ir) {\n",
         "    const bool spren_fast = spren_fa_f16_fits(k, v, logit_softcap);\n\n"
         "    for (int ir = ir0; ir < ir1; ++ir) {\n"),
        ("        if (v->type == GGML_TYPE_F16) {\n            memset(VKQ16, 0,",
         "        if (v->type == GGML_TYPE_F16 && !spren_fast) {\n            memset(VKQ16, 0,"),
        ("        q_to_vec_dot(pq, Q_q, DK);\n",
         "        if (spren_fast) {\n"
         "            spren_fa_f16_row(DK, DV, pq, (const char *) k->data + ik2*nbk2 + ik3*nbk3,\n"
         "                             nbk1, (const char *) v->data + iv2*nbv2 + iv3*nbv3, nbv1,\n"
         "                             mp, slope, scale, ic_start, ic_end, &M, &S, VKQ32);\n"
         "        } else {\n"
         "        q_to_vec_dot(pq, Q_q, DK);\n"),
        (FA_CONVERT, FA_CONVERT + "        }  // spren_fast\n"),
    ]
    for old, new in edits:
        body = _replace_once(body, old, new, "ops.cpp")
    text = text[:start] + kernel + "\n" + body + text[end:]
    # ggml splits a lone row's long KV cache (512 cells and more) between threads and merges
    # the parts; in a batch (more than one KV stream) it does not, so the row's logits would
    # differ alone and in a batch. spren takes one pass over the cache, always.
    split = "    const bool use_split_kv_path = !use_ref && (neq1 == 1 && neq3 == 1)"
    text = _replace_once(text, split, "    const bool use_split_kv_path = false && !use_ref && "
                         "(neq1 == 1 && neq3 == 1)", "ops.cpp")
    # From 64 query rows of a stream at once (a long prompt's prefill) ggml takes its tiled
    # kernel, whose sums differ from the row kernel's: a prompt's positions then came out
    # differently fed whole and fed in parts (as a batch beside other rows splits it). Where
    # spren's row kernel fits, it takes every query row.
    return _replace_once(text, TILED, TILED.replace(
        ");\n", ") &&\n                               !spren_fa_f16_takes(dst);  // spren\n"),
        "ops.cpp")


# llama.cpp sources no decoding step runs (tokenisation and vocabulary loading, the model
# loader and saver, samplers, grammars, chat templates, quantisation, adapters, and the memory
# kinds of other model families): compiled with -O1 instead of -O3, which saves about a third
# of their compile time (~25 s of a fresh build on 2 cores). ggml and the rest of llama.cpp
# (context, graph, batch, KV cache, the model builders) keep -O3.
COLD_SOURCES = (
    "unicode.cpp", "unicode-data.cpp", "llama-vocab.cpp", "llama-model-loader.cpp",
    "llama-model-saver.cpp", "llama-sampler.cpp", "llama-quant.cpp", "llama-grammar.cpp",
    "llama-chat.cpp", "llama-adapter.cpp", "llama-kv-cache-dsv4.cpp", "llama-kv-cache-dsa.cpp",
    "llama-kv-cache-dsa-iswa.cpp", "llama-kv-cache-msa.cpp", "llama-memory-hybrid.cpp",
    "llama-memory-hybrid-iswa.cpp", "llama-memory-hybrid-idx.cpp",
    "llama-memory-recurrent.cpp", "llama-moe-cache.cpp",
)
CMAKE_ANCHOR = "configure_file(llama-version.h.in"


def _cold(text: str) -> str:
    """Compile COLD_SOURCES with -O1 (a source's own option comes after the build type's)."""
    missing = [name for name in COLD_SOURCES if text.count(f"    {name}\n") != 1]
    if missing:
        raise ModelError("spren's build settings do not fit these llama.cpp sources "
                         f"(src/CMakeLists.txt lists no {missing[0]}); build with the pinned sdist")
    rule = ("# spren: sources no decoding step runs, compiled faster (native_patch.COLD_SOURCES)\n"
            f"set_source_files_properties({' '.join(COLD_SOURCES)}\n"
            "    PROPERTIES COMPILE_OPTIONS -O1)\n\n")
    return _replace_once(text, CMAKE_ANCHOR, rule + CMAKE_ANCHOR, "src/CMakeLists.txt")


def _edit(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def apply(source: Path) -> None:
    """Add spren's kernels to the llama.cpp source tree at ``source`` (edited in place)."""
    cpu = Path(source) / CPU
    q8 = (KERNELS / "q8_0_x86.inc").read_text(encoding="utf-8")
    attention = (KERNELS / "flash_attn_f16.inc").read_text(encoding="utf-8")
    sampler = (KERNELS / "sampling.inc").read_text(encoding="utf-8")
    _edit(cpu / "arch-fallback.h", _fallback)
    _edit(cpu / "repack.cpp", lambda text: _seven_bit(_select(text)))
    _edit(cpu / "arch/x86/repack.cpp", lambda text: text + "\n" + q8)
    _edit(cpu / "ops.cpp", lambda text: _attention(text, attention))
    _edit(cpu / "ggml-cpu.cpp", lambda text: text + "\n" + sampler)
    _edit(Path(source) / "src" / "CMakeLists.txt", _cold)


def digest() -> str:
    """A short name for this set of kernels and edits (recorded with a build)."""
    h = hashlib.sha256()
    for part in (Path(__file__), *sorted(KERNELS.glob("*.inc"))):
        h.update(part.name.encode() + b"\0" + part.read_bytes())
    return h.hexdigest()[:16]
