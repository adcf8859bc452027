"""llama.cpp compiled for this CPU (engine.generation.llama.native): which CMake options a
CPU gets, which build is ever loaded, the refusals, and the real build `make native-llama`
makes (`make test` runs it first) generating on the runtime like the wheel's library."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from engine.errors import ModelError
from engine.generation.llama import native, native_check, native_patch
from engine.generation.llama.lib import XLLAMACPP_VERSION
from tests.paths import REPO_ROOT

AVX512 = {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"}
HASWELL = {"sse4_2", "f16c", "fma", "bmi2", "avx", "avx2"}


def _fake_build(root: Path, needs: list[str], version: str = XLLAMACPP_VERSION,
                options: tuple[str, ...] = ("-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON")) -> Path:
    folder = native.build_dir(root)
    folder.mkdir(parents=True)
    for name in (native.LIBRARY, *native.DEPENDENCIES):
        (folder / name).write_bytes(b"not a library")
    (folder / native.BUILD_FILE).write_text(json.dumps(
        {"version": version, "options": list(options), "needs": needs,
         "kernels": native_patch.digest()}))
    return folder


SAPPHIRE = HASWELL | AVX512 | {"avx512_vnni", "amx_tile", "amx_int8", "amx_bf16"}


def test_options_follow_the_cpu_flags():
    options, needs = native.cpu_options(SAPPHIRE - {"amx_tile", "amx_int8", "amx_bf16"},
                                        "x86_64")
    assert "-DGGML_NATIVE=OFF" in options and "-DGGML_AVX512=ON" in options
    assert "-DGGML_AVX512_VNNI=ON" in options and "-DGGML_AVX512_BF16=ON" not in options
    assert not any("AMX" in option or "CXX_FLAGS" in option for option in options)
    assert set(needs) == HASWELL | AVX512 | {"avx512_vnni"}


def test_amx_comes_with_the_flags_gcc_needs_and_can_be_left_out():
    options, needs = native.cpu_options(SAPPHIRE, "x86_64")
    assert {"-DGGML_AMX_TILE=ON", "-DGGML_AMX_INT8=ON", "-DGGML_AMX_BF16=ON"} <= set(options)
    assert options[-1] == f"-DCMAKE_CXX_FLAGS={native.AMX_CXX_FLAGS}"
    assert {"amx_tile", "amx_int8", "amx_bf16"} <= set(needs) and len(needs) == len(set(needs))
    without, needs = native.cpu_options(SAPPHIRE, "x86_64", amx=False)
    assert without == options[:-4] and not {"amx_tile", "amx_int8"} & set(needs)
    assert native.has_amx(SAPPHIRE, "x86_64") and not native.has_amx(SAPPHIRE, "aarch64")


def test_avx512_needs_every_flag_of_its_set():
    options, needs = native.cpu_options(HASWELL | {"avx512f"}, "x86_64")  # no bw/vl/dq/cd
    assert "-DGGML_AVX2=ON" in options and "-DGGML_AVX512=ON" not in options
    assert "avx512f" not in needs


def test_other_machines_get_ggmls_native_choice():
    assert native.cpu_options(set(), "aarch64") == (["-DGGML_NATIVE=ON"], ["machine:aarch64"])


def test_the_flags_come_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx2\nbugs\t\t: none\n")
    assert native.cpu_flags(info) == {"fpu", "sse4_2", "avx2"}
    assert native.cpu_flags(tmp_path / "missing") == set()


def test_no_build_and_a_usable_build(tmp_path):
    library, why = native.find_build(tmp_path)
    assert library is None and "no native build" in why
    _fake_build(tmp_path, ["avx2", "fma"])
    library, why = native.find_build(tmp_path, flags={"avx2", "fma", "sse4_2"})
    assert library == native.build_dir(tmp_path) / native.LIBRARY
    assert why == "native build for this CPU (AVX2)"


def test_a_build_for_another_cpu_is_never_loaded(tmp_path):
    _fake_build(tmp_path, ["avx2", "avx512f"])
    library, why = native.find_build(tmp_path, flags={"avx2"})
    assert library is None and "avx512f" in why and "spren model build-llama" in why


@pytest.mark.parametrize("version, text", [("2020.1.1", None), (XLLAMACPP_VERSION, "{oops")])
def test_another_version_or_a_broken_record_is_never_loaded(tmp_path, version, text):
    folder = _fake_build(tmp_path, [], version=version)
    if text is not None:
        (folder / native.BUILD_FILE).write_text(text)
    library, why = native.find_build(tmp_path, flags=set())
    assert library is None
    assert (version in why) if text is None else "unreadable" in why


def test_the_check_catches_a_crash_and_a_failure(tmp_path, llama_model_dir):
    """A build that faults (here: a file that is no library at all, so loading fails) or
    fails is reported in a few words, and this process survives it."""
    folder = _fake_build(tmp_path, [])
    problem = native_check.check(folder / native.LIBRARY, llama_model_dir / "model.gguf")
    assert problem and "could not load" in problem and "\n" not in problem


def test_the_check_passes_spren_s_build_and_names_what_the_wheel_gets_wrong(llama_model_dir):
    """The wheel's unmodified llama.cpp keeps a short row the same alone and in a batch, but
    not a prompt of 64 tokens and more fed whole and in parts (ggml's tiled attention kernel
    takes 64 query rows at once, its row kernel fewer, and their sums differ), nor a row past
    256 tokens of context (ggml splits a lone row's long cache between threads); spren's build
    takes its own row kernel for both and passes the whole check."""
    from engine.generation.llama.lib import library_path

    gguf = llama_model_dir / "model.gguf"
    assert native_check.check(library_path(), gguf) == (
        f"a prompt of {native_check.PROMPT} tokens gives other logits fed whole and in parts")
    home = Path(os.environ.get("SPREN_HOME", REPO_ROOT / ".spren"))
    library, why = native.find_build(home / "lib")
    if library is None:
        pytest.skip(why)  # test_the_native_build_generates... fails where it should be built
    assert native_check.check(library, gguf) is None


LONG_CONTEXT_ONLY = """
import os, sys
from pathlib import Path
from engine.generation.llama import native_check
from engine.generation.llama.batch import Context
from engine.generation.llama.lib import load_lib, library_path
load_lib(library_path())
context = Context(Path(sys.argv[1]), threads=2, sequences=3, per_row=native_check.LONG + 8)
print(native_check._long_context(context))
"""


def test_the_long_context_check_names_what_the_wheel_gets_wrong(llama_model_dir):
    """The long-context part of the check on its own: the wheel splits a lone row's cache of
    512 cells between two threads, so the row differs alone and beside a short one."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("the split needs two threads")
    out = subprocess.run([sys.executable, "-c", LONG_CONTEXT_ONLY,
                          str(llama_model_dir / "model.gguf")], capture_output=True, text=True,
                         timeout=300, cwd=REPO_ROOT,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == (
        f"a row's logits differ alone and in a batch after {native_check.LONG} tokens of context")


def test_a_build_that_fails_its_check_with_amx_is_built_again_without(tmp_path,
                                                                        monkeypatch):
    """The compile steps are stood in for (they are `make test`'s own build); the choice
    between the two builds is what is tested."""
    built, said = [], []
    monkeypatch.setattr(native, "cpu_flags", lambda: SAPPHIRE)
    monkeypatch.setattr(native.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(native, "_extract", lambda sdist, into: into)
    patched: list[Path] = []
    monkeypatch.setattr(native_patch, "apply", patched.append)

    def run(cmd, log, timeout):
        if "--build" not in cmd:
            out = Path(cmd[cmd.index("-B") + 1])
            built.append(any("AMX" in c for c in cmd))
            (out / "bin").mkdir(parents=True)
            for name in (native.LIBRARY, *native.DEPENDENCIES):
                (out / "bin" / name).write_text("AMX" if built[-1] else "plain")

    monkeypatch.setattr(native, "_run", run)
    monkeypatch.setattr(native, "check", lambda lib, gguf: (
        "it crashed with signal 4" if lib.read_text() == "AMX" else None))
    (tmp_path / "model.gguf").write_bytes(b"weights")
    library = native._compile(tmp_path / "lib", tmp_path, tmp_path / "sdist", ["cmake"], 1,
                              tmp_path / "model.gguf", said.append)
    assert built == [True, False] and library.read_text() == "plain"
    assert len(patched) == 1  # spren's kernels go into the sources once, before both builds
    assert any("AMX build failed its check (it crashed with signal 4)" in s for s in said)
    meta = json.loads((library.parent / native.BUILD_FILE).read_text())
    assert not any("AMX" in o for o in meta["options"]) and "amx_tile" not in meta["needs"]
    assert native.find_build(tmp_path / "lib", flags=SAPPHIRE)[0] == library
    assert meta["checked"] == [native._gguf_key(tmp_path / "model.gguf")]  # not again at start
    assert meta["kernels"] == native_patch.digest()

    built.clear()  # no GGUF to check on: AMX is not even tried
    native._compile(tmp_path / "lib", tmp_path, tmp_path / "sdist", ["cmake"], 1, None,
                    said.append)
    assert built == [False] and "no model.gguf to check" in said[-3]


def test_a_wrong_sdist_is_refused_before_compiling(tmp_path, monkeypatch):
    monkeypatch.setattr(native, "_tools", lambda: ("cmake", []))
    bad = tmp_path / native.SDIST_NAME
    bad.write_bytes(b"something else")
    with pytest.raises(ModelError, match="not the pinned") as err:
        native.build(tmp_path / "lib", tmp_path, sdist=bad, say=lambda _: None)
    assert "\n" not in str(err.value) and not (tmp_path / "lib").exists()


def test_a_damaged_cached_sdist_is_downloaded_again(tmp_path, monkeypatch):
    import contextlib
    import hashlib
    import io

    good = b"the pinned sources"
    monkeypatch.setattr(native, "SDIST_SHA256", hashlib.sha256(good).hexdigest())
    fetched = []

    def urlopen(url, timeout):
        fetched.append(url)
        return contextlib.closing(io.BytesIO(good))

    monkeypatch.setattr(native.urllib.request, "urlopen", urlopen)
    (tmp_path / native.SDIST_NAME).write_bytes(b"half a down")  # an interrupted download
    sdist = native._checked_sdist(tmp_path, None)
    assert sdist.read_bytes() == good and fetched == [native.SDIST_URL]
    assert native._checked_sdist(tmp_path, None) == sdist and len(fetched) == 1  # cached


def test_missing_tools_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    with pytest.raises(ModelError, match="cmake and a C\\+\\+ compiler.*apt-get install"):
        native.build(tmp_path / "lib", tmp_path, say=lambda _: None)


def test_only_llama_cpp_sources_are_unpacked(tmp_path):
    sdist = tmp_path / "x.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name in (native.SOURCE_DIR + "CMakeLists.txt", "xllamacpp-x/setup.py"):
            src = tmp_path / "member"
            src.write_text(name)
            tar.add(src, arcname=name)
    source = native._extract(sdist, tmp_path / "out")
    assert (source / "CMakeLists.txt").is_file()
    assert not (tmp_path / "out" / "xllamacpp-x").exists()


def test_the_cli_refuses_a_wrong_sdist_in_one_line(tmp_path):
    bad = tmp_path / "wrong.tar.gz"
    bad.write_bytes(b"x")
    env = {**os.environ, "SPREN_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-m", "bot", "model", "build-llama",
                          "--sdist", str(bad), "--cache-dir", str(tmp_path / "cache")],
                         capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env)
    message = (out.stdout + out.stderr).strip()
    assert out.returncode != 0 and "Traceback" not in message
    assert "not the pinned" in message or "cmake" in message  # no tools: that is said first
    assert len(message.splitlines()) == 1


# -- the real build ------------------------------------------------------------------------

NATIVE_CHECK = """
import json, sys
from pathlib import Path
from engine.generation import GenParams
from engine.generation.llama.runtime import LlamaGenerator
from engine.generation.llama.lib import load_lib
library, model = Path(sys.argv[1]), Path(sys.argv[2])
gen = LlamaGenerator(model, threads=2, sequences=6, library=library)
# five rows (four go through the four-row kernels) and one of them long: past 256 tokens
# of context, where ggml would split a lone row's KV cache between threads
long = "Dorothy and Toto walked on along the road of yellow brick. " * 30 + "Then"
prompts = ["Dorothy walked along", "The Scarecrow said", "Ozma sent for", "The Tin Woodman",
           long]
params = [GenParams(max_new_tokens=24, seed=s, stop_at_sentence=False) for s in range(1, 6)]
together = [r.text for r in gen.generate(prompts, params)]
alone = [gen.generate([p], [q])[0].text for p, q in zip(prompts, params)]
print(json.dumps({"path": str(load_lib().path), "together": together, "alone": alone,
                  "c_sampler": load_lib().sample_rows is not None}))
gen.close()
"""


def test_the_native_build_generates_and_keeps_rows_independent(llama_model_dir):
    home = Path(os.environ.get("SPREN_HOME", REPO_ROOT / ".spren"))
    library, why = native.find_build(home / "lib")
    if library is None:
        try:
            native._tools()
        except ModelError as exc:  # no cmake or compiler here: make test could not build it
            pytest.skip(f"{why}; {exc}")
        pytest.fail(f"{why}, although cmake and a compiler are here: `make test` should have "
                    "built it (`make try-native-llama`)")
    out = subprocess.run([sys.executable, "-c", NATIVE_CHECK, str(library),
                          str(llama_model_dir)], capture_output=True, text=True, timeout=300,
                         cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["path"] == str(library)  # the build, not the wheel, was loaded
    assert result["c_sampler"]  # and its rows were sampled by spren's C sampler
    assert result["together"] == result["alone"]  # a row is the same alone or in a batch
    assert all(len(text.split()) >= 5 for text in result["alone"])


def test_a_missing_part_makes_a_build_unusable(tmp_path):
    folder = _fake_build(tmp_path, [])
    (folder / "libggml-cpu.so").unlink()
    library, why = native.find_build(tmp_path, flags=set())
    assert library is None and "libggml-cpu.so is missing" in why


FALLBACK_CHECK = """
import logging, sys
from pathlib import Path
from bot.app import load_generator
from bot.config import load_config
from engine.generation import GenParams
from engine.generation.llama.lib import load_lib
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
cfg = load_config(None, environ={}, overrides={
    "bot": {"data_dir": sys.argv[1]}, "model": {"path": sys.argv[2], "threads": 1,
                                                "sequences": 2}})
gen = load_generator(cfg)
text = gen.generate(["Dorothy said"], [GenParams(max_new_tokens=8, seed=1)])[0].text
print(type(gen).__name__, load_lib().path.name, bool(text.strip()))
gen.close()
"""


def test_a_damaged_native_build_gives_way_to_the_wheel(tmp_path, llama_model_dir):
    """auto picked a build that fits this CPU, but its files do not load: the bot still
    generates on llama.cpp, with the wheel's library, and says why."""
    _fake_build(tmp_path / "lib", [])  # recorded as fitting any CPU; its files are junk
    out = subprocess.run([sys.executable, "-c", FALLBACK_CHECK, str(tmp_path),
                          str(llama_model_dir)], capture_output=True, text=True, timeout=300,
                         cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["LlamaGenerator", "xllamacpp.abi3.so", "True"]
    assert "the native llama.cpp build is not usable here" in out.stderr


def test_a_build_is_checked_once_per_model_file(tmp_path, monkeypatch):
    """The bot checks a native build on the model it is about to run, unless that very file
    passed before (the build's record keeps it); a failure is not remembered."""
    folder = _fake_build(tmp_path, [])
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"weights")
    calls, verdict = [], [None]
    monkeypatch.setattr(native, "check", lambda lib, g: calls.append(g) or verdict[0])
    library = folder / native.LIBRARY
    assert native.check_for_model(library, gguf) is None and len(calls) == 1
    assert native.check_for_model(library, gguf) is None and len(calls) == 1  # remembered
    gguf.write_bytes(b"other weights")  # a rebuilt model.gguf is checked again
    verdict[0] = "a row's logits differ alone and in a batch"
    assert native.check_for_model(library, gguf) == verdict[0] and len(calls) == 2
    assert native.check_for_model(library, gguf) == verdict[0] and len(calls) == 3
    record = json.loads((folder / native.BUILD_FILE).read_text())
    assert len(record["checked"]) == 1 and record["version"] == XLLAMACPP_VERSION
