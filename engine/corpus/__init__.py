"""Books in, clean chapters and sentences out (what `spren ingest` reads).

- ``books``: a .txt or .epub file -> ``ParsedBook`` (the entry point, ``parse_book``)
- ``files``: book folders (symlinks, FIFOs, loops) and reading a file within its size limit
- ``limits``: ``CorpusLimits``, the bounds on what one book may cost (zip, spine, text)
- ``gutenberg``: text decoding and the Project Gutenberg header/footer (the one stripper)
- ``plaintext``, ``plaintext_chapters``: plain-text books; their contents list and headings
- ``epub_package``: the EPUB zip (container.xml, OPF metadata, manifest, spine, nav/NCX)
- ``epub_pages``: one XHTML page -> text blocks; nav-page links
- ``epub_chapters``: which spine pages are story text, and where EPUB chapters start
- ``cleaning``: book-text normalisation (quotes, dashes, wraps, boilerplate paragraphs)
- ``numbers``, ``sentences``, ``codes``: chapter numbers, sentence splitting, book codes
"""

from engine.corpus.books import (
    BOOK_SUFFIXES,
    Chapter,
    IngestReport,
    ParsedBook,
    find_book_files,
    parse_book,
)
from engine.corpus.codes import derive_code
from engine.corpus.files import book_files, scan_folder
from engine.corpus.limits import CorpusLimits, check_file_size
from engine.corpus.sentences import split_sentences

__all__ = [
    "BOOK_SUFFIXES",
    "book_files",
    "check_file_size",
    "Chapter",
    "CorpusLimits",
    "IngestReport",
    "ParsedBook",
    "derive_code",
    "find_book_files",
    "parse_book",
    "scan_folder",
    "split_sentences",
]
