"""HF Llama safetensors -> GGUF with only the `gguf` package, for the issue 11 probe (see
peer_probe.py). Research only; spren does not use it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


