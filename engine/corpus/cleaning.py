"""Text normalisation shared by the plain-text and EPUB readers.

Decisions (see the corpus report): curly quotes become ASCII quotes, an em dash becomes
"--" (the Project Gutenberg convention, so every book counts "Dorothy's" the same way and the
verbatim guard compares like with like), `_italic_` markers go, hard line wraps are joined
and paragraphs are kept, separated by one blank line.
"""

from __future__ import annotations

import re
import unicodedata

_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2013": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-",
        "\u2014": "--", "\u2015": "--",
        "\u2026": "...",
        "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2002": " ", "\u2003": " ",
        "\u00ad": "", "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "",
    }
)  # fmt: skip

_SPACE_RE = re.compile(r"\s+")
# [^][]: a marker ends at the next bracket, so each '[' is scanned to the next one only
# (with [^]]* a paragraph of unclosed '[Illustration' took quadratic time).
_ILLUSTRATION_RE = re.compile(
    r"\[\s*(?:illustration|ill\.|picture|frontispiece|image)[^\]\[]*\]", re.IGNORECASE
)
_PAGE_NUMBER_RE = re.compile(r"^\s*(?:\[?\s*(?:pg\.?|page)\s*)?\d{1,4}\s*\]?\s*$", re.IGNORECASE)
_LINE_ART_RE = re.compile(r"^\s*(?:\d{1,4}\s+)?(?:full[- ]page )?line-art drawing\b.*$", re.I)
_BOILERPLATE_RE = re.compile(
    r"gutenberg|^\W*(?:produced|prepared|transcribed|digiti[sz]ed) by\b|distributed proofread"
    r"|^\W*e-?text prepared|^\W*updated editions will",
    re.IGNORECASE,
)
_TRANSCRIBER_RE = re.compile(r"^\W*transcriber'?s?'? notes?\b", re.IGNORECASE)
_THE_END_RE = re.compile(r"^\W*(?:the end|finis)\W*$", re.IGNORECASE)
_FURNITURE_CHARS = 200
_TERMINAL = tuple(".!?\"')]}")


def normalize_chars(text: str) -> str:
    """Unicode NFC, then typographic quotes, dashes and odd spaces mapped to plain ASCII."""
    return unicodedata.normalize("NFC", text).translate(_CHAR_MAP)


def clean_inline(text: str) -> str:
    """One paragraph's text: characters normalised, markup removed, whitespace collapsed."""
    text = _ILLUSTRATION_RE.sub(" ", normalize_chars(text))
    # `_italic_` markers, including emphasis inside a word ("_Rain_bow"); prose has no
    # other use for an underscore, so every one goes (a regex pairing them took quadratic
    # time on a run of unpaired ones, and removed exactly the same characters).
    text = text.replace("_", "")
    return _SPACE_RE.sub(" ", text).strip()


def is_boilerplate(paragraph: str) -> bool:
    """True for Project Gutenberg credits, licence text and transcriber's notes."""
    return bool(_BOILERPLATE_RE.search(paragraph) or _TRANSCRIBER_RE.match(paragraph))


def is_the_end(line: str) -> bool:
    """True for a closing "THE END" / "Finis" line."""
    return bool(_THE_END_RE.match(line))


def split_paragraphs(lines: list[str]) -> list[list[str]]:
    """Group raw lines into paragraphs (runs of non-blank lines)."""
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _is_furniture(line: str) -> bool:
    # Page numbers and illustration markers left by scans break sentences in the middle.
    # Both are short; the length check keeps the patterns off long lines (no backtracking).
    if len(line) > _FURNITURE_CHARS:
        return False
    return bool(_PAGE_NUMBER_RE.match(line) or _LINE_ART_RE.match(line))


def _is_caption(lines: list[str]) -> bool:
    # Centred all-capitals lines are illustration captions in scanned editions; signs and
    # shouts in the story are not indented this far.
    text = " ".join(lines)
    indented = all(len(x) - len(x.lstrip()) >= 8 for x in lines)
    return indented and text.upper() == text and any(c.isalpha() for c in text)


def _continues(previous: str, following: str) -> bool:
    # A paragraph cut by a page break ends without punctuation and resumes in lower case.
    return not previous.endswith(_TERMINAL) and following[:1].islower()


def clean_lines(lines: list[str]) -> tuple[list[str], int]:
    """Raw text lines -> cleaned paragraphs, and how many boilerplate paragraphs were dropped."""
    paragraphs: list[str] = []
    dropped = 0
    for raw in split_paragraphs(lines):
        kept = [x for x in raw if not _is_furniture(x)]
        if not kept or _is_caption(kept):
            continue
        text = clean_inline(join_wrapped(kept))
        if not text or is_the_end(text):
            continue
        if is_boilerplate(text):
            dropped += 1
            continue
        paragraphs = merge_paragraph(paragraphs, text)
    return paragraphs, dropped


def join_wrapped(lines: list[str]) -> str:
    """Join hard-wrapped lines; 'pepper-' + 'box' and 'him--' + 'lie' join without a space."""
    text = ""
    for line in lines:
        line = line.strip()
        glue = "" if text.endswith("-") and line[:1].isalnum() else " "
        text = f"{text}{glue}{line}" if text else line
    return text


def merge_paragraph(paragraphs: list[str], text: str) -> list[str]:
    """Append `text`, joining it to the previous paragraph when a page break split them."""
    if paragraphs and _continues(paragraphs[-1], text):
        glue = "" if paragraphs[-1].endswith("-") else " "
        paragraphs[-1] = f"{paragraphs[-1]}{glue}{text}"
    else:
        paragraphs.append(text)
    return paragraphs


_SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "nor", "of", "on", "or",
                "the", "to", "with"}  # fmt: skip


def title_case(text: str) -> str:
    """'THE TROUBLES OF GLINDA THE GOOD' -> 'The Troubles of Glinda the Good'."""
    words = text.lower().split(" ")
    return " ".join(
        w if i and w in _SMALL_WORDS else w[:1].upper() + w[1:] for i, w in enumerate(words)
    )


def count_words(text: str) -> int:
    """Words as runs of letters/digits, with inner apostrophes and hyphens kept."""
    return len(_WORD_RE.findall(text))


_WORD_RE = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
