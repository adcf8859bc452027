"""The verbatim-copy guard: find runs of words that generated text copies from the books.

Text is cut into words (runs of letters/digits; apostrophes inside a word are dropped, so
"Dorothy's" and "Dorothy’s" are both "dorothys"), lower-cased, and every k consecutive words
(a k-gram) are hashed. A book is stored as the sorted unique hashes of its k-grams. A run of
m consecutive k-grams of a text that all occur in the books covers m + k - 1 copied words,
so copies of k words or more are seen and shorter ones are not. Case, punctuation, quotes
and line breaks do not hide a copy. The k-grams of a run may come from different places in
the books; that can only make the guard stricter.

Hashes are stable across processes and machines (blake2b word hashes combined by a fixed
polynomial; never Python's `hash()`), so they can be computed at ingest and stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import numpy as np

DEFAULT_K = 8
HASH_SCHEME = "blake2b8-poly-splitmix64-v1"  # store with the hashes; recompute if it changes
# A word: letters/digits, with any apostrophes inside it (which normalising removes).
_WORD = re.compile(r"[^\W_]+(?:['\u2018\u2019]+[^\W_]+)*")
_PLAIN_WORD = re.compile(r"[^\W_]+")
_APOSTROPHES = str.maketrans("", "", "'\u2018\u2019")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so each word's term stays invertible
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s|$)")


def words(text: str) -> list[str]:
    """Normalised words of `text`: the same list as `words_and_spans(text)[0]`, faster."""
    return _PLAIN_WORD.findall(text.translate(_APOSTROPHES).lower())


def words_and_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Normalised words of `text` and each word's (start, end) character span in `text`."""
    tokens, spans = [], []
    for m in _WORD.finditer(text):
        tokens.append(m.group().translate(_APOSTROPHES).lower())
        spans.append(m.span())
    return tokens, spans


def _word_hashes(tokens: Sequence[str]) -> np.ndarray:
    """A stable 64-bit hash (blake2b, 8-byte digest) of each word, once per distinct word."""
    table = {w: int.from_bytes(hashlib.blake2b(w.encode("utf-8"), digest_size=8).digest(),
                               "little") for w in set(tokens)}
    return np.fromiter((table[w] for w in tokens), dtype=np.uint64, count=len(tokens))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the whole hash."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = x ^ (x >> np.uint64(31))
    return out


def _kgrams(tokens: Sequence[str], k: int) -> np.ndarray:
    """Hash of each k-gram of `tokens`, in text order (length len(tokens) - k + 1, or 0)."""
    n = len(tokens) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    wh = _word_hashes(tokens)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(k):  # arrays wrap modulo 2**64 silently, which is the intent
        h = h * _MULTIPLIER + wh[j:j + n]
    return _mix(h)


def _check_k(k: int) -> None:
    """ValueError unless k is a usable k-gram size."""
    if not isinstance(k, int) or k < 2:
        raise ValueError(f"k-gram size must be an integer of at least 2, got {k!r}")


def kgram_hashes(text: str, k: int = DEFAULT_K) -> np.ndarray:
    """Sorted unique uint64 hashes of the normalised word k-grams of `text`."""
    _check_k(k)
    return _sorted_unique(_kgrams(words(text), k))


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values of `a` (np.unique is ~10x slower on large uint64 arrays)."""
    a = np.sort(a)
    if a.size < 2:
        return a
    keep = np.empty(a.size, dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


class VerbatimGuard:
    """Detects runs of words copied from the books whose k-gram hashes it was given."""

    def __init__(self, hash_arrays: Iterable[np.ndarray], k: int = DEFAULT_K):
        """Merge per-book hash arrays (from `kgram_hashes` with the same k) into one index."""
        _check_k(k)
        arrays = [np.asarray(a, dtype=np.uint64) for a in hash_arrays]
        self.k = k
        self._index = _sorted_unique(np.concatenate(arrays)) if arrays else np.zeros(0, np.uint64)

    @classmethod
    def from_texts(cls, texts: Iterable[str], k: int = DEFAULT_K) -> VerbatimGuard:
        """A guard built straight from book texts."""
        return cls([kgram_hashes(t, k) for t in texts], k)

    @property
    def size(self) -> int:
        """Number of distinct k-grams in the index."""
        return int(self._index.size)

    def _hits(self, tokens: Sequence[str]) -> np.ndarray:
        """For each k-gram of `tokens`, whether it occurs in the books."""
        q = _kgrams(tokens, self.k)
        if q.size == 0 or self._index.size == 0:
            return np.zeros(q.size, dtype=bool)
        pos = np.minimum(np.searchsorted(self._index, q), self._index.size - 1)
        hits: np.ndarray = self._index[pos] == q
        return hits

    def copied_runs(self, text: str) -> list[tuple[int, int, int]]:
        """Every maximal copied run as (n_words, start_char, end_char), in text order."""
        tokens, spans = words_and_spans(text)
        hits = self._hits(tokens).astype(np.int8)
        edges = np.diff(np.concatenate(([0], hits, [0])))
        runs = []
        for first, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1),
                               strict=True):
            last_word = int(stop) - 1 + self.k - 1
            runs.append((last_word - int(first) + 1, spans[first][0], spans[last_word][1]))
        return runs

    def longest_copy(self, text: str) -> tuple[int, int, int]:
        """(n_words, start_char, end_char) of the longest copied run; (0, 0, 0) if none.

        Runs shorter than k words cannot be seen, so n_words is 0 or at least k.
        """
        runs = self.copied_runs(text)
        return max(runs, key=lambda r: (r[0], -r[1])) if runs else (0, 0, 0)

    def cut(self, text: str, max_words: int) -> str:
        """`text` up to the first copied run of `max_words` or more words, else unchanged.

        The cut falls at the last sentence end before the run, or just before the run's
        first word if no sentence ends before it; trailing whitespace is dropped.
        """
        if max_words < self.k:
            raise ValueError(f"max_words ({max_words}) must be at least the guard's k-gram "
                             f"size ({self.k}); shorter copies cannot be detected")
        for n_words, start, _ in self.copied_runs(text):
            if n_words >= max_words:
                return _cut_before(text, start)
        return text

    def is_copied(self, text: str, max_words: int) -> bool:
        """True if `text` holds a copied run of `max_words` or more words."""
        return any(n_words >= max_words for n_words, _, _ in self.copied_runs(text))


def _cut_before(text: str, start: int) -> str:
    """`text` cut at the last sentence end before `start`, else at `start`."""
    head = text[:start]
    last_end = None
    for m in _SENTENCE_END.finditer(head):
        last_end = m.end()
    return (head[:last_end] if last_end is not None else head).rstrip()
