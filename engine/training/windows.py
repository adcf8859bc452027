"""What both evaluators share (torch's ``evaluation`` and llama.cpp's ``scoring``): the
sliding windows over a text, the score they add up to, the token put first, and the base a
LoRA adapter folder names."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ModelError


@dataclass
class Score:
    """Total NLL (nats) of a text and what it means per character, word and token."""

    nll: float
    chars: int
    words: int
    tokens: int

    @property
    def bpc(self) -> float:
        return self.nll / math.log(2) / max(self.chars, 1)

    @property
    def word_perplexity(self) -> float:
        return math.exp(min(self.nll / max(self.words, 1), 700.0))

    @property
    def token_loss(self) -> float:
        return self.nll / max(self.tokens, 1)


def _windows(n: int, block: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, n_new) for each window over positions 1..n-1 (position 0 is context)."""
    out, prev_end, begin = [], 1, 0
    while prev_end < n:
        end = min(begin + block + 1, n)
        out.append((begin, end, end - prev_end))
        prev_end, begin = end, begin + stride
    return out


def _adapter_base(adapter_dir: Path, base: str | None) -> str:
    meta = adapter_dir / "train_meta.json"
    base = base or (json.loads(meta.read_text()).get("base") if meta.is_file() else None)
    if not base:
        raise ModelError(f"{adapter_dir} holds only a LoRA adapter; say which base model it "
                         "belongs to (--base DIR)")
    return base


def _start_token(tokenizer: Any, start: str) -> int:
    if start not in ("eos", "bos"):
        raise ModelError(f"start={start!r}: use 'eos' or 'bos'")
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    token = bos if start == "bos" and bos is not None else eos
    return int(token) if token is not None else 0
