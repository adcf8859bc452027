"""Speaking the OpenAI completions API: request bodies, the server-sent event stream, and how
a failure is classified (the server's fault, or the request's).

Servers differ in what they accept beyond the OpenAI fields, so a body comes in one of three
dialects, tried in this order until the server takes one:

- ``openai``: the sampling options as extra top-level fields: ``top_k`` and
  ``repetition_penalty`` (vLLM, TGI) plus ``repeat_penalty`` (llama.cpp's server);
- ``transformers``: ``transformers serve`` refuses unknown fields and samples only when told
  to, so the options travel as its ``generation_config`` JSON (``do_sample`` on);
- ``plain``: the OpenAI fields only (``top_k`` and the penalty are the server's defaults).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from engine.generation.params import GenParams

DIALECTS = ("openai", "transformers", "plain")
# Fields that only some servers accept: a 400/422 naming one of them means "try the next
# dialect", not "this request is bad".
DIALECT_FIELDS = ("top_k", "repetition_penalty", "repeat_penalty", "generation_config")
MAX_LINE = 64 * 1024  # an event line longer than this is not a completions stream
MAX_ERROR_BODY = 2048  # characters of an error body kept for the log


class ServerFailed(Exception):
    """The server failed (refused, 5xx, timeout, broken or garbled stream): mark it down."""


class RequestRejected(Exception):
    """The server refused this request (a 4xx other than auth): the server itself is fine."""


class WrongDialect(RequestRejected):
    """The server refused fields of the body's dialect: try the next dialect."""


@dataclass(frozen=True)
class Chunk:
    """One event of a completions stream."""

    text: str
    finish: str | None = None  # "stop", "length" or another server word; None mid-stream


def completion_body(model: str, prompt: str, params: GenParams, seed: int,
                    dialect: str) -> dict[str, Any]:
    """The JSON body of a streamed ``/completions`` request for one passage."""
    body: dict[str, Any] = {"model": model, "prompt": prompt, "stream": True, "seed": seed,
                            "max_tokens": params.max_new_tokens}
    sampling = {"temperature": params.temperature, "top_p": params.top_p}
    if dialect == "openai":
        # top_k 0 is spren's "no limit"; vLLM and llama.cpp both read -1 that way.
        body.update(sampling, top_k=params.top_k or -1,
                    repetition_penalty=params.repetition_penalty,
                    repeat_penalty=params.repetition_penalty)
    elif dialect == "transformers":
        config = dict(sampling, do_sample=True, top_k=params.top_k,
                      repetition_penalty=params.repetition_penalty,
                      max_new_tokens=params.max_new_tokens)
        body["generation_config"] = json.dumps(config)
    elif dialect == "plain":
        body.update(sampling)
    else:
        raise ValueError(f"unknown dialect {dialect!r}")
    return body


def classify_status(status: int, detail: str, dialect: str) -> Exception:
    """The exception for a non-200 answer to a completions request."""
    short = " ".join(detail.split())[:300]
    if status in (401, 403):
        return ServerFailed(f"refused the credentials (HTTP {status}): check [model] "
                            "api_key_env and the token in that variable")
    if status == 404:
        return ServerFailed("has no /completions endpoint (HTTP 404): [model] urls should "
                            f"end in /v1 ({short})")
    if status in (400, 422) and any(f in detail for f in DIALECT_FIELDS) \
            and dialect != DIALECTS[-1]:
        return WrongDialect(f"HTTP {status}: {short}")
    if status in (408, 429) or status >= 500:
        return ServerFailed(f"answered HTTP {status} ({short})" if short else
                            f"answered HTTP {status}")
    return RequestRejected(f"HTTP {status}: {short}")


async def lines(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """Lines of a text stream, refusing one longer than ``MAX_LINE`` (garbage, not SSE)."""
    pending = ""
    async for piece in chunks:
        pending += piece
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line.rstrip("\r")
        if len(pending) > MAX_LINE:
            raise ServerFailed(f"sent a line of more than {MAX_LINE} characters (not a "
                               "completions stream)")
    if pending:
        yield pending.rstrip("\r")


async def events(text_lines: AsyncIterator[str]) -> AsyncIterator[Chunk]:
    """The chunks of a completions event stream, ending at ``[DONE]`` or the stream's end.

    Raises ``ServerFailed`` on anything that is not an OpenAI completions event (the server
    is broken or is not the server we think it is).
    """
    data: list[str] = []
    async for line in text_lines:
        if line.startswith("data:"):
            data.append(line[5:].strip())
            continue
        if line or not data:  # comments, event names, ids, keep-alives: not ours to read
            continue
        payload, data = "\n".join(data), []
        if payload == "[DONE]":
            return
        yield parse_event(payload)
    if data and "\n".join(data) != "[DONE]":
        yield parse_event("\n".join(data))


def parse_event(payload: str) -> Chunk:
    """One event's JSON as a ``Chunk``; ``ServerFailed`` if it is not one."""
    try:
        event = json.loads(payload)
    except ValueError:
        raise ServerFailed(f"sent something that is not JSON: {payload[:80]!r}") from None
    if not isinstance(event, dict):
        raise ServerFailed(f"sent an event that is not a JSON object: {payload[:80]!r}")
    if "error" in event:
        raise ServerFailed(f"reported an error mid-stream: {str(event['error'])[:200]}")
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ServerFailed(f"sent an event without choices: {payload[:80]!r}")
    text, finish = choices[0].get("text", ""), choices[0].get("finish_reason")
    if not isinstance(text, str) or not (finish is None or isinstance(finish, str)):
        raise ServerFailed(f"sent an event whose text is not text: {payload[:80]!r}")
    return Chunk(text, finish)
