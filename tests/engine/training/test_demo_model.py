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


def test_built_model_is_not_rebuilt(tmp_path, adapter_dir):
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{}")
    assert not demo.is_built(target, adapter_dir)
    marker = {"wheel_sha256": demo.WHEEL_SHA256,
              "adapter_sha256": file_sha256(adapter_dir / "adapter.safetensors")}
    (target / demo.MARKER).write_text(json.dumps(marker))
    assert demo.is_built(target, adapter_dir)
    # already built: returns at once, with no wheel and no download (cache dir stays empty)
    assert demo.build_demo(target, adapter_dir, cache_dir=tmp_path / "cache") == target
    assert not (tmp_path / "cache").exists()


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
