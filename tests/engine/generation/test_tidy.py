"""tidy() against the regular expressions that first defined it, on many random texts: it
was rewritten for speed (it runs on a row's whole text after every token), not to change what
it makes of any text."""

from __future__ import annotations

import random
import re

from engine.generation.tidy import tidy, tidy_continuation

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
