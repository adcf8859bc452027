"""Plain-text books (Project Gutenberg or not) -> title, author and chapter texts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.corpus.cleaning import (
    clean_inline,
    clean_lines,
    is_the_end,
    split_paragraphs,
    title_case,
)
from engine.corpus.gutenberg import clean_author, decode_bytes, split_plain_text
from engine.corpus.limits import CorpusLimits, check_text_size
from engine.corpus.plaintext_chapters import (
    Heading,
    Toc,
    chapter_entries,
    find_headings,
    find_toc,
)

_ALSO_BY_RE = re.compile(
    r"^\W*(?:also by|by the same author|other books by|books by|the (?:\w+ ){0,3}books\b)",
    re.IGNORECASE,
)
_BY_RE = re.compile(r"^\s*by\s+(\S.{1,60})$", re.IGNORECASE)
_BACK_SCAN = 80


@dataclass
class RawChapter:
    """A chapter before sentence splitting."""

    title: str
    paragraphs: list[str]


@dataclass
class RawBook:
    """What a reader hands back to `engine.corpus`: text plus bookkeeping for the report."""

    title: str | None
    author: str | None
    chapters: list[RawChapter]
    front_lines: int
    back_lines: int
    notes: list[str] = field(default_factory=list)
    series_order: int | None = None


def read_text_book(path: Path, data: bytes, limits: CorpusLimits | None = None) -> RawBook:
    """Decode, strip Gutenberg matter, find chapters and clean their text."""
    text = decode_bytes(data, path)
    check_text_size(path, len(text), limits or CorpusLimits())
    plain = split_plain_text(text)
    lines, start, end = plain.lines, plain.body_start, plain.body_end
    toc = find_toc(lines, start, end)
    after_toc = toc.end if toc else start
    headings = find_headings(lines, after_toc, end, toc)
    notes = _toc_notes(toc, headings)
    if headings:
        first = headings[0].line
        cut = _back_matter_start(lines, headings[-1].body, end)
        chapters, dropped = _chapters_from_headings(lines, headings, cut)
    else:
        first = _first_text_line(lines, after_toc, end)
        cut = _back_matter_start(lines, first, end)
        chapters, dropped = _single_chapter(lines, first, cut, notes)
    if dropped:
        notes.append(f"dropped {dropped} boilerplate paragraph(s) inside the text")
    title, author = _title_author(plain.meta, lines, start, first, path)
    return RawBook(title, author, chapters, first, len(lines) - cut, notes)


def _toc_notes(toc: Toc | None, headings: list[Heading]) -> list[str]:
    entries = chapter_entries(toc)
    if not entries:
        return ["no table of contents found"]
    numbered = [h for h in headings if not h.label.lower().startswith(_SPECIAL)]
    if len(numbered) != len(entries):
        return [f"table of contents lists {len(entries)} chapters, found {len(numbered)}"]
    return []


_SPECIAL = ("prologue", "epilogue", "interlude")


def _chapters_from_headings(lines: list[str], headings: list[Heading],
                            cut: int) -> tuple[list[RawChapter], int]:
    chapters, dropped = [], 0
    for n, heading in enumerate(headings):
        stop = headings[n + 1].line if n + 1 < len(headings) else cut
        paragraphs, lost = clean_lines(lines[heading.body : stop])
        dropped += lost
        if paragraphs:
            chapters.append(RawChapter(_chapter_title(heading), paragraphs))
    return chapters, dropped


def _chapter_title(heading: Heading) -> str:
    title = clean_inline(heading.title or heading.label)
    # All-capitals headings read better in title case ("A TERRIBLE LOSS").
    return title_case(title) if title.isupper() else title


def _single_chapter(lines: list[str], first: int, cut: int,
                    notes: list[str]) -> tuple[list[RawChapter], int]:
    notes.append("no chapter headings found: the whole text is one chapter")
    paragraphs, dropped = clean_lines(lines[first:cut])
    return ([RawChapter("Chapter 1", paragraphs)] if paragraphs else []), dropped


def _first_text_line(lines: list[str], start: int, end: int) -> int:
    for i in range(start, end):
        if lines[i].strip():
            return i
    return end


def _back_matter_start(lines: list[str], start: int, end: int) -> int:
    """Where 'THE END' or a closing 'also by' list begins (else `end`)."""
    lo = max(start, end - _BACK_SCAN)
    for i in range(lo, end):
        if is_the_end(lines[i]) or (
            _ALSO_BY_RE.match(lines[i]) and _only_list_after(lines, i, end)
        ):
            return i
    return _trim_blank_tail(lines, start, end)


def _only_list_after(lines: list[str], i: int, end: int) -> bool:
    rest = [x.strip() for x in lines[i + 1 : end] if x.strip()]
    return bool(rest) and all(len(x) <= 60 and not x.endswith((".", '"')) for x in rest)


def _trim_blank_tail(lines: list[str], start: int, end: int) -> int:
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _title_author(meta: dict[str, str], lines: list[str], start: int, first: int,
                  path: Path) -> tuple[str | None, str | None]:
    title = meta.get("title")
    author = meta.get("author")
    head = [" ".join(p).strip() for p in split_paragraphs(lines[start:first])[:8]]
    if not title and head and len(head[0]) <= 80:
        title = head[0]
    if not author:
        author = _by_line(head)
    return (clean_inline(title) if title else None), (clean_author(author) if author else None)


def _by_line(head: list[str]) -> str | None:
    for n, text in enumerate(head):
        match = _BY_RE.match(text)
        if match:
            return match.group(1)
        if text.lower() == "by" and n + 1 < len(head) and len(head[n + 1]) <= 60:
            return head[n + 1]
    return None
