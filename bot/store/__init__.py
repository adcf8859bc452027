"""The database: SQLAlchemy tables by topic and the ``Store`` that opens sessions.

``base`` (the declarative base and naming convention), ``books`` (the library),
``interactions`` (the request log), ``reddit`` (ledger, opt-outs, bans), ``stories``
(passage trees and story threads), ``community`` (reading progress, moderators' settings,
blocks, audit log, filter events, usage counters), ``database``
(engine, sessions, hashed user ids). The schema is owned by Alembic (``migrations/``);
``Base.metadata`` is its target, so every table module is imported here.
"""

from bot.store.base import NAMING, Base, utcnow
from bot.store.books import Book, BookChart, BookText, Chapter, GuardIndex, Sentence
from bot.store.community import (
    AuditEntry,
    BlockedUser,
    FilterEvent,
    PlaceSettings,
    ReadingProgress,
    UsageCounter,
)
from bot.store.database import Store, database_error, load_salt, make_engine, safe_url
from bot.store.interactions import Interaction
from bot.store.reddit import OptOut, RedditItem, SubredditBan
from bot.store.stories import Passage, Story

__all__ = [
    "NAMING",
    "AuditEntry",
    "BlockedUser",
    "FilterEvent",
    "PlaceSettings",
    "ReadingProgress",
    "UsageCounter",
    "Base",
    "Book",
    "BookChart",
    "BookText",
    "Chapter",
    "GuardIndex",
    "Interaction",
    "OptOut",
    "Passage",
    "RedditItem",
    "Sentence",
    "Store",
    "Story",
    "SubredditBan",
    "database_error",
    "load_salt",
    "make_engine",
    "safe_url",
    "utcnow",
]
