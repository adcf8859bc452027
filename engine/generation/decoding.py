"""The decoding loop's state: which rows are in the batch, which wait to join, which sit out.

``Decoding`` keeps rows in batch order next to the tokens they sampled but have not fed yet.
Rows held out of the batch (a scheduler's fairness rule) take their slice of the KV cache
with them and are merged back unchanged; where the cache cannot move, they are prefilled
again from their context when they return.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Held:
    """A row sitting out: its cache (None: prefill again) and its token not yet fed."""

    row: Any  # engine.generation.batching._Row: has .index and .context
    cache: Any = None  # a runtime's batch (kv_batch.Batch, llama's) holding just this row
    token: int | None = None


@dataclass
class Decoding:
    """The batch and its rows in batch order, their sampled tokens not yet fed, rows waiting
    to be prefilled, and rows held out of the batch, by row index."""

    batch: Any  # the runtime's batch: kv_batch.Batch (torch) or llama.runtime's
    active: list[Any] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    joining: list[Any] = field(default_factory=list)
    held: dict[int, Held] = field(default_factory=dict)

    def pause(self, out: set[int]) -> None:
        """Hold the rows whose index is in ``out`` (active ones keep their cache aside)."""
        for row in [r for r in self.joining if r.index in out]:
            self.held[row.index] = Held(row)  # not prefilled yet: it joins on resume
        self.joining = [r for r in self.joining if r.index not in out]
        leave = [j for j, r in enumerate(self.active) if r.index in out]
        if not leave:
            return
        stay = [j for j, r in enumerate(self.active) if r.index not in out]
        movable = self.batch.mergeable and bool(stay)
        for j in reversed(leave):  # from the end, so the rows before keep their places
            cache = self.batch.split([j]) if movable else None  # None: re-prefill on resume
            self.held[self.active[j].index] = Held(self.active[j], cache, self.pending[j])
        if not movable and stay:
            self.batch.keep(stay)
        self.pending = [self.pending[j] for j in stay]
        self.active = [self.active[j] for j in stay]

    def resume(self, indices: list[int]) -> None:
        """Bring held rows back: merged with their cache, or queued to be prefilled."""
        for index in indices:
            held = self.held.pop(index)
            if held.cache is None or held.token is None or not held.cache.alive:
                self.joining.append(held.row)  # its cache was dropped: prefill it again
                continue
            held.cache.resumed()
            if not self.active:
                self.batch, self.active, self.pending = held.cache, [held.row], [held.token]
            else:
                self.batch.merge(held.cache)
                self.active.append(held.row)
                self.pending = [*self.pending, held.token]
