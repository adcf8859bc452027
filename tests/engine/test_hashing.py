"""The remembered weight hash: right, refreshed when the file changes, harmless when it can't
be written."""

import os

from engine.hashing import MEMO_FILE, file_sha256, remembered_sha256


def test_remembered_hash_is_the_file_hash_and_is_reused(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"weights" * 1000)
    assert remembered_sha256(f) == file_sha256(f)
    assert (tmp_path / MEMO_FILE).is_file()
    # a memo that matches the file's stat is trusted (that is the point: no re-read)
    memo = (tmp_path / MEMO_FILE).read_text().replace(file_sha256(f), "0" * 64)
    (tmp_path / MEMO_FILE).write_text(memo)
    assert remembered_sha256(f) == "0" * 64


def test_a_changed_file_is_hashed_again(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"a" * 100)
    first = remembered_sha256(f)
    f.write_bytes(b"b" * 100)  # same size, new content
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert remembered_sha256(f) == file_sha256(f) != first


def test_a_broken_or_unwritable_memo_only_costs_the_hash(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"x" * 10)
    (tmp_path / MEMO_FILE).write_text("{not json")
    assert remembered_sha256(f) == file_sha256(f)
    (tmp_path / MEMO_FILE).unlink()
    (tmp_path / MEMO_FILE).mkdir()  # cannot be written, even by root
    assert remembered_sha256(f) == file_sha256(f)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
