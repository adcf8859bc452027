"""Book statistics: sentiment per sentence and its arc, the arc's shape, term counts, charts.

- ``sentiment``: TextBlob polarity, rescaling, smoothing (the arc), chapter extremes
- ``arcs``: the six basic arc shapes and which one a book's arc is closest to
- ``counts``: how often a term occurs in each book (word-boundary aware, fast)
- ``charts``: PNG charts of an arc and of per-book counts (matplotlib, thread-safe)
"""

from typing import Any

from engine.stats.arcs import SHAPES, ArcMatch, classify_arc
from engine.stats.counts import TermCounter, TermError
from engine.stats.sentiment import SentimentSummary, arc, compound, ewma, polarity, summarise


def __getattr__(name: str) -> Any:
    """``arc_chart`` and ``counts_chart`` import matplotlib (about a second) only when used:
    the bot's own process never draws (its helper process does)."""
    if name in ("arc_chart", "counts_chart"):
        from engine.stats import charts

        return getattr(charts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SHAPES",
    "ArcMatch",
    "SentimentSummary",
    "TermCounter",
    "TermError",
    "arc",
    "arc_chart",
    "classify_arc",
    "compound",
    "counts_chart",
    "ewma",
    "polarity",
    "summarise",
]
