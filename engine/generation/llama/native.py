"""llama.cpp compiled on this machine for this CPU: an optional, faster library for the
llama.cpp runtime (``spren model build-llama``, ``make native-llama``).

The pinned xllamacpp wheel's library is a generic build (AVX2 kernels, so it runs on any
x86-64 CPU of the last decade). On a CPU with more (AVX-512, VNNI, BF16), kernels compiled
for it are faster: here 8-16 % a token, which is the gap to a llama.cpp a user compiles for
themselves (``benchmarks/decode_steps.py``). This module compiles the very same llama.cpp
sources the wheel was built from (the pinned xllamacpp sdist from PyPI, sha256-checked), so
the C API and struct layouts are the ones ``lib.py`` declares, for this CPU's extensions
only, in about 2 minutes on 2 cores. AMX is left out: where a VM lists AMX but does not
enable it, the first tile instruction crashes the process.

The result lives in ``<root>/llama-<version>/`` (``root`` is ``$SPREN_HOME/lib``) with a
``build.json`` naming the version, the CMake options and the CPU flags the build needs, so a
build copied to another CPU, or one of another version, is never loaded
(:func:`find_build` says why).
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import ModelError
from engine.generation.llama.lib import DEPENDENCIES, XLLAMACPP_VERSION
from engine.hashing import file_sha256

SDIST_NAME = f"xllamacpp-{XLLAMACPP_VERSION}.tar.gz"
SDIST_URL = ("https://files.pythonhosted.org/packages/87/62/b6dfaaf346d3d4fd0e2a2df755f2693b"
             f"77673f2735da7ba0592af9d2f09e/{SDIST_NAME}")
SDIST_SHA256 = "c17ee1163006f70726abb9f72137830818f3d8cb60bfc34cb232d08428eaa22b"
SOURCE_DIR = f"xllamacpp-{XLLAMACPP_VERSION}/thirdparty/llama.cpp/"
BUILD_FILE = "build.json"
LIBRARY = "libllama.so"
BUILD_TIMEOUT_S = 3600

# ggml's CMake options for x86 SIMD, each with the /proc/cpuinfo flags it compiles for.
X86_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SSE42", ("sse4_2",)), ("F16C", ("f16c",)), ("FMA", ("fma",)), ("BMI2", ("bmi2",)),
    ("AVX", ("avx",)), ("AVX2", ("avx2",)), ("AVX_VNNI", ("avx_vnni",)),
    ("AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")),
    ("AVX512_VBMI", ("avx512vbmi",)), ("AVX512_VNNI", ("avx512_vnni",)),
    ("AVX512_BF16", ("avx512_bf16",)),
)
COMMON_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=ON", "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_COMMON=OFF", "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF",
    "-DGGML_OPENMP=ON", "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DCMAKE_INSTALL_RPATH=$ORIGIN",
)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """This CPU's feature flags as Linux lists them (empty where there is no cpuinfo)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_options(flags: set[str], machine: str | None = None) -> tuple[list[str], list[str]]:
    """(CMake options, the CPU flags the build then needs) for a CPU with ``flags``."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        # Elsewhere ggml's own -mcpu=native choice is used (no AMX problem there); such a
        # build is tied to the machine it was made on, which the recorded name stands for.
        return ["-DGGML_NATIVE=ON"], [f"machine:{machine}"]
    options, needed = ["-DGGML_NATIVE=OFF"], list[str]()
    for option, wanted in X86_OPTIONS:
        if all(flag in flags for flag in wanted):
            options.append(f"-DGGML_{option}=ON")
            needed.extend(wanted)
    return options, needed


def build_dir(root: Path) -> Path:
    return Path(root) / f"llama-{XLLAMACPP_VERSION}"


def find_build(root: Path, flags: set[str] | None = None) -> tuple[Path | None, str]:
    """(libllama.so of the usable build under ``root``, or None; a few words saying which
    build it is or why there is none)."""
    folder = build_dir(root)
    meta_file = folder / BUILD_FILE
    if not meta_file.is_file():
        return None, f"no native build in {folder}"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        needed = [str(flag) for flag in meta["needs"]]
        version = str(meta["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, f"{meta_file} is unreadable (run `spren model build-llama` again)"
    if version != XLLAMACPP_VERSION:
        return None, f"the native build is of llama.cpp {version}, not {XLLAMACPP_VERSION}"
    have = cpu_flags() if flags is None else flags
    have = have | {f"machine:{platform.machine().lower()}"}
    missing = [flag for flag in needed if flag not in have]
    if missing:
        return None, (f"the native build in {folder} needs CPU features this CPU lacks "
                      f"({', '.join(missing[:4])}); run `spren model build-llama` here")
    library = folder / LIBRARY
    for part in (LIBRARY, *DEPENDENCIES):
        if not (folder / part).is_file():
            return None, f"{folder / part} is missing (run `spren model build-llama` again)"
    return library, "native build for this CPU (" + ", ".join(
        o.removeprefix("-DGGML_").removesuffix("=ON") for o in meta.get("options", [])
        if o.endswith("=ON")) + ")"


# -- building -------------------------------------------------------------------------------

def fetch_sdist(cache_dir: Path, url: str = SDIST_URL) -> Path:
    """The pinned sdist in ``cache_dir``, downloaded from PyPI unless it is already there."""
    target = Path(cache_dir) / SDIST_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise ModelError(f"could not download {SDIST_NAME} ({exc}); if this machine is "
                         f"offline, copy it into {cache_dir} or pass --sdist FILE") from exc
    part.replace(target)
    return target


def _tools() -> tuple[str, list[str]]:
    """(cmake, generator options): Ninja where it is installed, else make."""
    cmake = shutil.which("cmake")
    compilers = [shutil.which(name) for name in ("c++", "g++", "clang++")]
    if cmake is None or not any(compilers):
        missing = " and ".join(name for name, have in (("cmake", cmake), ("a C++ compiler",
                               any(compilers))) if not have)
        raise ModelError(f"compiling llama.cpp needs {missing}: install them (Debian/Ubuntu: "
                         "apt-get install cmake g++) and run this again; spren keeps using "
                         "the wheel's library meanwhile.")
    return cmake, (["-G", "Ninja"] if shutil.which("ninja") else [])


def _extract(sdist: Path, into: Path) -> Path:
    """Unpack llama.cpp's sources (and nothing else) from the sdist into ``into``."""
    with tarfile.open(sdist, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(SOURCE_DIR)]
        if not members:
            raise ModelError(f"{sdist} has no {SOURCE_DIR}: is it {SDIST_NAME}?")
        tar.extractall(into, members=members, filter="data")
    return into / SOURCE_DIR


def _run(cmd: list[str], log: Path, timeout: float) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        try:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ModelError(f"compiling llama.cpp took over {timeout:.0f} s; see {log}") from exc
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        raise ModelError(f"compiling llama.cpp failed ({' '.join(tail)[:200]}); the whole "
                         f"log is {log}")


def _checked_sdist(cache_dir: Path, given: Path | None) -> Path:
    """The pinned sdist, sha256-checked: ``given``, or the cached copy (downloaded again once
    when the cached file is damaged, e.g. by an interrupted download)."""
    for attempt in range(1 if given else 2):
        sdist = Path(given) if given else fetch_sdist(cache_dir)
        if file_sha256(sdist) == SDIST_SHA256:
            return sdist
        if not given and attempt == 0:
            sdist.unlink()
    raise ModelError(f"{sdist} is not the pinned {SDIST_NAME} (its sha256 differs): "
                     f"{'pass the right file' if given else 'PyPI served another file'}")


@contextmanager
def _one_build_at_a_time(root: Path) -> Iterator[None]:
    Path(root).mkdir(parents=True, exist_ok=True)
    with open(Path(root) / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second build waits for the first
        yield


def build(root: Path, cache_dir: Path, *, sdist: Path | None = None, jobs: int | None = None,
          force: bool = False, say: Callable[[str], None] = print) -> Path:
    """Compile llama.cpp for this CPU into ``root`` and return its libllama.so (the existing
    build when it is usable and ``force`` is off)."""
    library, _ = find_build(root)
    if library is not None and not force:
        say(f"{build_dir(root)} is already built for this CPU (--force builds it again)")
        return library
    cmake, generator = _tools()
    sdist = _checked_sdist(cache_dir, sdist)
    with _one_build_at_a_time(root):
        library, _ = find_build(root)
        if library is not None and not force:  # another build finished while this waited
            return library
        return _compile(root, cache_dir, sdist, cmake, generator, jobs, say)


def _compile(root: Path, cache_dir: Path, sdist: Path, cmake: str, generator: list[str],
             jobs: int | None, say: Callable[[str], None]) -> Path:
    options, needed = cpu_options(cpu_flags())
    jobs = jobs or os.cpu_count() or 1
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    log = Path(cache_dir) / "build-llama.log"
    log.write_text("", encoding="utf-8")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="spren-llama-", dir=cache_dir) as work:
        source = _extract(sdist, Path(work))
        out = Path(work) / "build"
        say(f"compiling llama.cpp {XLLAMACPP_VERSION} for this CPU with {jobs} jobs "
            f"({' '.join(o for o in options if o.endswith('=ON')) or 'generic'}); log: {log}")
        _run([cmake, "-S", str(source), "-B", str(out), *generator, *COMMON_OPTIONS,
              *options], log, BUILD_TIMEOUT_S)
        _run([cmake, "--build", str(out), "--target", "llama", "-j", str(jobs)], log,
             BUILD_TIMEOUT_S)
        staged = Path(root) / f".llama-{XLLAMACPP_VERSION}.partial"
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        for lib in sorted((out / "bin").glob("lib*.so*")):
            shutil.copy2(lib, staged / lib.name, follow_symlinks=False)
        if not (staged / LIBRARY).exists():
            raise ModelError(f"the build made no {LIBRARY}; see {log}")
        meta = {"version": XLLAMACPP_VERSION, "sdist_sha256": SDIST_SHA256,
                "options": options, "needs": needed, "machine": platform.machine(),
                "built": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "seconds": round(time.monotonic() - started, 1)}
        (staged / BUILD_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        final = build_dir(root)
        shutil.rmtree(final, ignore_errors=True)
        staged.replace(final)
    say(f"built {final} in {time.monotonic() - started:.0f} s")
    return final / LIBRARY


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.generation.llama.native cmake-options``: this CPU's options."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args != ["cmake-options"]:
        print("usage: python -m engine.generation.llama.native cmake-options", file=sys.stderr)
        return 2
    print(" ".join(cpu_options(cpu_flags())[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
