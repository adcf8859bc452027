"""The output filter: prompts and passages are checked before anything is posted.

The block list is the maintained English list shipped by the ``glin-profanity`` package
(read as data, so its heavy matching engine is never imported) plus ``[filter] block``,
less ``[filter] allow``. Matching (``wordfilter``) is whole-word and sees through the
common disguises. What happens on a hit is the place's action (moderators set it) or
``[filter] action``: ``mask`` covers the words, ``regenerate`` writes the passage again
with another seed (masking if every try hits), ``refuse`` answers with a short refusal.
Every action is logged (``filter_events``: who, where, which list entries; never the text).
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from bot.config import FilterConfig
from bot.safety.wordfilter import Hit, WordMatcher, mask
from bot.store import FilterEvent, Store

log = logging.getLogger(__name__)

WORDLIST_PACKAGE = "glin_profanity"


class WordListError(Exception):
    """A configured word list could not be read."""


def load_wordlist(language: str) -> list[str]:
    """The maintained word list for one language, from the installed package's data files."""
    spec = importlib.util.find_spec(WORDLIST_PACKAGE)  # finds the files without importing
    if spec is None or spec.origin is None:
        raise WordListError(f"[filter] wordlists needs the {WORDLIST_PACKAGE} package "
                            "(pip install glin-profanity), or set wordlists = []")
    path = Path(spec.origin).parent / "data" / "dictionaries" / f"{language}.json"
    if not path.is_file():
        have = sorted(p.stem for p in path.parent.glob("*.json") if p.stem.islower())
        raise WordListError(f"[filter] wordlists: no list for {language!r}; available: "
                            f"{', '.join(have)}")
    data = json.loads(path.read_text(encoding="utf-8"))
    words = data.get("words", []) if isinstance(data, dict) else data
    return [w for w in words if isinstance(w, str) and w.strip()]


@dataclass(frozen=True)
class Verdict:
    """What the filter found in one text and the text with the hits masked."""

    hits: tuple[Hit, ...]
    masked: str

    @property
    def clean(self) -> bool:
        return not self.hits

    @property
    def terms(self) -> list[str]:
        return sorted({h.entry for h in self.hits})


class ContentFilter:
    """The configured block list, and the log of what the filter did."""

    def __init__(self, cfg: FilterConfig, store: Store | None = None):
        self.cfg = cfg
        self.store = store
        words: list[str] = []
        for language in cfg.wordlists if cfg.enabled else []:
            words += load_wordlist(language)
        self.matcher = WordMatcher([*words, *cfg.block] if cfg.enabled else [], cfg.allow)

    @property
    def enabled(self) -> bool:
        return self.cfg.enabled and len(self.matcher) > 0

    def check(self, text: str) -> Verdict:
        """Find listed words in ``text`` (time linear in its length)."""
        if not self.enabled or not text:
            return Verdict((), text)
        hits = tuple(self.matcher.find(text))
        return Verdict(hits, mask(text, hits) if hits else text)

    def record(self, *, platform: str, place: str | None, user: str, stage: str, action: str,
               verdict: Verdict) -> None:
        """Log one action of the filter (a row and a log line; no user text)."""
        log.info("filter: %s on %s (%d hits: %s)", action, stage, len(verdict.hits),
                 ", ".join(verdict.terms))
        if self.store is None:
            return
        with self.store.session() as s:
            s.add(FilterEvent(platform=platform, place=place, user=user, stage=stage,
                              action=action, hits=len(verdict.hits),
                              terms=", ".join(verdict.terms)[:1000]))
