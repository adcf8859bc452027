"""engine.corpus on EPUB 2/3 files built in the test (tests/engine/corpus/epub_factory.py)."""

from __future__ import annotations

import zipfile

import pytest

from engine.corpus import parse_book
from engine.errors import CorpusError
from tests.engine.corpus.epub_factory import (
    Page,
    build_epub,
    chapter,
    default_metadata,
    standard_pages,
)

STORY_TITLES = [
    "Prologue",
    "The Keeper",
    "The Crack",
    "Interlude: The Wind",
    "The Mending",
    "Epilogue",
]
FRONT_AND_BACK = [
    "Acknowledgements",
    "All rights reserved",
    "ISBN",
    "Also by",
    "Salt Library",
    "Contents",
    "Cover",
]


@pytest.mark.parametrize("version", [2, 3])
def test_spine_order_front_and_back_matter_dropped(tmp_path, version):
    book = parse_book(build_epub(tmp_path / "orchard.epub", version=version))
    assert [c.title for c in book.chapters] == STORY_TITLES
    assert (book.title, book.author) == ("The Glass Orchard", "Mira Vell")
    for phrase in FRONT_AND_BACK:
        assert phrase not in book.text
    keeper = book.chapters[1]
    assert keeper.sentences == [
        "Tamsin counted the trees at dawn.",
        '"Thirty," she said.',
        '"Always thirty."',
        "Mr. Oake nodded.",
        "Dr. Pell did not.",
    ]
    assert "ledger -- carefully" in book.chapters[2].text  # em dash and <i> normalised
    report = book.report
    assert report.chapters == 6 and report.sentences == 13
    assert report.front_lines == 7 and report.back_lines == 3  # blocks on dropped pages
    assert any("copyright.xhtml" in n and "alsoby.xhtml" in n for n in report.notes)


def test_pages_are_classified_without_helpful_file_names(tmp_path):
    # Calibre-style names: the reader must go by epub:type, headings and content.
    pages = standard_pages()
    for n, page in enumerate(pages):
        page.name = f"part{n:04d}.xhtml"
        page.landmark = None
    book = parse_book(build_epub(tmp_path / "calibre.epub", pages))
    assert [c.title for c in book.chapters] == STORY_TITLES
    notes = " ".join(book.report.notes)
    assert "copyright notice" in notes and "title page" in notes
    assert "Acknowledgements" in notes and "Also by" in notes


def test_nav_landmarks_and_epub_types_mark_front_matter(tmp_path):
    pages = [
        Page("a.xhtml", "<h1>For Wren</h1><p>who kept the lamp lit.</p>", epub_type="dedication"),
        Page(
            "b.xhtml",
            "<h1>Some Words First</h1><p>A page the landmarks call a toc.</p>",
            landmark="toc",
        ),
        Page("c.xhtml", chapter("One", "The story starts here.")),
    ]
    book = parse_book(build_epub(tmp_path / "marks.epub", pages))
    assert [c.title for c in book.chapters] == ["One"]
    assert book.text == "The story starts here."


def test_chapters_split_at_headings_and_follow_toc_labels(tmp_path):
    one_page = chapter("First", "Alpha one.", label="Chapter 1") + chapter(
        "Second", "Beta two. Beta three.", label="Chapter 2"
    )
    pages = [
        Page("p1.xhtml", "<h1>Part One</h1>"),  # a part-title page with no text
        Page("p2.xhtml", one_page),
        Page(
            "p3.xhtml",
            "<p>No heading here, but the contents names it.</p>",
            toc_label="Chapter Three",
        ),
        Page("p4.xhtml", "<p>A continuation page split off by the converter.</p>"),
        Page(
            "p5.xhtml",
            "<blockquote><p>An epigraph first.</p></blockquote>"
            + chapter("Fourth", "Delta.", label="4"),
        ),
    ]
    book = parse_book(build_epub(tmp_path / "split.epub", pages, version=2))
    assert [c.title for c in book.chapters] == ["First", "Second", "Chapter Three", "Fourth"]
    assert book.chapters[1].sentences == ["Beta two.", "Beta three."]
    assert book.chapters[2].text == (
        "No heading here, but the contents names it.\n\n"
        "A continuation page split off by the converter."
    )
    assert book.chapters[3].text == "An epigraph first.\n\nDelta."
    assert any("heading-only" in n for n in book.report.notes)


def test_series_order_from_calibre_and_collection_metadata(tmp_path):
    calibre = default_metadata() + '<meta name="calibre:series_index" content="3.0"/>'
    epub3 = default_metadata() + (
        '<meta property="belongs-to-collection" id="c1">Orchards</meta>'
        '<meta refines="#c1" property="collection-type">series</meta>'
        '<meta refines="#c1" property="group-position">2</meta>'
    )
    assert parse_book(build_epub(tmp_path / "a.epub", metadata=calibre)).series_order == 3
    assert parse_book(build_epub(tmp_path / "b.epub", metadata=epub3)).series_order == 2
    assert parse_book(build_epub(tmp_path / "07-c.epub")).series_order == 7
    assert parse_book(build_epub(tmp_path / "d.epub")).series_order is None


def test_gutenberg_epub_boilerplate_sections_are_removed(tmp_path):
    body = (
        '<section id="pg-header"><p>The Project Gutenberg eBook of Lamps</p></section>'
        + chapter("Lamps", "A lamp is a small sun.")
        + '<section id="pg-footer"><p>*** END OF THE PROJECT GUTENBERG EBOOK ***</p>'
        "</section>"
    )
    book = parse_book(build_epub(tmp_path / "pg.epub", [Page("pg.xhtml", body)]))
    assert book.text == "A lamp is a small sun."


def _bad(tmp_path, **kwargs):
    with pytest.raises(CorpusError) as err:
        parse_book(build_epub(tmp_path / "bad.epub", **kwargs))
    return str(err.value)


def test_epub_that_is_not_a_zip(tmp_path):
    path = tmp_path / "fake.epub"
    path.write_text("this is plain text with an epub name")
    with pytest.raises(CorpusError, match="not a zip archive") as err:
        parse_book(path)
    assert "Re-export" in str(err.value) and str(path) in str(err.value)


def test_epub_without_container_or_opf(tmp_path):
    assert "lacks META-INF/container.xml" in _bad(tmp_path, skip=("META-INF/container.xml",))
    message = _bad(tmp_path, skip=("OEBPS/content.opf",))
    assert "package file OEBPS/content.opf" in message and "missing" in message


def test_epub_with_broken_spine(tmp_path):
    assert "'ghost', which is not in the manifest" in _bad(
        tmp_path, spine_extra='<itemref idref="ghost"/>'
    )
    assert "spine page OEBPS/text/ch01.xhtml is missing" in _bad(
        tmp_path, skip=("OEBPS/text/ch01.xhtml",)
    )
    assert "has no spine" in _bad(tmp_path, pages=[])


def test_epub_with_invalid_xml_and_no_story(tmp_path):
    path = build_epub(tmp_path / "x.epub")
    broken = tmp_path / "broken.epub"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, b"<package><oops" if item.filename.endswith(".opf") else data)
    with pytest.raises(CorpusError, match="is not valid XML"):
        parse_book(broken)
    only_cover = [Page("cover.xhtml", '<img src="../images/cover.jpg"/>', epub_type="cover")]
    assert "no book text left" in _bad(tmp_path, pages=only_cover)
