"""Tables of the library: books, chapters, sentences and what ingest computes for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.store.base import Base, utcnow


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
