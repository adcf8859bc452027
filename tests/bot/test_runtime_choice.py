"""[model] runtime: which local engine the bot loads for a model folder, and the refusals."""

import logging

import pytest

from bot.app import load_generator, local_runtime
from bot.config import load_config
from bot.errors import ConfigError


def _cfg(tmp_path, folder, **model):
    return load_config(None, environ={"SPREN_HOME": str(tmp_path)},
                       overrides={"model": {"path": str(folder), **model}})


def test_auto_takes_llama_where_the_folder_has_a_gguf(tmp_path, llama_model_dir):
    gen = load_generator(_cfg(tmp_path, llama_model_dir, runtime="auto", sequences=2,
                              threads=1))
    try:
        assert type(gen).__name__ == "LlamaGenerator" and gen.runtime == "llama"
        assert gen.context.sequences == 2
    finally:
        gen.close()


def test_auto_keeps_torch_without_a_gguf_and_says_how_to_make_one(tmp_path, tiny_model_dir,
                                                                  caplog):
    cfg = _cfg(tmp_path, tiny_model_dir, runtime="auto")
    with caplog.at_level(logging.INFO, logger="bot.app"):
        assert local_runtime(cfg, tiny_model_dir) == "torch"
    assert "spren model gguf" in caplog.text
    assert local_runtime(_cfg(tmp_path, tiny_model_dir, runtime="torch"),
                         tiny_model_dir) == "torch"


def test_the_sequences_default_follows_the_batch_size(tmp_path, llama_model_dir):
    cfg = load_config(None, environ={"SPREN_HOME": str(tmp_path)},
                      overrides={"model": {"path": str(llama_model_dir), "threads": 1},
                                 "queue": {"max_batch": 3}})
    gen = load_generator(cfg)
    try:
        assert gen.context.sequences == 3 + 4  # max_batch plus room for held rows
    finally:
        gen.close()


def test_llama_without_a_gguf_is_a_one_line_config_error(tmp_path, tiny_model_dir):
    with pytest.raises(ConfigError, match="spren model gguf") as err:
        load_generator(_cfg(tmp_path, tiny_model_dir, runtime="llama"))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("key, value, words", [
    ("runtime", "vllm", "'auto', 'llama' or 'torch'"), ("sequences", 999, "sequences")])
def test_bad_runtime_settings_are_refused(tmp_path, key, value, words):
    with pytest.raises(ConfigError, match=words):
        load_config(None, environ={}, overrides={"model": {key: value}})


def test_a_gguf_made_from_other_weights_is_never_used(tmp_path, llama_model_dir, caplog):
    """Retrained weights beside an old model.gguf: auto falls back to torch and says how to
    refresh it; runtime = "llama" refuses in one line."""
    import shutil

    folder = tmp_path / "model"
    folder.mkdir()
    for item in llama_model_dir.iterdir():
        if item.name != "model.safetensors" and item.is_file():
            (folder / item.name).symlink_to(item)
    shutil.copyfile(llama_model_dir / "model.safetensors", folder / "model.safetensors")
    with open(folder / "model.safetensors", "r+b") as f:  # other weights, same layout
        f.seek(-4, 2)
        f.write(b"\x00\x00\x80\x3f")
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        assert local_runtime(_cfg(tmp_path, folder, runtime="auto"), folder) == "torch"
    assert "spren model gguf" in caplog.text
    with pytest.raises(ConfigError, match="other weights") as err:
        load_generator(_cfg(tmp_path, folder, runtime="llama"))
    assert "\n" not in str(err.value)


def test_shared_batch_zero_takes_the_engines_measured_choice(tmp_path, llama_model_dir,
                                                             tiny_model_dir):
    from bot.serving.service import GenerationService
    from engine.generation.generator import Generator

    llama = load_generator(_cfg(tmp_path, llama_model_dir, threads=1))
    try:
        queue = _cfg(tmp_path, llama_model_dir).queue
        assert queue.shared_batch == 0
        assert GenerationService.from_config(llama, queue).shared_batch == 2
        torch_gen = Generator(tiny_model_dir, dtype="float32")
        assert GenerationService.from_config(torch_gen, queue).shared_batch == 4
        queue.shared_batch = 3  # a number in the config wins
        assert GenerationService.from_config(llama, queue).shared_batch == 3
    finally:
        llama.close()


def test_auto_falls_back_to_torch_when_the_library_does_not_load(tmp_path, llama_model_dir,
                                                                  monkeypatch, caplog):
    """A machine without libgomp: auto still answers (torch) and the log says what to do."""
    from engine.errors import ModelError
    from engine.generation.llama import lib

    def broken(path=None):
        raise ModelError("could not load llama.cpp from X: libgomp.so.1: cannot open shared "
                         "object file (install the system OpenMP runtime: apt-get install "
                         "libgomp1)")

    monkeypatch.setattr(lib, "load_lib", broken)
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        assert local_runtime(_cfg(tmp_path, llama_model_dir, runtime="auto"),
                             llama_model_dir) == "torch"
    assert "libgomp1" in caplog.text


def test_llama_library_picks_a_native_build_only_when_it_fits_this_cpu(tmp_path, caplog):
    """[model] llama_library: "wheel" never looks for a build; "auto" takes one only when it
    was made for this CPU and this llama.cpp, and says why not; "native" insists."""
    import json

    from bot.app import llama_library
    from engine.errors import ModelError
    from engine.generation.llama import native, native_patch

    def cfg(choice):
        return load_config(None, environ={}, overrides={"bot": {"data_dir": str(tmp_path)},
                                                         "model": {"llama_library": choice}})

    assert llama_library(cfg("wheel")) is None
    with caplog.at_level(logging.INFO, logger="bot.app"):
        assert llama_library(cfg("auto")) is None
    assert "no native build" in caplog.text and "spren model build-llama" in caplog.text
    with pytest.raises(ModelError, match="build-llama") as err:
        llama_library(cfg("native"))
    assert "\n" not in str(err.value)

    folder = native.build_dir(tmp_path / "lib")  # a build for a CPU with a made-up feature
    folder.mkdir(parents=True)
    for name in (native.LIBRARY, *native.DEPENDENCIES):
        (folder / name).write_bytes(b"")
    (folder / native.BUILD_FILE).write_text(json.dumps(
        {"version": native.XLLAMACPP_VERSION, "options": [], "needs": ["no_such_flag"],
         "kernels": native_patch.digest()}))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.app"):
        assert llama_library(cfg("auto")) is None
    assert "no_such_flag" in caplog.text
    (folder / native.BUILD_FILE).write_text(json.dumps(
        {"version": native.XLLAMACPP_VERSION, "options": [], "needs": [],
         "kernels": native_patch.digest()}))
    assert llama_library(cfg("auto")) == folder / native.LIBRARY
    assert llama_library(cfg("native")) == folder / native.LIBRARY


def test_a_bad_llama_library_is_refused():
    with pytest.raises(ConfigError, match="'auto', 'native' or 'wheel'"):
        load_config(None, environ={}, overrides={"model": {"llama_library": "fast"}})
