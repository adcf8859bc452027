"""Book stats answered from the database: book lookup, /sentiment, /wordcount.

Scores and the full-book chart were computed at ingest; per-book sentence arrays are loaded
once and cached, and refreshed when the set of books changes. The CPU-heavy part of a new
answer (a range's arc and chapter picks, term counts, charts) is ``bot.stats_work``, run in
the helper process (``bot.helper``), which holds its own copy of the data. Finished
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
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import func, select

from bot import helper, stats_work
from bot.config import Config
from bot.errors import BadRequest
from bot.limits import ByteLRU
from bot.messages import Attachment, Reply
from bot.safety import stats_views as views
from bot.safety.progress import EVERYTHING, Visibility
from bot.safety.spoilers import clean, hide
from bot.stats_data import BookData, BookInfo, bounds, parse_range
from bot.store import Book, BookChart, BookText, Chapter, Sentence, Store
from engine.stats import arcs

T = TypeVar("T")
MAX_REF_CHARS = 200  # a book code or title a user types
LIBRARY_CHECK_S = 1.0  # how often a request may look whether books were (re-)ingested


class StatsService:
    """Read-side of the book stats; thread-safe caches keyed by the library's version."""

    def __init__(self, store: Store, cfg: Config, use_helper: bool = False):
        self.store = store
        self.cfg = cfg
        self.use_helper = use_helper  # the bot: new answers worked out in the helper process
        self._lock = threading.Lock()
        self._version: tuple | None = None
        self._token = uuid.uuid4().hex  # this load of the library, for stats_work
        self._books: list[BookInfo] = []
        self._data: dict[int, BookData] = {}
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
            self._token = uuid.uuid4().hex
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

    def known_books(self) -> list[BookInfo]:
        """The books as last loaded, without looking at the database (event-loop safe)."""
        return list(self._books)

    def warm(self) -> None:
        """Load the sentence arrays up front, start the helper and give it the books and
        their term index, so first requests are fast."""
        self.refresh()
        self.warm_helper()

    def warm_helper(self) -> None:
        """Start the helper and give it the books as last refreshed (``warm`` without the
        refresh: the bot refreshes before it serves and warms the helper in the background)."""
        if self.use_helper:
            helper.start()
        token = self._token
        self._send(token, ("texts",))
        for info in self._books:
            self._send(token, ("book", info.id))

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
            chapters = s.execute(select(Chapter.idx, Chapter.title, Chapter.n_words)
                                 .where(Chapter.book_id == info.id).order_by(Chapter.idx)).all()
        data = BookData([r[0] for r in rows], np.array([r[1] for r in rows]),
                        np.array([r[2] for r in rows]), np.array([r[3] for r in rows]),
                        np.array([len(r[0].split()) for r in rows]),
                        {c[0]: c[1] for c in chapters}, [c[2] for c in chapters])
        with self._lock:
            self._data[info.id] = data
        return data

    def _book_texts(self) -> dict[str, str]:
        """Every book's text by code, in series order (what the term index is built from)."""
        with self.store.session() as s:
            texts = dict(s.execute(select(Book.id, BookText.text)
                                   .join(BookText, BookText.book_id == Book.id)).all())
        return {b.code: texts.get(b.id, "") for b in self._books}

    # ---- the helper's work -------------------------------------------------------------------
    def _work(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(token, *args)`` (a ``stats_work`` function) in the helper process, sending it
        what it lacks first (a new helper, a re-ingested library)."""
        for _ in range(3):
            token = self._token
            try:
                return helper.call(fn, token, *args, in_helper=self.use_helper)
            except stats_work.NeedData as need:
                self._send(need.token, need.what)
        raise RuntimeError("the helper process keeps losing the library's data")

    def _send(self, token: str, what: tuple) -> None:
        """Give the helper (or this process, without one) one book's arrays, or the texts."""
        if what[0] == "texts":
            helper.call(stats_work.load_texts, token, self._book_texts(),
                        in_helper=self.use_helper)
            return
        info = next((b for b in self._books if b.id == what[1]), None)
        if info is None:  # the book went away in a re-ingest: an empty book answers
            info = BookInfo(what[1], "", "", None, 0, 0, 0, None, None)
        helper.call(stats_work.load_book, token, info.id, self._book_data(info),
                    in_helper=self.use_helper)

    # ---- answers ------------------------------------------------------------------------
    def chapter_titles(self, info: BookInfo) -> list[str]:
        """A book's chapter titles in order (for reading progress)."""
        titles = self._book_data(info).chapter_titles
        return [titles.get(i, f"Chapter {i + 1}") for i in range(info.n_chapters)]

    def sentiment(self, ref: str, range_spec: str | None = None,
                  view: Visibility = EVERYTHING) -> Reply:
        """The sentiment summary and arc chart of a book, or its first/last N sentences.

        Chapters past the reader's progress (``view``) stay out of the chart; their figures
        and quotes come only inside a spoiler span.
        """
        info = self.resolve(ref)
        rng = parse_range(range_spec)
        data = self._book_data(info)
        lo, hi, label = bounds(rng, len(data.texts))
        key = views.sentiment_key(info, data, lo, hi, label, view)
        return self._cached(key) or self._remember(
            key, self._sentiment_reply(info, data, rng, lo, hi, label, view))

    def peek(self, command: str, args: dict, view: Visibility | None = None) -> Reply | None:
        """A finished answer from memory alone (no database, no drawing), else None.

        Safe on the event loop: it only reads the caches, and only while the library was
        checked recently; the caller keeps it checked in the background (see ``stale``).
        Stats answers depend on what the reader may see: without their ``view`` (which the
        caller knows only from memory too) there is no answer here.
        """
        if view is None or time.monotonic() - self._checked >= 10 * LIBRARY_CHECK_S:
            return None  # the background check is not running: answer the slow way
        try:
            if command == "sentiment":
                info = self._match(str(args.get("book") or args.get("text") or ""),
                                   list(self._books))
                data = self._data.get(info.id)
                if data is None:
                    return None
                rng = parse_range(str(args.get("range") or "") or None)
                key = views.sentiment_key(info, data, *bounds(rng, len(data.texts)), view)
            elif command == "wordcount":
                term = " ".join(str(args.get("term") or args.get("text") or "")[:200].split())
                key = views.wordcount_key(term, _truthy(args.get("exact", False)), term, view,
                                          self._books)
            else:
                return None
        except BadRequest:
            return None  # the real answer explains the mistake
        return self._cached(key)

    def _sentiment_reply(self, info: BookInfo, data: BookData, rng, lo: int, hi: int,
                         label: str, view: Visibility = EVERYTHING) -> Reply:
        """The answer for sentences lo..hi, cut where the reader's progress ends."""
        read = view.chapters_read(info.code)
        cut = len(data.texts) if read is None else data.chapter_start(read)
        meta = {"book": info.code, "range": label, "hidden": hi > cut}
        title = f"Sentiment: {info.title}"
        head = f"**{info.title}** ({info.code}) — {label}"
        if hi <= cut:
            parts, png = self._sentiment_lines(info, data, lo, hi, rng is None)
            return Reply(parts=["\n".join([head, *parts])], title=title,
                         files=[Attachment(f"sentiment-{info.code}.png", png)], meta=meta)
        lines, files = [head], []
        if cut > lo:
            shown, png = self._sentiment_lines(info, data, lo, cut, False)
            lines += [f"Chapters 1–{read} (as far as you have read):", *shown]
            files = [Attachment(f"sentiment-{info.code}-to-{read}.png", png)]
        hidden, _ = self._sentiment_lines(info, data, lo, hi, rng is None, chart=False)
        lines += [views.hidden_note(view, f"chapters {(read or 0) + 1}–{info.n_chapters}"),
                  hide("\n".join(hidden))]
        return Reply(parts=["\n".join(lines)], title=title, files=files, meta=meta)

    def _sentiment_lines(self, info: BookInfo, data: BookData, lo: int, hi: int,
                         whole_book: bool, chart: bool = True) -> tuple[list[str], bytes]:
        """Counts, mean, arc shape and chapter picks of sentences lo..hi, and the chart
        (worked out in the helper; the whole book's chart was drawn at ingest)."""
        shape_text = None
        if whole_book and info.arc_shape and info.arc_correlation is not None:
            r = info.arc_correlation
            shape_text = arcs.describe(arcs.ArcMatch(info.arc_shape, max(0.0, r), r, []))
        stored = self._stored_chart(info) if chart and whole_book else None
        lines, png = self._work(stats_work.sentiment_lines, info.id, lo, hi, shape_text,
                                self._span(hi - lo), info.title, chart and not stored)
        return lines, stored or png

    def _span(self, n: int) -> int:
        return max(2, min(self.cfg.stats.ewma_span, n // 4 or 2))

    def _stored_chart(self, info: BookInfo) -> bytes | None:
        """The whole book's arc chart, drawn at ingest."""
        with self.store.session() as s:
            return s.scalar(select(BookChart.png).where(BookChart.book_id == info.id,
                                                        BookChart.kind == "arc"))

    # ---- the answer cache ------------------------------------------------------------------
    def _cached(self, key: tuple) -> Reply | None:
        reply = self._replies.get(key)
        return None if reply is None else _copy(reply)

    def _remember(self, key: tuple, reply: Reply) -> Reply:
        size = sum(len(f.data) for f in reply.files) + 2 * len(reply.text) + 512
        self._replies.put(key, _copy(reply), size)
        return reply

    def wordcount(self, term: str, exact: bool = False, view: Visibility = EVERYTHING,
                  label: str | None = None) -> Reply:
        """Mentions of ``term`` per book in series order, the total, and a bar chart.

        Books past the reader's progress (``view``) show their counts only in spoiler spans
        and stay out of the chart; the book they are in counts up to their chapter.
        ``label`` is how the term is shown (the filter may have masked it).
        """
        term = " ".join((term or "").split())
        if not term:
            raise BadRequest("which word? e.g. `/wordcount Dorothy` or "
                             "`/wordcount Tin Woodman exact`")
        if len(term) > 100:
            raise BadRequest(f"that term is {len(term)} characters; keep it under 100")
        if not self.books():
            raise BadRequest("no books are ingested yet: an operator must run `spren ingest PATH`")
        label = " ".join((label or term).split())
        key = views.wordcount_key(term, exact, label, view, self._books)
        return self._cached(key) or self._remember(
            key, self._wordcount_reply(term, exact, view, label))

    def _wordcount_reply(self, term: str, exact: bool, view: Visibility, label: str) -> Reply:
        counts = self._work(stats_work.counts, term, exact)
        shown_term = clean(label)
        total = sum(counts.values())
        mode = "whole words" if exact else "anywhere in words"
        lines, bars, hidden = [], [], False
        for b in self._books:
            line, bar = views.count_line(b, counts.get(b.code, 0), view.chapters_read(b.code),
                                         lambda b, read: self._count_before(b, term, exact, read))
            lines.append(line)
            hidden = hidden or bar is None or bar[0] != b.code
            if bar is not None:
                bars.append(bar)
        seen = sum(c for _, c in bars)
        head = f"**{shown_term}** ({mode}, case-insensitive): " + (
            f"{total:,} in all" if not hidden
            else f"{seen:,} in what you have read · {hide(f'{total:,} in all')}")
        if hidden:
            lines.append(views.hidden_note(view, "later books and chapters"))
        files = []
        if bars:
            png = helper.call(stats_work.counts_chart, shown_term + (" (exact)" if exact else ""),
                              [c for c, _ in bars], [n for _, n in bars],
                              in_helper=self.use_helper)
            files = [Attachment(f"wordcount-{_slug(shown_term)}.png", png)]
        return Reply(parts=["\n".join([head, *lines])], title=f"Word count: {shown_term}",
                     files=files, meta={"total": total, "counts": counts, "exact": exact,
                                        "hidden": hidden, "chart": [c for c, _ in bars]})

    def _count_before(self, b: BookInfo, term: str, exact: bool, read: int) -> int:
        """Mentions of ``term`` in the first ``read`` chapters of book ``b``."""
        tokens = sum(self._book_data(b).chapter_words[:read])
        return self._work(stats_work.count_before, term, b.code, tokens, exact)


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
