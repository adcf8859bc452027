"""The database connection: engine (SQLite pragmas), sessions, hashed user ids, the salt."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConfigError
from bot.store.interactions import Interaction

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_KEY_CACHE = 10_000


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _postgres_text_keeps_nul_out(dbapi_conn, _record) -> None:
    """PostgreSQL text cannot hold NUL characters: a prompt with one would lose its log row
    (and a Reddit summons its ledger row). Store U+FFFD in their place, on every table."""
    from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

    for base in (StrDumperUnknown, StrBinaryDumper):  # psycopg's own, as Python classes
        dbapi_conn.adapters.register_dumper(str, _nul_free(base))


_NUL_FREE: dict[type, type] = {}


def _nul_free(dumper: type) -> type:
    """A subclass of psycopg's str dumper that replaces NUL (made once per base class)."""
    if dumper not in _NUL_FREE:
        class NulFree(dumper):
            def dump(self, obj: str):
                return super().dump(obj.replace("\x00", "\ufffd"))

        _NUL_FREE[dumper] = NulFree
    return _NUL_FREE[dumper]


def normalize_url(url: str) -> str:
    """Plain ``postgresql://`` (or ``postgres://``) URLs mean psycopg 3, the driver of the
    ``postgres`` extra; SQLAlchemy's own default for them is psycopg2."""
    for scheme in POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def safe_url(url: str) -> str:
    """The URL fit for messages and logs: any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite files get WAL mode, foreign keys and a busy timeout.

    A URL that is no database URL, or names an unknown kind of database or a driver that is
    not installed, or a SQLite file whose folder cannot be made, is a ConfigError with one
    line saying what to change.
    """
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"[database] url {url[:80]!r} is not a database URL: use e.g. "
                          "sqlite:////var/lib/spren/spren.db or postgresql://user@host/spren "
                          "(or leave it empty for spren.db in the data dir)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        _make_folder(Path(parsed.database).expanduser().parent, "the database file")
    try:
        # pre-ping: a server restart or an idle timeout must not fail the next request
        engine = create_engine(url, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    except NoSuchModuleError:
        raise ConfigError(f"[database] url {safe_url(url)}: spren does not know the database "
                          f"kind {parsed.drivername!r}; use sqlite:///... or "
                          "postgresql://...") from None
    except ImportError as exc:
        raise ConfigError(_driver_message(url, exc)) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.driver == "psycopg":
        event.listen(engine, "connect", _postgres_text_keeps_nul_out)
    return engine


def _driver_message(url: str, exc: ImportError) -> str:
    """One line naming the missing database driver and how to install it."""
    scheme = url.split(":", 1)[0]
    if scheme.startswith("postgresql"):
        return (f"[database] url is a PostgreSQL URL but its driver is not installed "
                f"({exc.name or exc}): pip install 'spren[postgres]'")
    return (f"[database] url ({scheme}://...) needs a database driver that is not installed "
            f"({exc.name or exc}): install it, or use a sqlite:/// or postgresql:// URL")
def database_error(url: str, exc: BaseException) -> ConfigError:
    """One line for a database that cannot be opened or migrated: where, why, what to do."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = detail[0][:200] if detail else type(exc).__name__
    return ConfigError(f"cannot open the database {safe_url(url)} ({reason}); check [database] "
                       "url, that the database server is running, and that the file's folder "
                       "is writable")


def _make_folder(folder: Path, what: str) -> None:
    """Create ``folder`` (and parents) for ``what``, or a ConfigError saying why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"cannot use {folder} as the folder for {what}: it is a file. Point "
                          "SPREN_HOME / [bot] data_dir / [database] url at a folder.") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {folder} for {what} ({exc.strerror}); "
                          "point SPREN_HOME / [bot] data_dir / [database] url at a writable "
                          "place.") from None


class Store:
    """Owns the engine and session factory, plus the salt used to hash user ids."""

    def __init__(self, url: str, *, salt: str, hash_ids: bool = True):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._salt = salt.encode()
        self.hash_ids = hash_ids
        self._keys: dict[str, str] = {}  # raw id -> hashed id, bounded by _KEY_CACHE

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with self._sessions() as s, s.begin():
            yield s

    def user_key(self, platform: str, user_id: str) -> str:
        """The id stored for a user: a salted hash unless hashing is turned off."""
        raw = f"{platform}:{user_id}"
        if not self.hash_ids:
            return raw
        key = self._keys.get(raw)
        if key is None:  # each request needs it two or three times: hash once
            key = hmac.new(self._salt, raw.encode(), hashlib.sha256).hexdigest()[:32]
            if len(self._keys) >= _KEY_CACHE:
                self._keys.clear()
            self._keys[raw] = key
        return key

    def log_interaction(self, **fields) -> int:
        """Append one row to the interaction log; returns its id."""
        with self.session() as s:
            row = Interaction(**fit_interaction(fields))
            s.add(row)
            s.flush()
            return row.id

    def dispose(self) -> None:
        self.engine.dispose()


def fit_interaction(fields: dict) -> dict:
    """An interaction row's fields with text longer than its column cut (PostgreSQL, unlike
    SQLite, refuses it, and the row would be lost)."""
    columns = Interaction.__table__.c
    out = dict(fields)
    for name, value in fields.items():
        length = getattr(columns[name].type, "length", None) if name in columns else None
        if isinstance(value, str) and length and len(value) > length:
            out[name] = value[:length]
    return out


def load_salt(data_dir: Path, env_value: str | None) -> str:
    """The hashing salt: from the environment if set, else a random one kept in data_dir."""
    if env_value:
        return env_value
    _make_folder(data_dir, "spren's data (SPREN_HOME)")
    path = data_dir / "salt"
    try:
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_hex(16)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value
    except FileExistsError:  # another process wrote it first: use theirs
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read or write the salt file {path} ({exc.strerror}); make "
                          "the data dir writable or set the salt in the environment variable "
                          "named by [bot] salt_env") from None
