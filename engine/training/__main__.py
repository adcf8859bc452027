"""``python -m engine.training``: train on plain text files (no database, no bot imports)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.errors import EngineError
from engine.training.data import read_text_files, split_holdout
from engine.training.options import cli_options, config_from_options
from engine.training.trainer import train


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Every TrainConfig option as an argparse flag (see ``engine.training.options``)."""
    for o in cli_options():
        if o.tristate:
            p.add_argument(o.flag, action=argparse.BooleanOptionalAction, default=o.default,
                           help=o.help)
        elif o.kind is bool:
            p.add_argument(o.flag, action="store_true", help=o.help)
        else:
            kind = str if o.kind is list else o.kind
            p.add_argument(o.flag, type=kind, default=o.default, choices=o.choices, help=o.help)


def main(argv: list[str] | None = None) -> int:
    """Parse options, read the files, train, print a JSON summary."""
    p = argparse.ArgumentParser(prog="python -m engine.training", description=__doc__)
    p.add_argument("--text-file", action="append", required=True, type=Path)
    p.add_argument("--val-file", action="append", type=Path, default=[])
    p.add_argument("--val-max-chars", type=int, default=0, help="score only this many chars")
    p.add_argument("--holdout-fraction", type=float, default=0.05,
                   help="without --val-file: hold out this tail of each text")
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
        result = train(texts, val, config_from_options(a.out, vars(a), progress=not a.no_progress))
    except EngineError as e:
        p.error(str(e))
    print(json.dumps({"out": str(result.out_dir), "steps": result.steps, "tokens": result.tokens,
                      "best_bpc": result.best_bpc, "best_step": result.best_step,
                      "seconds": round(result.seconds, 1), "finished": result.finished}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
