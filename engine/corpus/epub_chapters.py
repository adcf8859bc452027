"""EPUB 2/3 books -> chapters, read with zipfile and xml.etree (no ebooklib).

The package (container.xml -> OPF -> manifest + spine) is read in `engine.corpus.epub_package`.
Here each spine page is kept or dropped (cover, contents, copyright, "also by",
acknowledgements, title pages...) by its declared type (epub:type, nav landmarks, OPF
guide), then its first heading, then its file name; prologues, interludes and epilogues
are always kept. Chapters start at h1/h2 headings or at pages the book's own contents
list points to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.corpus.cleaning import clean_inline, is_boilerplate
from engine.corpus.epub_package import Package, read_package
from engine.corpus.epub_pages import Page, parse_page
from engine.corpus.limits import CorpusLimits, check_text_size
from engine.corpus.numbers import parse_number_prefix
from engine.corpus.plaintext import RawBook, RawChapter

_KEEP_TYPES = {"chapter", "prologue", "epilogue", "interlude", "prelude", "part", "bodymatter"}
_DROP_TYPES = {
    "cover", "toc", "landmarks", "loi", "lot", "copyright-page", "copyright", "titlepage",
    "title-page", "halftitlepage", "dedication", "acknowledgments", "acknowledgements",
    "colophon", "imprint", "other-credits", "contributors", "index", "foreword", "preface",
    "seriespage", "adcard", "also-by", "other-books", "backmatter", "frontmatter",
}  # fmt: skip
_HEAD_KEEP_RE = re.compile(r"^\W*(prologue|prelude|epilogue|interlude|chapter)\b", re.I)
_HEAD_DROP_RE = re.compile(
    r"^\W*(table of contents|contents|copyright|also by|other (?:books|titles)|books by"
    r"|by the same author|acknowledge?ments?|about the author|dedication|praise for"
    r"|title page|cover)\b",
    re.IGNORECASE,
)
_NAME_DROP_RE = re.compile(
    r"(?:^|[^a-z])(cover|toc|nav|contents|copyright|title|titlepage|halftitle|dedication"
    r"|also[-_]?by|other[-_]?books|acknowledg\w*|colophon|about[-_]?(?:the[-_]?)?author"
    r"|praise|ads?)(?:[^a-z]|$)",
    re.IGNORECASE,
)
_COPYRIGHT_RE = re.compile(r"©|\bcopyright\b|all rights reserved|\bisbn\b", re.IGNORECASE)
_COPYRIGHT_MAX_WORDS = 400
_NOTE_LIMIT = 8


# A spine page with its position and why it was dropped (None: kept).
_Dropped = tuple[int, str, Page, str | None]


@dataclass
class _Chapter:
    titles: list[str]
    paragraphs: list[str] = field(default_factory=list)


def read_epub_book(path: Path, data: bytes, limits: CorpusLimits | None = None) -> RawBook:
    """Read an EPUB's spine into chapters, dropping cover, contents and other front matter."""
    limits = limits or CorpusLimits()
    package = read_package(path, data, limits)
    kept: list[_Dropped] = []  # (position, href, page, None) for pages that are story text
    dropped: list[_Dropped] = []
    chars = 0
    for position, href in enumerate(package.spine):
        page = parse_page(package.read_text(href))
        chars += sum(len(b.text) for b in page.blocks)
        check_text_size(path, chars, limits)
        reason = _drop_reason(package, href, page)
        (dropped if reason else kept).append((position, href, page, reason))
    if not kept:
        return RawBook(package.title, package.author, [], 0, 0, [], package.series_order)
    chapters, boilerplate = _build_chapters(package, [(h, p) for _, h, p, _ in kept])
    notes = _notes(dropped, chapters, boilerplate)
    if package.spine_repeats:
        notes.append(f"read {package.spine_repeats} repeated reading-order entr"
                     f"{'y' if package.spine_repeats == 1 else 'ies'} once")
    front, back = _front_back(dropped, kept[0][0], kept[-1][0])
    raws = [RawChapter(_pick_title(c.titles, n), c.paragraphs) for n, c in enumerate(chapters)]
    return RawBook(package.title, package.author, raws, front, back, notes, package.series_order)


def _drop_reason(package: Package, href: str, page: Page) -> str | None:
    """Why a spine page is not story text, or None to keep it."""
    if href in package.nav_hrefs:
        return "navigation"
    types = page.types | package.kinds.get(href, set())
    headings = page.headings()
    first = headings[0] if headings else ""
    if types & _KEEP_TYPES - {"bodymatter"} or _HEAD_KEEP_RE.match(first):
        return None
    if types & _DROP_TYPES:
        return sorted(types & _DROP_TYPES)[0]
    if _HEAD_DROP_RE.match(first):
        return f"heading {first!r}"
    if first and package.title and _key(first) == _key(package.title):
        return "title page"
    if _NAME_DROP_RE.search(Path(href).stem) and "bodymatter" not in types:
        return "file name"
    return _content_reason(page)


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _content_reason(page: Page) -> str | None:
    words = page.words()
    if words == 0:
        return "no text"
    text = " ".join(b.text for b in page.blocks)
    if words < _COPYRIGHT_MAX_WORDS and _COPYRIGHT_RE.search(text):
        return "copyright notice"
    return None


def _build_chapters(package: Package,
                    pages: list[tuple[str, Page]]) -> tuple[list[_Chapter], int]:
    chapters: list[_Chapter] = []
    boilerplate = 0
    for href, page in pages:
        label = package.labels.get(href)
        has_heading = any(0 < b.level <= 2 for b in page.blocks)
        if not has_heading and (label or not chapters):
            chapters.append(_Chapter([label] if label else []))
        pending: list[str] = []  # text before the page's first heading (an epigraph, say)
        fresh = False  # a heading was just read: a following heading is its subtitle
        started = False  # a heading on this page has started a chapter
        for block in page.blocks:
            text = clean_inline(block.text)
            if not text:
                continue
            if 0 < block.level <= 2:
                if fresh:  # "Chapter 1" then "The Title": one heading
                    chapters[-1].titles.append(text)
                else:
                    chapters.append(_Chapter([text], pending))
                    pending, fresh, started = [], True, True
            elif is_boilerplate(text):
                boilerplate += 1
            elif has_heading and not started:
                pending.append(text)
            else:
                chapters[-1].paragraphs.append(text)
                fresh = False
        if pending:
            chapters[-1].paragraphs.extend(pending)
    return chapters, boilerplate


def _is_bare_label(title: str) -> bool:
    text = re.sub(r"^\W*(?:chapter|part|book)\s*", "", title, flags=re.IGNORECASE)
    parsed = parse_number_prefix(text)
    return bool(parsed and not parsed[1].strip(" .:-"))


def _pick_title(titles: list[str], index: int) -> str:
    """'Chapter 1' + 'Stormblessed' -> 'Stormblessed'; no heading -> 'Chapter N'."""
    described = [t for t in titles if not _is_bare_label(t)]
    if described:
        return described[-1]
    return titles[0] if titles else f"Chapter {index + 1}"


def _notes(dropped: list[_Dropped], chapters: list[_Chapter], boilerplate: int) -> list[str]:
    notes = []
    if dropped:
        shown = [f"{Path(h).name} ({r})" for _, h, _, r in dropped[:_NOTE_LIMIT]]
        more = f" and {len(dropped) - _NOTE_LIMIT} more" if len(dropped) > _NOTE_LIMIT else ""
        notes.append(f"dropped {len(dropped)} EPUB page(s): {', '.join(shown)}{more}")
    empty = sum(1 for c in chapters if not c.paragraphs)
    if empty:
        notes.append(f"skipped {empty} heading-only page(s) such as part titles")
    if boilerplate:
        notes.append(f"dropped {boilerplate} boilerplate paragraph(s) inside the text")
    if not any(c.titles for c in chapters):
        notes.append("no chapter headings found: chapters follow the EPUB's page files")
    return notes


def _front_back(dropped: list[_Dropped], first_kept: int, last_kept: int) -> tuple[int, int]:
    """Blocks (paragraphs and headings) on dropped pages before and after the story."""
    front = sum(len(p.blocks) for pos, _, p, _ in dropped if pos < first_kept)
    back = sum(len(p.blocks) for pos, _, p, _ in dropped if pos > last_kept)
    return front, back
