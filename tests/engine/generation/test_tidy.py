"""tidy() and the sentence-end checks against the regular expressions and searches that first
defined them, on many random texts: they were rewritten for speed (they run on a row's whole
text after every token), not to change what they make of any text."""

from __future__ import annotations

import random
import re

from engine.generation.tidy import (
    ends_sentence,
    sentence_ends,
    tidy,
    tidy_continuation,
    trim_to_sentence,
)

_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_WRAP = re.compile(r"(?<=[\w,;_])\n(?=[^\n])|(?<=[^\n])\n(?=[a-z])")
_WRAP_AFTER_DASH = re.compile(r"(?<=-)\n(?=[^\n])")


def reference(text: str) -> str:
    text = _JUNK.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _WRAP.sub(" ", _WRAP_AFTER_DASH.sub("", text))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


# letters of both cases and other scripts, digits, the punctuation the rules look at, every
# kind of space and line break, junk
ALPHABET = list("aZz-,;_.!?\"') 1\n\n\n\r\t\u00a0\u3000\u2003\x01\x0b\ufffdé\u00bdΩ٣")


def test_tidy_makes_of_any_text_what_its_regular_expressions_made():
    rng = random.Random(20261201)
    for _ in range(20000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 24)))
        assert tidy(text) == reference(text), repr(text)


def test_tidy_on_book_like_text():
    lines = ["Dorothy walked on,", "and the Scarecrow fol-", "lowed her;", "", "", "",
             "  Chapter 2  ", "THE\tWIZARD", "-", "said Oz.", "_Very_", "well"]
    rng = random.Random(7)
    for _ in range(500):
        text = "\n".join(rng.choice(lines) for _ in range(rng.randint(1, 12)))
        assert tidy(text) == reference(text)
        # a continuation with no leading space is tidied as any text
        assert tidy_continuation("said " + text) == reference("said " + text)


_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?=\s|$)")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "mt", "capt", "col", "gen", "prof", "vs", "etc"}


def reference_sentence_ends(text: str) -> list[int]:
    def abbreviation(dot: int) -> bool:  # the word before the full stop, searched in all before
        word = re.search(r"(\w+)$", text[:dot])
        return text[dot] == "." and word is not None and word.group(1).lower() in _ABBREVIATIONS
    return [m.end() for m in _END.finditer(text) if not abbreviation(m.start())]


def reference_ends_sentence(text: str) -> bool:
    stripped = text.rstrip()
    ends = reference_sentence_ends(stripped)
    return bool(ends) and ends[-1] == len(stripped)


# words (abbreviations, and long words ending in one), sentence ends, closers, spaces
PIECES = ["Mr", "mrs", "St", "ETC", "capt", "x", "Dorothy", "aaaaaaaaaaaamr", "bdr", "é", "_1",
          ".", ".", "!", "?", "...", "\"", "'", "\u201d", "\u2019", ")", "]", "(", " ", " ",
          "\n", "\t", "\u00a0"]


def test_sentence_ends_are_what_their_first_definition_found():
    rng = random.Random(20261202)
    for _ in range(20000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 16)))
        assert sentence_ends(text) == reference_sentence_ends(text), repr(text)
        assert ends_sentence(text) == reference_ends_sentence(text), repr(text)
    assert ends_sentence('He met Mr. Smith.\u201d  ') and not ends_sentence("He met Mr.")


def test_the_abbreviation_check_reads_a_few_characters_not_all_before(monkeypatch):
    """A long passage with many sentence ends: the check at each step used to search all the
    text before every full stop (quadratic: 40 ms a call at 4,600 characters)."""
    from engine.generation import tidy as module

    searched: list[int] = []
    pattern = module._WORD_BEFORE

    class Recording:
        def search(self, text: str) -> re.Match[str] | None:
            searched.append(len(text))
            return pattern.search(text)

    monkeypatch.setattr(module, "_WORD_BEFORE", Recording())
    text = "Dorothy walked on. The Scarecrow said hello! Mr. Smith came too. " * 200
    assert len(sentence_ends(text)) == 600 and ends_sentence(text)
    assert trim_to_sentence(text + " and") == text.rstrip()
    assert searched and max(searched) <= 6  # the longest abbreviation and two characters
