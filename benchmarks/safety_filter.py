"""The word filter's time on ordinary and adversarial text of growing length.

Usage: .venv/bin/python benchmarks/safety_filter.py [--sizes 10000,100000,1000000]

Builds the default filter (the glin-profanity English list, the default allow list) and
times `check` on each input shape at each size, printing seconds and microseconds per
character. Linear time shows as a flat µs/char column down each shape. Book prose comes
from the first Oz book when the corpus is there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.config import FilterConfig  # noqa: E402
from bot.safety.filtering import ContentFilter  # noqa: E402

OZ = REPO.parent.parent / "shared" / "corpus" / "oz" / "01-the-wonderful-wizard-of-oz.txt"


def prose() -> str:
    """Book text (or a stand-in sentence when the corpus is missing)."""
    for path in (OZ, REPO / "../shared/corpus/oz/01-the-wonderful-wizard-of-oz.txt"):
        if path.exists():
            return path.read_text(encoding="utf-8")
    return "Dorothy lived in the midst of the great Kansas prairies with Uncle Henry. "


SHAPES = {
    "book prose": lambda n, book: (book * (n // len(book) + 1))[:n],
    "obfuscated hits (f.u.c.k sh1t f u c k)": lambda n, _: ("f.u.c.k sh1t f u c k " * n)[:n],
    "one long word": lambda n, _: "a" * n,
    "dotted letters": lambda n, _: "a." * (n // 2),
    "single letters": lambda n, _: "s h i " * (n // 6),
    "zero-width chars": lambda n, _: "\u200b" * n,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    book = prose()
    started = time.perf_counter()
    filt = ContentFilter(FilterConfig())
    print(f"filter built in {time.perf_counter() - started:.3f} s "
          f"({len(filt.matcher)} list entries)\n")
    print(f"| input | {' | '.join(f'{n:,} chars' for n in sizes)} |")
    print(f"|---|{'---|' * len(sizes)}")
    for name, make in SHAPES.items():
        cells = []
        for n in sizes:
            text = make(n, book)
            t0 = time.perf_counter()
            verdict = filt.check(text)
            took = time.perf_counter() - t0
            cells.append(f"{took:.2f} s ({1e6 * took / max(1, len(text)):.1f} µs/char, "
                         f"{len(verdict.hits):,} hits)")
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
