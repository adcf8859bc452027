"""PNG charts: valid images, drawn without pyplot, safe from several threads."""

import struct
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from engine.stats import charts


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def sample_arc(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    raw = np.clip(rng.normal(0, 0.4, n), -1, 1)
    arc = np.convolve(raw, np.ones(60) / 60, mode="same")
    return arc / np.abs(arc).max(), raw


def test_arc_chart_is_a_png():
    arc, raw = sample_arc()
    bounds = list(range(0, 1500, 100))
    png = charts.arc_chart("The Marvelous Land of Oz", arc, raw=raw, chapter_bounds=bounds,
                           chapter_titles=[f"Chapter {i}" for i in range(len(bounds))],
                           shape_label="closest to Icarus (rise then fall), r = 0.71")
    assert png_size(png) == (900, 420)
    assert len(png) > 10_000


def test_arc_chart_minimal_and_titled_variants():
    arc, _ = sample_arc(40)
    assert png_size(charts.arc_chart("short", arc.tolist()))[0] == 900
    few = charts.arc_chart("few", arc, [0, 20], chapter_titles=["One", "Two"])  # contract order
    assert few.startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        charts.arc_chart("empty", [])


def test_counts_chart_is_a_png_wide_enough_for_every_book():
    labels = [f"oz{i}" for i in range(1, 15)]
    png = charts.counts_chart("Tin Woodman", labels, list(range(14)))
    width, height = png_size(png)
    assert width >= 0.55 * 14 * 100 and height == 380
    assert png_size(charts.counts_chart("x", ["a"], [0]))[0] == 500
    with pytest.raises(ValueError, match="labels"):
        charts.counts_chart("x", ["a", "b"], [1])


def test_charts_do_not_use_pyplot():
    charts.counts_chart("x", ["a"], [1])
    assert "matplotlib.pyplot" not in sys.modules or _no_pyplot_figures()


def _no_pyplot_figures() -> bool:
    import matplotlib.pyplot as plt

    return plt.get_fignums() == []


def test_charts_from_several_threads_are_identical():
    arc, raw = sample_arc()
    reference = charts.arc_chart("same", arc, raw=raw, chapter_bounds=[0, 500, 1000])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(
            lambda _: charts.arc_chart("same", arc, raw=raw, chapter_bounds=[0, 500, 1000]),
            range(6)))
    assert all(r == reference for r in results)
