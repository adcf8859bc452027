"""The bot's memory and start-up with a model loaded: how big is the process a community runs?

Usage: .venv/bin/python benchmarks/memory.py [--model DIR] [--runtime auto] [--dtype auto]
       [--repeats 2]

Starts the real console bot (`python -m bot chat`, the database and model of SPREN_HOME,
default ./.spren as for `make`; no platform) as a child process, sends one `/oz` request
at once and measures:

- time to first answer: from starting the process to the passage's first line on stdout
  (Python start, imports, database, model load and conversion, stats warm-up, generation);
- the bot's resident memory (VmRSS) once it has answered, and its peak (VmHWM), which
  includes the model file while it is converted;
- the resident memory of its helper processes (the chart drawer), listed apart;
- whether torch was loaded into the bot at all (the llama.cpp runtime does without it).

Targets (issue 11): RSS <= 600 MB with the demo model loaded; first answer <= 5 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REQUEST = "/oz Dorothy walked seed=1 length=20\n"


def status_kb(pid: int, field: str) -> int:
    """A VmRSS-style field of /proc/PID/status, in kB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Child processes of pid, whichever of its threads started them (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def one_run(args: argparse.Namespace) -> dict[str, float]:
    """Start the bot, ask once, measure, stop it."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.setdefault("SPREN_HOME", str(REPO / ".spren"))  # where `make setup` puts everything
    cmd = [sys.executable, "-m", "bot"]
    if args.model:
        cmd += ["--set", f"model.path={args.model}"]
    cmd += ["--set", f"model.dtype={args.dtype}", "--set", f"model.runtime={args.runtime}",
            "chat"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(REQUEST)
    proc.stdin.flush()
    line = proc.stdout.readline()
    first_answer = time.perf_counter() - start
    if not line.startswith(REQUEST.split()[1]):
        proc.kill()
        raise SystemExit(f"the bot did not write a passage ({line.strip()[:200]!r}): run "
                         "`make setup` first (the demo model and the books)")
    time.sleep(1.0)  # let the answer's log write and any lazy work settle
    rss = status_kb(proc.pid, "VmRSS")
    peak = status_kb(proc.pid, "VmHWM")
    helpers = sum(status_kb(c, "VmRSS") for c in children(proc.pid))
    try:
        torch = "libtorch_cpu" in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        torch = False
    proc.stdin.close()
    proc.wait(timeout=60)
    return {"first": first_answer, "rss": rss / 1024, "peak": peak / 1024,
            "helpers": helpers / 1024, "torch": torch}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the configured one)")
    ap.add_argument("--runtime", default="auto", choices=["auto", "llama", "torch"])
    ap.add_argument("--dtype", default="auto", help="torch runtime: auto | int8 | float32 | "
                    "bfloat16")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    print(f"{'run':>3} {'first answer':>12} {'bot RSS':>9} {'bot peak':>9} {'helpers':>9} "
          f"{'torch':>6}")
    for i in range(1, args.repeats + 1):
        r = one_run(args)
        print(f"{i:>3} {r['first']:>10.1f} s {r['rss']:>6.0f} MB {r['peak']:>6.0f} MB "
              f"{r['helpers']:>6.0f} MB {'yes' if r['torch'] else 'no':>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
