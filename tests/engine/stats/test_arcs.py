"""Arc classification against the six basic shapes, on synthetic arcs."""

import numpy as np
import pytest

from engine.stats.arcs import SHAPES, classify_arc, describe, resample, template
from engine.stats.sentiment import ewma

# Corner points of piecewise-linear arcs: deliberately not the cosine templates themselves.
CORNERS = {
    "Rags to riches": [-1.0, 1.0],
    "Tragedy": [1.0, -1.0],
    "Man in a hole": [0.5, -1.0, 0.6],
    "Icarus": [-0.4, 1.0, -0.6],
    "Cinderella": [-0.8, 0.6, -0.5, 1.0],
    "Oedipus": [0.6, -0.7, 0.5, -1.0],
}


def noisy_arc(corners, n, seed):
    """A smoothed noisy walk through `corners`, like a sentiment arc of n sentences."""
    rng = np.random.default_rng(seed)
    base = np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(corners)), corners)
    return ewma(base + rng.normal(0.0, 0.3, n), max(3, n // 30))


@pytest.mark.parametrize("shape", list(CORNERS))
@pytest.mark.parametrize("n", [60, 700, 5000])
def test_each_shape_is_recognised(shape, n):
    match = classify_arc(noisy_arc(CORNERS[shape], n, seed=n))
    assert match.shape == shape
    assert 0.8 < match.similarity <= 1.0
    assert match.correlation == match.similarity
    assert [s for s, _ in match.ranking][0] == shape
    assert sorted(s for s, _ in match.ranking) == sorted(SHAPES)


def test_ranking_is_sorted_and_opposites_are_negatives():
    match = classify_arc(noisy_arc(CORNERS["Icarus"], 400, seed=1))
    scores = dict(match.ranking)
    assert [r for _, r in match.ranking] == sorted(scores.values(), reverse=True)
    assert scores["Icarus"] == pytest.approx(-scores["Man in a hole"])
    assert scores["Cinderella"] == pytest.approx(-scores["Oedipus"])


def test_scale_and_offset_do_not_matter():
    arc = noisy_arc(CORNERS["Oedipus"], 300, seed=2)
    a = classify_arc(arc)
    b = classify_arc([5.0 + 0.01 * v for v in arc])
    assert a.shape == b.shape
    assert a.correlation == pytest.approx(b.correlation)


def test_description_names_shape_and_r():
    match = classify_arc(noisy_arc(CORNERS["Man in a hole"], 500, seed=3))
    assert match.description.startswith("closest to Man in a hole (fall then rise), r = 0.9")


def test_flat_arc_has_no_shape():
    match = classify_arc([0.2] * 50)
    assert match.similarity == 0.0
    assert all(r == 0.0 for _, r in match.ranking)
    assert describe(match) == "no clear shape (the arc is flat or too short)"


def test_noise_gives_a_weak_hedged_match():
    rng = np.random.default_rng(7)
    match = classify_arc(rng.normal(size=4000))
    assert match.correlation < 0.3
    assert match.description.startswith("no clear shape; weakly like ")


def test_bad_arcs_are_rejected():
    with pytest.raises(ValueError, match="at least 1 point"):
        classify_arc([])
    with pytest.raises(ValueError, match="NaN"):
        classify_arc([0.0, float("nan"), 1.0])
    with pytest.raises(ValueError, match="unknown arc shape"):
        template("Hero's journey")


def test_resample_keeps_end_points():
    r = resample([0.0, 10.0, 0.0], 5)
    assert r.tolist() == [0.0, 5.0, 10.0, 5.0, 0.0]


@pytest.mark.parametrize("arc", [[0.4], [0.1, -0.9], [1.0, 0.0, 1.0]])
def test_arcs_too_short_for_a_shape_are_called_shapeless(arc):
    match = classify_arc(arc)
    assert match.correlation == 0.0 and "too short" in match.description
    assert resample(arc, 7).shape == (7,)
