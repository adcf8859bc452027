"""Training data: read text files, pack token streams into fixed-length blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.corpus.gutenberg import body_text
from engine.errors import CorpusError


def strip_gutenberg(text: str) -> str:
    """The book between a Project Gutenberg header and footer (if any), line ends normalised."""
    return body_text(text).strip() + "\n"


def read_text_files(paths: list[Path]) -> list[str]:
    """Read UTF-8 text files (Gutenberg boilerplate stripped); CorpusError if unreadable."""
    texts = []
    for p in paths:
        try:
            raw = Path(p).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise CorpusError(f"cannot read {p}: {e}; pass a UTF-8 text file") from e
        if not raw.strip():
            raise CorpusError(f"{p} is empty; pass a file with text in it")
        texts.append(strip_gutenberg(raw))
    return texts


def encode_documents(tokenizer: Any, texts: list[str]) -> list[int]:
    """Concatenate the documents' token ids with eos after each (run_clm style)."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise CorpusError("the tokenizer has no eos token; give it one before training")
    ids: list[int] = []
    for t in texts:
        ids.extend(tokenizer(t, add_special_tokens=False)["input_ids"])
        ids.append(eos)
    return ids


def pack_blocks(ids: list[int], block_size: int) -> torch.Tensor:
    """Cut a token stream into ``block_size`` rows, dropping the short tail (no padding)."""
    n = len(ids) // block_size
    if n == 0:
        raise CorpusError(f"only {len(ids)} tokens, fewer than one block of {block_size}; "
                          "add text or lower --block-size")
    return torch.tensor(ids[: n * block_size], dtype=torch.long).view(n, block_size)


def split_holdout(texts: list[str], fraction: float) -> tuple[list[str], list[str]]:
    """Hold out the last ``fraction`` of each text (cut at a paragraph break) for validation."""
    if not 0 < fraction < 1:
        raise CorpusError(f"the held-out fraction must be between 0 and 1, got {fraction}")
    train, val = [], []
    for t in texts:
        cut = int(len(t) * (1 - fraction))
        para = t.rfind("\n\n", 0, cut)
        cut = para if para > len(t) // 2 else cut
        train.append(t[:cut])
        val.append(t[cut:].strip())
    return train, [v for v in val if v]
