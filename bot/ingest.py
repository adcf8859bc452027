"""`spren ingest`: parse books with the engine, score them, and store everything atomically.

Heavy work (parsing, sentence splitting, sentiment, guard index, the full-book chart) happens
here, once, so stats requests only read rows. Parsing runs in worker processes, one per core.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.config import Config
from bot.errors import BadRequest
from bot.messages import well_formed_text
from bot.store import Book, BookChart, BookText, Chapter, GuardIndex, Sentence, Store
from engine import corpus
from engine.errors import CorpusError
from engine.generation import guard
from engine.hashing import file_sha256
from engine.stats import arcs, charts, sentiment

log = logging.getLogger(__name__)

GUARD_K = 8
STORE_ATTEMPTS = 4  # a write that collides with another ingest is tried again, with backoff
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
        name = well_formed_text(self.path.name)  # printable on any terminal
        if self.error:
            return f"FAILED     {name}: {self.error}"
        if self.status == "skipped":
            return f"skipped    {name}: {self.report.get('reason', '')}"
        r = self.report
        return (
            f"{self.status:<10} {self.code:<8} {self.title} ({name}) — stripped "
            f"{r.get('front_lines', 0)} front / {r.get('back_lines', 0)} back lines; "
            f"{r.get('chapters', 0)} chapters, {r.get('sentences', 0)} sentences, "
            f"{r.get('words', 0)} words"
        )


def corpus_limits(cfg: Config) -> corpus.CorpusLimits:
    """The ``[ingest]`` section as the engine's CorpusLimits."""
    i, mb = cfg.ingest, 2**20
    return corpus.CorpusLimits(
        max_file_bytes=int(i.max_file_mb * mb), max_unpacked_bytes=int(i.max_unpacked_mb * mb),
        max_member_bytes=int(i.max_member_mb * mb), max_zip_ratio=i.max_zip_ratio,
        max_zip_members=i.max_zip_members, max_spine_pages=i.max_spine_pages,
        max_book_chars=i.max_book_chars, max_chapters=i.max_chapters)


def analyse(path: Path, ewma_span: int, limits: corpus.CorpusLimits | None = None) -> Analysed:
    """Parse and score one book (runs in a worker process; pure engine code)."""
    parsed = corpus.parse_book(path, limits)
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
        except Exception as exc:  # reported as that book's FAILED line
            fut.set_exception(exc)
        return fut


def _failure(path: Path, exc: BaseException) -> str:
    """One line saying why a book failed, for the operator (details only with -vv)."""
    if isinstance(exc, CorpusError | BadRequest):
        return str(exc)
    if isinstance(exc, BrokenProcessPool):
        return ("the parsing process died (out of memory?); try again with --jobs 1, or "
                "lower the [ingest] limits")
    log.debug("analysing %s failed", path, exc_info=exc)
    return (f"could not analyse this book ({type(exc).__name__}: {str(exc)[:200]}); run "
            "`spren -vv ingest` on it for details and report it")


class Ingestor:
    """Decides codes, skips unchanged files and writes each book in one transaction."""

    def __init__(self, store: Store, cfg: Config):
        self.store = store
        self.cfg = cfg
        self.limits = corpus_limits(cfg)

    def run(self, paths: Iterable[Path], *, code: str | None = None, title: str | None = None,
            series_order: int | None = None, jobs: int | None = None,
            progress: Callable[[IngestResult], None] | None = None) -> list[IngestResult]:
        """Ingest every book file under ``paths``: one result (and progress call) per file.

        A file that fails, or is skipped, never stops the others and is never half-written.
        """
        code = _checked_code(code)
        results: list[IngestResult] = []

        def report(r: IngestResult) -> None:
            results.append(r)
            if progress:
                progress(r)

        files = self._find(paths, report)
        if code and len(files) > 1:
            raise BadRequest("--code names one book, but several files were given; "
                             "ingest them one at a time or set codes in [books] aliases")
        todo = [t for t in (self._triage(f, code, report) for f in files) if t is not None]
        outcomes = self._outcomes([f for f, _ in todo], jobs)
        for (f, sha), outcome in zip(todo, outcomes, strict=True):
            report(self._finish(f, sha, outcome, code, title, series_order))
        return results

    def _find(self, paths: Iterable[Path], report) -> list[Path]:
        """Book files under every path; a bad path or a skipped entry gets its own line."""
        files: list[Path] = []
        for p in map(Path, paths):
            try:
                found, skipped = corpus.book_files(p)
            except CorpusError as exc:
                report(IngestResult(p, "failed", error=str(exc)))
                continue
            for entry, why in skipped:
                report(IngestResult(entry, "skipped", report={"reason": why}))
            files.extend(found)
        return files

    def _triage(self, f: Path, code: str | None, report) -> tuple[Path, str] | None:
        """(file, sha) when the file needs analysing; None when it was reported already."""
        if well_formed_text(str(f)) != str(f):  # bytes that are no UTF-8 in its name
            report(IngestResult(f, "failed", error="its path is not valid UTF-8 (the database "
                                "keeps it to find the file again); rename it, e.g. `convmv "
                                "-f latin1 -t utf-8 --notest FILE`, and ingest it again"))
            return None
        try:
            size = f.stat().st_size
            if size > self.limits.max_file_bytes:  # refuse before hashing a huge file
                corpus.check_file_size(f, size, self.limits)
            sha = file_sha256(f)
            existing = self._by_sha(sha)
        except CorpusError as exc:
            report(IngestResult(f, "failed", error=str(exc)))
            return None
        except OSError as exc:
            report(IngestResult(f, "failed", error=f"cannot be read ({exc.strerror}); check "
                                                    "the file and its permissions"))
            return None
        current = existing is not None and \
            existing.report.get("analysis_version") == ANALYSIS_VERSION
        if existing is not None and current and (code is None or existing.code == code):
            report(IngestResult(f, "unchanged", existing.code, existing.title, existing.report))
            return None
        return f, sha

    def _outcomes(self, files: list[Path], jobs: int | None) -> Iterator[Analysed | Exception]:
        """Each file's Analysed, or why it failed, in order; parsed in worker processes."""
        if not files:
            return
        workers = max(1, min(jobs or os.cpu_count() or 1, len(files)))
        span = self.cfg.stats.ewma_span
        with ProcessPoolExecutor(workers) if workers > 1 else _Inline() as pool:
            for fut in [pool.submit(analyse, f, span, self.limits) for f in files]:
                try:
                    yield fut.result()
                except Exception as exc:  # every book gets its own line, whatever happened
                    yield exc

    def _finish(self, path, sha, outcome, code, title, series_order) -> IngestResult:
        if isinstance(outcome, Exception):
            return IngestResult(path, "failed", error=_failure(path, outcome))
        try:
            return self._store(path, sha, outcome, code, title, series_order)
        except Exception as exc:  # a database failure fails this book, not the run
            return IngestResult(path, "failed", error=_store_failure(exc))

    def _by_sha(self, sha: str) -> Book | None:
        with self.store.session() as s:
            return s.scalars(select(Book).where(Book.source_sha256 == sha)).first()

    def _choose_code(self, s, book: corpus.ParsedBook, title: str, order: int | None,
                     path: Path, code: str | None) -> tuple[str, Book | None]:
        """Pick the code and find the row this book replaces (same file, or same code)."""
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
        """Write the book, trying again when another ingest wrote at the same moment."""
        for attempt in range(STORE_ATTEMPTS):
            try:
                return self._store_once(path, sha, a, code, title, series_order)
            except (IntegrityError, OperationalError) as exc:
                if isinstance(exc, OperationalError) and not _is_busy(exc):
                    raise
                log.info("%s: the library changed under us (%s); trying again", path.name,
                         type(exc).__name__)
            same = self._by_sha(sha)
            if same is not None and same.report.get("analysis_version") == ANALYSIS_VERSION:
                return IngestResult(path, "unchanged", same.code, same.title, same.report)
            time.sleep(0.2 * 2**attempt)
        return IngestResult(path, "failed", error="another ingest kept changing the library "
                            "at the same time; run `spren ingest` again when it has finished")

    def _store_once(self, path, sha, a: Analysed, code, title, series_order) -> IngestResult:
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


def _checked_code(code: str | None) -> str | None:
    """The --code value in lower case, or BadRequest when it is not a usable code."""
    if not code:
        return None
    code = code.lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", code):
        raise BadRequest(f"book code {code[:40]!r} must be 1-32 letters/digits, like 'wor'")
    return code


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text or "deadlock" in text


def _store_failure(exc: Exception) -> str:
    """One line for a book that could not be written to the database."""
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    return (f"could not be stored in the database ({detail}); check that the database is "
            "reachable and has space, then run `spren ingest` again")
