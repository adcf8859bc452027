"""Sentence sentiment for book statistics: TextBlob polarity, per-book rescaling, smoothing.

`polarity` gives exactly TextBlob's `TextBlob(s).sentiment.polarity` for each sentence, about
twice as fast: it runs TextBlob's own scorer over a plain-dict copy of its lexicon, skips
sentences that cannot contain a lexicon word or an emoticon (0.0 by TextBlob's own rules;
about a fifth of the Oz sentences), and scores repeated sentences once. Only `.sentiment`'s
code path is used: TextBlob's `.sentences`/`.words` need NLTK data that is not installed.
"""

from __future__ import annotations

import re
import types
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

# Alphanumeric runs: the pieces TextBlob's tokens are made of (quotes/punctuation split them).
_PIECES = re.compile(r"[^\W_]+")


@lru_cache(maxsize=1)
def _analyzer() -> tuple[Any, frozenset[str], tuple[str, ...]]:
    """Return (sentiment callable, key pieces, emoticons), loaded once per process."""
    from textblob import _text
    from textblob.en import sentiment as pattern_sentiment

    pattern_sentiment("good")  # forces the lazy lexicon load
    fast = _plain_dict_lexicon(_text.Sentiment, pattern_sentiment)
    keys = dict.keys(fast)
    # A lexicon word can only match a token whose pieces include the word's longest piece.
    pieces = frozenset(max(_PIECES.findall(k.lower()), key=len) for k in keys if _PIECES.search(k))
    emoticons = tuple({e.lower() for group in _text.EMOTICONS.values() for e in group})
    return fast, pieces, emoticons


def _plain_dict_lexicon(sentiment_cls: type[Any], loaded: Any) -> Any:
    """A copy of TextBlob's loaded lexicon whose lookups are plain dict lookups.

    TextBlob's lexicon is a lazy dict: every `w in lexicon` goes through two Python-level
    calls, which is about a third of its scoring time. The copy runs TextBlob's own scoring
    code (`Sentiment.__call__`) on the same data, so its results are identical.
    """
    plain = {"__contains__": dict.__contains__, "__getitem__": dict.__getitem__, "get": dict.get}
    lexicon: Any = types.new_class("PlainLexicon", (sentiment_cls,),
                                   exec_body=lambda ns: ns.update(plain))
    fast = lexicon.__new__(lexicon)
    fast.__dict__.update(loaded.__dict__)
    dict.update(fast, dict.items(loaded))
    return fast


def _may_score(sentence: str, pieces: frozenset[str], emoticons: tuple[str, ...]) -> bool:
    """False only when TextBlob would certainly give polarity 0.0 (no lexicon word, no emoticon)."""
    low = sentence.lower()
    # TextBlob splits "n't" off ("wouldn't" -> "would n't"), creating a piece not in `low`.
    found = set(_PIECES.findall(low))
    if "n't" in low:
        found.update(_PIECES.findall(low.replace("n't", " n't")))
    if not pieces.isdisjoint(found):
        return True
    # TextBlob rejoins emoticons typed with spaces (": )"), so look for them without spaces.
    squeezed = "".join(low.split())
    return any(e in squeezed for e in emoticons)


def polarity(sentences: Sequence[str]) -> list[float]:
    """TextBlob polarity (-1..1) of each sentence, identical to `TextBlob(s).sentiment.polarity`."""
    score, pieces, emoticons = _analyzer()
    cache: dict[str, float] = {}
    out = []
    for s in sentences:
        p = cache.get(s)
        if p is None:
            p = float(score(s)[0]) if _may_score(s, pieces, emoticons) else 0.0
            cache[s] = p
        out.append(p)
    return out


def compound(polarities: Sequence[float], quantile: float = 0.95) -> list[float]:
    """Rescale one book's scores to -1..1: centred on the median, spread by a high quantile.

    x -> clip((x - median) / q, -1, 1), where q is the `quantile` (default 0.95) of
    |x - median| over the values that differ from the median. Centring on the median (not the
    mean) keeps a few very emotional sentences from shifting the zero line; scaling by a high
    quantile (not the maximum) lets the bulk of the book use the whole range while the top 5%
    of outliers clip at ±1. Most TextBlob scores are exactly 0.0, so the quantile is taken over
    non-median values; otherwise it would often be 0. A constant input maps to all zeros.
    """
    x = np.asarray(polarities, dtype=float)
    if x.size == 0:
        return []
    centred = x - np.median(x)
    spread = np.abs(centred[centred != 0])
    if spread.size == 0:
        return [0.0] * x.size
    q = float(np.quantile(spread, quantile))
    return [float(v) for v in np.clip(centred / q, -1.0, 1.0)]


def ewma(values: Sequence[float], span: int, warm: bool = False) -> list[float]:
    """Exponentially weighted mean, as pandas `ewm(span=span, adjust=False).mean()`.

    warm=True starts the level at the mean of the first `span` values instead of the first
    value, so one extreme opening sentence cannot dominate the start of the arc.
    """
    if span < 1:
        raise ValueError(f"ewma span must be at least 1, got {span}")
    alpha = 2.0 / (span + 1.0)
    out: list[float] = []
    level = float(np.mean(values[:span])) if warm and len(values) else None
    for v in values:
        level = float(v) if level is None else level + alpha * (float(v) - level)
        out.append(level)
    return out


def default_span(n_sentences: int) -> int:
    """A smoothing span for a book of `n_sentences`: about 1/20 of it, at least 5."""
    return max(5, n_sentences // 20)


def arc(polarities: Sequence[float], span: int | None = None) -> list[float]:
    """A book's emotional arc: rescaled scores, smoothed by `ewma`, rescaled again to -1..1.

    The second rescale is needed because smoothing shrinks the arc towards 0; without it the
    arc of a long book would barely leave the zero line.
    """
    scores = compound(polarities)
    smoothed = ewma(scores, span or default_span(len(scores)), warm=True)
    return compound(smoothed, quantile=1.0)


def chapter_means(scores: Sequence[float], chapter_ids: Sequence[int]) -> dict[int, float]:
    """Mean score per chapter id, in order of first appearance."""
    if len(scores) != len(chapter_ids):
        raise ValueError(f"{len(scores)} scores but {len(chapter_ids)} chapter ids")
    sums: dict[int, list[float]] = {}
    for s, c in zip(scores, chapter_ids, strict=True):
        acc = sums.setdefault(c, [0.0, 0])
        acc[0] += s
        acc[1] += 1
    return {c: total / n for c, (total, n) in sums.items()}


@dataclass(frozen=True)
class ChapterPick:
    """A chapter singled out by its mean score, with its most extreme sentence as a quote."""

    chapter: int
    title: str | None
    mean: float
    quote: str
    quote_score: float


@dataclass(frozen=True)
class SentimentSummary:
    """Headline numbers for one book (or part of one)."""

    sentences: int
    mean: float
    most_positive: ChapterPick
    most_negative: ChapterPick


def quote_for(sentences: Sequence[str], scores: Sequence[float], positive: bool,
              max_chars: int = 200) -> tuple[str, float]:
    """The most extreme sentence (highest if `positive`, else lowest) of at most `max_chars`.

    Among sentences of equal score the first wins. If every sentence is too long, the most
    extreme one is shortened at a word boundary and ends with an ellipsis.
    """
    if not sentences:
        raise ValueError("quote_for needs at least one sentence")
    sign = 1.0 if positive else -1.0
    order = sorted(range(len(sentences)), key=lambda i: (-sign * scores[i], i))
    for i in order:
        text = " ".join(sentences[i].split())
        if len(text) <= max_chars:
            return text, float(scores[i])
    best = order[0]
    return shorten(sentences[best], max_chars), float(scores[best])


def shorten(text: str, max_chars: int) -> str:
    """`text` with whitespace collapsed, cut at a word boundary to at most `max_chars`."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0].rstrip(",;:- ")
    return cut + "…"


def summarise(sentences: Sequence[str], scores: Sequence[float], chapter_ids: Sequence[int],
              chapter_titles: dict[int, str] | None = None, min_sentences: int = 5,
              max_chars: int = 200) -> SentimentSummary:
    """Most positive / negative chapter (by mean score) and a quote from each.

    Chapters with fewer than `min_sentences` sentences are passed over (one happy line should
    not make a chapter "the most positive") unless no chapter is that long.
    """
    if not sentences:
        raise ValueError("summarise needs at least one sentence")
    means = chapter_means(scores, chapter_ids)
    sizes: dict[int, int] = {}
    for c in chapter_ids:
        sizes[c] = sizes.get(c, 0) + 1
    eligible = [c for c in means if sizes[c] >= min_sentences] or list(means)
    top = max(eligible, key=lambda c: means[c])
    bottom = min(eligible, key=lambda c: means[c])
    titles = chapter_titles or {}

    def pick(chapter: int, positive: bool) -> ChapterPick:
        idx = [i for i, c in enumerate(chapter_ids) if c == chapter]
        quote, q_score = quote_for([sentences[i] for i in idx], [scores[i] for i in idx],
                                   positive, max_chars)
        return ChapterPick(chapter, titles.get(chapter), float(means[chapter]), quote, q_score)

    return SentimentSummary(len(sentences), float(np.mean(scores)), pick(top, True),
                            pick(bottom, False))
