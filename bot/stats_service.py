"""Book stats answered from the database: book lookup, /sentiment, /wordcount.

Scores and the full-book chart were computed at ingest; per-book sentence arrays and the word
counter are loaded once and cached, and refreshed when the set of books changes. Finished
answers (text and chart) are kept in one LRU cache bounded in bytes (``[limits]
reply_cache_mb``), so a crowd asking the same thing costs one answer, and asking for every
``first/last N`` cannot grow memory without bound.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import threading
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select

from bot import drawing
from bot.config import Config
from bot.errors import BadRequest
from bot.limits import ByteLRU
from bot.messages import Attachment, Reply
from bot.store import Book, BookChart, BookText, Chapter, Sentence, Store
from engine.stats import arcs, sentiment
from engine.stats.counts import TermCounter

QUOTE_CHARS = 200
MAX_REF_CHARS = 200  # a book code or title a user types
MAX_RANGE_CHARS = 40  # 'first 1234567' with room for spaces
LIBRARY_CHECK_S = 1.0  # how often a request may look whether books were (re-)ingested


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


class StatsService:
    """Read-side of the book stats; thread-safe caches keyed by the library's version."""

    def __init__(self, store: Store, cfg: Config, draw_in_process: bool = False):
        self.store = store
        self.cfg = cfg
        self.draw_in_process = draw_in_process  # the bot: charts in a helper process
        self._lock = threading.Lock()
        self._version: tuple | None = None
        self._books: list[BookInfo] = []
        self._data: dict[int, BookData] = {}
        self._counter: TermCounter | None = None
        self._replies = ByteLRU(int(cfg.limits.reply_cache_mb * 2**20))
        self._checked = float("-inf")  # when the library version was last read

    # ---- library --------------------------------------------------------------------
    def _library_version(self) -> tuple:
        with self.store.session() as s:
            return tuple(s.execute(select(func.count(Book.id), func.max(Book.id))).one())

    def refresh(self, force: bool = False) -> None:
        """Reload the book list if books were added, replaced or removed (checked ~1/s)."""
        now = time.monotonic()
        if not force and now - self._checked < LIBRARY_CHECK_S:
            return
        self._checked = now
        version = self._library_version()
        with self._lock:
            if not force and version == self._version:
                return
            with self.store.session() as s:
                rows = s.scalars(select(Book)).all()
            self._books = sorted((self._info(b) for b in rows),
                                 key=lambda b: (b.series_order is None, b.series_order or 0,
                                                b.title))
            self._data.clear()
            self._counter = None
            self._replies.clear()
            self._version = version

    @staticmethod
    def _info(b: Book) -> BookInfo:
        rep = b.report or {}
        return BookInfo(b.id, b.code, b.title, b.series_order, b.n_chapters, b.n_sentences,
                        b.n_words, rep.get("arc_shape"), rep.get("arc_correlation"))

    def stale(self) -> bool:
        """True when the library was last checked for new books over a second ago."""
        return time.monotonic() - self._checked >= LIBRARY_CHECK_S

    def books(self) -> list[BookInfo]:
        self.refresh()
        return list(self._books)

    def warm(self) -> None:
        """Load the word counter and sentence arrays up front, so first requests are fast."""
        self.refresh()
        self._term_counter()
        for info in self._books:
            self._book_data(info)

    def resolve(self, ref: str) -> BookInfo:
        """Find a book by code, title, or unambiguous prefix (case-insensitive)."""
        return self._match(ref, self.books())

    def _match(self, ref: str, books: list[BookInfo]) -> BookInfo:
        if len(ref) > MAX_REF_CHARS:
            raise BadRequest(f"that book name is {len(ref):,} characters long; codes and "
                             f"titles are at most {MAX_REF_CHARS}. `/books` lists them.")
        if not books:
            raise BadRequest("no books are ingested yet: an operator must run "
                             "`spren ingest PATH` first")
        key = " ".join((ref or "").split()).casefold()
        if not key:
            raise BadRequest("which book? give a code or title, e.g. " + self._examples())
        for test in (lambda b: b.code == key, lambda b: b.title.casefold() == key,
                     lambda b: _strip_the(b.title) == key):
            hits = [b for b in books if test(b)]
            if len(hits) == 1:
                return hits[0]
        hits = [b for b in books if b.code.startswith(key) or b.title.casefold().startswith(key)
                or _strip_the(b.title).startswith(key)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            names = ", ".join(f"{b.code} ({b.title})" for b in hits[:6])
            raise BadRequest(f"'{ref}' matches several books: {names}. Type more of it.")
        raise BadRequest(f"no book called '{ref}'. {self._suggest(key, books)}")

    def _suggest(self, key: str, books: list[BookInfo]) -> str:
        names = {b.code: b for b in books}
        names.update({b.title.casefold(): b for b in books})
        close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.5)
        picks = list(dict.fromkeys(names[c].code for c in close))
        if picks:
            return "Did you mean " + ", ".join(
                f"{c} ({names[c].title})" for c in picks) + "? `/books` lists them all."
        return "Try one of: " + self._examples() + " (`/books` lists them all)."

    def _examples(self) -> str:
        return ", ".join(b.code for b in self._books[:5])

    def choices(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        """Books whose code or title contains ``prefix`` (for autocomplete)."""
        key = prefix.casefold().strip()
        books = self.books()
        starts = [b for b in books if b.code.startswith(key) or b.title.casefold().startswith(key)]
        inside = [b for b in books if b not in starts and key in b.title.casefold()]
        return [(b.code, b.title) for b in (starts + inside)[:limit]]

    # ---- per-book data ----------------------------------------------------------------
    def _book_data(self, info: BookInfo) -> BookData:
        with self._lock:
            cached = self._data.get(info.id)
        if cached is not None:
            return cached
        with self.store.session() as s:
            rows = s.execute(select(Sentence.text, Sentence.score, Sentence.polarity,
                                    Sentence.chapter_idx).where(Sentence.book_id == info.id)
                             .order_by(Sentence.idx)).all()
            titles = dict(s.execute(select(Chapter.idx, Chapter.title)
                                    .where(Chapter.book_id == info.id)).all())
        data = BookData([r[0] for r in rows], np.array([r[1] for r in rows]),
                        np.array([r[2] for r in rows]), np.array([r[3] for r in rows]),
                        np.array([len(r[0].split()) for r in rows]), titles)
        with self._lock:
            self._data[info.id] = data
        return data

    def _term_counter(self) -> TermCounter:
        with self._lock:
            if self._counter is not None:
                return self._counter
        with self.store.session() as s:
            texts = dict(s.execute(select(Book.id, BookText.text)
                                   .join(BookText, BookText.book_id == Book.id)).all())
        counter = TermCounter({b.code: texts.get(b.id, "") for b in self._books})
        with self._lock:
            self._counter = counter
        return counter

    # ---- answers ------------------------------------------------------------------------
    def sentiment(self, ref: str, range_spec: str | None = None) -> Reply:
        """The sentiment summary and arc chart of a book, or its first/last N sentences."""
        info = self.resolve(ref)
        rng = parse_range(range_spec)
        data = self._book_data(info)
        lo, hi, label = _bounds(rng, len(data.texts))
        key = ("sentiment", info.id, lo, hi, label)
        return self._cached(key) or self._remember(
            key, self._sentiment_reply(info, data, rng, lo, hi, label))

    def peek(self, command: str, args: dict) -> Reply | None:
        """A finished answer from memory alone (no database, no drawing), else None.

        Safe on the event loop: it only reads the caches, and only while the library was
        checked recently; the caller keeps it checked in the background (see ``stale``).
        """
        if time.monotonic() - self._checked >= 10 * LIBRARY_CHECK_S:
            return None  # the background check is not running: answer the slow way
        try:
            if command == "sentiment":
                info = self._match(str(args.get("book") or args.get("text") or ""),
                                   list(self._books))
                data = self._data.get(info.id)
                if data is None:
                    return None
                rng = parse_range(str(args.get("range") or "") or None)
                key: tuple[object, ...] = ("sentiment", info.id, *_bounds(rng, len(data.texts)))
            elif command == "wordcount":
                term = " ".join(str(args.get("term") or args.get("text") or "")[:200].split())
                key = ("wordcount", term, _truthy(args.get("exact", False)))
            else:
                return None
        except BadRequest:
            return None  # the real answer explains the mistake
        return self._cached(key)

    def _sentiment_reply(self, info: BookInfo, data: BookData, rng, lo: int, hi: int,
                         label: str) -> Reply:
        sl = slice(lo, hi)
        arc = sentiment.arc(data.polarity[sl].tolist(), self._span(hi - lo))
        if rng is None and info.arc_shape and info.arc_correlation is not None:
            r = info.arc_correlation
            shape_text = arcs.describe(arcs.ArcMatch(info.arc_shape, max(0.0, r), r, []))
        else:
            shape_text = arcs.classify_arc(arc).description
        parts = [
            f"**{info.title}** ({info.code}) — {label}",
            f"Sentences: {hi - lo:,} · Words: {int(data.words[sl].sum()):,} · "
            f"Mean polarity: {float(data.polarity[sl].mean()):+.3f} (TextBlob, −1…1)",
            f"Arc: {shape_text}",
        ]
        parts += self._chapter_lines(data, sl)
        png = self._arc_png(info, data, rng, lo, hi, arc, shape_text)
        return Reply(parts=["\n".join(parts)], title=f"Sentiment: {info.title}",
                     files=[Attachment(f"sentiment-{info.code}.png", png)],
                     meta={"book": info.code, "range": label})

    def _span(self, n: int) -> int:
        return max(2, min(self.cfg.stats.ewma_span, n // 4 or 2))

    @staticmethod
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
        return [f"{kind} chapter: {p.title or f'Chapter {p.chapter + 1}'} "
                f"(mean {p.mean:+.2f}) — “{p.quote}”" for kind, p in picks]

    def _arc_png(self, info, data, rng, lo, hi, arc, shape_text) -> bytes:
        if rng is None:  # the whole book's chart was drawn at ingest
            with self.store.session() as s:
                png = s.scalar(select(BookChart.png).where(BookChart.book_id == info.id,
                                                           BookChart.kind == "arc"))
            if png:
                return png
        bounds = [i - lo for i in range(lo, hi)
                  if i == lo or data.chapter_of[i] != data.chapter_of[i - 1]]
        return drawing.arc_chart(info.title, arc, raw=data.scores[lo:hi].tolist(),
                                 chapter_bounds=bounds, shape_label=shape_text,
                                 in_process=self.draw_in_process)

    # ---- the answer cache ------------------------------------------------------------------
    def _cached(self, key: tuple) -> Reply | None:
        reply = self._replies.get(key)
        return None if reply is None else _copy(reply)

    def _remember(self, key: tuple, reply: Reply) -> Reply:
        size = sum(len(f.data) for f in reply.files) + 2 * len(reply.text) + 512
        self._replies.put(key, _copy(reply), size)
        return reply

    def wordcount(self, term: str, exact: bool = False) -> Reply:
        """Mentions of ``term`` per book in series order, the total, and a bar chart."""
        term = " ".join((term or "").split())
        if not term:
            raise BadRequest("which word? e.g. `/wordcount Dorothy` or "
                             "`/wordcount Tin Woodman exact`")
        if len(term) > 100:
            raise BadRequest(f"that term is {len(term)} characters; keep it under 100")
        if not self.books():
            raise BadRequest("no books are ingested yet: an operator must run `spren ingest PATH`")
        key = ("wordcount", term, exact)
        return self._cached(key) or self._remember(key, self._wordcount_reply(term, exact))

    def _wordcount_reply(self, term: str, exact: bool) -> Reply:
        counts = self._term_counter().count(term, exact=exact)
        total = sum(counts.values())
        mode = "whole words" if exact else "anywhere in words"
        lines = [f"**{term}** ({mode}, case-insensitive): {total:,} in all"]
        lines += [f"{b.code:<6} {counts.get(b.code, 0):>6,}  {b.title}" for b in self._books]
        png = drawing.counts_chart(term + (" (exact)" if exact else ""),
                                   [b.code for b in self._books],
                                   [counts.get(b.code, 0) for b in self._books],
                                   in_process=self.draw_in_process)
        return Reply(parts=["\n".join(lines)], title=f"Word count: {term}",
                     files=[Attachment(f"wordcount-{_slug(term)}.png", png)],
                     meta={"total": total, "counts": counts, "exact": exact})


def _bounds(rng: tuple[str, int] | None, n: int) -> tuple[int, int, str]:
    """Sentence span [lo, hi) and its label for a range ('last', 200) of a book of n."""
    if rng is None:
        return 0, n, "whole book"
    count = min(rng[1], n)
    lo, hi = (0, count) if rng[0] == "first" else (n - count, n)
    return lo, hi, f"{rng[0]} {count} sentence{'s' if count != 1 else ''}"


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "exact", "on")
    return bool(value)


def _copy(reply: Reply) -> Reply:
    """A reply sharing the cached bytes but with its own lists, so callers may change it."""
    return dataclasses.replace(reply, parts=list(reply.parts), files=list(reply.files),
                               meta=dict(reply.meta))


def _strip_the(title: str) -> str:
    t = title.casefold()
    return t[4:] if t.startswith("the ") else t


def _slug(term: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")[:40] or "term"
