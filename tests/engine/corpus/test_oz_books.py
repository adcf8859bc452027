"""engine.corpus on the 14 Project Gutenberg Oz books (../shared/corpus/oz)."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

import pytest

from engine.corpus import ParsedBook, find_book_files, parse_book
from tests.paths import OZ_DIR

OZ = OZ_DIR

pytestmark = pytest.mark.skipif(not OZ.is_dir(), reason="Oz corpus not present")

# Chapter counts hard-coded from reading each book's own contents list by eye. Unnumbered
# front-matter entries ("Introduction" in book 1, "--Author's Note--" in 3 and 6,
# "--To My Readers--" in 4 and 5) are not chapters and are not counted. Heading styles:
# "1.  Title" (1, 3-6, 13), page-number + title matching the contents (2),
# "Chapter One" + title line (7-10, 12, 14), "CHAPTER 1" + capitals title (11).
TOC_CHAPTERS = {
    "01-the-wonderful-wizard-of-oz.txt": 24,
    "02-the-marvelous-land-of-oz.txt": 24,
    "03-ozma-of-oz.txt": 21,
    "04-dorothy-and-the-wizard-in-oz.txt": 20,
    "05-the-road-to-oz.txt": 24,
    "06-the-emerald-city-of-oz.txt": 30,
    "07-the-patchwork-girl-of-oz.txt": 28,
    "08-tik-tok-of-oz.txt": 25,
    "09-the-scarecrow-of-oz.txt": 24,
    "10-rinkitink-in-oz.txt": 24,
    "11-the-lost-princess-of-oz.txt": 26,
    "12-the-tin-woodman-of-oz.txt": 24,
    "13-the-magic-of-oz.txt": 23,
    "14-glinda-of-oz.txt": 24,
}
BOILERPLATE = ["Gutenberg", "START OF", "END OF THE PROJECT", "Produced by", "www.gutenberg"]


def _raw_lines(name: str) -> list[str]:
    return (OZ / name).read_text(encoding="utf-8").splitlines()


def _raw_numbered_toc(name: str) -> list[str]:
    """Contents entries counted straight from the raw file, independent of the parser.

    The first run of lines like '  1.  Title' / '  1 - Title' / '  1  Title' after the
    START marker, numbered 1, 2, 3... (book 2's contents has page numbers instead).
    """
    entries: list[str] = []
    for line in _raw_lines(name)[:260]:
        match = re.match(r"^\s{1,4}(\d{1,2})(?:\.|\s+-|\s)\s+(\S.*)$", line)
        if match and int(match.group(1)) == len(entries) + 1:
            entries.append(match.group(2).strip())
    return entries


def _raw_paged_toc(name: str) -> list[str]:
    """Book 2: lines 'Title <spaces> page' under 'LIST OF CHAPTERS'."""
    lines = _raw_lines(name)
    start = next(i for i, x in enumerate(lines) if x.strip() == "LIST OF CHAPTERS")
    return [
        m.group(1)
        for x in lines[start : start + 60]
        if (m := re.match(r"^(\S.*?)\s{3,}(\d+)\s*$", x))
    ]


@pytest.fixture(scope="module")
def books() -> dict[str, ParsedBook]:
    # Parsing speed is measured by benchmarks/stats.py, not asserted here.
    return {p.name: parse_book(p) for p in find_book_files(OZ)}


def test_find_book_files_lists_the_fourteen_books_in_order():
    names = [p.name for p in find_book_files(OZ)]
    assert names == sorted(TOC_CHAPTERS)  # MANIFEST.tsv is skipped


@pytest.mark.parametrize("name", sorted(TOC_CHAPTERS))
def test_raw_contents_list_agrees_with_hard_coded_count(name):
    raw = _raw_paged_toc(name) if name.startswith("02-") else _raw_numbered_toc(name)
    assert len(raw) == TOC_CHAPTERS[name]


@pytest.mark.parametrize("name", sorted(TOC_CHAPTERS))
def test_chapter_count_matches_the_books_contents(books, name):
    book = books[name]
    assert len(book.chapters) == TOC_CHAPTERS[name]
    assert book.report.chapters == TOC_CHAPTERS[name]
    assert [c.index for c in book.chapters] == list(range(len(book.chapters)))


@pytest.mark.parametrize("name", sorted(TOC_CHAPTERS))
def test_chapter_titles_follow_the_contents(books, name):
    raw = _raw_paged_toc(name) if name.startswith("02-") else _raw_numbered_toc(name)
    for entry, chapter in zip(raw, books[name].chapters, strict=True):
        ratio = SequenceMatcher(None, entry.lower(), chapter.title.lower()).ratio()
        # 0.7, not higher: book 1 heads chapter 11 "The Wonderful City of Oz" though its
        # contents says "The Emerald City of Oz".
        assert ratio > 0.7, (entry, chapter.title)


@pytest.mark.parametrize("name", sorted(TOC_CHAPTERS))
def test_no_gutenberg_boilerplate_or_contents_left(books, name):
    book = books[name]
    for chapter in book.chapters:
        for phrase in BOILERPLATE:
            assert phrase not in chapter.text, (chapter.title, phrase)
            assert all(phrase not in s for s in chapter.sentences)
    text = book.text
    assert "LIST OF CHAPTERS" not in text and "Contents" not in text
    # The contents list itself is not chapter text: its entries never appear back to back.
    raw = _raw_paged_toc(name) if name.startswith("02-") else _raw_numbered_toc(name)
    assert f"{raw[0]}\n\n{raw[1]}" not in text and f"{raw[0]} {raw[1]}" not in text


@pytest.mark.parametrize("name", sorted(TOC_CHAPTERS))
def test_metadata_report_and_text_shape(books, name):
    book = books[name]
    assert book.author == "L. Frank Baum"
    assert book.series_order == int(name[:2])
    assert len(book.sha256) == 64
    report = book.report
    assert report.front_lines > 20 and report.back_lines > 300  # header+contents; licence
    assert report.sentences == sum(len(c.sentences) for c in book.chapters) > 1500
    assert 30000 < report.words < 70000
    assert "\r" not in book.text and "_" not in book.text
    assert "\n\n\n" not in book.text


def test_titles_come_from_the_gutenberg_header(books):
    assert books["02-the-marvelous-land-of-oz.txt"].title == "The Marvellous Land of Oz"
    assert books["13-the-magic-of-oz.txt"].title == "The Magic of Oz"


def test_page_numbers_and_illustration_notes_are_removed(books):
    book = books["02-the-marvelous-land-of-oz.txt"]  # a scan with page numbers and captions
    assert "line-art" not in book.text.lower()
    assert "THE MAGICAL POWDER OF LIFE" not in book.text  # a centred caption
    # A paragraph cut by a page number is joined again.
    assert "part of the Land of Oz had forbidden any other Witch" in book.text
    for chapter in book.chapters:
        assert not any(re.fullmatch(r"\d+", p) for p in chapter.text.split("\n\n"))


def test_closing_matter_and_also_by_lists_are_back_matter(books):
    for name in ("08-tik-tok-of-oz.txt", "11-the-lost-princess-of-oz.txt"):
        last = books[name].chapters[-1].text
        assert "Wonderful Oz Books" not in last and "THE END" not in last


def test_first_chapter_starts_with_the_story(books):
    first = books["07-the-patchwork-girl-of-oz.txt"].chapters[0]
    assert first.title == "Ojo and Unc Nunkie"
    assert first.text.startswith('"Where\'s the butter, Unc Nunkie?" asked Ojo.')
    assert first.sentences[0] == '"Where\'s the butter, Unc Nunkie?" asked Ojo.'
    assert books["11-the-lost-princess-of-oz.txt"].chapters[0].title == "A Terrible Loss"
