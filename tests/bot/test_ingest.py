"""Ingestion into the database: codes, no boilerplate, no-op re-ingest, atomic replace."""

import shutil

import numpy as np
import pytest
from sqlalchemy import func, select

from bot.app import open_store
from bot.errors import BadRequest
from bot.ingest import Ingestor
from bot.store import Book, BookChart, BookText, Chapter, GuardIndex, Sentence
from tests.bot.conftest import FEW, OZ, make_config


@pytest.fixture
def fresh(tmp_path, db_url):
    """An empty database of each kind (SQLite, PostgreSQL) and its config."""
    cfg = make_config(tmp_path, db_url)
    store = open_store(cfg)
    yield cfg, store, tmp_path
    store.dispose()


def test_three_books_are_stored_with_series_codes(oz_cfg):
    store = open_store(oz_cfg)
    with store.session() as s:
        books = s.scalars(select(Book).order_by(Book.series_order)).all()
        assert [b.code for b in books] == ["oz1", "oz2", "oz3"]
        assert books[0].title == "The Wonderful Wizard of Oz"
        for b in books:
            n = s.scalar(select(func.count()).where(Sentence.book_id == b.id))
            assert n == b.n_sentences > 1000
            assert s.scalar(select(func.count()).where(Chapter.book_id == b.id)) == b.n_chapters
            text = s.scalar(select(BookText.text).where(BookText.book_id == b.id))
            assert "gutenberg" not in text.lower() and "*** " not in text
            png = s.scalar(select(BookChart.png).where(BookChart.book_id == b.id))
            assert png.startswith(b"\x89PNG")
            hashes = s.scalar(select(GuardIndex.hashes).where(GuardIndex.book_id == b.id))
            assert len(np.frombuffer(hashes, dtype=np.uint64)) > 10000
            assert b.report["front_lines"] > 0 and b.report["back_lines"] > 0
    store.dispose()


def test_reingesting_the_same_file_is_a_noop(fresh):
    cfg, store, home = fresh
    path = OZ / FEW[2]
    first = Ingestor(store, cfg).run([path], jobs=1)
    with store.session() as s:
        book_id = s.scalar(select(Book.id))
    again = Ingestor(store, cfg).run([path], jobs=1)
    assert first[0].status == "added" and again[0].status == "unchanged"
    with store.session() as s:
        assert s.scalar(select(Book.id)) == book_id
        assert s.scalar(select(func.count(Book.id))) == 1


def test_changed_file_replaces_its_book_and_keeps_the_code(fresh):
    cfg, store, home = fresh
    path = home / FEW[2]
    shutil.copy(OZ / FEW[2], path)
    Ingestor(store, cfg).run([path], jobs=1)
    text = path.read_text(encoding="utf-8")
    assert "joggled the water" in text
    path.write_text(text.replace("joggled the water", "joggled the careful editor's water", 1),
                    encoding="utf-8")
    result = Ingestor(store, cfg).run([path], jobs=1)
    assert result[0].status == "replaced"
    with store.session() as s:
        books = s.scalars(select(Book)).all()
        assert [b.code for b in books] == ["oz3"]
        assert "careful editor" in s.scalar(select(BookText.text))


def test_a_broken_replacement_leaves_the_old_book_intact(fresh):
    cfg, store, home = fresh
    path = home / FEW[2]
    shutil.copy(OZ / FEW[2], path)
    Ingestor(store, cfg).run([path], jobs=1)
    path.write_bytes(b"\xff\xfe\x00garbage \x81\x8d bytes")
    result = Ingestor(store, cfg).run([path], jobs=1)
    assert result[0].status == "failed" and result[0].error
    with store.session() as s:
        assert s.scalar(select(Book.code)) == "oz3"
        assert s.scalar(select(func.count(Sentence.id))) > 1000


def test_code_flag_and_aliases(tmp_path):
    cfg = make_config(tmp_path, books={"aliases": {"wiz": "The Wonderful Wizard of Oz"}})
    store = open_store(cfg)
    Ingestor(store, cfg).run([OZ / FEW[0]], jobs=1)
    Ingestor(store, cfg).run([OZ / FEW[1]], code="land", jobs=1)
    with store.session() as s:
        assert sorted(s.scalars(select(Book.code))) == ["land", "wiz"]
    with pytest.raises(BadRequest, match="one book"):
        Ingestor(store, cfg).run([OZ / FEW[0], OZ / FEW[1]], code="x")
    store.dispose()


def test_bad_paths_change_nothing(fresh):
    cfg, store, home = fresh
    (home / "notes.docx").write_bytes(b"PK\x03\x04")
    results = Ingestor(store, cfg).run([home / "missing.txt", home / "notes.docx"])
    # each bad path gets its own failed line saying why; neither stops the other
    assert [r.status for r in results] == ["failed", "failed"]
    assert "missing.txt" in results[0].error and "notes.docx" in results[1].error
    with store.session() as s:
        assert s.scalar(select(func.count(Book.id))) == 0


def test_books_analysed_by_older_code_are_analysed_again(fresh):
    from sqlalchemy import update

    cfg, store, home = fresh
    path = OZ / FEW[2]
    Ingestor(store, cfg).run([path], jobs=1)
    with store.session() as s:
        old = s.scalars(select(Book)).one()
        s.execute(update(Book).where(Book.id == old.id)
                  .values(report=dict(old.report, analysis_version=1)))
    again = Ingestor(store, cfg).run([path], jobs=1)
    assert again[0].status == "replaced" and again[0].code == "oz3"
    assert Ingestor(store, cfg).run([path], jobs=1)[0].status == "unchanged"
