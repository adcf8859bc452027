"""SQLAlchemy models and sessions: books and their stats, the interaction log, the Reddit ledger.

The schema is owned by Alembic (``migrations/``); ``Base.metadata`` is its target.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    author: Mapped[str | None] = mapped_column(String(200))
    series_order: Mapped[int | None] = mapped_column(Integer)
    source_path: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(String(64), index=True)
    n_chapters: Mapped[int] = mapped_column(Integer, default=0)
    n_sentences: Mapped[int] = mapped_column(Integer, default=0)
    n_words: Mapped[int] = mapped_column(Integer, default=0)
    mean_score: Mapped[float] = mapped_column(Float, default=0.0)
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    chapters: Mapped[list[Chapter]] = relationship(
        back_populates="book", cascade="all, delete-orphan", order_by="Chapter.idx"
    )


class Chapter(Base):
    __tablename__ = "chapters"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    first_sentence: Mapped[int] = mapped_column(Integer)
    n_sentences: Mapped[int] = mapped_column(Integer)
    n_words: Mapped[int] = mapped_column(Integer, default=0)
    mean_score: Mapped[float] = mapped_column(Float, default=0.0)
    book: Mapped[Book] = relationship(back_populates="chapters")


class Sentence(Base):
    __tablename__ = "sentences"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    chapter_idx: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    polarity: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_sentences_book_idx", "book_id", "idx", unique=True),)


class BookText(Base):
    """The cleaned full text of a book (chapters joined), for word counts and training."""

    __tablename__ = "book_texts"
    book_id: Mapped[int] = mapped_column(
        ForeignKey("books.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)


class GuardIndex(Base):
    """Sorted hashes of the book's word k-grams, for the verbatim-copy guard."""

    __tablename__ = "guard_index"
    book_id: Mapped[int] = mapped_column(
        ForeignKey("books.id", ondelete="CASCADE"), primary_key=True
    )
    k: Mapped[int] = mapped_column(Integer)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class BookChart(Base):
    """A chart rendered at ingest time (the full-book sentiment arc), so requests only read it."""

    __tablename__ = "book_charts"
    book_id: Mapped[int] = mapped_column(
        ForeignKey("books.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    png: Mapped[bytes] = mapped_column(LargeBinary)


class Interaction(Base):
    """One request and its outcome, from any platform. User ids are salted hashes."""

    __tablename__ = "interactions"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    platform: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[str] = mapped_column(String(80), index=True)
    guild: Mapped[str | None] = mapped_column(String(80))
    channel: Mapped[str | None] = mapped_column(String(80))
    command: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    prompt: Mapped[str | None] = mapped_column(Text)
    seed: Mapped[int | None] = mapped_column(Integer)
    model_id: Mapped[str | None] = mapped_column(String(200))
    output: Mapped[str | None] = mapped_column(Text)
    queue_wait_s: Mapped[float | None] = mapped_column(Float)
    generation_s: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class RedditItem(Base):
    """The exactly-once ledger: one row per summoning comment/message, keyed by fullname."""

    __tablename__ = "reddit_items"
    fullname: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # mention | keyword | message
    subreddit: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(80))  # salted hash unless configured
    link_id: Mapped[str | None] = mapped_column(String(32), index=True)
    prompt: Mapped[str] = mapped_column(Text, default="")
    # queued -> generating -> ready -> posting -> posted | failed, or skipped (see the adapter)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply_fullname: Mapped[str | None] = mapped_column(String(32))
    output: Mapped[str | None] = mapped_column(Text)
    seed: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    marked_read: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class OptOut(Base):
    """Users who asked the bot to leave them alone (per platform, hashed id)."""

    __tablename__ = "optouts"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    user: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubredditBan(Base):
    """A subreddit that banned the bot, and when to check again."""

    __tablename__ = "subreddit_bans"
    subreddit: Mapped[str] = mapped_column(String(64), primary_key=True)
    banned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recheck_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite files get WAL mode, foreign keys and a busy timeout."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Store:
    """Owns the engine and session factory, plus the salt used to hash user ids."""

    def __init__(self, url: str, *, salt: str, hash_ids: bool = True):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._salt = salt.encode()
        self.hash_ids = hash_ids

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with self._sessions() as s, s.begin():
            yield s

    def user_key(self, platform: str, user_id: str) -> str:
        """The id stored for a user: a salted hash unless hashing is turned off."""
        if not self.hash_ids:
            return f"{platform}:{user_id}"
        digest = hmac.new(self._salt, f"{platform}:{user_id}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def log_interaction(self, **fields) -> int:
        """Append one row to the interaction log; returns its id."""
        with self.session() as s:
            row = Interaction(**fields)
            s.add(row)
            s.flush()
            return row.id

    def dispose(self) -> None:
        self.engine.dispose()


def load_salt(data_dir: Path, env_value: str | None) -> str:
    """The hashing salt: from the environment if set, else a random one kept in data_dir."""
    if env_value:
        return env_value
    path = data_dir / "salt"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
