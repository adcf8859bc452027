"""Reading progress and what it makes visible: per reader, per book, in series order.

A reader's entries say how far they are in some books (a chapter, or finished). Every book
before the furthest one they named (in series order) counts as read, the book they are in
counts up to their chapter, later books not at all. A reader with no entries gets the
place's policy (``all``, ``none``, ``first N`` books, ``through <book>``), which moderators
set per server or subreddit; ``[spoilers] default_policy`` is the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import delete, select

from bot.errors import BadRequest
from bot.store import ReadingProgress, Store
from engine.corpus.numbers import parse_number_prefix


class BookLike(Protocol):
    """What progress needs to know of a book (``StatsService.books()`` gives these)."""

    @property
    def code(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def n_chapters(self) -> int: ...


@dataclass(frozen=True)
class Entry:
    """One book's progress: chapters 0..chapter_idx read, or the whole book."""

    chapter_idx: int | None
    finished: bool = False


@dataclass(frozen=True)
class Visibility:
    """How many chapters of each book a reply may show openly (None: all of them)."""

    read: Mapping[str, int | None] = field(default_factory=dict)
    source: str = ""
    reveal: bool = False
    default: int | None = None  # books not in ``read`` (ingested after it was computed)

    def chapters_read(self, code: str) -> int | None:
        """Chapters of ``code`` the reader has read: None for all of it, 0 for none."""
        if self.reveal:
            return None
        return self.read.get(code, self.default)

    @property
    def everything(self) -> bool:
        """True when nothing needs hiding."""
        return self.reveal or (self.default is None
                               and all(v is None for v in self.read.values()))


EVERYTHING = Visibility()

# ---- policies -------------------------------------------------------------------------------


def parse_policy(text: str, books: Sequence[BookLike]) -> str:
    """A policy as typed ('all', 'none', 'first 2', 'through wor', 'wor') -> its stored form."""
    t = " ".join((text or "").lower().split())
    if t in ("all", "everything", "off"):
        return "all"
    if t in ("none", "nothing"):
        return "none"
    m = re.fullmatch(r"first(?:\s+(\d{1,3}))?(?:\s+books?)?", t)
    if m:
        n = int(m.group(1) or 1)
        if n < 1:
            raise BadRequest("'first N' needs N of at least 1")
        return f"first:{n}"
    ref = t.removeprefix("through ").removeprefix("up to ").strip()
    hits = [b for b in books if b.code == ref or b.title.lower() == ref]
    if len(hits) == 1:
        return f"through:{hits[0].code}"
    raise BadRequest(f"spoiler policy {text!r} not understood: use all, none, 'first N' "
                     "(books) or 'through <book code>'")


def describe_policy(policy: str) -> str:
    """A stored policy in words."""
    kind, _, arg = policy.partition(":")
    if kind == "first":
        return "only the first book" if arg == "1" else f"only the first {arg} books"
    if kind == "through":
        return f"books up to {arg}"
    return {"none": "no books read", "all": "every book read"}.get(kind, policy)


def visibility(books: Sequence[BookLike], entries: Mapping[str, Entry], policy: str,
               policy_source: str, reveal: bool = False) -> Visibility:
    """What a reader may see, from their entries, else the place's policy."""
    codes = [b.code for b in books]
    known = [c for c in codes if c in entries]
    if known:
        furthest = max(codes.index(c) for c in known)
        read: dict[str, int | None] = {}
        for i, book in enumerate(books):
            entry = entries.get(book.code)
            if i < furthest or (entry is not None and entry.finished):
                read[book.code] = None
            elif i == furthest and entry is not None:
                read[book.code] = min(book.n_chapters, (entry.chapter_idx or 0) + 1)
            else:
                read[book.code] = 0
        return Visibility(read, "your reading progress", reveal, default=0)
    kind, _, arg = policy.partition(":")
    if kind == "all":
        return Visibility({}, "", reveal, default=None)
    through = len(codes)
    if kind == "none":
        through = 0
    elif kind == "first":
        through = int(arg)
    elif kind == "through" and arg in codes:
        through = codes.index(arg) + 1
    read = {c: (None if i < through else 0) for i, c in enumerate(codes)}
    return Visibility(read, f"{policy_source}: {describe_policy(policy)}", reveal, default=0)


# ---- chapters --------------------------------------------------------------------------------


def chapter_index(titles: Sequence[str], n: int) -> int:
    """The 0-based section that ends chapter ``n``: by the numbers in the titles when most
    have one ('Chapter 12', '12: Title', 'XII'), else by position (prologue included)."""
    if n < 1:
        raise BadRequest("chapter numbers start at 1")
    numbers = [_title_number(t) for t in titles]
    if sum(x is not None for x in numbers) * 2 > len(titles):
        found = [i for i, x in enumerate(numbers) if x == n]
        if found:
            return found[-1]
        top = max(x for x in numbers if x is not None)
        raise BadRequest(f"this book has no chapter {n}; its chapters go up to {top}")
    if n > len(titles):
        raise BadRequest(f"this book has {len(titles)} chapters; give a number up to "
                         f"{len(titles)} or say 'finished'")
    return n - 1


def _title_number(title: str) -> int | None:
    text = re.sub(r"^\s*chapter\s+", "", title, flags=re.IGNORECASE)
    found = parse_number_prefix(text)
    return found[0] if found else None


# ---- storage ---------------------------------------------------------------------------------


def entries(store: Store, platform: str, user_key: str) -> dict[str, Entry]:
    """A reader's progress entries by book code."""
    with store.session() as s:
        rows = s.scalars(select(ReadingProgress).where(ReadingProgress.platform == platform,
                                                       ReadingProgress.user == user_key))
        return {r.book_code: Entry(r.chapter_idx, r.finished) for r in rows}


def save(store: Store, platform: str, user_key: str, code: str, entry: Entry) -> None:
    """Set a reader's progress in one book (replacing what was there)."""
    with store.session() as s:
        row = s.get(ReadingProgress, (platform, user_key, code))
        if row is None:
            row = ReadingProgress(platform=platform, user=user_key, book_code=code)
            s.add(row)
        row.chapter_idx, row.finished = entry.chapter_idx, entry.finished


def clear(store: Store, platform: str, user_key: str) -> int:
    """Forget every progress entry of a reader; returns how many there were."""
    with store.session() as s:
        result = s.execute(delete(ReadingProgress).where(ReadingProgress.platform == platform,
                                                         ReadingProgress.user == user_key))
        return int(getattr(result, "rowcount", 0) or 0)
