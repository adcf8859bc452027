"""PNG charts for book statistics, drawn with matplotlib's Agg canvas.

Each chart builds its own `Figure` and canvas and never touches `pyplot`, so charts can be
drawn from several threads at once without sharing matplotlib's global figure state.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ARC_COLOUR = "#1f5fa8"
RAW_COLOUR = "#8c8c8c"
BAR_COLOUR = "#2e7d4f"
MAX_TITLED_CHAPTERS = 8  # beyond this, titles overlap; chapters are numbered instead
MAX_NUMBERED_CHAPTERS = 60
FloatArray = npt.NDArray[np.float64]
MAX_RAW_POINTS = 4000  # thin the faint raw dots: more add nothing visible, only drawing time


def _new_figure(width: float, height: float) -> Figure:
    """A figure with an Agg canvas attached, ready to draw on."""
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    """The figure rendered as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def arc_chart(title: str, arc: Sequence[float], chapter_bounds: Sequence[int] | None = None,
              *, raw: Sequence[float] | None = None,
              chapter_titles: Sequence[str] | None = None,
              shape_label: str | None = None) -> bytes:
    """PNG of a smoothed sentiment arc over sentence index.

    `raw` (same length as `arc`) is drawn as faint dots; `chapter_bounds` are the sentence
    indexes where chapters start (drawn as thin vertical lines, labelled with
    `chapter_titles` when there are few enough); `shape_label` is printed in a corner.
    """
    y = np.asarray(arc, dtype=float)
    if y.size == 0:
        raise ValueError("arc_chart needs at least one point")
    fig = _new_figure(9.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(y.size)
    if raw is not None:
        _draw_raw(ax, np.asarray(raw, dtype=float))
    ax.axhline(0.0, color="black", linewidth=0.8, alpha=0.6)
    if chapter_bounds:
        _draw_chapters(ax, chapter_bounds, chapter_titles, y.size)
    ax.plot(x, y, color=ARC_COLOUR, linewidth=2.0)
    _style_arc_axes(ax, title, y, raw)
    if shape_label:
        ax.text(0.01, 0.03, shape_label, transform=ax.transAxes, fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
    # Fixed margins: tight_layout measures every label and would double the drawing time.
    fig.subplots_adjust(left=0.09, right=0.98, top=0.86, bottom=0.12)
    return _png(fig)


def _draw_raw(ax: Axes, raw: FloatArray) -> None:
    """Faint dots for per-sentence scores, thinned evenly on long books."""
    step = max(1, raw.size // MAX_RAW_POINTS)
    idx = np.arange(0, raw.size, step)
    size = 10 if idx.size < 300 else 4  # few dots can be bigger without becoming a fog
    ax.scatter(idx, raw[idx], s=size, color=RAW_COLOUR, alpha=0.35, linewidths=0)


def _draw_chapters(ax: Axes, bounds: Sequence[int], titles: Sequence[str] | None,
                   n: int) -> None:
    """Thin vertical lines at chapter starts, named (few chapters) or numbered along the top."""
    inner = [b for b in bounds if 0 < b < n]
    ax.vlines(inner, 0, 1, transform=ax.get_xaxis_transform(), colors="#b0b0b0",
              linewidth=0.6, zorder=0)
    if len(bounds) > MAX_NUMBERED_CHAPTERS:
        return
    if titles and len(titles) == len(bounds) and len(bounds) <= MAX_TITLED_CHAPTERS:
        labels = [_short(t) for t in titles]
    else:
        labels = [str(i) for i in range(1, len(bounds) + 1)]
    ends = list(bounds[1:]) + [n]
    # Labels sit in the middle of each chapter, inside the axes: cheaper than a second axis.
    for label, start, end in zip(labels, bounds, ends, strict=True):
        ax.text((start + end) / 2, 1.01, label, transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=6 if len(labels) > 30 else 7,
                color="#555555", clip_on=False)


def _short(title: str, limit: int = 22) -> str:
    """A chapter title cut to fit along the top axis."""
    return title if len(title) <= limit else title[: limit - 1] + "…"


def _style_arc_axes(ax: Axes, title: str, y: FloatArray, raw: Sequence[float] | None) -> None:
    """Title, labels and y limits for the arc chart."""
    ax.set_title(title, fontsize=12, loc="left", pad=14)
    ax.set_xlabel("sentence")
    ax.set_ylabel("sentiment (rescaled)")
    ax.set_xlim(0, max(1, y.size - 1))
    span = max(1.0, float(np.abs(y).max()))
    if raw is not None and len(raw):
        span = max(span, float(np.abs(np.asarray(raw, dtype=float)).max()))
    ax.set_ylim(-1.05 * span, 1.05 * span)
    ax.spines[["top", "right"]].set_visible(False)


def counts_chart(term: str, labels: Sequence[str], counts: Sequence[int],
                 title: str | None = None) -> bytes:
    """PNG bar chart of how often `term` appears in each book (`labels` in series order)."""
    if len(labels) != len(counts):
        raise ValueError(f"{len(labels)} labels but {len(counts)} counts")
    fig = _new_figure(max(5.0, 0.55 * len(labels) + 2.0), 3.8)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(labels))
    bars = ax.bar(x, counts, color=BAR_COLOUR)
    ax.bar_label(bars, fontsize=7, padding=2)
    ax.set_xticks(x, labels=list(labels), rotation=45 if len(labels) > 8 else 0, ha="right"
                  if len(labels) > 8 else "center", fontsize=8)
    ax.set_ylabel("occurrences")
    ax.set_title(title or f"“{term}” per book", fontsize=12, loc="left")
    ax.set_ylim(0, max(1, max(counts, default=0)) * 1.15)
    ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.88, bottom=0.17 if len(labels) > 8 else 0.12)
    return _png(fig)
