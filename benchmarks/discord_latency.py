"""Discord adapter latency against the fake Discord on 127.0.0.1 (real discord.py).

For bursts of N simultaneous `/oz` interactions from N users, measures the time from the
fake sending INTERACTION_CREATE to (a) the defer callback reaching the fake (Discord's
deadline is 3 s; the target here is p95 <= 200 ms) and (b) the final message (the last edit
or follow-up). Then each user presses Regenerate under their passage, all at once, and the
same two times are measured for the presses (a press first reads its passage from the
database to see whether it may go ahead). The model is a stand-in that streams words at a
fixed speed unless --model points at a model directory. Prints a table.

    .venv/bin/python benchmarks/discord_latency.py --concurrency 20 --rounds 3
    .venv/bin/python benchmarks/discord_latency.py --model ~/.local/share/spren/models/oz-demo
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)

from tests.e2e.discord_harness import make_config, running_bot  # noqa: E402


class StandInGenerator:
    """Writes 'word0 word1 …' at ``tokens_per_s`` per row, streaming through on_token."""

    model_id = "stand-in"
    supports_joins = supports_holds = independent_rows = False

    def __init__(self, tokens_per_s: float = 400.0):
        self.delay = 1.0 / tokens_per_s

    def generate(self, prompts, params, on_token=None, should_stop=None, **no_joins):
        from engine.generation.generator import GenResult

        started, texts = time.monotonic(), ["" for _ in prompts]
        for step in range(max(p.max_new_tokens for p in params)):
            time.sleep(self.delay)
            for i, p in enumerate(params):
                if step < p.max_new_tokens:
                    texts[i] += f" word{step}"
                    if on_token:
                        on_token(i, texts[i].strip())
        return [GenResult(prompt=pr, text=t.strip() + ".", seed=p.seed or 0,
                          new_tokens=p.max_new_tokens, finish_reason="length",
                          model_id=self.model_id, guard=None,
                          seconds=time.monotonic() - started)
                for pr, t, p in zip(prompts, texts, params, strict=True)]


def _generator(model: str | None):
    if not model:
        return StandInGenerator()
    from engine.generation.generator import Generator

    return Generator(Path(model).expanduser())


Samples = list[tuple[float, float]]


def _latencies(exchanges) -> Samples:
    """(defer latency, final latency) in seconds for each exchange."""
    return [(ex.callback.at - ex.sent_at, max(c.at for c in ex.sends()) - ex.sent_at)
            for ex in exchanges]


async def _burst(bot, n: int, length: int) -> tuple[Samples, Samples]:
    """n interactions at once, then n Regenerate presses at once: their latencies."""
    sends = [bot.fake.command("oz", {"prompt": f"Dorothy walked {i}", "length": length,
                                     "seed": i}, user_id=10_000 + i) for i in range(n)]
    exchanges = await asyncio.gather(*sends)
    await bot.idle(*exchanges, timeout=600)
    presses = [bot.fake.press(bot.fake.channels.messages[ex.original_id],
                              f"spren:regen:{ex.payload['id']}", user_id=ex.user_id)
               for ex in exchanges]
    pressed = await asyncio.gather(*presses)
    await bot.idle(*pressed, timeout=600)
    return _latencies(exchanges), _latencies(pressed)


async def _measure(args) -> tuple[Samples, Samples]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config(Path(tmp), per_user_pending=2, per_guild_concurrent=10_000,
                          edit_interval_s=1.0)
        cfg.queue.max_batch = args.batch
        commands: Samples = []
        presses: Samples = []
        async with running_bot(cfg, _generator(args.model)) as bot:
            for _ in range(args.rounds):
                sent, pressed = await _burst(bot, args.concurrency, args.length)
                commands += sent
                presses += pressed
        return commands, presses


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    """Run the bursts and print p50/p95/max of both latencies."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--length", type=int, default=60, help="max new tokens per passage")
    ap.add_argument("--batch", type=int, default=8, help="[queue] max_batch")
    ap.add_argument("--model", help="model directory (default: a streaming stand-in)")
    args = ap.parse_args()
    commands, presses = asyncio.run(_measure(args))
    model = args.model or "stand-in (400 tok/s)"
    print(f"{len(commands)} interactions and {len(presses)} Regenerate presses, "
          f"{args.concurrency} at once, {args.rounds} rounds, length {args.length}, "
          f"batch {args.batch}, model {model}")
    print(f"{'latency from INTERACTION_CREATE':<40} {'p50':>8} {'p95':>8} {'max':>8}")
    for what, samples in (("/oz", commands), ("Regenerate press", presses)):
        for i, name in enumerate(("to the defer callback", "to the final message")):
            ms = [s[i] * 1000 for s in samples]
            print(f"{what + ' ' + name:<40} {statistics.median(ms):>6.0f}ms "
                  f"{_pct(ms, 0.95):>6.0f}ms {max(ms):>6.0f}ms")
    for what, samples in (("/oz", commands), ("press", presses)):
        p95_defer = _pct([s[0] for s in samples], 0.95)
        print(f"{what} defer p95 target <= 200 ms: {'met' if p95_defer <= 0.2 else 'MISSED'}")


if __name__ == "__main__":
    main()
