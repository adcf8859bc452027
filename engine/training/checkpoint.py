"""Training checkpoints: everything needed to continue a run exactly where it stopped."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from engine.errors import ModelError

STATE_FILE = "state.pt"


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that training changes (all of them, or just the LoRA ones)."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) random states."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(ckpt_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: LRScheduler, progress: dict[str, Any]) -> Path:
    """Write model/optimizer/scheduler/RNG state and progress atomically."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    payload = {"model": trainable_state(model), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "rng": rng_state(), "progress": progress}
    tmp = ckpt_dir / (STATE_FILE + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, ckpt_dir / STATE_FILE)  # a crash mid-write leaves the old checkpoint intact
    return ckpt_dir / STATE_FILE


def load_checkpoint(ckpt_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: LRScheduler) -> dict[str, Any]:
    """Restore a checkpoint into live objects; returns the saved progress dict."""
    path = Path(ckpt_dir) / STATE_FILE
    if not path.is_file():
        raise ModelError(f"no checkpoint at {path} to resume from; run without --resume")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    params = dict(model.named_parameters())
    missing = set(payload["model"]) - set(params)
    if missing:
        raise ModelError(f"checkpoint {path} does not fit this model (e.g. {sorted(missing)[0]}); "
                         "resume with the same options as the interrupted run")
    with torch.no_grad():
        for name, value in payload["model"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    set_rng_state(payload["rng"])
    return dict(payload["progress"])
