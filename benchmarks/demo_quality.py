"""How much a model copies from the books, with the verbatim guard OFF: 20 fresh prompts,
one sample each, and the longest run of words each sample shares with any ingested book.

Usage (after `make setup`, with SPREN_HOME set):
    .venv/bin/python benchmarks/demo_quality.py [MODEL_DIR] [--tokens 120] [--seed 1]

Prints one row per prompt and a summary line: how many samples contain a copied run of
`--words` words or more (target for the demo model: 0 of 20 at 12 words).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import load_guard, open_store
from bot.config import load_config
from engine.generation import Generator, GenParams

# Fresh openings in the spirit of the books, written for this benchmark (not book text).
PROMPTS = [
    "Dorothy looked up at the tall trees and",
    "The Scarecrow scratched his painted head and said,",
    "Far away in the Land of Oz, Ozma sent for Glinda the Good",
    "When the Tin Woodman reached the river he",
    "Toto barked twice at the strange little man, who",
    "The Cowardly Lion lay down in the shade and",
    "In the morning the travellers came to a wall of glass",
    "The Wizard opened his black bag and took out",
    "Betsy and Trot had never seen a city built of",
    "A great gray owl flew down and perched upon",
    "The Patchwork Girl danced round and round until",
    "Tik-Tok's clockwork ran down just as",
    "Beyond the desert lay a country where nobody",
    "The Hungry Tiger licked his lips and",
    "Button-Bright rubbed his eyes and asked,",
    "Under the hill the gnomes were digging",
    "The boat drifted slowly toward an island where",
    "Princess Ozma smiled at her guests and",
    "At the edge of the forest stood a tiny house made of",
    "Nobody in the Emerald City had ever heard such a noise as",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("model", nargs="?", default=None, help="model dir (default: configured)")
    p.add_argument("--tokens", type=int, default=120)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--words", type=int, default=12, help="a copied run this long counts")
    a = p.parse_args()
    cfg = load_config(None)
    store = open_store(cfg)
    guard = load_guard(store)
    if guard is None:
        sys.exit("no books ingested: run `make setup` (or spren ingest) first")
    gen = Generator(a.model or cfg.model_dir(), threads=cfg.model.threads or None)
    params = [GenParams(max_new_tokens=a.tokens, seed=a.seed + i) for i in range(len(PROMPTS))]
    results = gen.generate(PROMPTS, params)  # guard=None: the model's own text
    print(f"{'seed':>5} {'tokens':>6} {'longest copied run':>19}  prompt")
    copied = 0
    for prompt, result in zip(PROMPTS, results, strict=True):
        run = guard.longest_copy(result.text)[0]  # the generated words only
        copied += run >= a.words
        print(f"{result.seed:>5} {result.new_tokens:>6} {run:>13} words  {prompt[:50]}")
    print(f"samples with a copied run of {a.words}+ words: {copied} of {len(PROMPTS)} "
          f"(model {gen.model_id}, guard off)")
    store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
