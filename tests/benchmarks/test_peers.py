"""benchmarks/peers.py without llama-cpp-python: table and ratios from canned runs, the
alternating measurement loop with stand-ins for both engines, and one-line CLI refusals.

No test here needs the peer venv (.peers-venv) or a model: `make bench-peers` runs the real
comparison.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from tests.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "peers.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


peers = _load()


def _series(label, threads, rates, rows=1, short=0):
    s = peers.Series(label, threads, rows)
    for rate in rates:
        s.add(rate * 2, 2.0)  # tokens over seconds
    s.short = short
    return s


def test_table_gives_best_median_and_ratios_from_canned_runs():
    spren = _series("spren (llama)", 2, [100.0, 110.0, 90.0])
    peer = _series("llama-cpp-python 0.3.36", 2, [80.0, 90.0, 85.0])
    many = _series("spren (llama), 8 concurrent", 2, [300.0, 320.0, 310.0], rows=8)
    lines = peers.table([(spren, peer, many)], 128)
    assert lines[0].startswith("| runtime | threads |")
    assert lines[2] == ("| spren (llama) | 2 | 128 | 110.0 | 100.0 | spren / peer: 1.18x "
                        "median, 1.22x best |")
    assert lines[3] == "| llama-cpp-python 0.3.36 | 2 | 128 | 90.0 | 85.0 |  |"
    assert lines[4] == ("| spren (llama), 8 concurrent | 2 | 128 | 320.0 | 310.0 | 8 vs 1: "
                        "3.10x median aggregate (target >= 4x: not met) |")


def test_table_marks_short_rows_and_a_met_concurrency_target():
    spren = _series("spren (torch)", 1, [20.0], short=1)
    peer = _series("peer", 1, [40.0])
    many = _series("spren (torch), 8 concurrent", 1, [90.0], rows=8)
    lines = peers.table([(spren, peer, many), (spren, peer, None)], 64)
    assert "| 64; 1 row(s) short |" in lines[2]
    assert "0.50x median, 0.50x best" in lines[2]
    assert "4.50x median aggregate (target >= 4x: met)" in lines[4]
    assert len(lines) == 2 + 3 + 2  # no concurrency row for the second thread count


@pytest.mark.parametrize(("start", "end", "noisy"), [
    (0.3, 2.4, False),  # the end figure's 2 are the benchmark's own threads
    (1.6, 2.0, True),
    (0.2, 3.8, True),
])
def test_load_lines_warn_on_a_busy_machine(start, end, noisy):
    lines = peers.load_lines(start, end, own_threads=2)
    assert lines[0] == f"load average (1 min): {start:.2f} at start, {end:.2f} at end"
    assert (len(lines) == 2 and lines[1].startswith("WARNING: noisy machine")) == noisy


class FakeGenerator:
    """Stands in for spren's engine: every row makes all its tokens but row 7 of 8."""

    def __init__(self, log):
        self.log, self.eos_ids = log, {0}

    def generate(self, prompts, params):
        self.log.append(("spren", len(prompts)))
        return [SimpleNamespace(new_tokens=p.max_new_tokens - (i == 7))
                for i, p in enumerate(params)]


FAKE_WORKER = textwrap.dedent("""
    import json, os, sys
    spin = os.environ.get("GOMP_SPINCOUNT", "unset")
    print(json.dumps({"ready": True, "version": "fake, spin " + spin}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        print(json.dumps({"tokens": req["tokens"], "seconds": 0.5, "eos": 0}), flush=True)
""")


def test_measure_alternates_the_sides_and_forces_length(tmp_path, monkeypatch):
    worker = tmp_path / "worker.py"
    worker.write_text(FAKE_WORKER)
    log, gens = [], []
    monkeypatch.setattr(peers, "WORKER", worker)
    monkeypatch.setattr(peers, "PAUSE_S", 0)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setattr(peers, "START_ENV", dict(os.environ))

    def fake_class(runtime):
        assert runtime == "torch"

        def make(model, threads):
            monkeypatch.setenv("GOMP_SPINCOUNT", "10000")  # as spren's llama runtime does
            gens.append(FakeGenerator(log))
            return gens[-1]

        return make

    monkeypatch.setattr(peers, "engine_class", fake_class)
    real_run = peers.Peer.run

    def logged_run(self, prompt, tokens, seed):
        log.append(("peer", 1))
        return real_run(self, prompt, tokens, seed)

    monkeypatch.setattr(peers.Peer, "run", logged_run)
    args = peers.parse_args(["--peer-python", sys.executable, "--gguf", str(worker),
                             "--threads", "1", "--repeats", "2", "--tokens", "16",
                             "--spren-runtime", "torch"])
    args.model = tmp_path
    rows, version = peers.measure(args, worker)
    assert version == "fake, spin unset"  # the peer runs with the user's environment
    assert gens[0].eos_ids == frozenset()  # no token may end spren's rows early
    # warm-up, then repeat 1: spren first; repeat 2: the peer first; 8 rows after each
    assert log == [("spren", 1), ("peer", 1),
                   ("spren", 1), ("peer", 1), ("spren", 8),
                   ("peer", 1), ("spren", 1), ("spren", 8)]
    spren, peer, many = rows[0]
    assert peer.rates == [32.0, 32.0] and peer.short == 0
    assert many.short == 2 and many.rows == 8  # row 7 came out one token short, twice


def _refusal(*options):
    done = subprocess.run([sys.executable, str(SCRIPT), *options], capture_output=True,
                          text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(("options", "says"), [
    (["--tokens", "0"], "--tokens 0: use a whole number 1..1000"),
    (["--threads", "2,x"], "expected whole numbers 1..256"),
    (["--repeats", "0"], "--repeats 0"),
    (["--concurrency", "1"], "use 0 (skip) or a whole number 2..64"),
    (["--spren-runtime", "onnx"], "invalid choice: 'onnx'"),
    (["--peer-python", "/nonexistent/python"], "run `make bench-peers`"),
    (["--nope"], "unrecognized arguments: --nope"),
])
def test_cli_refuses_bad_options_with_one_line(options, says):
    code, out, err = _refusal(*options)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("peers.py: error: ") and says in err


def test_omp_settings_names_what_each_side_ran_with():
    assert peers.omp_settings({"GOMP_SPINCOUNT": "10000", "PATH": "/bin"}) == \
        "GOMP_SPINCOUNT=10000"
    assert peers.omp_settings({}) == "library defaults"
