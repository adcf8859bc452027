"""A merged Hugging Face Llama model folder -> one GGUF file for the llama.cpp runtime.

Only the ``gguf`` package (numpy) is used: the safetensors file is read through a memory map
and each tensor is converted and written on its own, so the peak memory stays about one
tensor above the mapped file. Hyper-parameters come from the model's config.json; the
tokenizer (tokens, merges, types, special ids, pre-tokenizer, chat template) comes from a
*template* GGUF of the same base, e.g. the one the demo base is shipped as, after checking
that its vocabulary is the model's. q/k rows get llama.cpp's rope permutation.

The file records which weights it came from (``spren.source_sha256``), so a stale GGUF is
noticed; :func:`engine.generation.llama.metadata.read_key` reads that key without parsing the
whole file.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.errors import ModelError
from engine.generation.llama.metadata import (
    GGUF_FILE,
    QTYPE_KEY,
    SOURCE_KEY,
    WEIGHTS_FILE,
    gguf_is_current,
    read_key,
    weights_sha256,
)
from engine.hashing import remembered_sha256

__all__ = ["GGUF_FILE", "QTYPES", "WEIGHTS_FILE", "check_vocabulary", "export_gguf",
           "gguf_is_current", "open_template", "read_key", "weights_sha256"]

QTYPES = ("f32", "f16", "q8_0", "q4_1")
# llama_ftype of each choice (LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_Q4_1)
_FTYPE = {"f32": 0, "f16": 1, "q8_0": 7, "q4_1": 3}
_LAYER_NAMES = {
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down"}
# written from config.json (or by the writer), never copied from the template
_OWN_PREFIXES = ("GGUF.", "llama.", "spren.")
_OWN_KEYS = {"general.architecture", "general.file_type", "general.quantization_version"}
_SAFETENSORS_DTYPES: dict[str, np.dtype[Any]] = {
    "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}

FloatArray = npt.NDArray[np.float32]


def export_gguf(model_dir: Path, out_path: Path, template_gguf: Path, qtype: str = "q8_0",
                source_sha256: str | None = None) -> Path:
    """Write ``model_dir``'s weights to ``out_path`` as GGUF (atomically: temp file + rename).

    ``source_sha256`` names the weights in the file's metadata (default: the sha256 of
    ``model_dir/model.safetensors``)."""
    import gguf

    model_dir, out_path, template_gguf = Path(model_dir), Path(out_path), Path(template_gguf)
    if qtype not in QTYPES:
        raise ModelError(f"unknown GGUF quant type {qtype!r}: use one of {', '.join(QTYPES)}")
    cfg = _read_config(model_dir)
    weights = model_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"{model_dir} has no {WEIGHTS_FILE}: export needs a merged model "
                         "folder (save_pretrained with safetensors)")
    if not template_gguf.is_file():
        raise ModelError(f"template GGUF {template_gguf} does not exist: give the GGUF of "
                         "the model's base (its tokenizer is copied from it)")
    template = open_template(template_gguf)
    check_vocabulary(template, model_dir)
    tensors = read_safetensors(weights)
    source = source_sha256 or remembered_sha256(weights)

    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(tmp, "llama")
    try:
        writer.add_string(SOURCE_KEY, source)  # first, so read_key finds it at once
        writer.add_string(QTYPE_KEY, qtype)
        _copy_template_keys(writer, template)
        _add_hyper_parameters(writer, cfg)
        writer.add_file_type(_FTYPE[qtype])
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        plan = list(_plan(tensors, cfg, qtype))
        for name, _, kind in plan:
            array = tensors[_hf_name(name, cfg)]
            shape = _logical_shape(array.shape)
            nbytes = _nbytes(shape, kind)
            writer.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, raw_dtype=kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for name, convert, kind in plan:
            writer.write_tensor_data(_encode(convert(tensors[_hf_name(name, cfg)]), kind))
        writer.close()
        os.replace(tmp, out_path)
    except BaseException:
        writer.close()
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return out_path


# ---- validation ------------------------------------------------------------------------------
def _read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    if not path.is_file():
        raise ModelError(f"{model_dir} has no config.json: export needs a merged model folder")
    try:
        cfg: dict[str, Any] = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelError(f"{path} is not valid JSON ({exc})") from exc
    archs = cfg.get("architectures") or []
    if cfg.get("model_type") != "llama" or archs != ["LlamaForCausalLM"]:
        raise ModelError(f"{model_dir} is a {cfg.get('model_type')!r} model "
                         f"({', '.join(archs) or 'no architecture'}): GGUF export supports "
                         "Llama-architecture models (LlamaForCausalLM) only")
    needed = ("vocab_size", "max_position_embeddings", "hidden_size", "num_hidden_layers",
              "intermediate_size", "num_attention_heads", "rms_norm_eps")
    lacking = [k for k in needed if not isinstance(cfg.get(k), int | float)]
    if lacking:
        raise ModelError(f"{path} lacks {', '.join(lacking)}: not a complete Llama config")
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    if rope.get("rope_type", "default") != "default" or cfg.get("attention_bias") \
            or cfg.get("mlp_bias"):
        raise ModelError(f"{model_dir}: rope scaling or bias terms are not supported by the "
                         "GGUF export (plain Llama only)")
    return cfg


def open_template(path: Path) -> Any:
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, OSError) as exc:
        raise ModelError(f"template {path} is not a readable GGUF file ({exc})") from exc
    if "tokenizer.ggml.tokens" not in reader.fields:
        raise ModelError(f"template {path} has no tokenizer (tokenizer.ggml.tokens)")
    return reader


def model_vocabulary(model_dir: Path) -> list[str]:
    """The token strings of ``model_dir/tokenizer.json``, by id (added tokens included)."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"{model_dir} has no tokenizer.json: the template's vocabulary cannot "
                         "be checked against the model's")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        by_id: dict[int, str] = {int(i): t for t, i in data["model"]["vocab"].items()}
        by_id.update({int(a["id"]): a["content"] for a in data.get("added_tokens", [])})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path} is not a tokenizer.json with a vocabulary ({exc})") from exc
    return [by_id.get(i, "") for i in range(max(by_id, default=-1) + 1)]


def check_vocabulary(template: Any, model_dir: Path) -> None:
    """ModelError unless the template's tokens are the model's tokenizer.json tokens."""
    tokens = [str(t) for t in template.fields["tokenizer.ggml.tokens"].contents()]
    mine = model_vocabulary(model_dir)
    if len(tokens) != len(mine):
        raise ModelError(f"the template GGUF has {len(tokens)} tokens but {model_dir}'s "
                         f"tokenizer has {len(mine)}: use the GGUF of the model's own base "
                         "as the template")
    differ = [i for i, (a, b) in enumerate(zip(tokens, mine, strict=True)) if a != b]
    if differ:
        i = differ[0]
        raise ModelError(f"the template GGUF's vocabulary differs from {model_dir}'s tokenizer "
                         f"in {len(differ)} tokens (id {i}: {tokens[i]!r} vs {mine[i]!r}): use "
                         "the GGUF of the model's own base as the template")


# ---- metadata --------------------------------------------------------------------------------
def _copy_template_keys(writer: Any, template: Any) -> None:
    import gguf

    for key, field in template.fields.items():
        if key in _OWN_KEYS or key.startswith(_OWN_PREFIXES):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)


def _add_hyper_parameters(writer: Any, cfg: dict[str, Any]) -> None:
    heads = int(cfg["num_attention_heads"])
    rope = cfg.get("rope_parameters") or {}
    theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
    writer.add_uint32("llama.vocab_size", int(cfg["vocab_size"]))
    writer.add_uint32("llama.context_length", int(cfg["max_position_embeddings"]))
    writer.add_uint32("llama.embedding_length", int(cfg["hidden_size"]))
    writer.add_uint32("llama.block_count", int(cfg["num_hidden_layers"]))
    writer.add_uint32("llama.feed_forward_length", int(cfg["intermediate_size"]))
    writer.add_uint32("llama.attention.head_count", heads)
    writer.add_uint32("llama.attention.head_count_kv",
                      int(cfg.get("num_key_value_heads") or heads))
    writer.add_float32("llama.rope.freq_base", float(theta))
    writer.add_float32("llama.attention.layer_norm_rms_epsilon", float(cfg["rms_norm_eps"]))
    head_dim = int(cfg.get("head_dim") or int(cfg["hidden_size"]) // heads)
    writer.add_uint32("llama.rope.dimension_count", head_dim)
    if head_dim * heads != int(cfg["hidden_size"]):
        writer.add_uint32("llama.attention.key_length", head_dim)
        writer.add_uint32("llama.attention.value_length", head_dim)


# ---- tensors ---------------------------------------------------------------------------------
def read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Each tensor of a safetensors file as a read-only view of a memory map (BF16 as uint16)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    try:
        (n,) = struct.unpack("<Q", bytes(raw[:8]))
        header = json.loads(bytes(raw[8:8 + n]))
        out: dict[str, npt.NDArray[Any]] = {}
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            dtype = _SAFETENSORS_DTYPES.get(meta["dtype"])
            if dtype is None:
                raise ModelError(f"{path}: tensor {name} is {meta['dtype']}; the GGUF export "
                                 "reads F32, F16 and BF16 weights")
            a, b = meta["data_offsets"]
            out[name] = raw[8 + n + a:8 + n + b].view(dtype).reshape(meta["shape"])
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path} is not a readable safetensors file ({exc})") from exc
    return out


def _as_f32(a: npt.NDArray[Any]) -> FloatArray:
    if a.dtype == np.dtype("<u2"):  # bfloat16: the high half of a float32
        return (a.astype(np.uint32) << 16).view(np.float32)
    return np.asarray(a, dtype=np.float32)


def _permute(w: FloatArray, n_head: int) -> FloatArray:
    """HF's rotary layout -> llama.cpp's (the rows of each head interleaved)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def _hf_name(gguf_name: str, cfg: dict[str, Any]) -> str:
    fixed = {"token_embd.weight": "model.embed_tokens.weight",
             "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}
    if gguf_name in fixed:
        return fixed[gguf_name]
    _, layer, part, _ = gguf_name.split(".")
    hf = next(k for k, v in _LAYER_NAMES.items() if v == part)
    return f"model.layers.{layer}.{hf}.weight"


Plan = tuple[str, Any, Any]  # (GGUF tensor name, converter to float32, GGML type)


def _plan(tensors: dict[str, npt.NDArray[Any]], cfg: dict[str, Any], qtype: str
          ) -> Iterator[Plan]:
    """What each GGUF tensor is made of, in llama.cpp's order; ModelError if one is missing."""
    import gguf

    Q = gguf.GGMLQuantizationType
    kind = {"f32": Q.F32, "f16": Q.F16, "q8_0": Q.Q8_0, "q4_1": Q.Q4_1}[qtype]
    embed_kind = Q.Q8_0 if kind == Q.Q4_1 else kind  # as llama.cpp's own Q4_1 files do
    heads = int(cfg["num_attention_heads"])
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    names = ["token_embd.weight", "output_norm.weight"]
    if not cfg.get("tie_word_embeddings", False):
        names.append("output.weight")
    names += [f"blk.{i}.{part}.weight" for i in range(int(cfg["num_hidden_layers"]))
              for part in _LAYER_NAMES.values()]
    missing = [_hf_name(n, cfg) for n in names if _hf_name(n, cfg) not in tensors]
    if missing:
        raise ModelError(f"the weights lack {len(missing)} Llama tensors (first: {missing[0]}): "
                         "is this a merged Llama model?")
    for name in names:
        ndim = tensors[_hf_name(name, cfg)].ndim
        t = Q.F32 if ndim == 1 else embed_kind if name == "token_embd.weight" else kind
        if name.endswith("attn_q.weight"):
            yield name, lambda a, h=heads: _permute(_as_f32(a), h), t
        elif name.endswith("attn_k.weight"):
            yield name, lambda a, h=kv_heads: _permute(_as_f32(a), h), t
        else:
            yield name, _as_f32, _fallback(tensors[_hf_name(name, cfg)].shape, t)


def _fallback(shape: tuple[int, ...], kind: Any) -> Any:
    """F16 for a matrix whose rows do not split into the quant type's blocks."""
    import gguf

    block, _ = gguf.GGML_QUANT_SIZES[kind]
    return kind if shape[-1] % block == 0 else gguf.GGMLQuantizationType.F16


def _logical_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(d) for d in shape)


def _nbytes(shape: tuple[int, ...], kind: Any) -> int:
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[kind]
    return int(np.prod(shape[:-1], dtype=np.int64)) * shape[-1] // block * size


def _encode(a: FloatArray, kind: Any) -> npt.NDArray[Any]:
    import gguf

    Q = gguf.GGMLQuantizationType
    if kind == Q.F32:
        return np.ascontiguousarray(a, dtype=np.float32)
    if kind == Q.F16:
        return np.ascontiguousarray(a, dtype=np.float16)
    return np.asarray(gguf.quants.quantize(np.ascontiguousarray(a), kind))
