"""engine.corpus on small synthetic texts: Gutenberg variants, headings, errors, helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.corpus import derive_code, find_book_files, parse_book, split_sentences
from engine.errors import CorpusError

NEW_HEADER = """\ufeffThe Project Gutenberg EBook of The Lamp Oil Years, by Hana Quill

Title: The Lamp Oil Years

Author: Hana Quill

Character set encoding: UTF-8

*** START OF THE PROJECT GUTENBERG EBOOK THE LAMP OIL YEARS ***




Produced by Somebody Careful and the Online Distributed
Proofreading Team at http://www.pgdp.net



"""
NEW_FOOTER = """


End of the Project Gutenberg EBook of The Lamp Oil Years, by Hana Quill

*** END OF THE PROJECT GUTENBERG EBOOK THE LAMP OIL YEARS ***

Updated editions will replace the previous one--the old editions
will be renamed.
"""
OLD_HEADER = """The Project Gutenberg Etext of Copper Rain, by Ivo Marsh

**Welcome To The World of Free Plain Vanilla Electronic Texts**

Title: Copper Rain

Author: Ivo Marsh

*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*



"""
OLD_FOOTER = """

End of The Project Gutenberg Etext of Copper Rain, by Ivo Marsh
"""


def _para(n: int, words: str = "the lamp burned low and the oil ran thin") -> str:
    """A hard-wrapped paragraph of our own words."""
    sentence = f"{words.capitalize()} on night {n}."
    return "\n".join([sentence, "She said nothing, and the wind", "kept its own counsel."])


def _write(tmp_path: Path, name: str, text: str, newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def _body(headings: list[str], contents: str = "") -> str:
    parts = [contents] if contents else []
    for n, heading in enumerate(headings, 1):
        parts.append(f"{heading}\n\n\n{_para(n)}\n\n{_para(n + 100)}\n\n\n")
    return "\n\n\n".join(parts)


def test_new_style_gutenberg_with_bom_crlf_and_numbered_contents(tmp_path):
    contents = "Contents\n\n   1.  The Lamp\n   2.  The Oil\n   3.  The Dark\n\n\n\n"
    body = _body(["1.  The Lamp", "2.  The Oil", "3.  The Dark"], contents)
    path = _write(tmp_path, "04-lamp-oil.txt", NEW_HEADER + body + NEW_FOOTER, "\r\n")
    book = parse_book(path)
    assert (book.title, book.author, book.series_order) == ("The Lamp Oil Years", "Hana Quill", 4)
    assert [c.title for c in book.chapters] == ["The Lamp", "The Oil", "The Dark"]
    assert book.chapters[0].text.startswith("The lamp burned low and the oil ran thin on night 1.")
    # Hard wraps joined, paragraphs kept.
    assert "She said nothing, and the wind kept its own counsel." in book.chapters[0].text
    assert book.chapters[0].text.count("\n\n") == 1
    for bad in ("Gutenberg", "Produced by", "Proofreading", "Updated editions", "Contents"):
        assert bad not in book.text
    lines = (NEW_HEADER + body + NEW_FOOTER).split("\n")
    first_heading = next(i for i, x in enumerate(lines) if x == "1.  The Lamp")
    assert book.report.front_lines == first_heading
    last_text = max(i for i, x in enumerate(lines) if x == "kept its own counsel.")
    assert book.report.back_lines == len(lines) - last_text - 1
    assert book.report.chapters == 3 and book.report.sentences == 12
    assert book.report.words == sum(len(c.text.split()) for c in book.chapters)


def test_old_small_print_header_and_chapter_word_numbers(tmp_path):
    headings = ["CHAPTER ONE\n\nTHE COPPER SKY", "CHAPTER TWO\n\nRAIN", "Chapter Twenty-One"]
    path = _write(tmp_path, "copper.txt", OLD_HEADER + _body(headings) + OLD_FOOTER)
    book = parse_book(path)
    assert (book.title, book.author, book.series_order) == ("Copper Rain", "Ivo Marsh", None)
    assert [c.title for c in book.chapters] == ["The Copper Sky", "Rain", "Chapter Twenty-One"]
    assert "SMALL PRINT" not in book.text and "Etext" not in book.text
    assert "no table of contents found" in book.report.notes


def test_roman_chapters_prologue_epilogue_and_interlude_are_kept(tmp_path):
    headings = [
        "PROLOGUE",
        "CHAPTER I. The Well",
        "CHAPTER II. The Rope",
        "Interlude",
        "CHAPTER III. The Bucket",
        "Epilogue",
    ]
    book = parse_book(
        _write(tmp_path, "well.txt", "The Well\n\nby Ora Fen\n\n\n" + _body(headings))
    )
    assert [c.title for c in book.chapters] == [
        "Prologue",
        "The Well",
        "The Rope",
        "Interlude",
        "The Bucket",
        "Epilogue",
    ]
    assert (book.title, book.author) == ("The Well", "Ora Fen")


def test_headings_found_from_the_books_own_contents(tmp_path):
    # Headings with no number at all, carrying page numbers as in a scanned edition.
    contents = (
        "LIST OF CHAPTERS\n\n                PAGE\nAn Odd Beginning          1\n\n"
        "The Middle Part           9\n\nA Quiet Ending           17\n\n\n\n"
    )
    headings = [
        "1          An Odd Beginning",
        "9          The Middle Part",
        "17          A Quiet Ending",
    ]
    book = parse_book(_write(tmp_path, "odd.txt", _body(headings, contents)))
    assert [c.title for c in book.chapters] == [
        "An Odd Beginning",
        "The Middle Part",
        "A Quiet Ending",
    ]
    assert book.report.notes == []


def test_contents_with_chapter_entries_and_no_gap_before_the_text(tmp_path):
    contents = "CONTENTS\n\nCHAPTER I. The Well\nCHAPTER II. The Rope\n"
    body = _body(["CHAPTER I. The Well", "CHAPTER II. The Rope"], contents)
    book = parse_book(_write(tmp_path, "gap.txt", body))
    assert [c.title for c in book.chapters] == ["The Well", "The Rope"]
    assert book.report.notes == []


def test_no_headings_gives_one_chapter_with_a_note(tmp_path):
    text = "\n\n".join(_para(n) for n in range(5))
    book = parse_book(_write(tmp_path, "12-plain-story.txt", text))
    assert len(book.chapters) == 1 and book.report.chapters == 1
    assert any("no chapter headings found" in n for n in book.report.notes)
    assert book.title == "Plain Story" and book.series_order == 12 and book.author is None


def test_quotes_dashes_italics_and_transcriber_notes_are_normalised(tmp_path):
    text = (
        "Chapter 1\n\n\n\u201cIt\u2019s _very_ late,\u201d said Mrs. Quill\u2014quietly\u2026\n\n"
        "[Transcriber's Note: obvious typos fixed.]\n\n[Illustration: A lamp]\n\n"
        "Chapter 2\n\n\nShe slept.\n\nTHE END\n\nALSO BY HANA QUILL\n\nThe Wick\nThe Flame\n"
    )
    book = parse_book(_write(tmp_path, "quotes.txt", text))
    assert book.chapters[0].text == '"It\'s very late," said Mrs. Quill--quietly...'
    assert book.chapters[1].text == "She slept."
    assert book.report.back_lines == 7  # THE END, the "also by" list, blank lines


def test_latin1_is_used_only_when_the_header_declares_it(tmp_path):
    text = NEW_HEADER.replace("UTF-8", "ISO-8859-1").lstrip("\ufeff") + "Caf\u00e9 au lait.\n"
    path = tmp_path / "latin.txt"
    path.write_bytes(text.encode("latin-1"))
    assert parse_book(path).text == "Caf\u00e9 au lait."


def test_undecodable_bytes_name_the_offset_and_the_fix(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"Chapter 1\n\nGood text here.\nCaf\xe9 again.\n")
    with pytest.raises(CorpusError) as err:
        parse_book(path)
    message = str(err.value)
    assert "byte offset 30" in message and "0xe9" in message and "UTF-8" in message
    assert "Re-save" in message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.txt", None, "file not found"),
        ("book.pdf", b"%PDF-1.4", "unsupported file type '.pdf'"),
        ("empty.txt", (NEW_HEADER + NEW_FOOTER).encode(), "no book text left"),
        ("blank.txt", b"\n\n   \n", "no book text left"),
    ],
)
def test_bad_input_raises_corpus_error_saying_what_to_do(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CorpusError, match=expected) as err:
        parse_book(path)
    assert str(path) in str(err.value)


def test_find_book_files(tmp_path):
    for name in ("b.txt", "A.epub", "c.TXT", "README.txt", "MANIFEST.tsv", "notes.md", ".x.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.txt").write_text("x")
    assert [p.name for p in find_book_files(tmp_path)] == ["A.epub", "b.txt", "c.TXT"]
    assert find_book_files(tmp_path / "b.txt") == [tmp_path / "b.txt"]
    with pytest.raises(CorpusError, match="no books found"):
        find_book_files(_empty_dir(tmp_path))
    with pytest.raises(CorpusError, match="no such file or directory"):
        find_book_files(tmp_path / "nope")
    with pytest.raises(CorpusError, match="unsupported file type"):
        find_book_files(tmp_path / "MANIFEST.tsv")


def _empty_dir(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("not a book")
    return empty


@pytest.mark.parametrize(
    ("title", "taken", "code"),
    [
        ("Words of Radiance", set(), "wor"),
        ("The Way of Kings", set(), "twok"),
        ("Rhythm of War", set(), "row"),
        ("Oathbringer", set(), "oath"),
        ("Ozma of Oz", set(), "ooo"),
        ("Ozma of Oz", {"ooo"}, "ooo2"),
        ("Ozma of Oz", {"ooo", "ooo2"}, "ooo3"),
        ("Mistborn: The Final Empire", set(), "mtfe"),
        ("Book 3: Caf\u00e9 Stories", set(), "b3cs"),
        ("Oz", set(), "oz"),
        ("!!!", set(), "book"),
    ],
)
def test_derive_code(title, taken, code):
    assert derive_code(title, taken) == code


def test_split_sentences_handles_dialogue_and_titles():
    text = (
        '"Is it far?" "No," said he. Mr. Oake and Mrs. Pell met Dr. Wren at 3 p.m. today.\n\n'
        '"Where\'s the lamp?" asked Hana. "How came you here? and who sent you?"'
    )
    assert split_sentences(text) == [
        '"Is it far?"',
        '"No," said he.',
        "Mr. Oake and Mrs. Pell met Dr. Wren at 3 p.m. today.",
        '"Where\'s the lamp?" asked Hana.',
        '"How came you here? and who sent you?"',
    ]
    assert split_sentences("  \n\n ") == []
