"""Chapter detection in plain text: the book's own contents list and its headings.

Three heading styles are tried on the text after the contents list and the one that fits
best wins: `CHAPTER I` / `Chapter Twelve` lines, numbered titles (`1.  The Cyclone`), and
lines that match the contents list's entries (for books whose headings carry no number).
Prologue / Interlude / Epilogue headings are added to any style.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from engine.corpus.numbers import parse_number_prefix, roman_to_int

_TOC_HEAD_RE = re.compile(
    r"^\s*(?:table of contents|contents|list of chapters|chapters)\s*:?\s*$", re.IGNORECASE
)
_TOC_NOISE_RE = re.compile(r"^\s*page\s*$", re.IGNORECASE)
_NUM_ENTRY_RE = re.compile(r"^\s*(\d{1,3}|[IVXLC]{1,7})\s*(?:[.):]|\s-|\s\s)\s*(\S.*)$")
_CHAPTER_RE = re.compile(r"^\s*chapter\s+(.+?)\s*$", re.IGNORECASE)
_NUMBERED_RE = re.compile(r"^\s*(\d{1,3}|[IVXLC]{1,7})\s*[.)]\s+(\S.{0,80})$")
_ROMAN_ALONE_RE = re.compile(r"^\s*([IVXLC]{1,7})\.?\s*$")
_SPECIAL_RE = re.compile(r"^\s*(prologue|epilogue|interlude)\b[\s:.\-]*(.{0,70})$", re.IGNORECASE)
_PAGE_SUFFIX_RE = re.compile(r"(?:\s{2,}|\s*\.{2,}\s*)\d{1,4}\s*$")
_LEAD_NUMBER_RE = re.compile(r"^\s*(?:chapter\s+)?(?:\d{1,4}|[IVXLC]{1,7})\b\s*[.):-]?\s*", re.I)
# Contents entries that name front matter rather than a chapter of the story.
_FRONT_ENTRY_RE = re.compile(
    r"^\W*(introduction|preface|foreword|author'?s note|to my readers|to the reader|dedication"
    r"|acknowledge?ments?|list of illustrations|illustrations|contents)\W*$",
    re.IGNORECASE,
)
_MAX_HEADING = 90
# Headings, contents entries and page-number suffixes are short. The patterns above
# backtrack on long runs of spaces or dots (quadratic time), so they only ever see lines up
# to this length; a longer line is prose, never a heading or an entry.
_PATTERN_CHARS = 300
_TOC_SCAN_FRACTION = 0.3


@dataclass
class Heading:
    """A chapter heading: its first line, the line where its text starts, and its title."""

    line: int
    label: str
    title: str
    body: int


@dataclass
class Toc:
    """The book's own contents list: where it is and its chapter entries."""

    start: int
    end: int
    entries: list[str]


def _blank(lines: list[str], i: int) -> bool:
    return i < 0 or i >= len(lines) or not lines[i].strip()


def _standalone(lines: list[str], i: int) -> bool:
    return _blank(lines, i - 1) and _blank(lines, i + 1) and len(lines[i].strip()) <= _MAX_HEADING


def _short(line: str) -> bool:
    return len(line) <= _PATTERN_CHARS


def entry_title(raw: str) -> str:
    """A contents entry without its number, page number and decoration."""
    if not _short(raw):
        return raw.strip(" -\t")
    text = _PAGE_SUFFIX_RE.sub("", raw)
    if _NUM_ENTRY_RE.match(text) or _CHAPTER_RE.match(text):
        text = _LEAD_NUMBER_RE.sub("", text, count=1)
    text = text.strip(" -\t")
    # "The Cyclone." loses its period; "Mr. H. M. Woggle-Bug, T. E." keeps the initial's.
    return text[:-1] if re.search(r"\w\w\.$", text) else text


def heading_key(text: str) -> str:
    """Comparison key: lower-case letters and digits, without a leading number."""
    text = re.sub(r"^\s*\d{1,4}\s+", "", text)
    return re.sub(r"[^a-z0-9]", "", text.lower())


def find_toc(lines: list[str], start: int, end: int) -> Toc | None:
    """The contents list near the start of the body, with or without a 'Contents' heading."""
    limit = start + max(200, int((end - start) * _TOC_SCAN_FRACTION))
    for i in range(start, min(end, limit)):
        if _short(lines[i]) and _TOC_HEAD_RE.match(lines[i]):
            toc = _read_toc_block(lines, i + 1, end)
            if toc.entries:
                return Toc(i, toc.end, toc.entries)
    return _find_headless_toc(lines, start, min(end, limit))


def _read_toc_block(lines: list[str], i: int, end: int) -> Toc:
    entries: list[str] = []
    raw: list[str] = []
    blanks, last = 0, i
    while i < end:
        line = lines[i]
        if not line.strip():
            blanks += 1
            if blanks >= 3 and entries:
                break
        elif _short(line) and _TOC_NOISE_RE.match(line):
            blanks = 0
        elif entries and heading_key(line) == heading_key(raw[0]):
            break  # the first chapter's heading: the list ended without a gap
        elif len(line.strip()) <= _MAX_HEADING and not _looks_like_prose(line):
            entries.append(entry_title(line))
            raw.append(line)
            blanks, last = 0, i
        else:
            break
        i += 1
    return Toc(i, last + 1, [e for e in entries if e])


def _looks_like_prose(line: str) -> bool:
    # Wrapped prose fills the line and reads on; entries are short or end in a page number.
    stripped = line.strip()
    return len(stripped) > 60 and not (_short(line) and _PAGE_SUFFIX_RE.search(line))


def _find_headless_toc(lines: list[str], start: int, end: int) -> Toc | None:
    run: list[int] = []
    for i in range(start, end):
        if _short(lines[i]) and _NUM_ENTRY_RE.match(lines[i]) \
                and len(lines[i].strip()) <= _MAX_HEADING:
            run.append(i)
            continue
        if len(run) >= 3 and lines[run[0]].strip()[:1] in "1I":
            return _block_toc(lines, run)
        run = []
    return None


def _block_toc(lines: list[str], run: list[int]) -> Toc:
    first = run[0]
    while not _blank(lines, first - 1):
        first -= 1
    return Toc(first, run[-1] + 1, [entry_title(lines[i]) for i in run])


def chapter_entries(toc: Toc | None) -> list[str]:
    """The contents entries that name chapters (introductions and notes are front matter)."""
    if toc is None:
        return []
    return [e for e in toc.entries if not (_short(e) and _FRONT_ENTRY_RE.match(e))]


def _subtitle(lines: list[str], i: int, end: int) -> tuple[str, int]:
    """A title line following a bare heading ('Chapter One' / blank / 'Ojo and Unc Nunkie')."""
    j = i + 1
    while j < end and j <= i + 3 and _blank(lines, j):
        j += 1
    if j >= end or not _standalone(lines, j):
        return "", i + 1
    text = lines[j].strip()
    if not _title_like(text):
        return "", i + 1
    return text, j + 1


def _title_like(text: str) -> bool:
    # A one-line paragraph of story ("She slept.", a line of dialogue) is not a title.
    if len(text) > 70 or not (text[:1].isupper() or text[:1].isdigit()):
        return False
    if text.endswith((",", ";", ":", '"', "'", "\u201d", "\u2019")):
        return False
    # "Mr. H. M. Woggle-Bug, T. E." ends in an initial (a capital); "ran 0." does not
    return not text.endswith(".") or bool(re.search(r"(?:^|\s)[A-Z]\.$", text))


def _chapter_style(lines: list[str], start: int, end: int) -> list[Heading]:
    found = []
    for i in range(start, end):
        match = _CHAPTER_RE.match(lines[i]) if _short(lines[i]) else None
        if not match or not _blank(lines, i - 1) or len(lines[i].strip()) > _MAX_HEADING:
            continue
        parsed = parse_number_prefix(match.group(1))
        if parsed is None:
            continue
        rest = parsed[1].strip(" :.-")
        title, body = (rest, i + 1) if rest else _subtitle(lines, i, end)
        found.append(Heading(i, lines[i].strip(), title, body))
    return found


def _numbered_style(lines: list[str], start: int, end: int) -> list[Heading]:
    found: list[tuple[int, Heading]] = []
    for i in range(start, end):
        line = lines[i] if _short(lines[i]) else ""
        match = _NUMBERED_RE.match(line) or _ROMAN_ALONE_RE.match(line)
        if not match or not _standalone(lines, i):
            continue
        number = _as_int(match.group(1))
        if match.re is _NUMBERED_RE:
            heading = Heading(i, lines[i].strip(), match.group(2).strip(), i + 1)
        else:
            title, body = _subtitle(lines, i, end)
            heading = Heading(i, lines[i].strip(), title, body)
        found.append((number, heading))
    return _consecutive(found)


def _as_int(token: str) -> int:
    return int(token) if token.isdigit() else roman_to_int(token)


def _consecutive(found: list[tuple[int, Heading]]) -> list[Heading]:
    # Keep the run 1, 2, 3...: stray numbered lines (lists, dates) break the sequence.
    chain: list[Heading] = []
    expected = 1
    for number, heading in found:
        if number == expected:
            chain.append(heading)
            expected += 1
    return chain


def _toc_style(lines: list[str], start: int, end: int, entries: list[str]) -> list[Heading]:
    candidates = [i for i in range(start, end) if lines[i].strip() and _standalone(lines, i)]
    keys = {i: heading_key(lines[i]) for i in candidates}
    found, pos = [], 0
    for entry in entries:
        target = heading_key(entry)
        hit = _first_match(candidates, keys, target, pos) if target else None
        if hit is not None:
            pos = candidates.index(hit) + 1
            found.append(Heading(hit, lines[hit].strip(), entry_title(lines[hit]), hit + 1))
    return found if len(found) * 2 >= len(entries) else []


def _first_match(candidates: list[int], keys: dict[int, str], target: str,
                 pos: int) -> int | None:
    for i in candidates[pos:]:
        key = keys[i]
        if key == target:
            return i
        if abs(len(key) - len(target)) <= max(3, len(target) // 5):
            matcher = SequenceMatcher(None, key, target)
            if matcher.quick_ratio() >= 0.85 and matcher.ratio() >= 0.85:
                return i
    return None


def _special_headings(lines: list[str], start: int, end: int) -> list[Heading]:
    found = []
    for i in range(start, end):
        match = _SPECIAL_RE.match(lines[i]) if _short(lines[i]) else None
        if match and _blank(lines, i - 1) and not match.group(2).endswith((".", ",")):
            found.append(Heading(i, lines[i].strip(), lines[i].strip(), i + 1))
    return found


def find_headings(lines: list[str], start: int, end: int, toc: Toc | None) -> list[Heading]:
    """Chapter headings in lines[start:end], in order (empty when the book has none)."""
    entries = chapter_entries(toc)
    styles = [
        _chapter_style(lines, start, end),
        _numbered_style(lines, start, end),
        _toc_style(lines, start, end, entries) if entries else [],
    ]
    exact = [s for s in styles if entries and len(s) == len(entries)]
    best = exact[0] if exact else max(styles, key=len)
    taken = {h.line for h in best}
    extra = [h for h in _special_headings(lines, start, end) if h.line not in taken]
    return sorted(best + extra, key=lambda h: h.line) if len(best) + len(extra) else []
