"""Fixtures for bot tests: a config in a temp SPREN_HOME and a database with Oz books."""

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


def make_config(home: Path, **sections):
    """The built-in demo config living under ``home``, with section overrides."""
    return load_config(None, environ={"SPREN_HOME": str(home)},
                       overrides={"bot": {"data_dir": str(home)}, **sections})


@pytest.fixture(scope="session")
def oz_library(tmp_path_factory):
    """A data dir with three Oz books ingested (shared by read-only tests)."""
    home = tmp_path_factory.mktemp("ozlib")
    books = home / "books"
    books.mkdir()
    for name in FEW:
        shutil.copy(OZ / name, books / name)
    cfg = make_config(home)
    store = open_store(cfg)
    results = Ingestor(store, cfg).run([books], jobs=1)
    store.dispose()
    assert all(r.error is None for r in results), [r.error for r in results]
    return home


@pytest.fixture
def oz_cfg(oz_library):
    return make_config(oz_library)
