"""`spren model gguf` and `spren eval --runtime llama` on the demo model (built by `make test`)."""

import json

import pytest
from click.testing import CliRunner

from bot.config import Config
from engine.generation.llama.metadata import QTYPE_KEY, SOURCE_KEY, read_key
from engine.hashing import remembered_sha256
from tests.bot.cli.test_model_commands import make_cli
from tests.engine.generation.test_gguf import DEMO, TEXT, demo_copy


@pytest.fixture
def cfg(tmp_path):
    if not (DEMO / "model.gguf").is_file():
        pytest.skip(f"demo model (with model.gguf) not built at {DEMO}: run `make demo-model`")
    c = Config()
    c.bot.data_dir = str(tmp_path / "data")
    c.model.path = str(DEMO)
    return c


def test_model_gguf_finds_the_demo_template_and_writes_the_folder_gguf(tmp_path, cfg):
    folder = demo_copy(tmp_path / "copy")
    result = CliRunner().invoke(make_cli(cfg), ["model", "gguf", str(folder), "--quant", "f16"])
    assert result.exit_code == 0, result.output
    out = folder / "model.gguf"
    assert f"wrote {out}" in result.output
    assert read_key(out, QTYPE_KEY) == "f16"
    assert read_key(out, SOURCE_KEY) == remembered_sha256(folder / "model.safetensors")
    assert not [p for p in folder.iterdir() if p.name.startswith((".model.gguf", "tmp"))]


def test_model_gguf_refuses_an_unknown_quant(tmp_path, cfg):
    result = CliRunner().invoke(make_cli(cfg), ["model", "gguf", str(tmp_path), "--quant", "q2"])
    assert result.exit_code == 2 and "'q2' is not one of" in result.output


def test_eval_runtime_llama_is_close_to_torch(tmp_path, cfg):
    if not TEXT.is_file():
        pytest.skip(f"Oz corpus not found at {TEXT}")
    sample = tmp_path / "sample.txt"
    sample.write_text(TEXT.read_text(encoding="utf-8-sig")[40_000:40_500])
    figures = {}
    for runtime in ("llama", "torch"):
        result = CliRunner().invoke(make_cli(cfg), [
            "eval", str(DEMO), "--text-file", str(sample), "--block", "128", "--stride", "64",
            "--threads", "1", "--runtime", runtime])
        assert result.exit_code == 0, result.output
        line = json.loads(result.output.strip().splitlines()[-1])
        assert line["runtime"] == runtime and line["chars"] == 500
        figures[runtime] = line["bpc"]
    assert abs(figures["llama"] - figures["torch"]) < 0.01, figures


def test_eval_runtime_llama_without_a_gguf_says_what_to_run(tmp_path, cfg):
    folder = demo_copy(tmp_path / "copy")
    sample = tmp_path / "sample.txt"
    sample.write_text("Dorothy walked down the road.")
    result = CliRunner().invoke(make_cli(cfg), ["eval", str(folder), "--text-file", str(sample),
                                                "--runtime", "llama"])
    assert result.exit_code != 0
    assert f"spren model gguf {folder}" in str(result.exception)
