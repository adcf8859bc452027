"""Range checks for every numeric config key, run when the config is loaded.

A value can have the right type and still make no sense (``top_p = 7.5``, a negative
limit, a temperature of 1e-46): each is refused at load with one line naming the key and
its bounds, instead of surfacing later as nonsense to users.
"""

from __future__ import annotations

import math
import re
from typing import Any

from bot.errors import ConfigError
from engine.generation.params import MAX_NEW_TOKENS, TEMPERATURE_RANGE, TOP_K_MAX

_DAY = 86_400.0
_BIG = 10**9

# (section, key) -> (lowest, highest) allowed; both ends included.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("bot", "max_prompt_chars"): (1, 6000),
    ("generation", "max_new_tokens"): (1, MAX_NEW_TOKENS),
    ("generation", "max_new_tokens_limit"): (1, MAX_NEW_TOKENS),
    ("generation", "temperature"): TEMPERATURE_RANGE,
    ("generation", "top_k"): (0, TOP_K_MAX),
    ("generation", "top_p"): (1e-6, 1.0),
    ("generation", "repetition_penalty"): (1.0, 3.0),
    ("generation", "memory_window"): (16, 1_000_000),
    ("model", "threads"): (0, 1024),
    ("model", "sequences"): (0, 256),
    ("model", "max_concurrency"): (1, 10_000),
    ("model", "request_timeout_s"): (0.1, _DAY),
    ("queue", "workers"): (1, 64),
    ("queue", "max_batch"): (1, 1024),
    ("queue", "shared_batch"): (0, 1024),
    ("queue", "per_user_pending"): (1, 10_000),
    ("queue", "max_pending"): (1, 1_000_000),
    ("queue", "timeout_s"): (0.1, 7 * _DAY),
    ("guard", "max_copied_words"): (8, 10_000),
    ("guard", "max_attempts"): (1, 20),
    ("stats", "ewma_span"): (2, 1_000_000),
    ("discord", "dev_guild"): (0, 2**64 - 1),
    ("discord", "edit_interval_s"): (0.05, 3600.0),
    ("discord", "cooldown_s"): (0.0, _DAY),
    ("discord", "per_user_pending"): (1, 10_000),
    ("discord", "per_guild_concurrent"): (1, 1_000_000),
    ("reddit", "per_thread_cap"): (1, _BIG),
    ("reddit", "per_user_hourly"): (1, _BIG),
    ("reddit", "poll_interval_s"): (0.01, _DAY),
    ("reddit", "ban_recheck_hours"): (0.0, 24 * 365.0),
    ("reddit", "max_reply_chars"): (200, 10_000),
    ("ingest", "max_file_mb"): (0.001, 65_536.0),
    ("ingest", "max_unpacked_mb"): (0.001, 65_536.0),
    ("ingest", "max_member_mb"): (0.001, 65_536.0),
    ("ingest", "max_zip_ratio"): (1.0, 1e6),
    ("ingest", "max_zip_members"): (1, 10_000_000),
    ("ingest", "max_spine_pages"): (1, 1_000_000),
    ("ingest", "max_book_chars"): (1, 10**10),
    ("ingest", "max_chapters"): (1, 1_000_000),
    ("limits", "max_input_chars"): (16, 100_000),
    ("limits", "cheap_workers"): (1, 64),
    ("limits", "cheap_queue"): (1, 1_000_000),
    ("limits", "cheap_max_wait_s"): (0.01, 3600.0),
    ("limits", "user_per_minute"): (0.0, 1e6),
    ("limits", "user_burst"): (1, 1_000_000),
    ("limits", "reply_cache_mb"): (0.0, 65_536.0),
    ("stories", "max_passages"): (1, 1_000_000),
    ("filter", "max_regenerations"): (0, 10),
    ("privacy", "keep_days"): (0, 36_500),
    ("privacy", "purge_interval_h"): (0.01, 24 * 365.0),
}

# Names the generation command may not take: they are commands already (or console words).
RESERVED_COMMANDS = frozenset({"help", "books", "sentiment", "wordcount", "queue", "about",
                               "quit", "exit", "optout", "optin", "continue", "regen",
                               "regenerate", "stop", "export", "story", "progress",
                               "forget-me", "forgetme", "forget_me", "mod"})


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() and abs(x) >= 1000 else f"{x:g}"


def check_ranges(cfg: Any) -> None:
    """ConfigError naming the first numeric key outside its range (NaN and inf included)."""
    for (section, key), (lo, hi) in RANGES.items():
        part = getattr(cfg, section, None)
        if part is None:
            continue
        value = getattr(part, key)
        if isinstance(value, float) and not math.isfinite(value) or not lo <= value <= hi:
            raise ConfigError(f"[{section}] {key} = {value!r} is out of range: use a value "
                              f"from {_fmt(lo)} to {_fmt(hi)}")


def check_relations(cfg: Any) -> None:
    """Keys whose values must agree with each other, and the generation command's name."""
    g = cfg.generation
    if g.max_new_tokens > g.max_new_tokens_limit:
        raise ConfigError(f"[generation] max_new_tokens = {g.max_new_tokens} is above "
                          f"max_new_tokens_limit = {g.max_new_tokens_limit}: the default "
                          "length must be one users may ask for")
    name = cfg.bot.generate_command
    if name in RESERVED_COMMANDS:
        taken = ", ".join(sorted(RESERVED_COMMANDS))
        raise ConfigError(f"[bot] generate_command = {name!r} is a built-in command name; "
                          f"choose another word (not one of: {taken})")
    if not (name.isascii() and name.isidentifier() and name.islower() and len(name) <= 32):
        raise ConfigError(f"[bot] generate_command must be a lowercase word of at most 32 "
                          f"letters, digits or underscores, like 'stormlight'; got {name[:40]!r}")


PRESS_POLICIES = ("requester", "moderators", "everyone")
FILTER_ACTIONS = ("mask", "regenerate", "refuse")


def validate(cfg: Any) -> None:
    """Every check of a loaded config: choices, ranges, relations; ConfigError on the first."""
    check_choices(cfg)
    check_ranges(cfg)
    check_relations(cfg)
    _check_safety(cfg)
    _check_ops(cfg)


def _one_of(section: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        words = [repr(a) for a in allowed]
        choice = " or ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)
        raise ConfigError(f"[{section}] {key} must be {choice}, got {value[:40]!r}")


def check_choices(cfg: Any) -> None:
    """Keys that take one of a few words."""
    m = cfg.model
    _one_of("model", "backend", m.backend, ("local", "openai"))
    if m.backend == "openai" and not m.urls:
        raise ConfigError("[model] urls is empty: list the OpenAI-compatible servers, e.g. "
                          "urls = [\"http://127.0.0.1:8000/v1\"]")
    _one_of("model", "dtype", m.dtype, ("auto", "float32", "bfloat16", "int8"))
    _one_of("model", "runtime", m.runtime, ("auto", "llama", "torch"))
    _one_of("model", "llama_library", m.llama_library, ("auto", "native", "wheel"))
    _one_of("guard", "action", cfg.guard.action, ("regenerate", "cut"))
    for key in ("regenerate_by", "continue_by", "stop_by"):
        _one_of("stories", key, getattr(cfg.stories, key), PRESS_POLICIES)
    _one_of("filter", "action", cfg.filter.action, FILTER_ACTIONS)


def _check_safety(cfg: Any) -> None:
    if not re.fullmatch(r"all|none|first(\s+\d{1,3})?|(through\s+)?[\w-]+",
                        " ".join(cfg.spoilers.default_policy.lower().split())):
        raise ConfigError("[spoilers] default_policy must be 'all', 'none', 'first N' or "
                          f"'through <book code>', got {cfg.spoilers.default_policy!r}")


def _check_ops(cfg: Any) -> None:
    from bot.logs import FORMATS, LEVELS
    from bot.monitor import parse_listen

    _one_of("log", "format", cfg.log.format, tuple(FORMATS))
    _one_of("log", "level", cfg.log.level.lower(), tuple(LEVELS))
    if cfg.metrics.listen.strip():
        parse_listen(cfg.metrics.listen)
