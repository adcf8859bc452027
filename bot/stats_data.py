"""The shapes stats answers are made of: a book's summary row, its per-sentence arrays, and
the 'first N' / 'last N' sentence ranges users type."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.errors import BadRequest

MAX_RANGE_CHARS = 40  # 'first 1234567' with room for spaces


@dataclass(frozen=True)
class BookInfo:
    id: int
    code: str
    title: str
    series_order: int | None
    n_chapters: int
    n_sentences: int
    n_words: int
    arc_shape: str | None
    arc_correlation: float | None


@dataclass
class BookData:
    """A book's per-sentence arrays, loaded once."""

    texts: list[str]
    scores: np.ndarray
    polarity: np.ndarray
    chapter_of: np.ndarray
    words: np.ndarray
    chapter_titles: dict[int, str]
    chapter_words: list[int]  # whitespace-separated tokens per chapter, in order

    def chapter_start(self, k: int) -> int:
        """The index of the first sentence of chapter ``k`` (``len`` when past the end)."""
        return int(np.searchsorted(self.chapter_of, k, side="left"))


def parse_range(spec: str | None) -> tuple[str, int] | None:
    """'first 200' / 'last 50' → ('first', 200); empty → None (the whole book)."""
    if not spec or not spec.strip():
        return None
    if len(spec) > MAX_RANGE_CHARS:
        raise BadRequest(f"range is {len(spec):,} characters long: use 'first N' or 'last N' "
                         "sentences, e.g. 'last 200'")
    m = re.fullmatch(r"\s*(first|last)\s+(\d{1,7})\s*", spec, re.IGNORECASE)
    if not m or int(m.group(2)) < 1:
        raise BadRequest(f"range {spec!r} not understood: use 'first N' or 'last N' "
                         "sentences, e.g. 'last 200'")
    return m.group(1).lower(), int(m.group(2))

def bounds(rng: tuple[str, int] | None, n: int) -> tuple[int, int, str]:
    """Sentence span [lo, hi) and its label for a range ('last', 200) of a book of n."""
    if rng is None:
        return 0, n, "whole book"
    count = min(rng[1], n)
    lo, hi = (0, count) if rng[0] == "first" else (n - count, n)
    return lo, hi, f"{rng[0]} {count} sentence{'s' if count != 1 else ''}"
