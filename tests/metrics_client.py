"""Reading spren's /metrics and /healthz over real HTTP in the tests."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Samples(dict):
    """{(name, frozenset(labels.items())): value} parsed from Prometheus text."""

    def value(self, name: str, **labels: str) -> float:
        """The sample's value, 0 when the series does not exist (yet)."""
        return self.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str) -> bool:
        return any(key[0] == name for key in self)


def parse(text: str) -> Samples:
    samples = Samples()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def scrape(base: str) -> tuple[Samples, str]:
    status, text = get(f"{base}/metrics")
    assert status == 200, text
    return parse(text), text


def health(base: str) -> tuple[int, dict]:
    status, body = get(f"{base}/healthz")
    return status, json.loads(body)


async def until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll (off the event loop's thread) until cond() holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(cond):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
