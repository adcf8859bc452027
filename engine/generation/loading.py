"""The one model loader and the one device rule, used by generation, evaluation and training.

``read_model`` is how every saved model is loaded (the demo build reads its GGUF once before
that): a local Hugging Face folder (never a hub lookup), or a hub name where the caller
allows it (fine-tuning while online).
``load_model`` adds what decoding needs: the device, the dtype and the special token ids.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.errors import ModelError
from engine.generation.int8 import quantize_int8
from engine.hashing import remembered_sha256

DTYPES = ("float32", "bfloat16", "int8")
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


@dataclass
class LoadedModel:
    """A model ready for decoding, with the facts the sampling loop needs."""

    model: torch.nn.Module
    tokenizer: Any  # a transformers PreTrainedTokenizerBase
    model_id: str
    device: torch.device
    max_positions: int
    eos_ids: frozenset[int]
    start_id: int  # fed when a prompt is empty
    pad_id: int


def resolve_device(name: str) -> torch.device:
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'; ModelError otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not (name == "cuda" or name.startswith("cuda:")
                              and name[5:].isdigit()):
        raise ModelError(f"device={name!r} is not supported: use 'auto', 'cpu', 'cuda' or "
                         "'cuda:N'.")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device={name!r} was asked for but no CUDA GPU is available: "
                         "use 'cpu'.")
    return torch.device(name)


def weight_files(model_dir: Path) -> list[Path]:
    """The weight files of a model directory, sorted (empty if there are none)."""
    return sorted(p for pattern in WEIGHT_PATTERNS for p in model_dir.glob(pattern))


def model_id_for(model_dir: Path) -> str:
    """Directory name plus a short hash of the weights, stable across copies and restarts."""
    digest = hashlib.sha256()
    for path in weight_files(model_dir):
        digest.update(bytes.fromhex(remembered_sha256(path)))
    return f"{model_dir.resolve().name}-{digest.hexdigest()[:8]}"


def check_model_dir(model_dir: Path) -> None:
    """ModelError naming what is missing unless ``model_dir`` is a complete model folder."""
    hint = "point at a folder written by save_pretrained (config.json, weights, tokenizer)"
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist: {hint}.")
    missing = [name for name in ("config.json",) if not (model_dir / name).exists()]
    if not weight_files(model_dir):
        missing.append("weights (*.safetensors or pytorch_model.bin)")
    if not any((model_dir / n).exists() for n in ("tokenizer.json", "tokenizer_config.json")):
        missing.append("tokenizer (tokenizer.json)")
    if missing:
        raise ModelError(
            f"model directory {model_dir} is incomplete, missing {', '.join(missing)}: {hint}."
        )


def read_model(source: Path | str, *, dtype: torch.dtype = torch.float32,
               allow_hub: bool = False) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) from a local folder, or a hub name if ``allow_hub``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-load bar is noise in the chat and the bot's log
    local = Path(source).is_dir()
    if not local and not allow_hub:
        raise ModelError(f"model directory {source} does not exist: build or train it first "
                         "(`spren model build-demo`, `spren train`) or give a model folder.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local, dtype=dtype)
    # Loaders fail in many library-specific ways (SafetensorError, unknown architectures,
    # bad JSON, no network...); all mean "this is not a usable model", so report them as one.
    except Exception as exc:
        where = "the folder" if local else "the name (or the hub is unreachable)"
        raise ModelError(
            f"could not load a model from {source} ({exc}): check {where}; a model must be a "
            "complete Hugging Face causal-LM folder that transformers can read."
        ) from exc
    return model.eval(), tokenizer


def _convert(model: torch.nn.Module, dtype: str, device: torch.device) -> torch.nn.Module:
    if dtype == "int8":
        model = quantize_int8(model)
        gc.collect()  # the float32 weights, and the file map they came from, go now
        _return_free_memory()
        return model
    model = model.to(device)
    return model.to(torch.bfloat16) if dtype == "bfloat16" else model


def _return_free_memory() -> None:
    """Hand the heap's free pages back to the system (glibc keeps them otherwise: ~100 MB
    after converting the demo model). Nothing happens where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _special_ids(model: Any, tokenizer: Any) -> tuple[frozenset[int], int, int]:
    """End-of-text ids, the id to start an empty prompt with, and the padding id."""
    eos = model.generation_config.eos_token_id if model.generation_config else None
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    start = tokenizer.bos_token_id
    if start is None:
        start = min(eos_ids, default=0)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start
    return frozenset(eos_ids), start, pad


def max_positions(config: Any) -> int:
    """The longest context the model's config allows (2048 when it does not say)."""
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        if isinstance(getattr(config, name, None), int):
            return int(getattr(config, name))
    return 2048


def load_model(model_dir: Path, *, device: str = "cpu", dtype: str | None = None) -> LoadedModel:
    """Load tokenizer and model once from local files for decoding; ModelError if unusable."""
    check_model_dir(model_dir)
    dev = resolve_device(device)
    if dtype is None:
        dtype = "int8" if dev.type == "cpu" else "bfloat16"
    if dtype not in DTYPES:
        raise ModelError(f"dtype={dtype!r} is not supported: use one of {', '.join(DTYPES)}.")
    if dtype == "int8" and dev.type != "cpu":
        raise ModelError("dtype='int8' runs on the CPU only: use dtype='bfloat16' on CUDA.")
    model, tokenizer = read_model(model_dir)
    eos_ids, start_id, pad_id = _special_ids(model, tokenizer)
    return LoadedModel(
        model=_convert(model, dtype, dev),
        tokenizer=tokenizer,
        model_id=model_id_for(model_dir),
        device=dev,
        max_positions=max_positions(model.config),
        eos_ids=eos_ids,
        start_id=start_id,
        pad_id=pad_id,
    )
