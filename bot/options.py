"""Users' generation options (length, temperature, top_p, top_k, seed): checked at the edge.

Values come as text (console, Reddit) or as numbers (Discord). Each is bounded in length
before it is converted, checked against the range users may ask for, and refused with one
line naming the option and its bounds; a refused value is never echoed at length.
"""

from __future__ import annotations

import math
from typing import Any

from bot.config import GenerationConfig
from bot.errors import BadRequest
from engine.generation.params import USER_RANGES, GenParams, shown

GEN_OPTIONS: dict[str, type] = {"length": int, "temperature": float, "top_p": float,
                                "top_k": int, "seed": int}
MAX_OPTION_CHARS = 24  # longer than any value in range: refuse before converting


def _bounds(key: str, lo: float, hi: float) -> str:
    if GEN_OPTIONS[key] is int:
        return f"a whole number {lo:,.0f}..{hi:,.0f}"
    return f"a number {lo:g}..{hi:g}"


def _convert(key: str, raw: Any, lo: float, hi: float) -> int | float:
    """One option's value as a number in [lo, hi], or BadRequest naming the option."""
    cast = GEN_OPTIONS[key]
    if isinstance(raw, bool):
        raise BadRequest(f"option {key} must be {_bounds(key, lo, hi)}, got {shown(raw)}")
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > MAX_OPTION_CHARS:
            raise BadRequest(f"option {key} is {len(text):,} characters long: use "
                             f"{_bounds(key, lo, hi)}")
        raw = text
    try:
        value = cast(raw)
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f"option {key}={shown(raw)} must be a number: use "
                         f"{_bounds(key, lo, hi)}") from None
    if isinstance(raw, float) and cast is int and raw != value:
        raise BadRequest(f"option {key} must be a whole number: use {_bounds(key, lo, hi)}")
    if isinstance(value, float) and not math.isfinite(value) or not lo <= value <= hi:
        raise BadRequest(f"option {key}={shown(raw)} is out of range: use "
                         f"{_bounds(key, lo, hi)}")
    return value


def gen_params(args: dict[str, Any], g: GenerationConfig) -> GenParams:
    """GenParams from the config's defaults and the user's options, every option checked."""
    ranges = dict(USER_RANGES, length=(1, g.max_new_tokens_limit))
    values: dict[str, int | float] = {}
    for key in GEN_OPTIONS:
        raw = args.get(key)
        if raw is None or raw == "":
            continue
        lo, hi = ranges[key]
        values[key] = _convert(key, raw, lo, hi)
    params = GenParams(
        max_new_tokens=int(values.get("length", g.max_new_tokens)),
        temperature=float(values.get("temperature", g.temperature)),
        top_k=int(values.get("top_k", g.top_k)), top_p=float(values.get("top_p", g.top_p)),
        repetition_penalty=g.repetition_penalty,
        seed=int(values["seed"]) if "seed" in values else None,
        stop_at_sentence=g.stop_at_sentence, memory_window=g.memory_window)
    params.validate()
    return params
