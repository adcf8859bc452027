"""Finding and reading book files safely: folders, symlinks, FIFOs, loops, sizes.

A folder is read one level deep. A symlink in it is followed only when it stays inside the
folder; one leading out, a loop, a FIFO or any other non-regular file is skipped with its
reason, so the operator sees a line for it. Reading never blocks on a FIFO and never reads
more than the file-size limit.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from engine.corpus.limits import CorpusLimits, check_file_size
from engine.errors import CorpusError

BOOK_SUFFIXES = (".txt", ".epub")
# Files that sit next to books in a corpus folder but are not books.
_NOT_BOOKS = re.compile(r"^(readme|manifest|license|licence|changelog|notes|index)\b", re.I)
_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFDIR: "a folder"}


def check_suffix(path: Path) -> None:
    """Refuse a file that is not .txt or .epub, saying what spren reads."""
    if path.suffix.lower() not in BOOK_SUFFIXES:
        raise CorpusError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}. "
            "spren reads .txt (UTF-8) and .epub books; convert the book to one of these."
        )


def _looks_like_book(path: Path) -> bool:
    return (path.suffix.lower() in BOOK_SUFFIXES and not path.name.startswith(".")
            and not _NOT_BOOKS.match(path.name))


def _stat_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a book file (None when it is a regular file)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop (the link points back at itself); fix or remove the link"
        if exc.errno == errno.ENOENT:
            return ("a broken symlink (its target does not exist)" if path.is_symlink()
                    else "file not found: no such file or directory; check the path")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied; check its permissions"
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return f"{kind}, not a book file; only regular .txt/.epub files are read"


def _escapes(folder: Path, entry: Path) -> bool:
    """True when ``entry`` is a symlink whose target lies outside ``folder``."""
    if not entry.is_symlink():
        return False
    try:
        target = entry.resolve(strict=False)
        return not target.is_relative_to(folder.resolve(strict=True))
    except (OSError, RuntimeError):  # a loop: reported by _stat_problem
        return False


def scan_folder(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The book files in ``folder`` sorted by name, and the book-like entries skipped (why)."""
    books: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name.lower())
    except OSError as exc:
        raise CorpusError(f"{folder}: cannot list the folder ({exc.strerror}); check its "
                          "permissions.") from None
    for entry in entries:
        if not _looks_like_book(entry):
            continue
        if _escapes(folder, entry):
            skipped.append((entry, "a symlink leading outside the folder; not followed "
                                   "(copy the book into the folder or name it directly)"))
            continue
        problem = _stat_problem(entry)
        if problem:
            skipped.append((entry, problem))
        else:
            books.append(entry)
    return books, skipped


def book_files(path: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """A book file -> ([it], []); a folder -> its books and the entries skipped (why)."""
    path = Path(path)
    if not path.is_dir():
        if not path.exists() and not path.is_symlink():
            raise CorpusError(f"{path}: no such file or directory. Give a book file or a "
                              "folder of them.")
        check_suffix(path)
        problem = _stat_problem(path)
        if problem:
            raise CorpusError(f"{path}: {problem}.")
        return [path], []
    books, skipped = scan_folder(path)
    if not books and not skipped:
        raise CorpusError(
            f"{path}: no books found (looked for {', '.join(BOOK_SUFFIXES)} files). "
            "Put the books' .txt or .epub files in this folder or name a file."
        )
    return books, skipped


def find_book_files(path: Path) -> list[Path]:
    """A book file -> [it]; a directory -> its .txt/.epub books sorted by name."""
    return book_files(path)[0]


def read_book_bytes(path: Path, limits: CorpusLimits) -> bytes:
    """The file's bytes, refused when it is not a regular file or is over the size limit."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block us
    except OSError:
        problem = _stat_problem(path) or "cannot be opened"
        raise CorpusError(f"{path}: {problem}.") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise CorpusError(f"{path}: {kind}, not a book file; only regular .txt/.epub "
                              "files are read.")
        check_file_size(path, info.st_size, limits)
        try:
            data = _read_at_most(fh, limits.max_file_bytes + 1)  # it may grow after fstat
        except OSError as exc:
            raise CorpusError(f"{path}: cannot be read ({exc.strerror}). Check the file.") \
                from None
    check_file_size(path, len(data), limits)
    return data


def _read_at_most(fh: BinaryIO, limit: int, chunk: int = 2**20) -> bytes:
    """Up to ``limit`` bytes in pieces (``read(limit)`` would allocate all of it at once)."""
    out = bytearray()
    while len(out) < limit and (piece := fh.read(min(chunk, limit - len(out)))):
        out += piece
    return bytes(out)
