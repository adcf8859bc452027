"""LoRA: merged equals unmerged, adapters round-trip through safetensors, misfits are refused."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from engine.errors import ModelError
from engine.training.lora import (
    LoraConfig,
    adapter_state,
    apply_lora,
    load_adapter,
    lora_layers,
    merge_lora,
    save_adapter,
)


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    conf = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(conf).eval()


def trained_adapter(model, cfg: LoraConfig, steps: int = 3) -> None:
    """A few real optimiser steps so that B is no longer zero."""
    apply_lora(model, cfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(1))
    model.train()
    for _ in range(steps):
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


def test_fresh_adapter_changes_nothing_and_only_adapters_train():
    base, wrapped = tiny_llama(), tiny_llama()
    names = apply_lora(wrapped, LoraConfig(rank=4, alpha=8))
    x = torch.arange(10)[None]
    assert torch.equal(base(input_ids=x).logits, wrapped(input_ids=x).logits)
    trainable = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    assert len(names) == 2 * 7 and trainable
    assert all(n.endswith(("lora_A", "lora_B")) for n in trainable)


def test_merged_forward_equals_unmerged():
    model = tiny_llama()
    trained_adapter(model, LoraConfig(rank=4, alpha=8, targets=["q_proj", "v_proj", "down_proj"]))
    x = torch.randint(0, 97, (1, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        unmerged = model(input_ids=x).logits
        assert unmerged.abs().sum() > 0
        merge_lora(model)
        merged = model(input_ids=x).logits
    assert not lora_layers(model)
    assert isinstance(model.model.layers[0].self_attn.q_proj, torch.nn.Linear)
    torch.testing.assert_close(merged, unmerged, rtol=1e-5, atol=1e-5)


def test_adapter_roundtrip(tmp_path):
    cfg = LoraConfig(rank=4, alpha=16, targets=["q_proj", "o_proj", "up_proj"])
    model = tiny_llama()
    trained_adapter(model, cfg)
    save_adapter(model, cfg, tmp_path, dtype=torch.float32)
    fresh = tiny_llama()
    loaded_cfg = load_adapter(fresh, tmp_path)
    assert loaded_cfg == cfg
    for key, value in adapter_state(model, torch.float32).items():
        assert torch.equal(adapter_state(fresh, torch.float32)[key], value)
    x = torch.arange(20)[None]
    with torch.no_grad():
        torch.testing.assert_close(fresh(input_ids=x).logits, model(input_ids=x).logits)


def test_fp16_adapter_is_close(tmp_path):
    cfg = LoraConfig(rank=2, alpha=4)
    model = tiny_llama()
    trained_adapter(model, cfg)
    save_adapter(model, cfg, tmp_path)  # fp16 on disk, as shipped
    fresh = tiny_llama()
    load_adapter(fresh, tmp_path)
    x = torch.arange(20)[None]
    with torch.no_grad():
        torch.testing.assert_close(fresh(input_ids=x).logits, model(input_ids=x).logits,
                                   rtol=1e-3, atol=1e-3)


def test_adapter_for_another_model_is_refused(tmp_path):
    model = tiny_llama()
    cfg = LoraConfig(rank=2, alpha=4, targets=["q_proj"])
    apply_lora(model, cfg)
    save_adapter(model, cfg, tmp_path)
    other = tiny_llama()
    apply_lora(other, LoraConfig(rank=2, alpha=4, targets=["k_proj"]))
    with pytest.raises(ModelError, match="does not fit"):
        load_adapter(other, tmp_path)
    with pytest.raises(ModelError, match="no LoRA adapter"):
        load_adapter(tiny_llama(), tmp_path / "missing")


def test_no_matching_layer_is_a_clear_error():
    with pytest.raises(ModelError, match="no Linear layer"):
        apply_lora(tiny_llama(), LoraConfig(targets=["nothing_like_this"]))
