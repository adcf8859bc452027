"""The CPU-heavy half of the stats answers: arcs, chapter picks, term counts and charts.

These functions run in the helper process (``bot.helper.call``), or in the calling thread
where there is none; ``StatsService`` does the rest (book lookup, ranges, the reader's view,
the answer cache, the reply's wording). A process keeps the data they need in memory, per
library load: each load has its own ``token`` (a new one whenever the books change, and one
per ``StatsService``, so apps on different databases never share data). A call for a token
or book this process does not hold raises ``NeedData``; the caller sends the data
(``load_book``, ``load_texts``) and calls again. So a new helper (after a crash) or a
re-ingest costs one round of loading, and the bot's own process never builds the term index.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from bot.safety.spoilers import clean
from bot.stats_data import BookData
from engine.stats import arcs, sentiment
from engine.stats.counts import TermCounter

QUOTE_CHARS = 200
KEEP_LIBRARIES = 4  # library loads held at once (apps in one process, a re-ingest under way)


class NeedData(Exception):
    """This process lacks data for a call: ``what`` is ``("book", id)`` or ``("texts",)``."""

    def __init__(self, token: str, what: tuple):
        super().__init__(token, what)
        self.token = token
        self.what = what


@dataclass
class _Library:
    books: dict[int, BookData] = field(default_factory=dict)
    counter: TermCounter | None = None


_lock = threading.Lock()
_libraries: OrderedDict[str, _Library] = OrderedDict()


def _library(token: str, create: bool = False) -> _Library | None:
    with _lock:
        lib = _libraries.get(token)
        if lib is None and create:
            lib = _libraries[token] = _Library()
            while len(_libraries) > KEEP_LIBRARIES:
                _libraries.popitem(last=False)
        if lib is not None:
            _libraries.move_to_end(token)
        return lib


def _book(token: str, book_id: int) -> BookData:
    lib = _library(token)
    data = None if lib is None else lib.books.get(book_id)
    if data is None:
        raise NeedData(token, ("book", book_id))
    return data


def _counter(token: str) -> TermCounter:
    lib = _library(token)
    if lib is None or lib.counter is None:
        raise NeedData(token, ("texts",))
    return lib.counter


def load_book(token: str, book_id: int, data: BookData) -> None:
    """Keep one book's sentence arrays for ``token``."""
    lib = _library(token, create=True)
    assert lib is not None
    lib.books[book_id] = data


def load_texts(token: str, texts: dict[str, str]) -> None:
    """Index the books' texts (``{code: text}``, series order) for counting under ``token``."""
    counter = TermCounter(texts)
    lib = _library(token, create=True)
    assert lib is not None
    lib.counter = counter


def holds(token: str) -> tuple[list[int], bool]:
    """(book ids held, whether the term index is built) for ``token`` in this process."""
    lib = _library(token)
    return ([], False) if lib is None else (sorted(lib.books), lib.counter is not None)


# ---- the work ------------------------------------------------------------------------------
def sentiment_lines(token: str, book_id: int, lo: int, hi: int, shape_text: str | None,
                    span: int, title: str, chart: bool) -> tuple[list[str], bytes]:
    """Counts, mean, arc shape and chapter picks of sentences lo..hi, and their arc chart
    (``b""`` when ``chart`` is False). ``shape_text`` is the stored whole-book shape, if any;
    else the range's arc is classified."""
    data = _book(token, book_id)
    sl = slice(lo, hi)
    arc = sentiment.arc(data.polarity[sl].tolist(), span)
    if shape_text is None:
        shape_text = arcs.classify_arc(arc).description
    lines = [
        f"Sentences: {hi - lo:,} · Words: {int(data.words[sl].sum()):,} · "
        f"Mean polarity: {float(data.polarity[sl].mean()):+.3f} (TextBlob, −1…1)",
        f"Arc: {shape_text}",
    ]
    lines += _chapter_lines(data, sl)
    png = b""
    if chart:
        bounds = [i - lo for i in range(lo, hi)
                  if i == lo or data.chapter_of[i] != data.chapter_of[i - 1]]
        from engine.stats import charts  # matplotlib: only where charts are drawn

        png = charts.arc_chart(title, arc, raw=data.scores[lo:hi].tolist(),
                               chapter_bounds=bounds, shape_label=shape_text)
    return lines, png


def _chapter_lines(data: BookData, sl: slice) -> list[str]:
    """The most positive and most negative chapter of the range, each with a quote."""
    if sl.stop <= sl.start:
        return []
    summary = sentiment.summarise(data.texts[sl], data.scores[sl].tolist(),
                                  data.chapter_of[sl].tolist(), data.chapter_titles,
                                  max_chars=QUOTE_CHARS)
    picks = [("Most positive", summary.most_positive)]
    if summary.most_negative.chapter != summary.most_positive.chapter:
        picks.append(("Most negative", summary.most_negative))
    return [f"{kind} chapter: {clean(p.title or f'Chapter {p.chapter + 1}')} "
            f"(mean {p.mean:+.2f}) — “{clean(p.quote)}”" for kind, p in picks]


def counts(token: str, term: str, exact: bool) -> dict[str, int]:
    """Mentions of ``term`` per book code, in series order (``TermCounter.count``)."""
    return _counter(token).count(term, exact=exact)


def count_before(token: str, term: str, code: str, n_tokens: int, exact: bool) -> int:
    """Mentions of ``term`` in the first ``n_tokens`` words of book ``code``."""
    counter = _counter(token)
    return counter.count_before(term, code, counter.prefix_end(code, n_tokens), exact)


def counts_chart(term: str, labels: list[str], values: list[int]) -> bytes:
    """The /wordcount bar chart (``charts.counts_chart``)."""
    from engine.stats import charts  # matplotlib: only where charts are drawn

    return charts.counts_chart(term, labels, values)
