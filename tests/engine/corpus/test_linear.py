"""Book parsing does linear work on any text: no pattern backtracks on hostile runs.

``read_text_book`` runs every plain-text step (decoding, Gutenberg markers, contents list,
heading styles, paragraph cleaning, sentence splitting), so each hostile input goes through
all of them; the EPUB page reader and the contents-entry helper are checked on their own.
"""

from pathlib import Path

import pytest

from engine.corpus import epub_pages, plaintext, plaintext_chapters, sentences
from tests.scaling import HOSTILE, assert_linear, swallow


def _book(text: str) -> bytes:
    return f"The Test\n\nCHAPTER I\n\n{text}\n\nThe end came.\n".encode()


def _read(text: str) -> object:
    return plaintext.read_text_book(Path("t.txt"), _book(text))


@pytest.mark.parametrize("pattern", sorted(HOSTILE))
def test_reading_a_text_book_is_linear(pattern):
    assert_linear(swallow(_read), HOSTILE[pattern], f"read_text_book on {pattern}",
                  largest=16_000)


@pytest.mark.parametrize("pattern", ["open brackets", "space run", "underscores", "stars"])
def test_reading_an_epub_page_is_linear(pattern):
    page = swallow(lambda s: epub_pages.parse_page(f"<html><body><p>{s}</p></body></html>"))
    assert_linear(page, HOSTILE[pattern], f"parse_page on {pattern}")


@pytest.mark.parametrize("pattern", ["space run", "dots", "spaces then dots",
                                     "numbered + spaces", "chapter + spaces"])
def test_contents_entries_are_linear_whatever_their_length(pattern):
    assert_linear(swallow(plaintext_chapters.entry_title), HOSTILE[pattern],
                  f"entry_title on {pattern}")


@pytest.mark.parametrize("pattern", ["bangs", "abbreviations", "lowercase after !"])
def test_sentence_splitting_is_linear_on_runs_without_breaks(pattern):
    assert_linear(sentences.split_sentences, HOSTILE[pattern], f"split_sentences on {pattern}",
                  start=4000)
