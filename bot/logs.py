"""Log lines as text or JSON, each line about a request carrying that request's id.

The id lives in a context variable: the dispatcher sets it for each request, the adapters set
it where they start work on one (a Discord interaction, a Reddit summons), and asyncio copies
it into every task and ``asyncio.to_thread`` call started from there. Threads that serve many
requests (the engine worker) pass it explicitly: ``log.warning(..., extra={"request_id":
job.request_id})``. A handler-level filter puts it on every record, so text lines end in
``[request_id=...]`` and JSON lines have a ``request_id`` field.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

FORMATS = ("text", "json")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

REQUEST_ID: ContextVar[str | None] = ContextVar("spren_request_id", default=None)


def new_request_id() -> str:
    """A short random id for requests whose platform gives none (the console)."""
    return uuid.uuid4().hex[:16]


def current_request_id() -> str | None:
    """The id of the request this code is working on, if any."""
    return REQUEST_ID.get()


def bind_request(request_id: str | None) -> None:
    """Mark the rest of this task (and what it starts) as working on ``request_id``."""
    REQUEST_ID.set(request_id)


@contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    """Within the block, log lines carry ``request_id``; the previous id comes back after."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on each record (unless the call passed one in extra)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """The classic one-line format, plus ``[request_id=...]`` on lines about a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        if rid is None:
            return line
        head, sep, rest = line.partition("\n")  # keep the id on the first line of a traceback
        return f"{head} [request_id={rid}]{sep}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(fmt: str = "text", level: int = logging.WARNING,
              stream: TextIO | None = None) -> logging.Handler:
    """Send every log line to ``stream`` (stderr) in ``fmt``; replaces a previous setup."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_spren", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._spren = True  # type: ignore[attr-defined]  # ours to replace on reconfigure
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    return handler
