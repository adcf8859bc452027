"""Classify an emotional arc into the six basic shapes of Reagan et al. (2016).

Each shape is a smooth template on t in [0, 1]: a half, full or one-and-a-half cosine wave.
These six curves are three orthogonal pairs (each shape's opposite is its negation), so an
arc's Pearson correlations with them split cleanly: a rise-then-fall arc correlates well with
"Icarus" and not with "Rags to riches". The arc is resampled to a fixed length first, so
books of any length compare alike; Pearson correlation ignores level and scale, which is the
same as comparing z-normalised curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RESAMPLE_POINTS = 100
MIN_SHAPE_POINTS = 4  # below this an arc is called shapeless rather than matched

# (name, plain-words description, sign and number of half-waves of the template on t in [0, 1])
# Each template is sign * cos(halves * pi * t).
_SHAPES: tuple[tuple[str, str, float, int], ...] = (
    ("Rags to riches", "rise", -1.0, 1),
    ("Tragedy", "fall", 1.0, 1),
    ("Man in a hole", "fall then rise", 1.0, 2),
    ("Icarus", "rise then fall", -1.0, 2),
    ("Cinderella", "rise, fall, rise", -1.0, 3),
    ("Oedipus", "fall, rise, fall", 1.0, 3),
)
SHAPES: tuple[str, ...] = tuple(name for name, _, _, _ in _SHAPES)
DESCRIPTIONS: dict[str, str] = {name: words for name, words, _, _ in _SHAPES}
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ArcMatch:
    """The closest basic shape, its similarity and the full ranking.

    `correlation` is Pearson's r with the best template (-1..1); `similarity` is the same
    clipped to 0..1; `ranking` lists every shape with its r, best first.
    """

    shape: str
    similarity: float
    correlation: float
    ranking: list[tuple[str, float]]

    @property
    def description(self) -> str:
        """A short sentence for people, e.g. 'closest to Icarus (rise then fall), r = 0.83'."""
        return describe(self)


def template(shape: str, n: int = RESAMPLE_POINTS) -> FloatArray:
    """The template curve of `shape` sampled at `n` evenly spaced points."""
    for name, _, sign, halves in _SHAPES:
        if name == shape:
            return sign * np.cos(halves * np.pi * np.linspace(0.0, 1.0, n))
    raise ValueError(f"unknown arc shape {shape!r}; choose one of: {', '.join(SHAPES)}")


def resample(arc: Sequence[float], n: int = RESAMPLE_POINTS) -> FloatArray:
    """`arc` linearly interpolated to `n` evenly spaced points over its whole length."""
    y = np.asarray(arc, dtype=float)
    if y.ndim != 1 or y.size < 1:
        raise ValueError(f"an arc needs at least 1 point, got {y.size}")
    if not np.all(np.isfinite(y)):
        raise ValueError("an arc must not contain NaN or infinite values")
    if y.size == 1:  # a one-sentence range is a flat line at that sentence's level
        return np.full(n, y[0])
    out: FloatArray = np.interp(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, y.size), y)
    return out


def _zscore(y: FloatArray) -> FloatArray | None:
    """y scaled to mean 0 and standard deviation 1; None if y is flat."""
    sd = y.std()
    if sd < 1e-12 * max(1.0, float(np.abs(y).max())):
        return None
    z: FloatArray = (y - y.mean()) / sd
    return z


def classify_arc(arc: Sequence[float]) -> ArcMatch:
    """Match `arc` against the six basic shapes by Pearson correlation.

    A flat arc matches nothing: every r is 0 and `shape` is the first shape in SHAPES, with
    similarity 0; `describe` then says the arc has no clear shape. So does an arc of fewer
    than `MIN_SHAPE_POINTS` points: two or three sentences have no shape worth naming.
    """
    y = resample(arc)  # validates: at least one point, all finite
    z = _zscore(y) if len(arc) >= MIN_SHAPE_POINTS else None
    if z is None:
        return ArcMatch(SHAPES[0], 0.0, 0.0, [(name, 0.0) for name in SHAPES])
    scores = []
    for name in SHAPES:
        t = template(name)  # a cosine: never flat
        scores.append((name, float(np.mean(z * (t - t.mean()) / t.std()))))
    ranking = sorted(scores, key=lambda item: -item[1])
    best, r = ranking[0]
    return ArcMatch(best, max(0.0, r), r, ranking)


def describe(match: ArcMatch) -> str:
    """Human wording of a match, hedged when the fit is weak."""
    if match.correlation <= 0.0:
        return "no clear shape (the arc is flat or too short)"
    words = f"{match.shape} ({DESCRIPTIONS[match.shape]}), r = {match.correlation:.2f}"
    if match.correlation < 0.3:
        return f"no clear shape; weakly like {words}"
    return f"closest to {words}"
