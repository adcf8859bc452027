"""Generating passages: options, loading a model once, decoding batches, guarding the output.

- ``params``: ``GenParams`` / ``GenResult`` (plain data, no torch: config and bots use them)
- ``loading``: the one model loader (a model folder or a LoRA adapter on its base) and the
  one device rule; ``int8``: weight-only int8 linear layers for the CPU
- ``generator``: ``Generator``, the local engine: continuous batching, holds, streaming
- ``kv_batch``: the rows decoded together and their KV cache (join, split, merge)
- ``decoding``: the decoding loop's state (active, joining and held rows)
- ``sampling``: where a token is sampled (repetition penalty, temperature, top-k, top-p)
- ``guard``: the verbatim guard (long runs copied from the books)
- ``tidy``: tidying generated text, sentence ends and trimming

Torch is imported only when a torch-backed name (``Generator``, ``load_model``...) is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.generation.guard import VerbatimGuard, kgram_hashes
from engine.generation.params import SEED_LIMIT, GenParams, GenResult

if TYPE_CHECKING:
    from engine.generation.generator import Generator
    from engine.generation.loading import LoadedModel, load_model, resolve_device

_LAZY = {
    "Generator": "engine.generation.generator",
    "LoadedModel": "engine.generation.loading",
    "load_model": "engine.generation.loading",
    "resolve_device": "engine.generation.loading",
}

__all__ = [
    "SEED_LIMIT",
    "GenParams",
    "GenResult",
    "Generator",
    "LoadedModel",
    "VerbatimGuard",
    "kgram_hashes",
    "load_model",
    "resolve_device",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
