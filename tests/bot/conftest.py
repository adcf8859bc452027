"""Fixtures for bot tests: a config in a temp SPREN_HOME and a database with Oz books, on
SQLite and on PostgreSQL (the tests that take ``oz_cfg`` or ``fresh`` run on both)."""

import shutil
from pathlib import Path

import pytest

from bot.app import open_store
from bot.config import load_config
from bot.ingest import Ingestor
from tests.paths import OZ_DIR

OZ = OZ_DIR
FEW = ["01-the-wonderful-wizard-of-oz.txt", "02-the-marvelous-land-of-oz.txt",
       "03-ozma-of-oz.txt"]


def make_config(home: Path, db_url: str | None = None, **sections):
    """The built-in demo config living under ``home``, with section overrides."""
    overrides = {"bot": {"data_dir": str(home)}, **sections}
    if db_url:
        overrides["database"] = {"url": db_url}
    return load_config(None, environ={"SPREN_HOME": str(home)}, overrides=overrides)


def _ingest_few(home: Path, db_url: str | None = None) -> None:
    books = home / "books"
    books.mkdir()
    for name in FEW:
        shutil.copy(OZ / name, books / name)
    cfg = make_config(home, db_url)
    store = open_store(cfg)
    results = Ingestor(store, cfg).run([books], jobs=1)
    store.dispose()
    assert all(r.error is None for r in results), [r.error for r in results]


@pytest.fixture(scope="session")
def oz_library(tmp_path_factory):
    """A data dir with three Oz books ingested into SQLite (shared by read-only tests)."""
    home = tmp_path_factory.mktemp("ozlib")
    _ingest_few(home)
    return home


@pytest.fixture(scope="session")
def oz_library_pg(tmp_path_factory, pg_server):
    """The same three books ingested into a PostgreSQL database: (data dir, URL)."""
    home = tmp_path_factory.mktemp("ozlib_pg")
    url = pg_server.create_database()
    _ingest_few(home, url)
    return home, url


@pytest.fixture(params=["sqlite", "postgresql"])
def oz_cfg(request):
    """A config over the ingested Oz books, once per database kind."""
    if request.param == "sqlite":
        return make_config(request.getfixturevalue("oz_library"))
    return make_config(*request.getfixturevalue("oz_library_pg"))
