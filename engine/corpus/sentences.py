"""Offline sentence splitting.

nupunkt 0.8.0 (a pre-trained Punkt model shipped in the wheel) was chosen over pysbd 0.3.4:
on the Oz books it is ~25x faster (0.07 s vs 1.8 s for a 330 KB book) and splits
`"Is it far?" "No," said he.` into two sentences where pysbd keeps one. Its one habit that
reads badly on fiction, splitting `here? and who` after a question mark, is undone by joining
any piece that starts in lower case to the one before. Paragraphs (blank-line separated)
are split one at a time, so a sentence never runs across a paragraph break.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_PARAGRAPH_RE = re.compile(r"\n\s*\n")
_SPACE_RE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    import nupunkt  # imported lazily: loading the model takes a moment

    return nupunkt.load_default_model()


def _split_paragraph(paragraph: str) -> list[str]:
    pieces = [p.strip() for p in _tokenizer().tokenize(paragraph)]
    sentences: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if sentences and _continues(piece):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def _continues(piece: str) -> bool:
    # '"How came you here? and who..." -- a lower-case start is never a new sentence here.
    first = piece.lstrip("\"'([")[:1]
    return first.islower()


def split_sentences(text: str) -> list[str]:
    """Split text into sentences offline; blank lines separate paragraphs."""
    sentences: list[str] = []
    for paragraph in _PARAGRAPH_RE.split(text):
        paragraph = _SPACE_RE.sub(" ", paragraph).strip()
        if paragraph:
            sentences.extend(_split_paragraph(paragraph))
    return sentences
