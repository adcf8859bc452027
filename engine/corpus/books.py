"""A book file in, a `ParsedBook` (clean chapters and sentences) out.

`parse_book` reads a .txt (Project Gutenberg or plain) or .epub file and returns a
`ParsedBook` whose chapters hold cleaned text and sentences, plus an `IngestReport` saying
what was stripped. Every failure a user can cause raises `CorpusError` with a fix.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.corpus.cleaning import count_words, title_case
from engine.corpus.epub_chapters import read_epub_book
from engine.corpus.files import BOOK_SUFFIXES, check_suffix, find_book_files, read_book_bytes
from engine.corpus.limits import CorpusLimits, check_chapters
from engine.corpus.plaintext import RawBook, read_text_book
from engine.corpus.sentences import split_sentences
from engine.errors import CorpusError

__all__ = [
    "BOOK_SUFFIXES",
    "Chapter",
    "IngestReport",
    "ParsedBook",
    "find_book_files",
    "parse_book",
]

_SERIES_RE = re.compile(r"^(\d{1,3})(?=[\s._-])")


@dataclass
class Chapter:
    """One chapter: 0-based position, title, cleaned text (paragraphs split by blank lines)."""

    index: int
    title: str
    text: str
    sentences: list[str]


@dataclass
class IngestReport:
    """What parsing kept and stripped, for the operator to check."""

    front_lines: int
    back_lines: int
    chapters: int
    sentences: int
    words: int
    notes: list[str] = field(default_factory=list)


@dataclass
class ParsedBook:
    """A parsed book. `series_order` is a guess from the file name or EPUB metadata."""

    title: str
    author: str | None
    source_path: Path
    sha256: str
    chapters: list[Chapter]
    report: IngestReport
    series_order: int | None = None

    @property
    def text(self) -> str:
        """The cleaned book: chapter texts joined with blank lines."""
        return "\n\n".join(c.text for c in self.chapters)


def parse_book(path: Path, limits: CorpusLimits | None = None) -> ParsedBook:
    """Parse a .txt or .epub book into cleaned chapters and sentences, within ``limits``."""
    path = Path(path)
    limits = limits or CorpusLimits()
    check_suffix(path)
    data = read_book_bytes(path, limits)
    if path.suffix.lower() == ".epub":
        raw = read_epub_book(path, data, limits)
    else:
        raw = read_text_book(path, data, limits)
    book = _assemble(path, data, raw)
    check_chapters(path, len(book.chapters), limits)
    return book


def _assemble(path: Path, data: bytes, raw: RawBook) -> ParsedBook:
    chapters = [
        _make_chapter(i, c.title, "\n\n".join(c.paragraphs)) for i, c in enumerate(raw.chapters)
    ]
    chapters = [c for c in chapters if c.sentences]
    if not chapters:
        raise CorpusError(
            f"{path}: no book text left after removing front and back matter. Check that the "
            "file holds the book itself (not only a licence or contents page)."
        )
    report = IngestReport(
        front_lines=raw.front_lines,
        back_lines=raw.back_lines,
        chapters=len(chapters),
        sentences=sum(len(c.sentences) for c in chapters),
        words=sum(count_words(c.text) for c in chapters),
        notes=list(raw.notes),
    )
    return ParsedBook(
        title=raw.title or _title_from_name(path),
        author=raw.author,
        source_path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        chapters=[Chapter(i, c.title, c.text, c.sentences) for i, c in enumerate(chapters)],
        report=report,
        series_order=raw.series_order if raw.series_order is not None else _series(path),
    )


def _make_chapter(index: int, title: str, text: str) -> Chapter:
    return Chapter(index, title, text, split_sentences(text))


def _series(path: Path) -> int | None:
    match = _SERIES_RE.match(path.stem)
    return int(match.group(1)) if match else None


def _title_from_name(path: Path) -> str:
    """'03-ozma-of-oz' -> 'Ozma of Oz'."""
    stem = _SERIES_RE.sub("", path.stem).strip(" ._-")
    words = [w for w in re.split(r"[\s._-]+", stem or path.stem) if w]
    return title_case(" ".join(words)) or path.name
