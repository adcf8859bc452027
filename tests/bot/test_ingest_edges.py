"""Ingesting folders of odd and hostile files: a line per file, a summary, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from bot.app import open_store
from bot.cli.main import cli
from bot.ingest import ANALYSIS_VERSION, Ingestor
from bot.store import Book
from engine import corpus
from engine.hashing import file_sha256
from tests.bot.conftest import make_config
from tests.engine.corpus.epub_factory import build_epub

REPO = Path(__file__).resolve().parents[2]
STORY = "Dorothy walked to the river. Toto ran ahead of her. The water was cold and bright."


def _small_book(path: Path, chapters: int = 3) -> Path:
    path.write_text("".join(f"CHAPTER {i}\n\n{STORY} Step {i}.\n\n"
                            for i in range(1, chapters + 1)), encoding="utf-8")
    return path


def _folder(tmp_path: Path) -> Path:
    books = tmp_path / "books"
    books.mkdir()
    (books / "01-one-sentence.txt").write_text("Dorothy lived in Kansas.\n", encoding="utf-8")
    _small_book(books / "02-walk.txt")
    (books / "03-broken.epub").write_bytes(b"PK\x03\x04 not really a zip")
    (books / "04-empty.txt").write_text("\n\n   \n", encoding="utf-8")
    build_epub(books / "05-orchard.epub")
    (books / "06-outside.txt").symlink_to(tmp_path / "elsewhere.txt")
    (tmp_path / "elsewhere.txt").write_text(STORY, encoding="utf-8")
    os.mkfifo(books / "07-pipe.txt")
    return books


def _ingest(home: Path, *args: str):
    env = {"SPREN_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return CliRunner().invoke(cli, ["ingest", *args], env=env)


def test_every_file_in_a_folder_gets_its_own_line_and_the_summary_prints(tmp_path):
    books = _folder(tmp_path)
    result = _ingest(tmp_path / "home", str(books), "--jobs", "1")
    out = result.output
    lines = out.strip().splitlines()
    assert "Traceback" not in out and result.exit_code == 1  # some files failed
    for name, status in [("01-one-sentence.txt", "added"), ("02-walk.txt", "added"),
                         ("03-broken.epub", "FAILED"), ("04-empty.txt", "FAILED"),
                         ("05-orchard.epub", "added"), ("06-outside.txt", "skipped"),
                         ("07-pipe.txt", "skipped")]:
        assert any(line.startswith(status) and name in line for line in lines), (name, out)
    assert lines[-1] == "3 added, 0 replaced, 0 unchanged, 2 skipped, 2 failed"
    again = _ingest(tmp_path / "home", str(books), "--jobs", "1")
    assert again.output.strip().splitlines()[-1] == ("0 added, 0 replaced, 3 unchanged, "
                                                     "2 skipped, 2 failed")


def test_a_bad_path_among_good_ones_is_one_failed_line(tmp_path):
    good = _small_book(tmp_path / "walk.txt")
    result = _ingest(tmp_path / "home", str(tmp_path / "missing.txt"), str(good))
    assert "FAILED     missing.txt: " in result.output and "no such file" in result.output
    assert result.output.strip().endswith("1 added, 0 replaced, 0 unchanged, 0 skipped, "
                                          "1 failed")


def test_a_file_name_that_is_not_utf8_is_one_clear_failed_line(tmp_path):
    """Undecodable bytes in a name reach Python as lone surrogates, which no database can
    store: the file is refused with what to do, the others are ingested."""
    books = tmp_path / "books"
    books.mkdir()
    _small_book(Path(os.fsdecode(bytes(books) + b"/01-caf\xe9.txt")))
    _small_book(books / "02-walk.txt")
    result = _ingest(tmp_path / "home", str(books), "--jobs", "1")
    lines = result.output.strip().splitlines()
    assert "Traceback" not in result.output
    failed = [line for line in lines if line.startswith("FAILED")]
    assert len(failed) == 1 and "01-caf\ufffd.txt" in failed[0]
    assert "not valid UTF-8" in failed[0] and "rename it" in failed[0]
    failed[0].encode("utf-8")  # printable on a strict UTF-8 terminal
    assert lines[-1] == "1 added, 0 replaced, 0 unchanged, 0 skipped, 1 failed"


def test_an_unexpected_failure_in_one_book_fails_that_book_only(tmp_path, monkeypatch):
    real = corpus.parse_book

    def flaky(path, limits=None):
        if path.name.startswith("bad"):
            raise ValueError("an engine bug")
        return real(path, limits)

    monkeypatch.setattr(corpus, "parse_book", flaky)
    cfg = make_config(tmp_path)
    store = open_store(cfg)
    results = Ingestor(store, cfg).run([_small_book(tmp_path / "bad.txt"),
                                        _small_book(tmp_path / "good.txt")], jobs=1)
    store.dispose()
    assert [r.status for r in results] == ["failed", "added"]
    assert "could not analyse this book (ValueError: an engine bug)" in results[0].error


class _Racing(Ingestor):
    """An Ingestor whose write is overtaken by another ingest storing the same file."""

    raced = False

    def _choose_code(self, s, book, title, order, path, code):
        chosen = super()._choose_code(s, book, title, order, path, code)
        if not self.raced:  # the other process commits between our read and our write
            self.raced = True
            with self.store.session() as other:
                other.add(Book(code=chosen[0], title=title, source_path=str(path),
                               source_sha256=self.sha, report={
                                   "analysis_version": ANALYSIS_VERSION}))
        return chosen


def test_a_write_overtaken_by_another_ingest_is_retried_not_a_traceback(tmp_path):
    cfg = make_config(tmp_path)
    store = open_store(cfg)
    path = _small_book(tmp_path / "walk.txt")
    racing = _Racing(store, cfg)
    racing.sha = file_sha256(path)
    [result] = racing.run([path], jobs=1)
    assert racing.raced and result.error is None
    assert result.status in ("unchanged", "replaced")
    with store.session() as s:
        assert s.scalar(select(func.count(Book.id))) == 1
    store.dispose()


def test_two_ingests_at_once_both_finish_with_a_line_per_book(tmp_path):
    """Both start on a new database (both migrate it) and store the same books."""
    books = tmp_path / "books"
    books.mkdir()
    for i in range(3):
        _small_book(books / f"0{i}-book-{i}.txt", chapters=2 + i)
    env = dict(os.environ, SPREN_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "bot", "ingest", str(books), "--jobs", "1"]
    procs = [subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, (out, err)
        assert "Traceback" not in out + err
        assert sum(name in out for name in ("00-book", "01-book", "02-book")) == 3
        assert "failed" in out.splitlines()[-1] and " 0 failed" in out.splitlines()[-1]
    store = open_store(make_config(tmp_path / "home"))
    with store.session() as s:
        assert s.scalar(select(func.count(Book.id))) == 3
    store.dispose()
