"""The one file hash: sha256 of a file's bytes, read in pieces (books, wheels, weights).

``remembered_sha256`` is for large files hashed at every start (model weights): it keeps each
hash in a small JSON file beside them, valid while the file's size and modification time
(nanoseconds) and inode are unchanged, the way build tools trust a file's stat.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

MEMO_FILE = ".spren-sha256.json"


def file_sha256(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def remembered_sha256(path: Path | str) -> str:
    """file_sha256, remembered beside the file (a read-only folder just hashes every time)."""
    path = Path(path)
    memo_path = path.parent / MEMO_FILE
    try:
        memo = json.loads(memo_path.read_text())
        if not isinstance(memo, dict):
            memo = {}
    except (OSError, ValueError):
        memo = {}
    entry = memo.get(path.name)
    stamp = _stamp(path)
    if isinstance(entry, dict) and entry.get("stat") == stamp and \
            isinstance(entry.get("sha256"), str):
        return str(entry["sha256"])
    digest = file_sha256(path)
    memo[path.name] = {"stat": stamp, "sha256": digest}
    tmp = memo_path.with_name(f"{MEMO_FILE}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(memo, indent=1) + "\n")
        os.replace(tmp, memo_path)  # whole or not at all; two writers: the last one wins
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)
    return digest
