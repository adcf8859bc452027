"""One passage streamed from one server: the request, the event stream turned into text as
the local engine shows it (tidied, counted, stopped at a sentence), and failures classified.

Leaving ``stream_passage`` early (a sentence stop, or the task being cancelled) closes the
HTTP stream, which is how a server learns to stop generating.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import httpx

from engine.generation.finishing import attempt_seed, sentence_stop
from engine.generation.params import GenParams
from engine.generation.remote.protocol import (
    DIALECTS,
    MAX_ERROR_BODY,
    Chunk,
    ServerFailed,
    WrongDialect,
    classify_status,
    completion_body,
    events,
    lines,
    parse_event,
)
from engine.generation.remote.servers import Server
from engine.generation.tidy import tidy_continuation

log = logging.getLogger(__name__)


@dataclass
class RemoteRow:
    """One passage being generated remotely: its request and what has streamed in so far."""

    index: int
    key: Hashable
    prompt: str
    params: GenParams
    seed: int  # the user's seed (or the one drawn for them); retries keep it
    started: float = field(default_factory=time.monotonic)
    attempt: int = 0  # verbatim-guard regenerations so far
    moved: bool = False  # already retried on another server after one failed
    raw: str = ""  # text as the server sent it
    text: str = ""  # tidied, as shown to the user
    tokens: int = 0  # streamed pieces (one per token on vLLM, llama.cpp, transformers serve)
    server: Server | None = None

    def restart(self) -> None:
        """Forget the streamed text before generating the passage again."""
        self.raw, self.text, self.tokens = "", "", 0


OnText = Callable[[RemoteRow], None]


async def stream_passage(client: httpx.AsyncClient, server: Server, row: RemoteRow,
                         on_text: OnText) -> str:
    """Stream ``row`` from ``server``; returns the finish reason ("eos", "length" or
    "sentence"). Raises ``ServerFailed`` or ``RequestRejected``; on a refused dialect,
    switches the server to the next one and asks again."""
    while True:
        try:
            return await _stream_once(client, server, row, on_text)
        except WrongDialect as exc:
            following = DIALECTS[DIALECTS.index(server.dialect) + 1]
            log.info("server %s refused the %s request fields (%s); using the %s dialect",
                     server.label, server.dialect, exc, following)
            server.dialect = following
            row.restart()


async def _stream_once(client: httpx.AsyncClient, server: Server, row: RemoteRow,
                       on_text: OnText) -> str:
    body = completion_body(server.model, row.prompt, row.params,
                           attempt_seed(row.seed, row.attempt), server.dialect)
    try:
        async with client.stream("POST", server.url + "/completions", json=body) as response:
            if response.status_code != 200:
                raise classify_status(response.status_code, await _head(response),
                                      server.dialect)
            return await _read(response, row, on_text)
    except httpx.ConnectTimeout:
        raise ServerFailed("did not accept a connection in time") from None
    except httpx.ConnectError:
        raise ServerFailed("refused the connection") from None
    except httpx.TimeoutException:
        raise ServerFailed("sent nothing for longer than [model] request_timeout_s") from None
    except httpx.HTTPError as exc:
        raise ServerFailed(f"broke the stream ({type(exc).__name__})") from None


async def _read(response: httpx.Response, row: RemoteRow, on_text: OnText) -> str:
    """Fold the response's chunks into the row until a finish; the finish reason."""
    if response.headers.get("content-type", "").startswith("application/json"):
        chunk = parse_event(await _head(response, limit=None))  # a server that won't stream
        if (finish := _fold(chunk, row, on_text)) is not None:
            return finish
        raise ServerFailed("answered without a finish reason")
    async for chunk in events(lines(response.aiter_text())):
        if (finish := _fold(chunk, row, on_text)) is not None:
            return finish  # leaving closes the stream: the server stops generating
    raise ServerFailed("ended the stream before the passage was finished")


def _fold(chunk: Chunk, row: RemoteRow, on_text: OnText) -> str | None:
    """Add one chunk to the row; the finish reason once the passage is over, else None."""
    if chunk.text:
        row.raw += chunk.text
        row.tokens += 1
        text = tidy_continuation(row.raw)
        if text != row.text:
            row.text = text
            on_text(row)
    if chunk.finish is not None:
        return "length" if chunk.finish == "length" else "eos"
    if row.tokens >= row.params.max_new_tokens:
        return "length"
    if sentence_stop(row.params, row.tokens, row.text):
        return "sentence"
    return None


async def _head(response: httpx.Response, limit: int | None = MAX_ERROR_BODY) -> str:
    """The start of a response body (all of it up to 1 MiB when ``limit`` is None)."""
    cap = limit if limit is not None else 1 << 20
    text = ""
    async for piece in response.aiter_text():
        text += piece
        if len(text) >= cap:
            break
    return text[:cap]
