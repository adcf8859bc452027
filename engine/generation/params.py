"""Options, results and callbacks of generation: plain data, importable without torch.

`bot.config` takes its `[generation]` defaults from `GenParams`, so there is one source.
"""

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from engine.errors import EngineError, GenerationError

SEED_LIMIT = 2**31 - 1
MAX_NEW_TOKENS = 1000
# What the engine accepts: every value in these ranges is numerically safe (a temperature
# of 1e-46 divides the logits into infinities; a top_k of 10**20 overflows a torch long).
TEMPERATURE_RANGE = (0.01, 5.0)
TOP_K_MAX = 1_000_000
# What users may ask for (the dispatcher and the Discord options): ranges that give text.
USER_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.1, 2.0),
    "top_p": (0.05, 1.0),
    "top_k": (0, 1000),
    "seed": (0, SEED_LIMIT),
}


def shown(value: object, limit: int = 24) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a 5,000-digit value is not echoed."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**limit:
        digits = int(value.bit_length() * 0.30103) + 1  # str() of a huge int fails
        return f"a number of about {digits:,} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _require(ok: bool, name: str, value: object, bounds: str) -> None:
    if not ok:
        raise GenerationError(f"{name}={shown(value)} is out of range: use {bounds}.")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class GenParams:
    """Options for one generated passage."""

    max_new_tokens: int = 120
    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.15
    seed: int | None = None
    stop_at_sentence: bool = True
    memory_window: int = 512

    def validate(self) -> None:
        """Raise GenerationError naming the first bad option and its bounds."""
        m, t, k, p = self.max_new_tokens, self.temperature, self.top_k, self.top_p
        _require(_is_int(m) and 1 <= m <= MAX_NEW_TOKENS, "max_new_tokens", m,
                 f"a whole number 1..{MAX_NEW_TOKENS}")
        lo, hi = TEMPERATURE_RANGE
        _require(_is_number(t) and lo <= t <= hi, "temperature", t, f"a number {lo}..{hi}")
        _require(_is_int(k) and 0 <= k <= TOP_K_MAX, "top_k", k,
                 f"a whole number 0..{TOP_K_MAX:,} (0 = no limit)")
        _require(_is_number(p) and 0 < p <= 1, "top_p", p, "a number above 0, at most 1")
        rp = self.repetition_penalty
        _require(_is_number(rp) and 1.0 <= rp <= 3.0, "repetition_penalty", rp, "1.0..3.0")
        seed, win = self.seed, self.memory_window
        _require(seed is None or (_is_int(seed) and 0 <= seed <= SEED_LIMIT), "seed", seed,
                 f"a whole number 0..{SEED_LIMIT}, or None for a random one")
        _require(isinstance(self.stop_at_sentence, bool), "stop_at_sentence",
                 self.stop_at_sentence, "True or False")
        _require(_is_int(win) and 16 <= win <= 1_000_000, "memory_window", win,
                 "a whole number 16..1,000,000")


@dataclass
class GenResult:
    """One generated passage.

    `text` is the tidied continuation only (not the prompt); it keeps one leading space or
    newline when the model started with one, so `prompt + text` reads right.
    """

    prompt: str
    text: str
    seed: int
    new_tokens: int
    finish_reason: str  # "eos", "length", "sentence", "cancelled" or "error" (see OnDone)
    model_id: str
    guard: str | None  # None, "regenerated" or "cut"
    seconds: float
    server: str = ""  # which server generated it ("" = in this process)


# Callbacks of ``generate`` (see ``engine.generation.generator.Generator.generate``). A row's
# key is its index for the prompts of the call, and whatever ``admit`` chose for joining rows.
OnToken = Callable[[int, str], None]  # (row index, text so far), on the engine thread
ShouldStop = Callable[[int], bool]  # row index -> finish it now
Admit = Callable[[int], "list[tuple[Hashable, str, GenParams]]"]  # free slots -> rows to add
# (key, result) as each row finishes; an engine whose rows can fail one by one (a remote
# server) passes the row's EngineError instead, and returns a finish_reason "error" result.
OnDone = Callable[[Hashable, "GenResult | EngineError"], None]
Hold = Callable[[list[Hashable]], "set[Hashable]"]  # unfinished rows' keys -> keys to sit out
