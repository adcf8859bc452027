"""What spren records in and reads from its GGUF files, without the ``gguf`` package: the
file name in a model folder, the key naming the weights a GGUF was made from, and a reader
that stops at the key it is asked for (spren writes its keys first, so checking whether a
model folder's GGUF is current reads a few hundred bytes, not the 100k-string tokenizer).
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import Any

from engine.errors import ModelError
from engine.hashing import remembered_sha256

GGUF_FILE = "model.gguf"
WEIGHTS_FILE = "model.safetensors"
SOURCE_KEY = "spren.source_sha256"
QTYPE_KEY = "spren.quant"

_SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                   10: "<Q", 11: "<q", 12: "<d"}
_SCALAR_SIZES = {t: struct.calcsize(f) for t, f in _SCALAR_FORMATS.items()}


def read_key(path: Path, key: str) -> str | int | float | bool | None:
    """A scalar or string value of a GGUF file's metadata, reading the file only up to that
    key (None when absent, an array, or not a GGUF file)."""
    try:
        with open(path, "rb") as f:
            magic, _, _, n_kv = struct.unpack("<4sIQQ", f.read(24))
            if magic != b"GGUF":
                return None
            for _ in range(n_kv):
                name = _read_str(f)
                (vtype,) = struct.unpack("<I", f.read(4))
                if name == key:
                    return _read_value(f, vtype)
                _skip_value(f, vtype)
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def _read_value(f: Any, vtype: int) -> str | int | float | bool | None:
    if vtype == 8:
        return _read_str(f)
    if vtype not in _SCALAR_FORMATS:
        return None
    fmt = _SCALAR_FORMATS[vtype]
    value: str | int | float | bool = struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    return value


def _read_str(f: Any) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    return bytes(f.read(n)).decode("utf-8")


def _skip_value(f: Any, vtype: int) -> None:
    if vtype == 8:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(n, os.SEEK_CUR)
    elif vtype == 9:
        sub, count = struct.unpack("<IQ", f.read(12))
        if sub in _SCALAR_SIZES:
            f.seek(_SCALAR_SIZES[sub] * count, os.SEEK_CUR)
        else:
            for _ in range(count):
                _skip_value(f, sub)
    elif vtype in _SCALAR_SIZES:
        f.seek(_SCALAR_SIZES[vtype], os.SEEK_CUR)
    else:
        raise struct.error(f"unknown GGUF value type {vtype}")


def weights_sha256(model_dir: Path, base: Path | str | None = None) -> str:
    """What a model folder's weights are: the sha256 of its model.safetensors, or for a LoRA
    adapter folder, a sha256 over the adapter's and its base's (a hub name: the name)."""
    from engine.training.options import ADAPTER_FILE

    model_dir = Path(model_dir)
    if (model_dir / WEIGHTS_FILE).is_file():
        return remembered_sha256(model_dir / WEIGHTS_FILE)
    if (model_dir / ADAPTER_FILE).is_file() and base is not None:
        base_id = weights_sha256(Path(base)) if Path(base).is_dir() else str(base)
        joined = f"{remembered_sha256(model_dir / ADAPTER_FILE)} on {base_id}"
        return hashlib.sha256(joined.encode()).hexdigest()
    raise ModelError(f"{model_dir} has no {WEIGHTS_FILE} (nor a LoRA adapter with a known base)")


def gguf_is_current(model_dir: Path, source_sha256: str | None = None) -> bool:
    """True when ``model_dir/model.gguf`` was made from the folder's present weights."""
    path = Path(model_dir) / GGUF_FILE
    if not path.is_file():
        return False
    try:
        source_sha256 = source_sha256 or weights_sha256(model_dir)
    except ModelError:
        return False
    return read_key(path, SOURCE_KEY) == source_sha256
