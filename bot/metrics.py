"""Prometheus metrics: the named series and the small functions the bot calls to feed them.

Call sites stay one line (``metrics.request_done("discord", "oz", "ok")``), so the
dispatcher, queue and adapters need no Prometheus code. Labels hold only bounded values
from the code (platform, command name, outcome, reason, exception type): never user ids,
guilds, channels or prompt text. Gauges that mirror live state (queue length, rows in flight,
gateway latency) are read at scrape time from sources the running bot registers.
``bot.monitor`` serves ``REGISTRY`` at ``/metrics``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

REQUESTS = Counter("spren_requests", "Requests answered, by platform, command and outcome",
                   ["platform", "command", "outcome"], registry=REGISTRY)
QUEUE_WAIT = Histogram("spren_queue_wait_seconds", "Time a passage waited in the queue",
                       buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
                       registry=REGISTRY)
GENERATION = Histogram("spren_generation_seconds", "Time spent generating one passage",
                       buckets=(0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120),
                       registry=REGISTRY)
TOKENS = Counter("spren_generated_tokens", "Tokens generated for passages", registry=REGISTRY)
TOKENS_PER_S = Histogram("spren_generation_tokens_per_second",
                         "Generation speed of each passage (its tokens / its generation time)",
                         buckets=(1, 2, 5, 10, 20, 30, 40, 60, 80, 120, 200, 400),
                         registry=REGISTRY)
GUARD = Counter("spren_guard_actions", "Passages the verbatim guard regenerated or cut",
                ["action"], registry=REGISTRY)
FILTER = Counter("spren_filter_actions",
                 "Requests or summons a filter or guard turned away, by platform and reason",
                 ["platform", "action"], registry=REGISTRY)
REDDIT_BACKLOG = Gauge("spren_reddit_backlog", "Reddit summons not yet answered or given up",
                       registry=REGISTRY)
REDDIT_RETRIES = Counter("spren_reddit_retries", "Reddit summons rescheduled, by reason",
                         ["reason"], registry=REGISTRY)
DISCORD_RECONNECTS = Counter("spren_discord_reconnects",
                             "Discord gateway connections after the first (resumed or new)",
                             registry=REGISTRY)
ERRORS = Counter("spren_errors", "Unexpected errors, by component and exception type",
                 ["component", "kind"], registry=REGISTRY)

GaugeSource = Callable[[], float | None]


class _LiveGauges(Collector):
    """Gauges read at scrape time from the sources the running bot registered."""

    SERIES = {
        "spren_queue_length": "Generation requests waiting in the queue",
        "spren_queue_in_flight": "Generation rows running on the engine",
        "spren_discord_gateway_latency_seconds": "Discord gateway heartbeat latency",
    }

    def __init__(self) -> None:
        self.sources: dict[str, GaugeSource] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, help_text in self.SERIES.items():
            source = self.sources.get(name)
            value = source() if source is not None else None
            if value is not None and math.isfinite(value):
                yield GaugeMetricFamily(name, help_text, value=value)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # the series come and go with their sources


_LIVE = _LiveGauges()
REGISTRY.register(_LIVE)


def label(value: str | None, known: bool = True) -> str:
    """A safe label value: short lowercase words only, else ``other``."""
    value = (value or "").lower()
    return value if known and _LABEL.match(value) else "other"


# ---- what the bot calls ------------------------------------------------------------------------
def request_done(platform: str, command: str, outcome: str, known: bool = True) -> None:
    """Count one answered request (``known``: the command is one the bot has)."""
    REQUESTS.labels(label(platform), label(command, known), label(outcome)).inc()


def generation_done(queue_wait_s: float, generation_s: float, new_tokens: int,
                    guard: str | None) -> None:
    """Record one finished passage: its wait, its time, its tokens and the guard's action."""
    QUEUE_WAIT.observe(max(0.0, queue_wait_s))
    GENERATION.observe(max(0.0, generation_s))
    TOKENS.inc(max(0, new_tokens))
    if generation_s > 0 and new_tokens > 0:
        TOKENS_PER_S.observe(new_tokens / generation_s)
    if guard:
        GUARD.labels(label(guard)).inc()


def filter_action(platform: str, action: str) -> None:
    """Count a request or summons turned away by a filter or guard (``action``: why)."""
    FILTER.labels(label(platform), label(action.replace(" ", "_"))).inc()


def error(component: str, exc: BaseException) -> None:
    """Count an unexpected error of ``component`` (its exception type is the kind)."""
    ERRORS.labels(label(component), type(exc).__name__[:40]).inc()


def reddit_backlog(count: int) -> None:
    REDDIT_BACKLOG.set(count)


def reddit_retry(reason: str) -> None:
    REDDIT_RETRIES.labels(label(reason)).inc()


def discord_reconnect() -> None:
    DISCORD_RECONNECTS.inc()


def watch(name: str, source: GaugeSource | None) -> None:
    """Read the live gauge ``name`` from ``source`` at each scrape (None: stop reading)."""
    if name not in _LiveGauges.SERIES:
        raise KeyError(name)
    if source is None:
        _LIVE.sources.pop(name, None)
    else:
        _LIVE.sources[name] = source


def watch_queue(snapshot: Callable[[], object] | None) -> None:
    """Read queue length and rows in flight from a service's ``snapshot()`` at each scrape."""
    if snapshot is None:
        watch("spren_queue_length", None)
        watch("spren_queue_in_flight", None)
        return
    watch("spren_queue_length", lambda: float(snapshot().queue_length))  # type: ignore[attr-defined]
    watch("spren_queue_in_flight", lambda: float(snapshot().in_flight))  # type: ignore[attr-defined]
