"""Alembic migrations on SQLite and PostgreSQL: upgrade creates the schema, downgrade ->
upgrade round-trips, the models match the migrations, concurrent upgrades are safe."""

import subprocess
import sys

import pytest
from sqlalchemy import inspect, text

from bot import migrate
from bot.errors import ConfigError
from bot.store import Base, make_engine
from tests.paths import REPO_ROOT


def tables(url):
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return names


def test_upgrade_creates_every_model_table(db_url):
    migrate.upgrade(db_url)
    assert tables(db_url) == set(Base.metadata.tables)
    assert migrate.current(db_url) is not None


def test_downgrade_then_upgrade_round_trips(db_url):
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")
    assert tables(db_url) == set()
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)
    assert tables(db_url) == set(Base.metadata.tables)


def test_every_revision_steps_down_and_up_one_at_a_time(db_url):
    """Each revision's downgrade undoes exactly its upgrade (checked step by step)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(db_url))
    revisions = [r.revision for r in script.walk_revisions("base", "heads")][::-1]
    seen = []
    for rev in revisions:
        migrate.upgrade(db_url, rev)
        seen.append(tables(db_url))
    for i in range(len(revisions) - 1, 0, -1):
        migrate.downgrade(db_url, revisions[i - 1])
        assert tables(db_url) == seen[i - 1]
        assert migrate.current(db_url) == revisions[i - 1]


def test_sqlite_runs_in_wal_mode(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_models_match_the_migrations(db_url):
    """Autogenerate finds nothing to do: the models and the migration files agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_concurrent_upgrades_of_one_postgresql_database_all_succeed(pg_url):
    """Bot processes starting together each upgrade: the advisory lock serialises them."""
    code = "import sys; from bot import migrate; migrate.upgrade(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert tables(pg_url) == set(Base.metadata.tables)


@pytest.mark.parametrize("url", ["postgresql://u@127.0.0.1/db", "postgres://u@127.0.0.1/db",
                                 "postgresql+psycopg://u@127.0.0.1/db"])
def test_plain_postgresql_urls_use_psycopg_3(url):
    engine = make_engine(url)
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_a_missing_postgresql_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    with pytest.raises(ConfigError) as info:
        make_engine("postgresql://u@127.0.0.1/db")
    message = str(info.value)
    assert "pip install 'spren[postgres]'" in message and "\n" not in message
