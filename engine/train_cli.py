"""``python -m engine.train``: train on plain text files (no database, no bot imports)."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from engine.data import read_text_files, split_holdout
from engine.errors import EngineError
from engine.train import TrainConfig, train


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every way of starting a run (names follow TrainConfig)."""
    d = TrainConfig(out_dir="")
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--preset", default=d.preset, help="from-scratch size: tiny | small | base")
    p.add_argument("--base", default=None, help="fine-tune this HF model dir / hub name")
    for name in ("lora_rank", "vocab_size", "block_size", "batch_size", "warmup_steps",
                 "max_steps", "threads", "eval_every", "eval_block", "checkpoint_every",
                 "stop_after",
                 "seed", "sample_tokens"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lora_alpha", "lora_dropout", "lr", "weight_decay", "epochs", "max_minutes"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--lora-targets", default=",".join(d.lora_targets))
    p.add_argument("--device", default=d.device)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--sample-prompt", default=d.sample_prompt)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    """Build a TrainConfig from parsed options."""
    names = {f.name for f in fields(TrainConfig)}
    kw = {k: v for k, v in vars(a).items() if k in names}
    kw["lora_targets"] = [t for t in a.lora_targets.split(",") if t]
    return TrainConfig(out_dir=a.out, progress=not a.no_progress, **kw)


def main(argv: list[str] | None = None) -> int:
    """Parse options, read the files, train, print a JSON summary."""
    p = argparse.ArgumentParser(prog="python -m engine.train", description=__doc__)
    p.add_argument("--text-file", action="append", required=True, type=Path)
    p.add_argument("--val-file", action="append", type=Path, default=[])
    p.add_argument("--val-max-chars", type=int, default=0, help="score only this many chars")
    p.add_argument("--holdout-fraction", type=float, default=0.05,
                   help="without --val-file: hold out this tail of each text")
    add_train_options(p)
    a = p.parse_args(argv)
    try:
        texts = read_text_files(a.text_file)
        if a.val_file:
            val = read_text_files(a.val_file)
        else:
            texts, val = split_holdout(texts, a.holdout_fraction)
        if a.val_max_chars:
            val = ["\n\n".join(val)[: a.val_max_chars]]
        result = train(texts, val, config_from_args(a))
    except EngineError as e:
        p.error(str(e))
    print(json.dumps({"out": str(result.out_dir), "steps": result.steps, "tokens": result.tokens,
                      "best_bpc": result.best_bpc, "best_step": result.best_step,
                      "seconds": round(result.seconds, 1), "finished": result.finished}))
    return 0
