"""What a reader may see of a stats answer: the cache keys that tell views apart, the lines
of books they have not read (figures inside spoiler spans), and the note that says why.

``StatsService`` keeps finished answers in one cache shared by every reader, so an answer's
key carries everything of the reader's ``Visibility`` that changes it, and nothing more:
readers who may see the whole range share the full answer; a reader cut short gets (and
shares) only the answer for that very cut. A full answer can never be served to a reader
with less progress, nor a cut one to a reader with more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from bot.safety.progress import BookLike, Visibility
from bot.safety.spoilers import hide


class Sentences(Protocol):
    """What a sentiment key needs of a book's data: its sentences and chapter starts."""

    texts: list[str]

    def chapter_start(self, k: int) -> int: ...


def sentiment_key(info: Any, data: Sentences, lo: int, hi: int, label: str,
                  view: Visibility) -> tuple[Any, ...]:
    """The cache key of /sentiment over sentences lo..hi as ``view`` shows it."""
    read = view.chapters_read(info.code)
    cut = len(data.texts) if read is None else data.chapter_start(read)
    key: tuple[Any, ...] = ("sentiment", info.id, lo, hi, label)
    # within what the reader has read: the same answer as everyone's; else this cut's own
    return key if hi <= cut else (*key, "cut", read, view.source)


def wordcount_key(term: str, exact: bool, label: str, view: Visibility,
                  books: Sequence[BookLike]) -> tuple[Any, ...]:
    """The cache key of /wordcount as ``view`` shows it (one entry per book in order)."""
    reads = tuple(_open_chapters(view.chapters_read(b.code), b.n_chapters) for b in books)
    key: tuple[Any, ...] = ("wordcount", term, exact, label)
    if all(r is None for r in reads):
        return key
    return (*key, "cut", reads, view.source)


def _open_chapters(read: int | None, n_chapters: int) -> int | None:
    """Chapters shown openly: None for the whole book, else 0..n-1 (as ``count_line``)."""
    return None if read is None or read >= n_chapters else max(0, read)


def count_line(b: BookLike, count: int, read: int | None,
               count_before: Callable[[Any, int], int]) -> tuple[str, tuple[str, int] | None]:
    """One book's /wordcount line, and its bar (label, height), or None when all hidden.

    ``read`` is how many of its chapters the reader has read (None: all);
    ``count_before(book, read)`` counts the term in those chapters."""
    if read is None or read >= b.n_chapters:
        return f"{b.code:<6} {count:>6,}  {b.title}", (b.code, count)
    if read <= 0:
        return f"{b.code:<6} {hide(f'{count:,}')}  {b.title}", None
    seen = count_before(b, read)
    return (f"{b.code:<6} {seen:>6,}  {b.title} (chapters 1–{read}; "
            f"{hide(f'{count:,} in the whole book')})", (f"{b.code} 1–{read}", seen))


def hidden_note(view: Visibility, what: str) -> str:
    """The line that says what is hidden, why, and how to see it."""
    why = view.source or "your reading progress"
    return (f"Spoilers hidden ({what}, by {why}): their figures are behind spoiler tags and "
            "left out of the chart. Add `reveal:true` to see everything.")
