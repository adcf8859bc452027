"""`spren ingest`: parse books with the engine, score them, and store everything atomically.

Heavy work (parsing, sentence splitting, sentiment, guard index, the full-book chart) happens
here, once, so stats requests only read rows. Parsing runs in worker processes, one per core.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import delete, insert, select

from bot.config import Config
from bot.errors import BadRequest
from bot.store import Book, BookChart, BookText, Chapter, GuardIndex, Sentence, Store
from engine import corpus
from engine.errors import CorpusError
from engine.generation import guard
from engine.hashing import file_sha256
from engine.stats import arcs, charts, sentiment

GUARD_K = 8
# Bump when the analysis (cleaning, scoring, arcs, charts, guard) changes: books stored by an
# older version are analysed again on the next ingest even though their files did not change.
ANALYSIS_VERSION = 2


@dataclass
class Analysed:
    """Everything computed for one book, ready to be written to the database."""

    parsed: corpus.ParsedBook
    polarity: list[float]
    scores: list[float]
    chapter_of: list[int]
    arc: list[float]
    arc_shape: str
    arc_similarity: float
    arc_correlation: float
    guard_hashes: bytes
    chart_png: bytes


@dataclass
class IngestResult:
    """What happened to one file: added, replaced, unchanged, or failed (with the error)."""

    path: Path
    status: str
    code: str | None = None
    title: str | None = None
    report: dict = field(default_factory=dict)
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return f"FAILED     {self.path.name}: {self.error}"
        r = self.report
        return (
            f"{self.status:<10} {self.code:<8} {self.title} — stripped {r.get('front_lines', 0)} "
            f"front / {r.get('back_lines', 0)} back lines; {r.get('chapters', 0)} chapters, "
            f"{r.get('sentences', 0)} sentences, {r.get('words', 0)} words"
        )


def analyse(path: Path, ewma_span: int) -> Analysed:
    """Parse and score one book (runs in a worker process; pure engine code)."""
    parsed = corpus.parse_book(path)
    sentences, chapter_of = [], []
    for ch in parsed.chapters:
        sentences.extend(ch.sentences)
        chapter_of.extend([ch.index] * len(ch.sentences))
    if not sentences:
        raise CorpusError(f"{path}: no sentences found after cleaning; is this a book?")
    pol = sentiment.polarity(sentences)
    scores = sentiment.compound(pol)
    arc = sentiment.arc(pol, min(ewma_span, max(2, len(scores) // 4)))
    match = arcs.classify_arc(arc)
    bounds = _chapter_starts(chapter_of)
    png = charts.arc_chart(parsed.title, arc, raw=scores, chapter_bounds=bounds,
                           shape_label=match.description)
    hashes = guard.kgram_hashes(parsed.text, GUARD_K)
    return Analysed(parsed, pol, scores, chapter_of, arc, match.shape, float(match.similarity),
                    float(match.correlation),
                    np.asarray(hashes, dtype=np.uint64).tobytes(), png)


def _chapter_starts(chapter_of: list[int]) -> list[int]:
    return [i for i, c in enumerate(chapter_of) if i == 0 or c != chapter_of[i - 1]]


def _order_from_name(path: Path) -> int | None:
    m = re.match(r"^(\d{1,3})[\s._-]", path.name)
    return int(m.group(1)) if m else None


class _Inline:
    """An executor stand-in that runs work at once in this process (one file, or --jobs 1)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except CorpusError as exc:
            fut.set_exception(exc)
        return fut


class Ingestor:
    """Decides codes, skips unchanged files and writes each book in one transaction."""

    def __init__(self, store: Store, cfg: Config):
        self.store = store
        self.cfg = cfg

    def run(self, paths: Iterable[Path], *, code: str | None = None, title: str | None = None,
            series_order: int | None = None, jobs: int | None = None,
            progress: Callable[[IngestResult], None] | None = None) -> list[IngestResult]:
        """Ingest every book file under ``paths``; failures are reported, never half-written."""
        files = [f for p in paths for f in corpus.find_book_files(Path(p))]
        if code and len(files) > 1:
            raise BadRequest("--code names one book, but several files were given; "
                             "ingest them one at a time or set codes in [books] aliases")
        todo, results = [], []
        for f in files:
            sha = file_sha256(f)
            existing = self._by_sha(sha)
            current = existing is not None and \
                existing.report.get("analysis_version") == ANALYSIS_VERSION
            if existing is not None and current and (code is None or existing.code == code):
                r = IngestResult(f, "unchanged", existing.code, existing.title, existing.report)
                results.append(r)
                if progress:
                    progress(r)
            else:
                todo.append((f, sha))
        results.extend(self._analyse_all(todo, code, title, series_order, jobs, progress))
        return results

    def _analyse_all(self, todo, code, title, series_order, jobs, progress):
        files = [f for f, _ in todo]
        return [self._finish(f, sha, outcome, code, title, series_order, progress)
                for (f, sha), outcome in zip(todo, self._outcomes(files, jobs), strict=True)]

    def _outcomes(self, files: list[Path], jobs: int | None):
        """Each file's Analysed, or its CorpusError, in order; parsed in worker processes."""
        workers = max(1, min(jobs or os.cpu_count() or 1, len(files)))
        span = self.cfg.stats.ewma_span
        with ProcessPoolExecutor(workers) if workers > 1 else _Inline() as pool:
            for fut in [pool.submit(analyse, f, span) for f in files]:
                try:
                    yield fut.result()
                except CorpusError as exc:
                    yield exc

    def _finish(self, path, sha, outcome, code, title, series_order, progress) -> IngestResult:
        if isinstance(outcome, Exception):
            r = IngestResult(path, "failed", error=str(outcome))
        else:
            r = self._store(path, sha, outcome, code, title, series_order)
        if progress:
            progress(r)
        return r

    def _by_sha(self, sha: str) -> Book | None:
        with self.store.session() as s:
            return s.scalars(select(Book).where(Book.source_sha256 == sha)).first()

    def _choose_code(self, s, book: corpus.ParsedBook, title: str, order: int | None,
                     path: Path, code: str | None) -> tuple[str, Book | None]:
        """Pick the code and find the row this book replaces (same file, or same code)."""
        if code:
            code = code.lower()
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", code):
                raise BadRequest(f"book code {code!r} must be 1-32 letters/digits, like 'wor'")
        previous = s.scalars(select(Book).where(Book.source_path == str(path))).first()
        if code is None:
            code = self._alias_for(title)
        if code is None and previous is not None:
            code = previous.code
        if code is None and self.cfg.books.series_code and order is not None:
            code = f"{self.cfg.books.series_code}{order}"
        taken = set(s.scalars(select(Book.code)))
        if previous is not None:
            taken.discard(previous.code)
        if code is None:
            code = corpus.derive_code(title, taken)
        clash = s.scalars(select(Book).where(Book.code == code)).first()
        return code, (clash or previous)

    def _alias_for(self, title: str) -> str | None:
        wanted = title.casefold().strip()
        for alias, alias_title in self.cfg.books.aliases.items():
            if alias_title.casefold().strip() == wanted:
                return alias.lower()
        return None

    def _store(self, path, sha, a: Analysed, code, title, series_order) -> IngestResult:
        book = a.parsed
        title = title or book.title
        order = series_order or book.series_order or _order_from_name(path)
        rep = dict(vars(book.report), arc_shape=a.arc_shape, arc_similarity=a.arc_similarity,
                   arc_correlation=a.arc_correlation, analysis_version=ANALYSIS_VERSION)
        with self.store.session() as s:
            code, old = self._choose_code(s, book, title, order, path, code)
            status = "replaced" if old is not None else "added"
            if old is not None:
                s.execute(delete(Book).where(Book.id == old.id))
                s.flush()
            row = Book(code=code, title=title, author=book.author, series_order=order,
                       source_path=str(path), source_sha256=sha, n_chapters=len(book.chapters),
                       n_sentences=len(a.scores), n_words=book.report.words,
                       mean_score=float(np.mean(a.polarity)), report=rep)
            s.add(row)
            s.flush()
            self._write_children(s, row.id, a)
        return IngestResult(path, status, code, title, rep)

    def _write_children(self, s, book_id: int, a: Analysed) -> None:
        chapters = a.parsed.chapters
        means = sentiment.chapter_means(a.scores, a.chapter_of)
        first = 0
        for ch in chapters:
            n = len(ch.sentences)
            s.add(Chapter(book_id=book_id, idx=ch.index, title=ch.title, first_sentence=first,
                          n_sentences=n, n_words=len(ch.text.split()),
                          mean_score=float(means.get(ch.index, 0.0))))
            first += n
        rows = []
        i = 0
        for ch in chapters:
            for text in ch.sentences:
                rows.append({"book_id": book_id, "idx": i, "chapter_idx": ch.index,
                             "text": text, "polarity": a.polarity[i], "score": a.scores[i]})
                i += 1
        if rows:
            s.execute(insert(Sentence), rows)
        s.add(BookText(book_id=book_id, text=a.parsed.text))
        s.add(GuardIndex(book_id=book_id, k=GUARD_K, hashes=a.guard_hashes))
        s.add(BookChart(book_id=book_id, kind="arc", png=a.chart_png))
