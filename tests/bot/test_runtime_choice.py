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
