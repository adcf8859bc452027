"""Alembic environment: the URL comes from spren's config (set by bot.migrate)."""

from alembic import context
from sqlalchemy import text

from bot.store import Base, make_engine

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK = 0x5350_5245_4E00  # "SPREN": the advisory lock id that serialises upgrades


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Bot processes starting together would each create the schema: the first takes
            # the lock and migrates; the others wait, then find the database up to date.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
