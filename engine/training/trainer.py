"""Train a causal LM on texts: from scratch (GPT-2 presets + own BPE) or fine-tune (full/LoRA).

Runnable without the bot: ``python -m engine.training --text-file a.txt --val-file b.txt ...``.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np
import torch
from tqdm import tqdm

from engine.errors import ModelError
from engine.generation.loading import read_model, resolve_device
from engine.training import lora as lora_mod
from engine.training.checkpoint import load_checkpoint, save_checkpoint
from engine.training.data import encode_documents, pack_blocks
from engine.training.evaluation import score_text
from engine.training.options import PRESETS, TrainConfig


@dataclass
class TrainResult:
    """What a run achieved."""

    out_dir: Path
    steps: int
    total_steps: int
    tokens: int
    best_bpc: float
    best_step: int
    seconds: float
    history: list[dict[str, Any]]
    finished: bool


class Progress(TypedDict):
    """Where a run stands (saved in every checkpoint, so a resume continues exactly)."""

    step: int
    best_bpc: float
    best_step: int
    history: list[dict[str, Any]]
    tokens: int


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_scratch(cfg: TrainConfig, texts: list[str], out: Path) -> tuple[Any, Any]:
    """Fit a tokenizer (or reuse the saved one on resume) and build a fresh GPT-2."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from engine.training.tokenizer import train_bpe

    if cfg.preset not in PRESETS:
        raise ModelError(f"unknown size preset {cfg.preset!r}; choose one of {sorted(PRESETS)}")
    tok_dir = out / "tokenizer"
    if cfg.resume and tok_dir.is_dir():
        tok = AutoTokenizer.from_pretrained(tok_dir)
    else:
        tok = train_bpe(texts, cfg.vocab_size)
        tok.save_pretrained(tok_dir)
    layers, width, heads = PRESETS[cfg.preset]
    conf = GPT2Config(vocab_size=len(tok), n_positions=max(cfg.block_size, cfg.eval_block),
                      n_embd=width, n_layer=layers, n_head=heads,
                      bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    return GPT2LMHeadModel(conf), tok


def load_base(base: str) -> tuple[Any, Any]:
    """A pretrained causal LM and its tokenizer to fine-tune (a folder, or a hub name online)."""
    model, tok = read_model(base, allow_hub=True)
    if tok.eos_token_id is None:
        raise ModelError(f"base model {base!r} has a tokenizer without an eos token")
    return model, tok


def _prepare_model(cfg: TrainConfig, train_texts: list[str],
                   out: Path) -> tuple[Any, Any, lora_mod.LoraConfig | None]:
    _seed_all(cfg.seed)
    model, tok = load_base(cfg.base) if cfg.base else build_scratch(cfg, train_texts, out)
    lcfg = None
    if cfg.lora_rank > 0:
        lcfg = lora_mod.LoraConfig(cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout,
                                   list(cfg.lora_targets))
        lora_mod.apply_lora(model, lcfg)
    return model, tok, lcfg


def _schedule(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to a tenth of the peak rate."""
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(total - cfg.warmup_steps, 1)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return factor


def _optimizer(cfg: TrainConfig, model: torch.nn.Module,
               total: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, total))


def _batch_order(n_blocks: int, batch: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """This epoch's shuffled batches of block indices (a function of seed and epoch only)."""
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    perm = torch.randperm(n_blocks, generator=g)
    return [perm[i:i + batch] for i in range(0, n_blocks - batch + 1, batch)]


@torch.no_grad()
def sample(model: Any, tok: Any, prompt: str, n_tokens: int, device: torch.device) -> str:
    """Greedy continuation with a repetition penalty (deterministic, for progress logs)."""
    was_training = model.training
    model.eval()
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(device)
    limit = getattr(model.config, "n_positions", None) or model.config.max_position_embeddings
    n_tokens = min(n_tokens, limit // 2)
    ids = ids[:, -(limit - n_tokens):]  # a long prompt must leave room inside the context
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_tokens,
                         do_sample=False, repetition_penalty=1.3,
                         pad_token_id=tok.eos_token_id)
    model.train(was_training)
    return str(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))


class _Run:
    """One training run's live state and its per-step / per-eval / per-checkpoint duties."""

    def __init__(self, cfg: TrainConfig, train_texts: list[str], val_texts: list[str]):
        self.cfg, self.out = cfg, Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = resolve_device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.autocast = cfg.bf16 if cfg.bf16 is not None else self.device.type == "cuda"
        self.model, self.tok, self.lcfg = _prepare_model(cfg, train_texts, self.out)
        self.model.to(self.device).train()
        self.blocks = pack_blocks(encode_documents(self.tok, train_texts), cfg.block_size)
        self.val_text = "\n\n".join(val_texts)
        per_epoch = len(self.blocks) // cfg.batch_size
        if per_epoch == 0:
            raise ModelError(f"{len(self.blocks)} blocks make no full batch of {cfg.batch_size}; "
                             "lower --batch-size or --block-size, or add text")
        self.per_epoch = per_epoch
        self.total = cfg.max_steps or max(1, int(round(cfg.epochs * per_epoch)))
        self.opt, self.sched = _optimizer(cfg, self.model, self.total)
        self.progress = Progress(step=0, best_bpc=float("inf"), best_step=0, history=[],
                                 tokens=0)

    def step(self, batch_idx: torch.Tensor) -> float:
        x = self.blocks[batch_idx].to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            loss = self.model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], 1.0)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        self.progress["step"] += 1
        self.progress["tokens"] += x.numel()
        return float(loss.item())

    def evaluate(self, train_loss: float) -> dict[str, Any]:
        p = self.progress
        s = score_text(self.model, self.tok, self.val_text, block=self.cfg.eval_block,
                       autocast=self.autocast)
        entry: dict[str, Any] = {"step": p["step"], "epoch": round(p["step"] / self.per_epoch, 3),
                 "train_loss": round(train_loss, 4), "val_loss": round(s.token_loss, 4),
                 "val_bpc": round(s.bpc, 4),
                 "val_word_ppl": round(s.word_perplexity, 2), "tokens": p["tokens"],
                 "sample": sample(self.model, self.tok, self.cfg.sample_prompt,
                                  self.cfg.sample_tokens, self.device)}
        p["history"].append(entry)
        if s.bpc < p["best_bpc"]:
            p["best_bpc"], p["best_step"] = s.bpc, p["step"]
            self.save_best()
        with open(self.out / "train_log.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
        return entry

    def save_best(self) -> None:
        """Write the model as it is now to out_dir (the best so far by validation bpc)."""
        if self.lcfg is not None:
            lora_mod.save_adapter(self.model, self.lcfg, self.out)
        else:
            self.model.save_pretrained(self.out)
        self.tok.save_pretrained(self.out)
        meta = {"config": asdict(self.cfg), "base": self.cfg.base,
                "best_bpc": self.progress["best_bpc"], "best_step": self.progress["best_step"],
                "train_blocks": len(self.blocks), "block_size": self.cfg.block_size}
        (self.out / "train_meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    def checkpoint(self) -> None:
        save_checkpoint(self.out / "checkpoint", self.model, self.opt, self.sched,
                        dict(self.progress))


def _loop(run: _Run, bar: Any, started: float) -> bool:
    """Train until done or paused; returns True when all steps ran."""
    cfg, p = run.cfg, run.progress
    loss, stop_at = float("nan"), min(run.total, cfg.stop_after or run.total)
    while p["step"] < stop_at:
        epoch, pos = divmod(p["step"], run.per_epoch)
        order = _batch_order(len(run.blocks), cfg.batch_size, cfg.seed, epoch)
        for batch_idx in order[pos:]:
            loss = run.step(batch_idx)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", best_bpc=f"{p['best_bpc']:.3f}")
            timed_out = cfg.max_minutes is not None and cfg.max_minutes > 0 \
                and time.time() - started > cfg.max_minutes * 60
            # a paused run is evaluated too, so that it always leaves a usable best model
            pausing = p["step"] >= stop_at or timed_out
            if p["step"] % cfg.eval_every == 0 or pausing:
                entry = run.evaluate(loss)
                bar.write(f"step {entry['step']} epoch {entry['epoch']}: loss {loss:.3f} "
                          f"val bpc {entry['val_bpc']:.4f} | {entry['sample']!r}")
            if p["step"] % cfg.checkpoint_every == 0 or p["step"] >= stop_at or timed_out:
                run.checkpoint()
            if p["step"] >= stop_at or timed_out:
                return p["step"] >= run.total
    return p["step"] >= run.total


def train(train_texts: list[str], val_texts: list[str], cfg: TrainConfig) -> TrainResult:
    """Train per ``cfg``; the best model by validation bpc ends up in ``cfg.out_dir``."""
    if not train_texts or not val_texts:
        raise ModelError("training needs at least one training text and one validation text")
    started = time.time()
    run = _Run(cfg, train_texts, val_texts)
    if cfg.resume:
        run.progress = cast(Progress, load_checkpoint(run.out / "checkpoint", run.model,
                                                      run.opt, run.sched))
    bar = tqdm(total=run.total, initial=run.progress["step"], disable=not cfg.progress,
               desc="train", unit="step", dynamic_ncols=True)
    with bar:
        finished = _loop(run, bar, started)
    p = run.progress
    return TrainResult(run.out, p["step"], run.total, p["tokens"], p["best_bpc"], p["best_step"],
                       time.time() - started, p["history"], finished)

