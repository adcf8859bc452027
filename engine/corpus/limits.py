"""Bounds on the work one book file may cause, so a small hostile file cannot cost much.

A 1.6 KB EPUB whose spine lists one page 10,000 times, or a zip bomb, must be refused (or
read once) with a clear message, never expanded. Every reader in ``engine.corpus`` takes a
``CorpusLimits``; the bot fills it from the ``[ingest]`` config section.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CorpusError

MB = 2**20
# Members smaller than this are never refused for their compression ratio: a short page of
# repeated markup legitimately compresses 50x, and its size is bounded anyway.
_RATIO_FLOOR_BYTES = MB
_CHUNK = 256 * 1024
_EOCD = b"PK\x05\x06"


@dataclass(frozen=True)
class CorpusLimits:
    """How much one book may make ingest read, unpack and keep (config: ``[ingest]``)."""

    max_file_bytes: int = 64 * MB  # the book file on disk
    max_unpacked_bytes: int = 128 * MB  # EPUB: all members read, uncompressed, together
    max_member_bytes: int = 32 * MB  # EPUB: one member, uncompressed
    max_zip_ratio: float = 100.0  # EPUB: uncompressed / compressed size of one member
    max_zip_members: int = 10_000  # EPUB: entries in the zip
    max_spine_pages: int = 2_000  # EPUB: entries in the reading order
    max_book_chars: int = 16_000_000  # text of one book, after decoding
    max_chapters: int = 2_000  # chapters kept for one book

    def refuse(self, path: Path, what: str, limit: str) -> CorpusError:
        """The one wording of a limit refusal: what was found, the limit, what to do."""
        return CorpusError(
            f"{path}: refused: {what}, over the limit of {limit}. If this is a real book, "
            "raise the limit in the [ingest] section of the config; otherwise check the file."
        )


def check_file_size(path: Path, size: int, limits: CorpusLimits) -> None:
    """Refuse a book file larger than ``max_file_bytes`` before reading it."""
    if size > limits.max_file_bytes:
        raise limits.refuse(path, f"the file is {_mb(size)}",
                            f"{_mb(limits.max_file_bytes)} ([ingest] max_file_mb)")


def check_text_size(path: Path, chars: int, limits: CorpusLimits) -> None:
    """Refuse a book whose text is longer than ``max_book_chars``."""
    if chars > limits.max_book_chars:
        raise limits.refuse(path, f"the book has {chars:,} characters of text",
                            f"{limits.max_book_chars:,} ([ingest] max_book_chars)")


def check_chapters(path: Path, count: int, limits: CorpusLimits) -> None:
    """Refuse a book split into more than ``max_chapters`` chapters."""
    if count > limits.max_chapters:
        raise limits.refuse(path, f"the book splits into {count:,} chapters",
                            f"{limits.max_chapters:,} ([ingest] max_chapters)")


def zip_entry_count(data: bytes) -> int | None:
    """Entries declared in a zip's end record, read before zipfile builds its member list."""
    at = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if at < 0 or at + 12 > len(data):
        return None
    (count,) = struct.unpack("<H", data[at + 10 : at + 12])
    return int(count)


def open_zip(path: Path, data: bytes, limits: CorpusLimits, fix: str) -> zipfile.ZipFile:
    """The EPUB's zip, refused when it declares more members than ``max_zip_members``."""
    declared = zip_entry_count(data)
    if declared is not None and declared > limits.max_zip_members:
        raise limits.refuse(path, f"the EPUB zip has {declared:,} members",
                            f"{limits.max_zip_members:,} ([ingest] max_zip_members)")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise CorpusError(f"{path}: not a valid EPUB: the file is not a zip archive. {fix}") \
            from None
    members = len(zf.infolist())
    if members > limits.max_zip_members:
        raise limits.refuse(path, f"the EPUB zip has {members:,} members",
                            f"{limits.max_zip_members:,} ([ingest] max_zip_members)")
    return zf


class BoundedZip:
    """Reads zip members with every unpacking limit enforced while the bytes come out."""

    def __init__(self, zf: zipfile.ZipFile, path: Path, limits: CorpusLimits):
        self.zf, self.path, self.limits = zf, path, limits
        self.names = frozenset(zf.namelist())
        self.unpacked = 0  # bytes read so far, all members together

    def read(self, name: str) -> bytes:
        """One member's bytes (KeyError when absent); CorpusError past a limit."""
        info = self.zf.getinfo(name)
        self._check_declared(info)
        out = bytearray()
        with self.zf.open(info) as fh:
            while chunk := fh.read(_CHUNK):
                out += chunk
                self.unpacked += len(chunk)
                self._check_read(info, len(out))
        return bytes(out)

    def _check_declared(self, info: zipfile.ZipInfo) -> None:
        lim = self.limits
        if info.file_size > lim.max_member_bytes:
            raise lim.refuse(self.path, f"EPUB member {info.filename} unpacks to "
                             f"{_mb(info.file_size)}",
                             f"{_mb(lim.max_member_bytes)} ([ingest] max_member_mb)")
        self._check_ratio(info, info.file_size)

    def _check_read(self, info: zipfile.ZipInfo, so_far: int) -> None:
        lim = self.limits
        if so_far > lim.max_member_bytes:
            raise lim.refuse(self.path, f"EPUB member {info.filename} unpacks to more than "
                             f"{_mb(lim.max_member_bytes)}",
                             f"{_mb(lim.max_member_bytes)} ([ingest] max_member_mb)")
        if self.unpacked > lim.max_unpacked_bytes:
            raise lim.refuse(self.path, f"the EPUB unpacks to more than "
                             f"{_mb(lim.max_unpacked_bytes)}",
                             f"{_mb(lim.max_unpacked_bytes)} ([ingest] max_unpacked_mb)")
        self._check_ratio(info, so_far)

    def _check_ratio(self, info: zipfile.ZipInfo, size: int) -> None:
        if size < _RATIO_FLOOR_BYTES:
            return
        ratio = size / max(1, info.compress_size)
        if ratio > self.limits.max_zip_ratio:
            raise self.limits.refuse(
                self.path, f"EPUB member {info.filename} is compressed {ratio:,.0f} to 1 "
                "(a zip bomb?)", f"{self.limits.max_zip_ratio:g} to 1 ([ingest] max_zip_ratio)")


def _mb(n: int) -> str:
    return f"{n / MB:,.1f} MB"
