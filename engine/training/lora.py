"""A minimal LoRA for ``nn.Linear``: wrap, train, merge, and save/load just the adapter.

A wrapped layer computes ``W x + (alpha / r) * B (A (dropout x))`` with ``A`` random and
``B`` zero, so a fresh adapter leaves the model's output unchanged.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from engine.errors import ModelError
from engine.training.options import ADAPTER_FILE, DEFAULT_LORA_TARGETS

ADAPTER_CONFIG = "adapter_config.json"
DEFAULT_TARGETS = DEFAULT_LORA_TARGETS


@dataclass
class LoraConfig:
    """Rank, scale and which Linear layers (by the last part of their name) get an adapter."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


class LoraLinear(nn.Module):
    """An ``nn.Linear`` with a trainable low-rank update beside its frozen weight."""

    def __init__(self, base: nn.Linear, cfg: LoraConfig):
        super().__init__()
        self.base = base
        self.scale = cfg.scale
        self.merged = False
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        dev = base.weight.device
        self.lora_A = nn.Parameter(torch.empty(cfg.rank, base.in_features, device=dev))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, cfg.rank, device=dev))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.base(x)
        if self.merged:
            return out
        update: torch.Tensor = self.dropout(x) @ self.lora_A.t().to(x.dtype)
        return out + (update @ self.lora_B.t().to(x.dtype)) * self.scale

    def delta(self) -> torch.Tensor:
        """The full-rank weight update this adapter stands for."""
        return (self.lora_B.float() @ self.lora_A.float()) * self.scale

    def merge(self) -> None:
        """Fold the update into the base weight (forward then skips the adapter)."""
        if not self.merged:
            w = self.base.weight
            w.data = (w.data.float() + self.delta().to(w.device)).to(w.dtype)
            self.merged = True


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent_name, _, child = name.rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), child


def apply_lora(model: nn.Module, cfg: LoraConfig) -> list[str]:
    """Wrap every matching Linear in ``model`` in place; freeze everything else."""
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, m in model.named_modules()
             if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in cfg.targets]
    if not names:
        raise ModelError(f"no Linear layer named any of {cfg.targets} in this model; "
                         "pass --lora-targets with names from the model's layers")
    for name in names:
        parent, child = _parent(model, name)
        setattr(parent, child, LoraLinear(getattr(parent, child), cfg))
    return names


def lora_layers(model: nn.Module) -> dict[str, LoraLinear]:
    """The wrapped layers of ``model`` by module name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoraLinear)}


def merge_lora(model: nn.Module) -> nn.Module:
    """Merge every adapter into its base weight and put plain Linear layers back."""
    for name, layer in lora_layers(model).items():
        layer.merge()
        parent, child = _parent(model, name)
        setattr(parent, child, layer.base)
    return model


def adapter_state(model: nn.Module, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """Just the adapter tensors, keyed ``<module>.lora_A`` / ``<module>.lora_B``."""
    state = {}
    for name, layer in lora_layers(model).items():
        state[f"{name}.lora_A"] = layer.lora_A.detach().to("cpu", dtype).contiguous()
        state[f"{name}.lora_B"] = layer.lora_B.detach().to("cpu", dtype).contiguous()
    return state


def save_adapter(model: nn.Module, cfg: LoraConfig, out_dir: Path,
                 dtype: torch.dtype = torch.float16) -> Path:
    """Write ``adapter.safetensors`` + ``adapter_config.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(adapter_state(model, dtype), str(out_dir / ADAPTER_FILE))
    (out_dir / ADAPTER_CONFIG).write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    return out_dir / ADAPTER_FILE


def read_adapter(adapter_dir: Path) -> tuple[LoraConfig, dict[str, torch.Tensor]]:
    """Read an adapter directory written by :func:`save_adapter`."""
    adapter_dir = Path(adapter_dir)
    weights, conf = adapter_dir / ADAPTER_FILE, adapter_dir / ADAPTER_CONFIG
    if not weights.is_file() or not conf.is_file():
        raise ModelError(f"{adapter_dir} holds no LoRA adapter ({ADAPTER_FILE} and "
                         f"{ADAPTER_CONFIG} expected); train one with `spren train --lora-rank`")
    return LoraConfig(**json.loads(conf.read_text())), load_file(str(weights))


def load_adapter(model: nn.Module, adapter_dir: Path) -> LoraConfig:
    """Wrap ``model`` per the saved config and load the saved adapter tensors into it."""
    cfg, state = read_adapter(adapter_dir)
    layers = {n: m for n, m in model.named_modules() if isinstance(m, LoraLinear)}
    if not layers:
        apply_lora(model, cfg)
        layers = lora_layers(model)
    expected = {f"{n}.lora_{ab}" for n in layers for ab in "AB"}
    if set(state) != expected:
        missing = sorted(expected - set(state))[:3]
        extra = sorted(set(state) - expected)[:3]
        raise ModelError(f"adapter in {adapter_dir} does not fit this model (missing {missing}, "
                         f"unexpected {extra}); was it trained on another base?")
    for name, layer in layers.items():
        layer.lora_A.data.copy_(state[f"{name}.lora_A"].float())
        layer.lora_B.data.copy_(state[f"{name}.lora_B"].float())
    return cfg

