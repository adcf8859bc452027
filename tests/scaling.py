"""A test helper that catches super-linear work by a size ratio measured in one run.

``growth(fn, make)`` times ``fn(make(n))`` and ``fn(make(4 * n))`` in the same process, with
``n`` grown until one call is measurable, and returns the ratio of the two times. Linear
work gives about 4, quadratic about 16. No absolute time is asserted, and the clock is the
thread's CPU time, so a slow or busy machine does not fail the test; each size is timed
several times, alternately, and the fastest kept, so a burst of noise does not either.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

QUADRATIC_LIMIT = 9.0  # a 4x longer input may cost at most this many times more
_MIN_TOTAL_S = 0.005  # time enough calls to fill this, so the clock's grain does not matter
_TOO_SLOW_S = 2.0  # one call this slow at the smallest size is a failure by itself


def _timed(fn: Callable[[Any], Any], arg: Any, calls: int) -> float:
    """CPU seconds of this thread for ``calls`` calls: time spent waiting for a core while
    other processes run does not count, so a busy machine does not skew the ratio."""
    was_enabled = gc.isenabled()
    gc.disable()  # a collection pause inside one timing would look like extra work
    try:
        started = time.thread_time()
        for _ in range(calls):
            fn(arg)
        return time.thread_time() - started
    finally:
        if was_enabled:
            gc.enable()


def _best(fn: Callable[[Any], Any], arg: Any, calls: int, tries: int = 3) -> float:
    return min(_timed(fn, arg, calls) for _ in range(tries))


def _best_pair(fn: Callable[[Any], Any], small: Any, big: Any, calls: int,
               tries: int = 3) -> tuple[float, float]:
    """Fastest times of both sizes, measured alternately so noise hits both alike."""
    a, b = float("inf"), float("inf")
    for _ in range(tries):
        a = min(a, _timed(fn, small, calls))
        b = min(b, _timed(fn, big, calls))
    return a, b


def growth(fn: Callable[[Any], Any], make: Callable[[int], Any], start: int = 1000,
           largest: int = 32_000) -> float:
    """Time ratio of fn on a 4x larger input (see the module docstring)."""
    n = start
    while True:
        one = _best(fn, make(n), 1, tries=1)
        if one > _TOO_SLOW_S:
            return float("inf")
        if one * 8 >= _MIN_TOTAL_S or n * 8 > largest:  # the 4x input fits in largest
            break
        n *= 2
    calls = max(1, round(_MIN_TOTAL_S / max(one, 1e-6)))
    small, big = _best_pair(fn, make(n), make(4 * n), calls)
    return big / max(small, 1e-9)


def swallow(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` with its exceptions ignored: refusing bad input is fine, only time matters."""

    def call(arg: Any) -> Any:
        try:
            return fn(arg)
        except Exception:
            return None

    return call


def assert_linear(fn: Callable[[Any], Any], make: Callable[[int], Any], what: str,
                  **kwargs: Any) -> None:
    """Fail when a 4x longer input costs over QUADRATIC_LIMIT times more (measured twice)."""
    ratios = []
    for _ in range(2):  # a second measurement before failing: one noisy run is not enough
        ratios.append(growth(fn, make, **kwargs))
        if ratios[-1] < QUADRATIC_LIMIT:
            return
    raise AssertionError(f"{what}: a 4x longer input took {min(ratios):.1f}x longer "
                         f"(linear work is ~4x, quadratic ~16x)")


# Inputs that make backtracking patterns and naive loops go quadratic, by length n.
HOSTILE: dict[str, Callable[[int], str]] = {
    "space run": lambda n: "a" + " " * n + "b",
    "tab run": lambda n: "x\t" + "\t" * n + "x",
    "newlines": lambda n: "\n" * n + "x",
    "blank lines": lambda n: "\n \n" * (n // 3),
    "underscores": lambda n: "_a " * (n // 3),
    "open brackets": lambda n: "[" * n,
    "unclosed links": lambda n: "[a](b" * (n // 5),
    "dots": lambda n: "." * n + "x",
    "spaces then dots": lambda n: " " * (n // 2) + "." * (n // 2),
    "bangs": lambda n: "!" * n,
    "abbreviations": lambda n: "Mr. " * (n // 4),
    "lowercase after !": lambda n: "a! " * (n // 3),
    "quote marks": lambda n: "> " * (n // 2),
    "chapter + spaces": lambda n: "Chapter 1" + " " * n + "x",
    "numbered + spaces": lambda n: "1." + " " * n,
    "stars": lambda n: "*" * n,
}
