"""The servers of the remote backend: each one's health, load, speed, model name and dialect,
and which one takes the next request (the least loaded of those up).

Plain state with no I/O: ``engine.generation.remote.engine.RemoteEngine`` changes it on its
own event loop thread, and only reads of it (``describe``) come from other threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from engine.errors import GenerationError
from engine.generation.remote.protocol import DIALECTS

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0


def server_label(url: str) -> str:
    """The URL as it may be shown and logged: no user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def check_url(url: str) -> str:
    """A server's base URL without a trailing slash; GenerationError if it is not http(s)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GenerationError(f"[model] urls: {server_label(url) or url!r} is not an http(s) "
                              "URL; give the server's OpenAI base, e.g. "
                              "http://127.0.0.1:8000/v1")
    return url.strip().rstrip("/")


def backoff_s(failures: int, cap: float = MAX_BACKOFF_S) -> float:
    """Seconds to wait before probing a server that failed ``failures`` times in a row."""
    return min(cap, FIRST_BACKOFF_S * float(2 ** max(0, failures - 1)))


@dataclass
class Server:
    """One OpenAI-compatible server and what spren knows about it."""

    url: str  # the OpenAI base, e.g. http://127.0.0.1:8000/v1
    model: str = ""  # the model name to request ("" until read from /models)
    dialect: str = DIALECTS[0]
    up: bool = False
    checked: bool = False  # probed or used at least once
    failures: int = 0  # in a row
    next_probe: float = 0.0  # monotonic time of the next health probe while down
    reason: str = "not checked yet"  # why it is down
    in_flight: int = 0
    served: int = 0
    tokens_per_s: float | None = None  # one stream's speed, averaged
    max_backoff_s: float = MAX_BACKOFF_S  # the longest wait between two checks while down
    label: str = field(init=False)

    def __post_init__(self) -> None:
        self.label = server_label(self.url)

    @property
    def health_url(self) -> str:
        """``/health`` beside the OpenAI base (vLLM, llama.cpp, TGI and transformers serve)."""
        base = self.url[:-3] if self.url.endswith("/v1") else self.url
        return base + "/health"

    def mark_down(self, reason: str, now: float) -> bool:
        """Take the server out of rotation until a probe succeeds; True if it was up."""
        was_up = self.up
        self.up, self.checked, self.reason = False, True, reason
        self.failures += 1
        self.next_probe = now + backoff_s(self.failures, self.max_backoff_s)
        return was_up

    def mark_up(self) -> bool:
        """Put the server back in rotation after a good health check; True if it was down.
        Its failure count stays until it answers a passage, so a server whose health check
        passes while its completions fail is tried less and less often."""
        was_down = not self.up
        self.up, self.checked, self.reason = True, True, ""
        return was_down

    def answered(self, tokens: int, seconds: float) -> None:
        """A passage came back whole: count it and its speed, and forget past failures."""
        self.failures, self.served = 0, self.served + 1
        self.record_speed(tokens, seconds)

    def record_speed(self, tokens: int, seconds: float, alpha: float = 0.3) -> None:
        """Fold one finished stream's tokens per second into the server's average."""
        if tokens < 1 or seconds <= 0:
            return
        rate = tokens / seconds
        old = self.tokens_per_s
        self.tokens_per_s = rate if old is None else old + alpha * (rate - old)

    def describe(self, now: float, public_name: str | None = None) -> str:
        """One line: the server, its state, load and measured speed. With ``public_name`` it
        stands for the address and the reason a server is down is left out."""
        if not self.up:
            wait = max(0.0, self.next_probe - now)
            why = "" if public_name else f" ({self.reason})"
            return f"{public_name or self.label}: down{why}; next check in {wait:.0f} s"
        speed = (f", {self.tokens_per_s:.0f} tokens/s per stream"
                 if self.tokens_per_s is not None else "")
        model = "" if public_name else f", model {self.model}"
        return (f"{public_name or self.label}: up{model}, {self.in_flight} generating, "
                f"{self.served} served{speed}")


def least_loaded(servers: list[Server], capacity: int,
                 exclude: tuple[Server, ...] = ()) -> Server | None:
    """The up server with the fewest requests in flight (below ``capacity``), else None;
    ties go to the one that has served fewest, spreading load over equal servers."""
    free = [s for s in servers if s.up and s.in_flight < capacity and s not in exclude]
    return min(free, key=lambda s: (s.in_flight, s.served), default=None)
