"""llama.cpp's C API through ctypes: our own declarations of the few functions and structs
spren uses, loaded from the pinned ``xllamacpp`` wheel (which links libllama statically and
exports its C API). Nothing of that package's Python API is used.

The struct layouts are those of llama.cpp b115xx-b117xx. ``Lib`` checks the library's default
parameters against them when it loads, so a wheel with another layout is refused with a clear
error instead of crashing later.
"""

from __future__ import annotations

import ctypes as C
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

from engine.errors import ModelError

XLLAMACPP_VERSION = "2026.10.11549"  # the wheel whose ABI the declarations below match

llama_token = C.c_int32
llama_pos = C.c_int32
llama_seq_id = C.c_int32
c_enum = C.c_int
LOG_CB = C.CFUNCTYPE(None, C.c_int, C.c_char_p, C.c_void_p)


class ModelParams(C.Structure):
    _fields_ = [
        ("devices", C.c_void_p), ("tensor_buft_overrides", C.c_void_p),
        ("n_gpu_layers", C.c_int32), ("split_mode", c_enum), ("load_mode", c_enum),
        ("lazy_mode", c_enum), ("main_gpu", C.c_int32), ("tensor_split", C.c_void_p),
        ("progress_callback", C.c_void_p), ("progress_callback_user_data", C.c_void_p),
        ("kv_overrides", C.c_void_p), ("vocab_only", C.c_bool), ("check_tensors", C.c_bool),
        ("use_extra_bufts", C.c_bool), ("no_host", C.c_bool), ("no_alloc", C.c_bool),
        ("load_mtp", C.c_bool),
    ]


class ContextParams(C.Structure):
    _fields_ = [
        ("n_ctx", C.c_uint32), ("n_batch", C.c_uint32), ("n_ubatch", C.c_uint32),
        ("n_seq_max", C.c_uint32), ("n_rs_seq", C.c_uint32), ("n_outputs_max", C.c_uint32),
        ("n_outputs_max_per_seq", C.c_uint32), ("n_threads", C.c_int32),
        ("n_threads_batch", C.c_int32), ("ctx_type", c_enum), ("rope_scaling_type", c_enum),
        ("pooling_type", c_enum), ("attention_type", c_enum), ("flash_attn_type", c_enum),
        ("rope_freq_base", C.c_float), ("rope_freq_scale", C.c_float),
        ("yarn_ext_factor", C.c_float), ("yarn_attn_factor", C.c_float),
        ("yarn_beta_fast", C.c_float), ("yarn_beta_slow", C.c_float),
        ("yarn_orig_ctx", C.c_uint32), ("defrag_thold", C.c_float),
        ("cb_eval", C.c_void_p), ("cb_eval_user_data", C.c_void_p),
        ("type_k", c_enum), ("type_v", c_enum), ("moe_cache_size", C.c_size_t),
        ("abort_callback", C.c_void_p), ("abort_callback_data", C.c_void_p),
        ("embeddings", C.c_bool), ("offload_kqv", C.c_bool), ("no_perf", C.c_bool),
        ("op_offload", C.c_bool), ("swa_full", C.c_bool), ("kv_unified", C.c_bool),
        ("samplers", C.c_void_p), ("n_samplers", C.c_size_t), ("ctx_other", C.c_void_p),
    ]


class Batch(C.Structure):
    _fields_ = [
        ("n_tokens", C.c_int32), ("token", C.POINTER(llama_token)),
        ("embd", C.POINTER(C.c_float)), ("pos", C.POINTER(llama_pos)),
        ("n_seq_id", C.POINTER(C.c_int32)), ("seq_id", C.POINTER(C.POINTER(llama_seq_id))),
        ("logits", C.POINTER(C.c_int8)),
    ]


_SIGNATURES: dict[str, tuple[list[Any], Any]] = {
    "llama_backend_init": ([], None),
    "llama_log_set": ([LOG_CB, C.c_void_p], None),
    "llama_model_default_params": ([], ModelParams),
    "llama_context_default_params": ([], ContextParams),
    "llama_model_load_from_file": ([C.c_char_p, ModelParams], C.c_void_p),
    "llama_init_from_model": ([C.c_void_p, ContextParams], C.c_void_p),
    "llama_model_get_vocab": ([C.c_void_p], C.c_void_p),
    "llama_vocab_n_tokens": ([C.c_void_p], C.c_int32),
    "llama_n_ctx_seq": ([C.c_void_p], C.c_uint32),
    "llama_n_batch": ([C.c_void_p], C.c_uint32),
    "llama_n_ubatch": ([C.c_void_p], C.c_uint32),
    "llama_batch_init": ([C.c_int32, C.c_int32, C.c_int32], Batch),
    "llama_batch_free": ([Batch], None),
    "llama_decode": ([C.c_void_p, Batch], C.c_int32),
    "llama_get_logits": ([C.c_void_p], C.POINTER(C.c_float)),
    "llama_get_memory": ([C.c_void_p], C.c_void_p),
    "llama_memory_clear": ([C.c_void_p, C.c_bool], None),
    "llama_memory_seq_cp": ([C.c_void_p, llama_seq_id, llama_seq_id, llama_pos, llama_pos],
                            None),
    "llama_memory_seq_rm": ([C.c_void_p, llama_seq_id, llama_pos, llama_pos], C.c_bool),
    "llama_set_n_threads": ([C.c_void_p, C.c_int32, C.c_int32], None),
    "llama_free": ([C.c_void_p], None),
    "llama_model_free": ([C.c_void_p], None),
}


# spren's sampler (kernels/sampling.inc): only a native build has it, the wheel's library not.
SAMPLER = "spren_sample_rows"
_SAMPLER_ARGS = [C.c_void_p, C.c_int32, C.c_int32] + [C.c_void_p] * 4


# How long an idle OpenMP thread spins before it sleeps (libgomp reads it when it loads). Its
# default (300,000 spins) is made for a machine of one's own: with the cores shared, a
# spinning thread waits for one that is not running, and 2 threads fell to 9 tokens/s where
# 1 thread made 37 (load 3 on 2 cores). A user's own GOMP_SPINCOUNT or OMP_WAIT_POLICY wins.
SPIN_COUNT = "10000"
LOAD_MODE_NONE = 0  # llama_load_mode: no memory map


def library_path() -> Path:
    """Where the pinned xllamacpp wheel keeps the library exporting llama.cpp's C API."""
    spec = importlib.util.find_spec("xllamacpp")  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise ModelError("the llama.cpp runtime needs the xllamacpp package: run "
                         f"`pip install xllamacpp=={XLLAMACPP_VERSION}` (or `make install`), "
                         'or set [model] runtime = "torch".')
    return Path(spec.origin).parent / "xllamacpp.abi3.so"


class Lib:
    """The llama.h functions spren calls, as attributes without the ``llama_`` prefix."""

    def __init__(self, path: Path):
        self.path = path
        if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
            os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
        try:
            self.handle = handle = C.CDLL(str(path), mode=C.RTLD_GLOBAL)
        except OSError as exc:
            hint = (" (install the system OpenMP runtime: apt-get install libgomp1)"
                    if "libgomp" in str(exc) else "")
            raise ModelError(f"could not load llama.cpp from {path}: {exc}{hint}") from exc
        for name, (args, result) in _SIGNATURES.items():
            fn = getattr(handle, name)
            fn.argtypes, fn.restype = args, result
            setattr(self, name.removeprefix("llama_"), fn)
        self.sample_rows: Any = getattr(handle, SAMPLER, None)  # found in libggml-cpu too
        if self.sample_rows is not None:
            self.sample_rows.argtypes, self.sample_rows.restype = _SAMPLER_ARGS, None
        # llama.cpp's own log is noise in the bot's; SPREN_LLAMA_LOG=1 shows it on stderr.
        show = os.environ.get("SPREN_LLAMA_LOG") == "1"
        self._quiet = LOG_CB(lambda level, text, data: show and sys.stderr.write(
            text.decode(errors="replace")) and None)  # kept: the library holds it
        self.log_set(self._quiet, None)
        self.backend_init()
        self._check_layout()

    def _check_layout(self) -> None:
        """Refuse a library whose parameter structs differ from the declarations above."""
        cp = self.context_default_params()
        mp = self.model_default_params()
        ok = (cp.n_batch == 2048 and cp.n_ubatch == 512 and cp.n_seq_max == 1
              and 1 <= cp.n_threads <= 512 and cp.yarn_ext_factor == -1.0
              and cp.type_k == 1 and cp.type_v == 1 and not cp.embeddings
              and cp.offload_kqv and mp.main_gpu == 0 and not mp.vocab_only)
        if not ok:
            raise ModelError("the installed llama.cpp library has another struct layout than "
                             f"spren expects: install xllamacpp=={XLLAMACPP_VERSION}, or set "
                             '[model] runtime = "torch".')

    # The functions are set in __init__; this keeps mypy from asking about each one.
    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


# A libllama built on its own (engine.generation.llama.native) comes with these beside it,
# loaded first and in this order so that its dependencies resolve to the same build.
DEPENDENCIES = ("libggml-base.so", "libggml-cpu.so", "libggml.so")


def _preload(library: Path) -> None:
    for name in DEPENDENCIES:
        path = library.parent / name
        if path.is_file():
            try:
                C.CDLL(str(path), mode=C.RTLD_GLOBAL)
            except OSError as exc:
                raise ModelError(f"could not load {path} ({exc}): run `spren model "
                                 'build-llama --force`, or set [model] llama_library = '
                                 '"wheel".') from exc


_loaded: Lib | None = None
_lock = threading.Lock()


def loaded() -> Lib | None:
    """The library this process has loaded, if it has loaded one."""
    return _loaded


def load_lib(path: Path | None = None) -> Lib:
    """The library, loaded once per process (llama_backend_init must run only once): ``path``
    (a libllama.so, e.g. a native build's) or, by default, the pinned wheel's. Once one is
    loaded, every later call gets that one."""
    global _loaded
    with _lock:
        if _loaded is None:
            if path is not None:
                _preload(Path(path))
            _loaded = Lib(Path(path) if path is not None else library_path())
        return _loaded


def open_model(lib: Lib, gguf: Path, *, n_ctx: int, n_batch: int, sequences: int,
               threads: int | None, hint: str) -> tuple[Any, Any]:
    """(model, context) for a GGUF file on the CPU: ``sequences`` KV streams (one per row,
    ``kv_unified`` off) sharing ``n_ctx`` cells, batches of ``n_batch`` tokens; ``threads``
    None keeps llama.cpp's default. ModelError (with ``hint`` for a context that does not
    fit) if either cannot be made."""
    params = lib.model_default_params()
    params.n_gpu_layers = 0
    # Read the file rather than map it: where the CPU backend repacks weights for its own
    # kernels (AMX), a map keeps the file's pages resident beside the repacked copy (the bot
    # measured 615 MB RSS mapped, 511 MB read; the wheel's build 471 MB either way).
    params.load_mode = LOAD_MODE_NONE
    model = lib.model_load_from_file(str(gguf).encode(), params)
    if not model:
        raise ModelError(f"llama.cpp could not load {gguf}: rebuild it with "
                         "`spren model gguf MODEL_DIR`.")
    cp = lib.context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = n_ctx, n_batch, n_batch, sequences
    if threads:
        cp.n_threads = cp.n_threads_batch = threads
    cp.kv_unified, cp.no_perf = False, True
    ctx = lib.init_from_model(model, cp)
    if not ctx:
        lib.model_free(model)
        raise ModelError(f"llama.cpp could not make a context of {n_ctx} tokens for {gguf}: "
                         f"{hint}.")
    return model, ctx
