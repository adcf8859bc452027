"""Hostile and oversized book files: refused with a clear line, or read once; never expanded."""

import os
import threading
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from engine.corpus import CorpusLimits, book_files, parse_book, scan_folder
from engine.errors import CorpusError
from tests.engine.corpus.epub_factory import CONTAINER, PAGE, Page, build_epub, chapter

MB = 2**20


def _story(n: int) -> list[Page]:
    return [Page(f"ch{i}.xhtml", chapter(f"Part {i}", f"Tamsin walked {i} miles. She rested."),
                 toc_label=f"Part {i}") for i in range(n)]


def _repeated_spine(path: Path, copies: int) -> Path:
    """One real page listed `copies` times in the reading order (a few KB on disk)."""
    extra = '<itemref idref="p0"/>' * (copies - 1)
    return build_epub(path, _story(1), spine_extra=extra)


def test_a_page_repeated_in_the_spine_is_read_once(tmp_path):
    book = parse_book(_repeated_spine(tmp_path / "rep.epub", 500))
    assert len(book.chapters) == 1
    assert any("499 repeated" in note for note in book.report.notes)


def test_a_spine_longer_than_the_limit_is_refused_before_reading(tmp_path):
    path = _repeated_spine(tmp_path / "rep.epub", 10_000)
    assert path.stat().st_size < 200_000
    with pytest.raises(CorpusError, match=r"lists 10,000 pages.*max_spine_pages"):
        parse_book(path)


def _bomb(path: Path, member_mb: int) -> Path:
    """A valid-looking EPUB whose one chapter page unpacks to `member_mb` MB of spaces."""
    body = PAGE.format(title="x", body_type="", body="<p>" + " " * (member_mb * MB) + "</p>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", CONTAINER.format(opf="content.opf"))
        zf.writestr("content.opf", '<package xmlns="http://www.idpf.org/2007/opf"><manifest>'
                    '<item id="a" href="a.xhtml" media-type="application/xhtml+xml"/>'
                    '</manifest><spine><itemref idref="a"/></spine></package>')
        zf.writestr("a.xhtml", body)
    return path


def test_a_zip_bomb_is_refused_without_being_unpacked(tmp_path):
    path = _bomb(tmp_path / "bomb.epub", 24)
    assert path.stat().st_size < 200_000  # ~24 MB of spaces compress ~1000:1
    tracemalloc.start()
    try:
        with pytest.raises(CorpusError, match=r"compressed .* to 1 .*max_zip_ratio"):
            parse_book(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MB  # it stopped after the first megabyte or so


def test_unpacked_member_and_total_sizes_are_bounded(tmp_path):
    path = _bomb(tmp_path / "big.epub", 3)
    loose = CorpusLimits(max_zip_ratio=1e9)
    with pytest.raises(CorpusError, match="max_member_mb"):
        parse_book(path, CorpusLimits(max_zip_ratio=1e9, max_member_bytes=2 * MB))
    with pytest.raises(CorpusError, match="max_unpacked_mb"):
        parse_book(path, CorpusLimits(max_zip_ratio=1e9, max_unpacked_bytes=2 * MB))
    with pytest.raises(CorpusError, match="no book text"):  # within the limits: only spaces
        parse_book(path, loose)


def test_too_many_zip_members_are_refused_before_listing_them(tmp_path):
    path = build_epub(tmp_path / "many.epub", _story(40))
    with pytest.raises(CorpusError, match=r"zip has \d+ members.*max_zip_members"):
        parse_book(path, CorpusLimits(max_zip_members=20))
    assert len(parse_book(path).chapters) == 40


def test_text_chapters_and_file_size_limits(tmp_path):
    text = "".join(f"CHAPTER {i}\n\nDorothy walked on, step {i}. Toto ran.\n\n"
                   for i in range(1, 31))
    path = tmp_path / "walk.txt"
    path.write_text(text, encoding="utf-8")
    assert len(parse_book(path).chapters) == 30
    with pytest.raises(CorpusError, match="max_book_chars"):
        parse_book(path, CorpusLimits(max_book_chars=len(text) - 1))
    with pytest.raises(CorpusError, match="30 chapters.*max_chapters"):
        parse_book(path, CorpusLimits(max_chapters=29))
    with pytest.raises(CorpusError, match="max_file_mb"):
        parse_book(path, CorpusLimits(max_file_bytes=100))
    epub = build_epub(tmp_path / "s.epub", _story(3))
    with pytest.raises(CorpusError, match="max_book_chars"):
        parse_book(epub, CorpusLimits(max_book_chars=40))


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            parse_book(fifo)
        except CorpusError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert outcome and "FIFO" in str(outcome[0])
    with pytest.raises(CorpusError, match="FIFO"):
        book_files(fifo)


def test_folders_skip_links_leading_out_loops_fifos_and_broken_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Not a book of this folder.")
    books = tmp_path / "books"
    books.mkdir()
    (books / "a.txt").write_text("Dorothy walked.")
    (books / "sub").mkdir()
    (books / "sub" / "inner.txt").write_text("Inside.")
    (books / "b-inside.txt").symlink_to(books / "sub" / "inner.txt")
    (books / "c-out.txt").symlink_to(outside / "secret.txt")
    (books / "d-loop.txt").symlink_to(books / "d-loop.txt")
    (books / "e-broken.txt").symlink_to(books / "missing.txt")
    os.mkfifo(books / "f-pipe.txt")
    found, skipped = scan_folder(books)
    assert [p.name for p in found] == ["a.txt", "b-inside.txt"]
    reasons = {p.name: why for p, why in skipped}
    assert "outside the folder" in reasons["c-out.txt"]
    assert "loop" in reasons["d-loop.txt"]
    assert "broken symlink" in reasons["e-broken.txt"]
    assert "FIFO" in reasons["f-pipe.txt"]
    with pytest.raises(CorpusError, match="loop"):
        book_files(books / "d-loop.txt")


def test_one_sentence_and_heading_only_books(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("Dorothy lived in Kansas.\n", encoding="utf-8")
    book = parse_book(one)
    assert [c.sentences for c in book.chapters] == [["Dorothy lived in Kansas."]]
    empty_pages = [Page("a.xhtml", "<h1>Chapter 1</h1>"), Page("b.xhtml", "<h1>Chapter 2</h1>"),
                   Page("c.xhtml", chapter("Chapter 3", "At last, one sentence."))]
    book = parse_book(build_epub(tmp_path / "e.epub", empty_pages))
    assert [c.sentences for c in book.chapters] == [["At last, one sentence."]]
    headings = tmp_path / "headings.txt"
    headings.write_text("CHAPTER I\n\nCHAPTER II\n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no book text"):
        parse_book(headings)
