"""Tidying generated text: whitespace, sentence ends, trimming to the last full sentence."""

import re

# A sentence end: . ! or ? optionally followed by closing quotes/brackets.
_CLOSERS = "\"'\u201d\u2019)]"
_END = re.compile(r"[.!?][" + re.escape(_CLOSERS) + r"]*(?=\s|$)")
# Words whose full stop does not end a sentence (common in 19th/20th-century prose).
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "mt", "capt", "col", "gen", "prof", "vs", "etc"}
# Runs of spaces, tabs and no-break spaces that are not already one space (a lone space is
# left alone: rewriting every space with itself made this the slowest step of tidying).
_SPACES = re.compile(r"[ \t\u00a0]{2,}|[\t\u00a0]")
_MANY_NEWLINES = re.compile(r"\n{3,}")
# Control characters (bar tab and newline) and U+FFFD come from byte-level tokens that do not
# form valid text; they are never worth showing.
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def _joint(before: str, after: str) -> str:
    """What a line break between two lines becomes (the lines' last and first characters;
    "" where a line is empty, "\n" standing for the break before or after an empty line).

    A hard wrap: one line break in the middle of a sentence (the line before it ends in a word,
    a comma, a semicolon or italics markup, or the next line goes on in lower case), as in the
    fixed-width text files a model trained on book files learns to imitate. It reads as a
    space; after a dash the words simply join. Anything else stays a line break."""
    if after in ("", "\n") or before in ("", "\n"):
        # nothing follows on this line, or nothing precedes it: no wrap (a word character
        # or a comma before it still needs text after it)
        return "\n"
    if before == "-":
        return ""
    if before.isalnum() or before in ",;_" or "a" <= after <= "z":
        return " "
    return "\n"


def _unwrap(lines: list[str]) -> str:
    """The lines joined again, each break as ``_joint`` says."""
    last = len(lines) - 1
    parts = [lines[0]]
    for k in range(last):
        before = lines[k][-1:] or ("\n" if k > 0 else "")
        after = lines[k + 1][:1] or ("\n" if k + 1 < last else "")
        parts.append(_joint(before, after))
        parts.append(lines[k + 1])
    return "".join(parts)


def tidy(text: str) -> str:
    """Collapse runs of spaces, trim line ends, undo hard wraps inside sentences, keep at most
    one blank line, strip the ends."""
    text = _JUNK.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", text)
    text = _unwrap([line.strip() for line in text.split("\n")])
    if "\n\n\n" in text:
        text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def tidy_continuation(raw: str) -> str:
    """tidy() for text that continues a prompt: one leading space or newline(s) survive.

    Keeping the separator means `prompt + continuation` reads right ("said" + " hello").
    """
    body = tidy(raw)
    if not body:
        return ""
    lead = raw[: len(raw) - len(raw.lstrip())]
    if "\n\n" in lead.replace("\r", ""):
        return "\n\n" + body
    return ("\n" if "\n" in lead else " " if lead else "") + body


# A word that ends just before a full stop; looked for in the few characters before it only
# (a longer word is no abbreviation): searching all the text before each full stop made
# sentence_ends quadratic, 40 ms a call on a 4,600-character passage, at every decoding step.
_WORD_BEFORE = re.compile(r"(\w+)$")
# the longest abbreviation, one more character (a longer word is cut to more than it) and a
# line break (``$`` also matches before a final one)
_ABBREVIATION_WINDOW = max(map(len, _ABBREVIATIONS)) + 2


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the full stop at index dot closes a known abbreviation like 'Mr.'."""
    if text[dot] != ".":
        return False
    word = _WORD_BEFORE.search(text[max(0, dot - _ABBREVIATION_WINDOW):dot])
    return word is not None and word.group(1).lower() in _ABBREVIATIONS


def sentence_ends(text: str) -> list[int]:
    """Character offsets just past each sentence end (closing quotes included)."""
    return [m.end() for m in _END.finditer(text) if not _is_abbreviation(text, m.start())]


def ends_sentence(text: str) -> bool:
    """True when text (ignoring trailing whitespace) finishes with a sentence end, i.e. when
    the last of ``sentence_ends`` is its end. Only the end is looked at (this runs at every
    decoding step once sentence stops are armed): a sentence end reaching the end of the text
    is its last . ! or ? with nothing but closing quotes and brackets after it, and no earlier
    sentence end can run into that one (it stops at the first character no closer)."""
    stripped = text.rstrip()
    body = stripped.rstrip(_CLOSERS)
    return body[-1:] in (".", "!", "?") and not _is_abbreviation(body, len(body) - 1)


def trim_to_sentence(text: str) -> str:
    """Cut text after its last full sentence; unchanged if that would leave nothing."""
    ends = sentence_ends(text)
    if not ends or not text[: ends[-1]].strip():
        return text
    return text[: ends[-1]].rstrip()
