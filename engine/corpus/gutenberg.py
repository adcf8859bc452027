"""Plain-text decoding and Project Gutenberg header/footer handling."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import CorpusError

_BOM = b"\xef\xbb\xbf"
_CHARSET_RE = re.compile(rb"character set encoding:\s*([A-Za-z0-9_-]+)", re.IGNORECASE)
# Encodings we accept as a fallback only when the file says so itself.
_LATIN_NAMES = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "cp1252", "windows-1252"}

_START_RE = re.compile(r"^\W*\*{3}\s*START OF (?:THIS|THE) PROJECT GUTENBERG", re.IGNORECASE)
_OLD_START_RE = re.compile(r"\*END\*\s*THE SMALL PRINT", re.IGNORECASE)
_END_RE = re.compile(
    r"^\W*(?:\*{3}\s*)?END OF (?:THIS |THE )?PROJECT GUTENBERG"
    r"|^\W*End of (?:the |this )?Project Gutenberg"
    r"|^\W*\*{3}\s*END OF THE PROJECT",
    re.IGNORECASE,
)
_FIELD_RE = re.compile(r"^(Title|Author|Language|Character set encoding):\s*(.+?)\s*$", re.I)
_HEADER_SCAN_LINES = 400
_FIELD_CHARS = 1000


@dataclass
class PlainText:
    """A decoded text file split into lines, with the Gutenberg body located."""

    lines: list[str]
    body_start: int
    body_end: int
    meta: dict[str, str] = field(default_factory=dict)
    is_gutenberg: bool = False


def decode_bytes(data: bytes, path: Path) -> str:
    """UTF-8 (BOM optional); cp1252/latin-1 only when a Gutenberg header declares it."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        declared = _declared_charset(data)
        if declared in _LATIN_NAMES:
            return _decode_latin(data)
        raise CorpusError(_decode_message(path, data, exc.start, declared)) from None


def _declared_charset(data: bytes) -> str | None:
    match = _CHARSET_RE.search(data[:20000])
    return match.group(1).decode("ascii").lower() if match else None


def _decode_latin(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; latin-1 maps every byte.
        return data.decode("latin-1")


def _decode_message(path: Path, data: bytes, offset: int, declared: str | None) -> str:
    said = f"it declares {declared!r}" if declared else "it declares no other encoding"
    return (
        f"{path}: not valid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} cannot be "
        f"decoded, and {said}. Re-save the file as UTF-8 (for example "
        f"`iconv -f cp1252 -t utf-8 in.txt > out.txt`) and ingest it again."
    )


def split_plain_text(text: str) -> PlainText:
    """Split decoded text into lines and find the book between Gutenberg's markers."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start, is_pg = _body_start(lines)
    end = _body_end(lines, start)
    meta = _header_fields(lines[: start if is_pg else min(len(lines), 60)])
    return PlainText(lines, start, end, meta, is_pg or end < len(lines))


def body_text(text: str) -> str:
    """The text between Project Gutenberg's START and END markers (the whole text when it
    has none), line ends normalised to ``\\n`` and nothing else changed."""
    plain = split_plain_text(text)
    return "\n".join(plain.lines[plain.body_start:plain.body_end])


def _body_start(lines: list[str]) -> tuple[int, bool]:
    scan = lines[: min(len(lines), _HEADER_SCAN_LINES * 2)]
    for i, line in enumerate(scan):
        if _START_RE.match(line):
            return i + 1, True
    # Older files end their licence header with "*END*THE SMALL PRINT!...*END*".
    for i, line in enumerate(scan):
        if _OLD_START_RE.search(line):
            return i + 1, True
    return 0, False


def _body_end(lines: list[str], start: int) -> int:
    for i in range(start, len(lines)):
        if _END_RE.match(lines[i]):
            return i
    return len(lines)


def _header_fields(lines: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in lines[:_HEADER_SCAN_LINES]:
        # a header field is one short line; the pattern backtracks on long space runs
        match = _FIELD_RE.match(line.strip()) if len(line) <= _FIELD_CHARS else None
        if match and match.group(1).lower() not in meta:
            meta[match.group(1).lower()] = match.group(2)
    return meta


def clean_author(author: str) -> str:
    """'L. Frank Baum.' -> 'L. Frank Baum' (keeps a trailing initial's period)."""
    author = author.strip()
    if author.endswith(".") and len(author.rsplit(" ", 1)[-1]) > 2:
        author = author[:-1]
    return author
