"""Run Alembic migrations programmatically (``spren db upgrade`` / ``downgrade``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.util.exc import CommandError
from sqlalchemy.exc import SQLAlchemyError

from bot.config import REPO_ROOT
from bot.store import database_error, make_engine


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def _friendly(url: str) -> Iterator[None]:
    """Database and migration failures as one ConfigError line (no traceback)."""
    try:
        yield
    except (SQLAlchemyError, CommandError) as exc:
        raise database_error(url, exc) from exc


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (default: the newest).

    Two processes starting on a new database at once (two ingests, say) both migrate; the
    one that loses the race finds the tables made and tries once more, which then finds
    nothing left to do.
    """
    make_engine(url).dispose()  # a bad URL or folder: a clear ConfigError first
    try:
        command.upgrade(alembic_config(url), revision)
    except (SQLAlchemyError, CommandError):
        time.sleep(0.5)
        with _friendly(url):
            command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` down to ``revision`` (``base`` empties it)."""
    make_engine(url).dispose()
    with _friendly(url):
        command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    with _friendly(url), engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return rev
