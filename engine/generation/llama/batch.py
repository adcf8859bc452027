"""Rows decoded together on one llama.cpp context: each row is a sequence with its own KV
stream (``kv_unified`` off), so a row's logits do not depend on the rows beside it.

``Context`` owns the llama model, its context and the pool of sequence ids. ``LlamaBatch`` is
the runtime's batch for ``engine.generation.batching``: prefill, step, keep, split and merge
move sequence ids, never keys and values, so holding a row or joining one costs no copy.
A held row's sequence is taken back only when a new row finds no free one; the held row is
then prefilled again from its context when it returns (``alive`` turns False).
"""

from __future__ import annotations

import ctypes as C
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.errors import GenerationError
from engine.generation.llama.lib import Lib, load_lib, open_model
from engine.generation.llama.sampling import Seen


class Context:
    """A GGUF model and one llama.cpp context of ``sequences`` streams of ``per_row`` cells."""

    def __init__(self, gguf: Path, *, threads: int, sequences: int, per_row: int,
                 batch_tokens: int = 512, library: Path | None = None):
        self.lib: Lib = load_lib(library)
        lib = self.lib
        self.model, self.ctx = open_model(
            lib, gguf, n_ctx=sequences * per_row, n_batch=batch_tokens, sequences=sequences,
            threads=threads, hint=f"{sequences} rows x {per_row} tokens; lower [model] "
                                  "sequences or memory_window")
        self.vocab_size = int(lib.vocab_n_tokens(lib.model_get_vocab(self.model)))
        self.per_row = int(lib.n_ctx_seq(self.ctx))
        self.memory = lib.get_memory(self.ctx)
        # llama.cpp may lower the batch (never above the context): feed what it took.
        self.batch_tokens = min(batch_tokens, int(lib.n_batch(self.ctx)),
                                int(lib.n_ubatch(self.ctx)))
        self.batch = lib.batch_init(self.batch_tokens, 0, 1)
        self.sequences = sequences
        self.free_ids = list(range(sequences))
        self.held: list[LlamaBatch] = []  # split-off batches, oldest first

    def close(self) -> None:
        if self.ctx:
            self.lib.batch_free(self.batch)
            self.lib.free(self.ctx)
            self.lib.model_free(self.model)
            self.ctx = self.model = None

    # -- sequence ids ---------------------------------------------------------------------

    def reset(self) -> None:
        """Every sequence free and empty again (between generate calls)."""
        self.lib.memory_clear(self.memory, True)
        self.free_ids = list(range(self.sequences))
        self.held = []


    def acquire(self) -> int:
        """The lowest free sequence id; takes one back from the oldest held row if none is
        free."""
        while not self.free_ids and self.held:
            self.held.pop(0).evict()
        if not self.free_ids:
            raise GenerationError("more rows than the engine's sequences: lower the batch "
                                  "size or raise [model] sequences.")
        seq = min(self.free_ids)
        self.free_ids.remove(seq)
        return seq

    def move(self, seq: int, lower: bool) -> int:
        """Move a row's cache to the lowest (or highest) free sequence id when that is lower
        (higher) than its own; the id it has now. A step attends over every stream between
        the lowest and highest id it feeds (2 rows on ids 0 and 8 cost 24 ms a step here, on
        0 and 1 17 ms), so decoding rows keep the low ids and held rows go high."""
        if not self.free_ids:
            return seq
        target = min(self.free_ids) if lower else max(self.free_ids)
        if (target >= seq) if lower else (target <= seq):
            return seq
        self.free_ids.remove(target)
        self.lib.memory_seq_cp(self.memory, seq, target, -1, -1)
        self.release(seq)
        return target

    def room(self) -> int:
        """Rows that can still get a sequence: the free ones and those held rows can give."""
        return len(self.free_ids) + sum(len(batch.seqs) for batch in self.held)

    def release(self, seq: int) -> None:
        self.lib.memory_seq_rm(self.memory, seq, -1, -1)
        self.free_ids.append(seq)

    # -- decoding -------------------------------------------------------------------------

    def decode(self, items: Sequence[tuple[int, int, int, bool]]) -> npt.NDArray[np.float32]:
        """Feed (token, position, sequence, want logits) items, in chunks the batch holds;
        the logits asked for, in item order, as [n, vocab] float32."""
        wanted = sum(1 for item in items if item[3])
        out = np.empty((wanted, self.vocab_size), dtype=np.float32)
        filled, b = 0, self.batch
        for start in range(0, len(items), self.batch_tokens):
            chunk = items[start:start + self.batch_tokens]
            for i, (token, pos, seq, want) in enumerate(chunk):
                b.token[i], b.pos[i], b.n_seq_id[i] = token, pos, 1
                b.seq_id[i][0] = seq
                b.logits[i] = 1 if want else 0
            b.n_tokens = len(chunk)
            rc = self.lib.decode(self.ctx, b)
            if rc != 0:
                raise GenerationError(f"llama.cpp could not decode (code {rc}): the rows "
                                      "did not fit the context; try a smaller memory_window.")
            # the chunk's logits, in the order of its items that asked for them, in one copy
            rows = sum(1 for item in chunk if item[3])
            if rows:
                C.memmove(out[filled].ctypes.data, self.lib.get_logits(self.ctx),
                          rows * self.vocab_size * 4)
                filled += rows
        return out


class LlamaBatch:
    """Rows decoded together: their sequence ids, cached lengths and the tokens each has seen."""

    mergeable = True  # rows move between batches with their sequence, nothing is copied

    def __init__(self, context: Context):
        self.context = context
        self.seqs: list[int] = []
        self.lengths: list[int] = []  # tokens in each row's cache
        self.seen: list[Seen] = []  # per row, for the repetition penalty
        self.alive = True

    def prefill(self, contexts: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        """Feed whole contexts on fresh sequences (any old rows are dropped); logits [B, V]."""
        self.keep([])
        self.seqs = [self.context.acquire() for _ in contexts]
        self.lengths = [len(c) for c in contexts]
        self.seen = [Seen(c) for c in contexts]
        items = []
        for seq, tokens in zip(self.seqs, contexts, strict=True):
            last = len(tokens) - 1
            items += [(t, pos, seq, pos == last) for pos, t in enumerate(tokens)]
        return self.context.decode(items)

    def step(self, token_ids: Sequence[int]) -> npt.NDArray[np.float32]:
        """Feed one new token per row; logits [B, V]."""
        items = []
        for row, token in enumerate(token_ids):
            items.append((int(token), self.lengths[row], self.seqs[row], True))
            self.lengths[row] += 1
            self.seen[row].add(int(token))
        return self.context.decode(items)

    def keep(self, rows: list[int]) -> None:
        """Drop every other row (their sequences go back to the pool)."""
        wanted = set(rows)
        for j, seq in enumerate(self.seqs):
            if j not in wanted:
                self.context.release(seq)
        self.seqs = [self.seqs[j] for j in rows]
        self.lengths = [self.lengths[j] for j in rows]
        self.seen = [self.seen[j] for j in rows]
        self._compact(lower=True)

    def _compact(self, lower: bool) -> None:
        """Move this batch's rows to the lowest (decoding) or highest (held) free ids."""
        order = sorted(range(len(self.seqs)), key=self.seqs.__getitem__, reverse=lower)
        for j in order:
            self.seqs[j] = self.context.move(self.seqs[j], lower)

    def split(self, rows: list[int]) -> LlamaBatch:
        """Move ``rows`` into a new (held) batch; this one keeps the others."""
        out = LlamaBatch(self.context)
        out.seqs = [self.seqs[j] for j in rows]
        out.lengths = [self.lengths[j] for j in rows]
        out.seen = [self.seen[j] for j in rows]
        self.context.held.append(out)
        stay = [j for j in range(len(self.seqs)) if j not in set(rows)]
        self.seqs = [self.seqs[j] for j in stay]
        self.lengths = [self.lengths[j] for j in stay]
        self.seen = [self.seen[j] for j in stay]
        out._compact(lower=False)
        self._compact(lower=True)
        return out

    def resumed(self) -> None:
        """Back in the decoding loop: no longer a held batch whose sequences can be taken."""
        if self in self.context.held:
            self.context.held.remove(self)
        self._compact(lower=True)

    def merge(self, other: LlamaBatch) -> None:
        """Append ``other``'s rows after this batch's."""
        if other in self.context.held:
            self.context.held.remove(other)
        self.seqs += other.seqs
        self.lengths += other.lengths
        self.seen = self.seen + other.seen
        other.seqs, other.lengths = [], []
        self._compact(lower=True)

    def evict(self) -> None:
        """Give this held batch's sequences back; its rows will be prefilled again."""
        for seq in self.seqs:
            self.context.release(seq)
        self.seqs, self.lengths, self.alive = [], [], False
