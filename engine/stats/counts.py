"""Count how often a term appears in each book of a series.

Matching rules (both modes):
- Text and term are normalised alike: lower-cased, curly quotes made straight, and every run
  of whitespace (newlines included) made one space. So "Tin Woodman" matches "TIN\\r\\nWoodman".
- Occurrences are counted left to right without overlap (as `str.count` does): "ha ha" is
  found once in "ha ha ha".
- Substring mode (`exact=False`) counts the term anywhere, inside longer words too:
  "oz" counts "Ozma" and "Oz".
- Exact mode (`exact=True`) counts whole words only: the term may not start or end in the
  middle of a word, so "oz" does not count "Ozma" but does count "Oz", "Oz's" and "_Oz_".
  A word is a run of letters and digits; apostrophes, hyphens and underscores end a word.

Bad terms (empty, or longer than MAX_TERM_CHARS) raise `TermError`, which is both an
`EngineError` and a `ValueError`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.errors import EngineError

IntArray = npt.NDArray[np.signedinteger[Any]]

MAX_TERM_CHARS = 100
CACHE_SIZE = 512  # recent answers kept; popular names are asked for again and again
_WORD_SPLIT = re.compile(r"([^\W_]+)")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


class TermError(EngineError, ValueError):
    """A search term that cannot be counted; the message says how to fix it."""


def normalise(text: str) -> str:
    """Lower-case `text`, straighten curly quotes and collapse whitespace runs to one space."""
    return " ".join(text.translate(_QUOTES).lower().split())


def check_term(term: str) -> str:
    """The normalised term, or TermError if it is empty or too long."""
    norm = normalise(term)
    if not norm:
        raise TermError("The search term is empty: give a word or name to count, e.g. 'Dorothy'.")
    if len(norm) > MAX_TERM_CHARS:
        raise TermError(f"The search term is {len(norm)} characters long; "
                        f"use at most {MAX_TERM_CHARS} (a word or a short phrase).")
    return norm


def _split(norm: str) -> tuple[list[str], list[str]]:
    """(words, gaps) of normalised text; gaps[i] is the text before words[i], plus a last gap."""
    parts = _WORD_SPLIT.split(norm)
    return parts[1::2], parts[0::2]


@dataclass
class _Book:
    """One book's normalised text and its word index."""

    text: str
    word_ids: np.ndarray  # id of each word, in order
    gap_ids: np.ndarray  # id of the gap before each word, plus the gap after the last
    order: np.ndarray  # word positions sorted by word id (stable: ascending per id)
    offsets: np.ndarray  # order[offsets[w]:offsets[w + 1]] are the positions of word id w
    word_starts: IntArray | None = None  # character offset of each word (built when needed)
    spaces: IntArray | None = None  # offsets of the spaces in `text` (built when needed)


class TermCounter:
    """Per-book term counts over a fixed set of books, indexed once at construction."""

    def __init__(self, books: Mapping[str, str]):
        """Index `{book_code: cleaned_text}`; the mapping's order is kept in every result."""
        self._words: dict[str, int] = {}
        self._gaps: dict[str, int] = {}
        staged = [(code, *self._encode(normalise(text))) for code, text in books.items()]
        size = len(self._words)
        self._books = {code: _index(norm, ids, gap_ids, size)
                       for code, norm, ids, gap_ids in staged}
        self._gap_text = list(self._gaps)  # gap id -> gap text (dicts keep insertion order)
        self._cache: dict[tuple[str, bool], dict[str, int]] = {}
        self._lock = threading.Lock()  # counts may be asked from several threads

    def _encode(self, norm: str) -> tuple[str, IntArray, IntArray]:
        """Split normalised text and map its words and gaps to ids."""
        words, gaps = _split(norm)
        wid, gid = self._words, self._gaps
        ids = np.fromiter((wid.setdefault(w, len(wid)) for w in words), np.int32, len(words))
        gap_ids = np.fromiter((gid.setdefault(g, len(gid)) for g in gaps), np.int32, len(gaps))
        return norm, ids, gap_ids

    @property
    def codes(self) -> list[str]:
        """Book codes in series order."""
        return list(self._books)

    def count(self, term: str, exact: bool = False) -> dict[str, int]:
        """Occurrences of `term` in each book, in series order (see the module docstring)."""
        norm = check_term(term)
        key = (norm, exact)
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            found = self._count(norm, exact)
            with self._lock:
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.pop(next(iter(self._cache)))  # oldest first
                self._cache[key] = found
        return dict(found)

    def _count(self, norm: str, exact: bool) -> dict[str, int]:
        """Uncached count of a normalised term."""
        if not exact:
            return {code: book.text.count(norm) for code, book in self._books.items()}
        words, gaps = _split(norm)
        if not words:  # punctuation only: no word edges to respect
            return {code: book.text.count(norm) for code, book in self._books.items()}
        return {code: self._count_exact(book, words, gaps) for code, book in self._books.items()}

    def _count_exact(self, book: _Book, words: list[str], gaps: list[str],
                     end: int | None = None) -> int:
        """Whole-word occurrences of a term split into `words` and `gaps` in one book
        (only those whose words all start before character `end`, when given)."""
        maybe_ids = [self._words.get(w) for w in words]
        maybe_inner = [self._gaps.get(g) for g in gaps[1:-1]]
        ids = [i for i in maybe_ids if i is not None]
        inner = [g for g in maybe_inner if g is not None]
        if len(ids) < len(maybe_ids) or len(inner) < len(maybe_inner):
            return 0  # a word or gap the books never contain
        starts = _candidates(book, ids, inner)
        starts = _check_edges(book, self._gap_text, starts, len(words), gaps[0], gaps[-1])
        if end is not None and starts.size:
            last_word = self._word_starts(book)[starts + len(words) - 1]
            starts = starts[last_word < end]
        return _non_overlapping(starts, len(words))

    # ---- counts in the first part of a book (a reader's progress) --------------------------
    def prefix_end(self, code: str, n_tokens: int) -> int:
        """Where the first `n_tokens` whitespace-separated tokens of a book end, as a
        character offset in its normalised text (tokens survive normalisation one for one)."""
        book = self._books[code]
        if n_tokens <= 0:
            return 0
        spaces = book.spaces
        if spaces is None:
            chars = np.frombuffer(book.text.encode("utf-32-le"), dtype=np.uint32)
            spaces = book.spaces = np.flatnonzero(chars == ord(" "))
        return int(spaces[n_tokens - 1]) if n_tokens <= spaces.size else len(book.text)

    def count_before(self, term: str, code: str, end: int, exact: bool = False) -> int:
        """Occurrences of `term` in one book that lie before character `end` of its
        normalised text (same rules as `count`; `end` from `prefix_end`)."""
        norm = check_term(term)
        book = self._books[code]
        if not exact:
            return book.text.count(norm, 0, end)
        words, gaps = _split(norm)
        if not words:
            return book.text.count(norm, 0, end)
        return self._count_exact(book, words, gaps, end)

    def _word_starts(self, book: _Book) -> IntArray:
        """The character offset of every word of a book (computed once, on first use)."""
        if book.word_starts is None:
            word_len = np.fromiter((len(w) for w in self._words), np.int64, len(self._words))
            gap_len = np.fromiter((len(g) for g in self._gap_text), np.int64,
                                  len(self._gap_text))
            lengths = gap_len[book.gap_ids[:-1]] + word_len[book.word_ids]
            ends = np.cumsum(lengths)
            book.word_starts = ends - word_len[book.word_ids]
        return book.word_starts


def _index(norm: str, ids: IntArray, gap_ids: IntArray, size: int) -> _Book:
    """Build a book's positions index (word id -> sorted positions)."""
    order = np.argsort(ids, kind="stable")
    offsets = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(ids, minlength=size), out=offsets[1:])
    return _Book(norm, ids, gap_ids, order, offsets)


def _candidates(book: _Book, ids: list[int], inner: list[int]) -> np.ndarray:
    """Start positions where the term's words and inner gaps all match, ascending."""
    m, n = len(ids), len(book.word_ids)
    counts = [book.offsets[w + 1] - book.offsets[w] for w in ids]
    rare = int(np.argmin(counts))  # scan from the rarest word: fewest candidates
    w = ids[rare]
    starts = book.order[book.offsets[w]:book.offsets[w + 1]] - rare
    starts = starts[(starts >= 0) & (starts + m <= n)]
    for j, wj in enumerate(ids):
        if j != rare and starts.size:
            starts = starts[book.word_ids[starts + j] == wj]
    for j, gj in enumerate(inner, start=1):
        if starts.size:
            starts = starts[book.gap_ids[starts + j] == gj]
    return starts


def _check_edges(book: _Book, gap_text: list[str], starts: np.ndarray, m: int, lead: str,
                 trail: str) -> np.ndarray:
    """Keep starts whose text around the words matches the term's leading/trailing non-words."""
    if lead:
        starts = np.array([p for p in starts if gap_text[book.gap_ids[p]].endswith(lead)],
                          dtype=np.int64)
    if trail:
        starts = np.array([p for p in starts if gap_text[book.gap_ids[p + m]].startswith(trail)],
                          dtype=np.int64)
    return starts


def _non_overlapping(starts: np.ndarray, m: int) -> int:
    """How many of the ascending `starts` can be taken left to right without overlap."""
    if m == 1 or starts.size < 2 or np.all(np.diff(starts) >= m):
        return int(starts.size)
    taken, next_free = 0, -1
    for p in starts.tolist():
        if p >= next_free:
            taken += 1
            next_free = p + m
    return taken
