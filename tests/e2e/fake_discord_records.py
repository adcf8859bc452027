"""What the fake Discord records: each request (``Call``), its file parts, and one
``Exchange`` per interaction (callback, edits of the original message, follow-ups)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FilePart:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One HTTP request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | list | None
    files: list[FilePart]
    at: float
    status: int = 200


@dataclass
class Exchange:
    """Everything that happened to one dispatched interaction."""

    payload: dict[str, Any]
    sent_at: float
    callbacks: list[Call] = field(default_factory=list)
    edits: list[Call] = field(default_factory=list)
    followups: list[Call] = field(default_factory=list)
    deleted_original: bool = False
    original_id: int | None = None  # the message the response created, in ``Channels``

    @property
    def user_id(self) -> int:
        who = self.payload.get("member", {}).get("user") or self.payload["user"]
        return int(who["id"])

    @property
    def callback(self) -> Call | None:
        return self.callbacks[0] if self.callbacks else None

    def ok_edits(self) -> list[Call]:
        return [c for c in self.edits if c.status == 200]

    def original_content(self) -> str | None:
        """The original message's content after the last successful edit."""
        for call in reversed(self.ok_edits()):
            if call.body and "content" in call.body:
                return call.body["content"]
        body = self.callback.body if self.callback else None
        return (body or {}).get("data", {}).get("content")

    def sends(self) -> list[Call]:
        """Every call that put text or files in front of a user."""
        return [c for c in self.callbacks + self.edits + self.followups if c.status == 200]
