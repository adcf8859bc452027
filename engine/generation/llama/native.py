"""llama.cpp compiled on this machine for this CPU: an optional, faster library for the
llama.cpp runtime (``spren model build-llama``, ``make native-llama``).

The pinned xllamacpp wheel's library is a generic build (AVX2 kernels, so it runs on any
x86-64 CPU of the last decade). On a CPU with more, kernels compiled for it are faster:
here AVX-512 gains 8-16 % a token, AMX about half of each step
(``benchmarks/decode_steps.py``). This module compiles the very same llama.cpp
sources the wheel was built from (the pinned xllamacpp sdist from PyPI, sha256-checked), so
the C API and struct layouts are the ones ``lib.py`` declares, for this CPU's extensions
only, in about 3 minutes on 2 cores, with spren's own kernels added (``native_patch``:
Q8_0 matrix kernels and decoding attention for x86 with AVX2, which make a step of 8 rows
cost 2.1-2.5 times one row's instead of 3.2-3.8 times, and speed up a lone row and a
prompt).

Where the CPU has AMX (Intel Xeon since Sapphire Rapids), ggml's AMX kernels are built too:
here they halve a decoding step. GCC 12 miscompiles them (it drops the stores that fill the
tile configuration before ``ldtilecfg``, so the first tile instruction faults), so they are
compiled without dead-store elimination. Every build that includes AMX is checked before it
is kept (``native_check``: in a child process, on the model's GGUF, it must decode, and a
row's logits must be the same alone and in a batch, bit for bit). One that fails is built
again without AMX.

The result lives in ``<root>/llama-<version>/`` (``root`` is ``$SPREN_HOME/lib``) with a
``build.json`` naming the version, the CMake options and the CPU flags the build needs, so a
build copied to another CPU, or one of another version, is never loaded
(:func:`find_build` says why).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import ModelError
from engine.generation.llama import native_patch
from engine.generation.llama.lib import DEPENDENCIES, XLLAMACPP_VERSION
from engine.generation.llama.native_check import check
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
AMX_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AMX_TILE", ("amx_tile",)), ("AMX_INT8", ("amx_tile", "amx_int8")),
    ("AMX_BF16", ("amx_tile", "amx_bf16")),
)
AMX_CXX_FLAGS = "-fno-tree-dse -fno-dse"  # see the module docstring
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


def has_amx(flags: set[str], machine: str | None = None) -> bool:
    return (machine or platform.machine()).lower() in ("x86_64", "amd64") and \
        {"amx_tile", "amx_int8"} <= flags


def cpu_options(flags: set[str], machine: str | None = None,
                amx: bool = True) -> tuple[list[str], list[str]]:
    """(CMake options, the CPU flags the build then needs) for a CPU with ``flags``; AMX
    only with ``amx`` (its compiler flags are the last option then)."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        # Elsewhere ggml's own -mcpu=native choice is used (no AMX problem there); such a
        # build is tied to the machine it was made on, which the recorded name stands for.
        return ["-DGGML_NATIVE=ON"], [f"machine:{machine}"]
    options, needed = ["-DGGML_NATIVE=OFF"], list[str]()
    for option, wanted in X86_OPTIONS + (AMX_OPTIONS if amx else ()):
        if all(flag in flags for flag in wanted):
            options.append(f"-DGGML_{option}=ON")
            needed.extend(flag for flag in wanted if flag not in needed)
    if amx and has_amx(flags, machine):
        options.append(f"-DCMAKE_CXX_FLAGS={AMX_CXX_FLAGS}")
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
    if meta.get("kernels") != native_patch.digest():
        return None, (f"the native build in {folder} was made with other kernels than this "
                      "spren's; run `spren model build-llama` again")
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
    part = target.with_name(f".{target.name}.{os.getpid()}.part")  # builds may share a cache
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
          force: bool = False, check_with: Path | None = None,
          say: Callable[[str], None] = print) -> Path:
    """Compile llama.cpp for this CPU into ``root`` and return its libllama.so (the existing
    build when it is usable and ``force`` is off). ``check_with``: a GGUF to check an AMX
    build on; without one, AMX is left out."""
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
        return _compile(root, cache_dir, sdist, [cmake, *generator], jobs, check_with, say)


def _compile(root: Path, cache_dir: Path, sdist: Path, cmake: list[str], jobs: int | None,
             check_with: Path | None, say: Callable[[str], None]) -> Path:
    flags = cpu_flags()
    amx = has_amx(flags)
    if amx and check_with is None:
        say("this CPU has AMX, but there is no model.gguf to check an AMX build on: building "
            "without it (`spren model build-llama --force` once the model has one)")
        amx = False
    jobs = jobs or os.cpu_count() or 1
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    log = Path(cache_dir) / "build-llama.log"
    log.write_text("", encoding="utf-8")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="spren-llama-", dir=cache_dir) as work:
        source = _extract(sdist, Path(work))
        native_patch.apply(source)
        for with_amx in ([True, False] if amx else [False]):
            options, needed = cpu_options(flags, amx=with_amx)
            out = Path(work) / ("build-amx" if with_amx else "build")
            named = " ".join(o for o in options if o.endswith("=ON")) or "generic"
            say(f"compiling llama.cpp {XLLAMACPP_VERSION} and spren's kernels for this CPU "
                f"with {jobs} jobs ({named}); log: {log}")
            _run([cmake[0], "-S", str(source), "-B", str(out), *cmake[1:], *COMMON_OPTIONS,
                  *options], log, BUILD_TIMEOUT_S)
            _run([cmake[0], "--build", str(out), "--target", "llama", "-j", str(jobs)], log,
                 BUILD_TIMEOUT_S)
            staged = _stage(root, out / "bin", log)
            problem = check(staged / LIBRARY, check_with) if check_with else None
            if problem is None:
                break
            shutil.rmtree(staged, ignore_errors=True)
            if not with_amx:
                raise ModelError(f"the new build failed its check ({problem}); spren keeps "
                                 "using the wheel's library")
            say(f"the AMX build failed its check ({problem}): building without AMX")
        meta = {"version": XLLAMACPP_VERSION, "sdist_sha256": SDIST_SHA256,
                "options": options, "needs": needed, "machine": platform.machine(),
                "kernels": native_patch.digest(),
                "checked": [_gguf_key(check_with)] if check_with else [],
                "built": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "seconds": round(time.monotonic() - started, 1)}
        _write_record(staged / BUILD_FILE, meta)
        final = build_dir(root)
        shutil.rmtree(final, ignore_errors=True)
        staged.replace(final)
    say(f"built {final} in {time.monotonic() - started:.0f} s")
    return final / LIBRARY


def _stage(root: Path, built: Path, log: Path) -> Path:
    """Copy the built libraries into a fresh staging folder beside the final one."""
    staged = Path(root) / f".llama-{XLLAMACPP_VERSION}.partial"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for lib in sorted(built.glob("lib*.so*")):
        shutil.copy2(lib, staged / lib.name, follow_symlinks=False)
    if not (staged / LIBRARY).exists():
        raise ModelError(f"the build made no {LIBRARY}; see {log}")
    return staged


# -- checking a build ------------------------------------------------------------------------

def _gguf_key(gguf: Path) -> str:
    """A GGUF file as the build's record names it: path, size and modification time."""
    stat = Path(gguf).stat()
    return f"{Path(gguf).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def check_for_model(library: Path, gguf: Path) -> str | None:
    """:func:`check` ``library`` on ``gguf`` unless its build has already passed on that
    very file (the build's record remembers the last few); None when it passes."""
    meta_file = library.parent / BUILD_FILE
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        key = _gguf_key(gguf)
    except (OSError, ValueError) as exc:
        return f"its record or the model could not be read ({exc})"
    checked = [str(k) for k in meta.get("checked", [])] if isinstance(meta, dict) else []
    if key in checked:
        return None
    problem = check(library, gguf)
    if problem is None:
        meta["checked"] = (checked + [key])[-20:]
        with contextlib.suppress(OSError):  # a read-only build works; it is checked again
            _write_record(meta_file, meta)
    return problem


def _write_record(path: Path, meta: dict[str, object]) -> None:
    """Write a build's ``build.json`` atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.generation.llama.native cmake-options | cxx-flags``: this CPU's
    CMake options and compiler flags (``make bench-peers`` builds its peer with them)."""
    args = sys.argv[1:] if argv is None else argv
    options = cpu_options(cpu_flags())[0]
    if args == ["cmake-options"]:
        print(" ".join(o for o in options if not o.startswith("-DCMAKE_CXX_FLAGS=")))
    elif args == ["cxx-flags"]:
        print(AMX_CXX_FLAGS if any("AMX" in o for o in options) else "")
    else:
        print("usage: python -m engine.generation.llama.native cmake-options | cxx-flags",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
