"""Finding block-list words in text, through the usual disguises, in linear time.

Whole words only (spaces and punctuation end a word, so "Scunthorpe" or "class" never match
"cunt" or "ass"), after undoing:

- case, accents, full-width and other compatibility forms (NFKD), look-alike Cyrillic and
  Greek letters, and zero-width or other invisible characters;
- leetspeak digits and symbols inside a word (``sh1t``, ``@ss``, ``a$$``); a token with no
  letter at all is a number or a symbol run and is left alone;
- stretched letters (``fuuuck``): a run of a letter may be longer than in the listed word,
  never shorter, so "as" is not "ass";
- separators inside a word (``f.u.c.k``, ``f-u-c-k``, ``f_u_c_k``, ``f*u*c*k``) and spaced
  letters (``f u c k``); the pieces between separators are checked as words too;
- ``i``/``l`` and ``1``/``!``/``|`` are one letter (they stand in for each other).

Entries of several words match consecutive words. Each character is looked at a bounded
number of times (a token, its pieces, at most ``MAX_PHRASE_WORDS`` phrases and
``MAX_SPACED`` spaced-letter runs), so the time is linear in the text's length.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

MASK = "█"
MAX_PHRASE_WORDS = 4
MAX_SPACED = 24  # longest spaced-out word looked for ("f u c k" is 4)

LETTER, LEET, DIGIT, SEP, SPACE, OTHER = range(6)
_LEET = {"@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "£": "l", "¡": "i"}
_DIGITS = {"0": "o", "1": "i", "2": "z", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t",
           "8": "b", "9": "g"}
_SEPARATORS = set(".-_*~'’‘`^:;,/\\=·•\"“”‐‑‒–—")
# Cyrillic and Greek letters that look like Latin ones (lower case; input is casefolded first)
_CONFUSABLE = str.maketrans("авсеһіјкмнорѕтухьԁԛԝαβεικνορτυχ", "abcehijkmhopstyxbdqwabeikvoptux")


@lru_cache(maxsize=8192)
def classify(ch: str) -> tuple[int, str]:
    """(kind, folded letters) of one character; letters fold to lower-case ASCII if they can."""
    if ch in _DIGITS:
        return DIGIT, _DIGITS[ch]
    if ch in _LEET:
        return LEET, _canon(_LEET[ch])
    if ch.isspace():
        return SPACE, ""
    if ch in _SEPARATORS or unicodedata.category(ch) in ("Cf", "Mn", "Me") or ch == "\u00ad":
        return SEP, ""
    if ch.isalpha():
        base = "".join(c for c in unicodedata.normalize("NFKD", ch.casefold())
                       if not unicodedata.combining(c))
        return LETTER, _canon(base.translate(_CONFUSABLE)) or ch
    if unicodedata.category(ch) == "Nd":  # other scripts' digits: a number, like 0-9
        return DIGIT, ""
    return OTHER, ""


def _canon(letters: str) -> str:
    return letters.replace("l", "i")


def fold(text: str) -> str:
    """A list entry's letters the way the matcher sees words (separators dropped)."""
    out = []
    for ch in text:
        kind, letters = classify(ch)
        if kind == SPACE:
            out.append(" ")
        elif kind in (LETTER, LEET, DIGIT):
            out.append(letters)
    return " ".join("".join(out).split())


def runs(folded: str, limit: int) -> tuple[str, tuple[int, ...]] | None:
    """``folded`` with each run of a letter made one, and the run lengths; None past limit."""
    letters: list[str] = []
    counts: list[int] = []
    for ch in folded:
        if letters and letters[-1] == ch:
            counts[-1] += 1
        else:
            if len(letters) == limit:
                return None
            letters.append(ch)
            counts.append(1)
    return "".join(letters), tuple(counts)


@dataclass(frozen=True)
class Hit:
    """A block-list entry found at text[start:end]."""

    start: int
    end: int
    entry: str


@dataclass
class _Unit:
    kind: int
    letters: str
    pos: int


@dataclass
class _Token:
    units: list[_Unit] | None  # None for a plain word of ASCII letters (the fast path)
    spaced: bool  # only whitespace between this token and the one before
    start: int = 0
    letters: str = ""  # a plain word's folded letters

    def folded(self) -> str:
        """The token's letters as the matcher sees them (separators dropped)."""
        if self.units is None:
            return self.letters
        return "".join(u.letters for u in self.units)

    @property
    def end(self) -> int:
        if self.units is None:
            return self.start + len(self.letters)
        return self.units[-1].pos + 1 if self.units else self.start

    def word(self) -> list[_Unit]:
        """The token's letters (separators dropped) as units."""
        if self.units is None:
            return [_Unit(LETTER, ch, self.start + i) for i, ch in enumerate(self.letters)]
        return [u for u in self.units if u.kind != SEP]


class WordMatcher:
    """Whole-word, obfuscation-tolerant matching of a fixed list of words and phrases."""

    def __init__(self, block: Iterable[str], allow: Iterable[str] = ()):
        allowed = {fold(a) for a in allow if fold(a)}
        self._index: dict[str, list[tuple[tuple[int, ...], str]]] = {}
        self._prefixes: set[str] = set()  # of one-word keys, for spaced-out letters
        self._firsts: set[str] = set()  # first words of phrases
        self._longest = 1
        for entry in block:
            folded = fold(entry)
            if not folded or folded in allowed or not any(c.isalpha() for c in folded):
                continue
            key, counts = runs(folded, len(folded)) or ("", ())
            self._index.setdefault(key, []).append((counts, " ".join(entry.lower().split())))
            self._longest = max(self._longest, len(key))
            if " " in key:
                self._firsts.add(key.split(" ")[0])
            else:
                self._prefixes.update(key[:i] for i in range(1, len(key) + 1))

    def __len__(self) -> int:
        return sum(len(v) for v in self._index.values())

    def _lookup(self, folded: str) -> str | None:
        """The entry that ``folded`` spells (stretched letters allowed), or None."""
        found = runs(folded, self._longest)
        return None if found is None else self._match(*found)

    def _match(self, key: str, have: tuple[int, ...]) -> str | None:
        for counts, entry in self._index.get(key, ()):
            if all(h >= n for h, n in zip(have, counts, strict=True)):
                return entry
        return None

    def find(self, text: str) -> list[Hit]:
        """Every block-list word or phrase in ``text``, ordered by position."""
        hits: dict[tuple[int, int], Hit] = {}
        tokens = list(_tokens(text))
        for token in tokens:
            if token.units is None:
                entry = self._lookup(token.letters)
                if entry is not None:
                    span = (token.start, token.start + len(token.letters))
                    hits.setdefault(span, Hit(*span, entry))
                continue
            for units in _candidates(token.units):
                self._check(units, hits)
        self._spaced_runs(tokens, hits)
        self._phrases(tokens, hits)
        return sorted(hits.values(), key=lambda h: (h.start, h.end))

    def _check(self, units: list[_Unit], hits: dict[tuple[int, int], Hit]) -> None:
        entry = self._lookup("".join(u.letters for u in units))
        if entry is not None and any(u.kind == LETTER for u in units):
            self._add(entry, units, hits)

    @staticmethod
    def _add(entry: str | None, units: list[_Unit], hits: dict[tuple[int, int], Hit]) -> None:
        if entry is not None:
            span = (units[0].pos, units[-1].pos + 1)
            hits.setdefault(span, Hit(*span, entry))

    def _spaced_runs(self, tokens: list[_Token], hits: dict[tuple[int, int], Hit]) -> None:
        """Letters typed as words of one character each ("f u c k")."""
        run: list[_Unit] = []
        for token in tokens:
            single = (len(token.letters) == 1 if token.units is None
                      else sum(u.kind != SEP for u in token.units) == 1)
            word = token.word() if single else []
            if len(word) != 1 or not token.spaced:
                self._spaced(run, hits)
                run = []
            if len(word) == 1:
                run.append(word[0])
        self._spaced(run, hits)

    def _spaced(self, run: list[_Unit], hits: dict[tuple[int, int], Hit]) -> None:
        """Words spelled by 3+ consecutive letters of ``run`` (the shortest from each start);
        a start stops as soon as no listed word begins with what it spells."""
        for i in range(len(run) - 2):
            letters: list[str] = []
            counts: list[int] = []
            has_letter = False
            for j in range(i, min(len(run), i + MAX_SPACED)):
                has_letter = has_letter or run[j].kind == LETTER
                for ch in run[j].letters:
                    if letters and letters[-1] == ch:
                        counts[-1] += 1
                    else:
                        letters.append(ch)
                        counts.append(1)
                key = "".join(letters)
                if key not in self._prefixes:
                    break
                entry = self._match(key, tuple(counts)) if j - i >= 2 and has_letter else None
                if entry is not None:
                    self._add(entry, [run[i], run[j]], hits)
                    break

    def _phrases(self, tokens: list[_Token], hits: dict[tuple[int, int], Hit]) -> None:
        """Entries of several words, matched over consecutive words."""
        if not self._firsts:
            return
        for i, token in enumerate(tokens):
            head = token.folded()
            if not head or (runs(head, self._longest) or ("",))[0] not in self._firsts:
                continue
            parts = [head]
            for j in range(i + 1, min(len(tokens), i + MAX_PHRASE_WORDS)):
                word = tokens[j].folded()
                if not word or not tokens[j].spaced:
                    break
                parts.append(word)
                entry = self._lookup(" ".join(parts))
                if entry is not None:
                    span = (token.start, tokens[j].end)
                    hits.setdefault(span, Hit(*span, entry))


_CHUNK = re.compile(r"\S+")
_PLAIN = re.compile(r"([A-Za-z]+)[.,;:]?")


def _tokens(text: str) -> Iterable[_Token]:
    """Runs of letters, digits and leet symbols, with the separators inside them.

    Whitespace-separated chunks that are plain ASCII words (perhaps with a trailing , . ;
    or :) take a fast path; anything else is read character by character."""
    raw_end = -1  # where the last token ended, separators included
    for m in _CHUNK.finditer(text):
        plain = _PLAIN.fullmatch(m.group())
        if plain:
            spaced = raw_end >= 0 and text[raw_end:m.start()].isspace()
            yield _Token(None, spaced, m.start(), _canon(plain.group(1).lower()))
            raw_end = m.end()
            continue
        for token, end in _slow_tokens(m.group(), m.start()):
            token.spaced = raw_end >= 0 and text[raw_end:token.start].isspace()
            yield token
            raw_end = end


def _slow_tokens(chunk: str, base: int) -> Iterable[tuple[_Token, int]]:
    """The tokens of one whitespace-free chunk, and where each ends (separators included)."""
    units: list[_Unit] = []
    start = base
    for offset, ch in enumerate(chunk):
        kind, letters = classify(ch)
        if kind in (SPACE, OTHER):
            if units:
                yield _Token(_strip_seps(units), False, start), base + offset
                units = []
            continue
        if not units:
            start = base + offset
        units.append(_Unit(kind, letters, base + offset))
    if units:
        yield _Token(_strip_seps(units), False, start), base + len(chunk)


def _strip_seps(units: list[_Unit]) -> list[_Unit]:
    start, end = 0, len(units)
    while start < end and units[start].kind == SEP:
        start += 1
    while end > start and units[end - 1].kind == SEP:
        end -= 1
    return units[start:end]


def _candidates(units: list[_Unit]) -> Iterable[list[_Unit]]:
    """The token without separators, each piece between separators, each without edge leet."""
    merged = [u for u in units if u.kind != SEP]
    if not merged:
        return
    yield from _trimmed(merged)
    if len(merged) == len(units):
        return
    piece: list[_Unit] = []
    for unit in [*units, _Unit(SEP, "", -1)]:
        if unit.kind != SEP:
            piece.append(unit)
        elif piece:
            yield from _trimmed(piece)
            piece = []


def _trimmed(units: list[_Unit]) -> Iterable[list[_Unit]]:
    """The units, and (if different) the same without leet symbols at either end ("shit!")."""
    yield units
    start, end = 0, len(units)
    while start < end and units[start].kind == LEET:
        start += 1
    while end > start and units[end - 1].kind == LEET:
        end -= 1
    if 0 < end - start < len(units):
        yield units[start:end]


def mask(text: str, hits: Iterable[Hit]) -> str:
    """``text`` with every character of each hit (spaces kept) replaced by ``MASK``."""
    chars = list(text)
    for hit in hits:
        for i in range(hit.start, hit.end):
            if not chars[i].isspace():
                chars[i] = MASK
    return "".join(chars)
