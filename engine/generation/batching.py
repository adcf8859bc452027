"""The decoding loop every local runtime shares: continuous batching, holds, streaming,
sentence stops and the verbatim guard, over rows that each sample with their own seed.

``BatchedGenerator`` owns the loop and one engine thread; a runtime subclass says how text
becomes tokens, how a batch of rows is fed to the model (``_new_batch``: prefill, step, keep,
split, merge) and how a row samples its next token. ``engine.generation.generator.Generator``
is the torch runtime, ``engine.generation.llama.runtime.LlamaGenerator`` the llama.cpp one.
Nothing here imports torch.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from engine.errors import GenerationError
from engine.generation.decoding import Decoding
from engine.generation.finishing import Finisher, attempt_seed, final_text, sentence_stop
from engine.generation.guard import VerbatimGuard
from engine.generation.params import (
    SEED_LIMIT,
    Admit,
    GenParams,
    GenResult,
    Hold,
    OnDone,
    OnToken,
    ShouldStop,
    _is_int,
)
from engine.generation.row_text import RowText
from engine.generation.tidy import tidy_continuation


class RowRandom(Protocol):
    """A row's own random stream: one uniform number in [0, 1) per sampled token."""

    def uniform(self) -> float: ...


@dataclass
class _Row:
    """Decoding state of one request (one row of the batch)."""

    index: int
    prompt: str
    params: GenParams
    seed: int  # the seed reported to the user
    window: int
    context: list[int]  # tokens conditioning the next one (the last is not yet in the cache)
    rng: RowRandom
    attempt: int = 0  # verbatim-guard retries so far (each samples with a derived seed)
    generated: list[int] = field(default_factory=list)
    text: str = ""
    finish: str | None = None
    finished_at: float = 0.0
    decoded: RowText = field(default_factory=RowText)  # the text of ``generated`` so far

    def uniform(self) -> float:
        return self.rng.uniform()


@dataclass
class _Run:
    """One generate call: its callbacks, each row's key, and the results so far by index."""

    on_token: OnToken | None
    should_stop: ShouldStop | None
    admit: Admit | None
    on_done: OnDone | None
    max_rows: int
    hold: Hold | None = None
    keys: dict[int, Any] = field(default_factory=dict)
    since: dict[int, float] = field(default_factory=dict)  # when each row was taken on
    results: dict[int, GenResult] = field(default_factory=dict)


def check_threads(threads: int | None) -> None:
    """Refuse a bad thread count before the (slow) model load."""
    if threads is not None and not (_is_int(threads) and threads >= 1):
        raise GenerationError(f"threads={threads!r}: use a whole number >= 1, or None.")


class BatchedGenerator:
    """The shared decoding loop; subclasses load a model and fill in the runtime hooks.

    All model work runs on one engine thread the generator owns, whichever thread calls it
    (OpenMP keeps a thread team per calling thread; a second team slowed decoding 2-3x here).
    A subclass's ``__init__`` calls ``_start_engine`` and then loads its model through
    ``self._engine``; it sets ``model_id``, ``max_positions``, ``eos_ids``, ``_start_id``.
    """

    supports_joins = True  # waiting rows can join a running call (continuous batching)
    supports_holds = True  # rows can sit out steps and resume unchanged
    independent_rows = False  # rows share one batched forward pass: measured per call
    # Rows a batch keeps while several users wait ([queue] shared_batch = 0): a step of 4
    # rows costs the torch int8 model ~1.4x one row (bot.serving.fair_queue.fair_shares).
    shared_batch = 4
    byte_level = False  # whether the tokenizer decodes tokens by joining their bytes (RowText)

    model_id: str
    max_positions: int
    eos_ids: frozenset[int]
    _start_id: int

    def _start_engine(self, threads: int | None, guard: VerbatimGuard | None,
                      guard_words: int, guard_action: str, guard_retries: int) -> None:
        check_threads(threads)
        self.finisher = Finisher(guard, guard_words, guard_action, guard_retries)
        self.threads = threads
        self.guard, self.guard_words, self.guard_action = guard, guard_words, guard_action
        self._engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spren-engine")
        self._lock = threading.Lock()  # one batch at a time on the model

    # -- the runtime's hooks ----------------------------------------------------------------

    def _scope(self) -> AbstractContextManager[Any]:
        """Entered around a generate call on the engine thread (torch: inference mode)."""
        raise NotImplementedError

    def _tokenize(self, text: str) -> list[int]:
        raise NotImplementedError

    def _detokenize(self, token_ids: list[int]) -> str:
        """Text of generated tokens, special tokens left out."""
        raise NotImplementedError

    def _row_rng(self, seed: int) -> RowRandom:
        raise NotImplementedError

    def _new_batch(self) -> Any:
        """An empty batch: prefill, step, keep, split, merge, mergeable, alive (kv_batch)."""
        raise NotImplementedError

    def _concat(self, parts: list[Any]) -> Any:
        """One logits table from several (rows in order)."""
        raise NotImplementedError

    def _sample(self, batch: Any, logits: Any, rows: list[_Row]) -> list[int]:
        """One next token per row, each from the row's own options and random stream."""
        raise NotImplementedError

    def _room(self) -> int:
        """How many more rows the runtime can take on now (a KV cache that grows: no limit)."""
        return 1 << 30

    # -- generating -------------------------------------------------------------------------

    def generate(self, prompts: list[str], params: list[GenParams],
                 on_token: OnToken | None = None,
                 should_stop: ShouldStop | None = None, *,
                 admit: Admit | None = None, on_done: OnDone | None = None,
                 max_rows: int | None = None, hold: Hold | None = None) -> list[GenResult]:
        """Generate one continuation per prompt; row i uses params[i] and reports as index i.

        Continuous batching: between decoding steps, while fewer than ``max_rows`` (default:
        the number of prompts) rows are decoding, ``admit(free_slots)`` may return more
        ``(key, prompt, GenParams)`` rows; they join the running batch. Admitted rows take
        the next indices (len(prompts), len(prompts) + 1, ... in the order admitted) for
        ``on_token``, ``should_stop`` and the returned list. ``on_done(key, result)`` runs
        as each row finishes, verbatim guard applied; a prompt's key is its index.

        ``hold(keys)`` is asked between steps, with the keys of every unfinished row, which
        rows sit the next step out (a scheduler's fairness rule); held rows keep their cache
        and resume where they stopped once it no longer names them. It is never allowed to
        hold every row. Held rows do not count against ``max_rows``.
        """
        self._check_request(prompts, params)
        if not prompts:
            return []
        run = _Run(on_token, should_stop, admit, on_done, max_rows or len(prompts), hold)
        return self._engine.submit(self._generate, prompts, params, run).result()

    def _generate(self, prompts: Sequence[str], params: Sequence[GenParams],
                  run: _Run) -> list[GenResult]:
        started = time.monotonic()
        run.keys = {i: i for i in range(len(prompts))}
        run.since = dict.fromkeys(run.keys, started)
        with self._lock, self._scope():
            pairs = enumerate(zip(prompts, params, strict=True))
            rows = [self._new_row(i, prompt, options) for i, (prompt, options) in pairs]
            self._decode(rows, run)
            return [run.results[i] for i in sorted(run.results)]

    @staticmethod
    def _check_request(prompts: Sequence[object], params: Sequence[object]) -> None:
        if len(prompts) != len(params):
            raise GenerationError(
                f"got {len(prompts)} prompts but {len(params)} GenParams: pass one per prompt.")
        for prompt, options in zip(prompts, params, strict=True):
            if not isinstance(prompt, str):
                raise GenerationError(f"prompt {prompt!r} is not text: pass a string.")
            if not isinstance(options, GenParams):
                raise GenerationError(f"{options!r} is not a GenParams.")
            options.validate()

    # -- rows -----------------------------------------------------------------------------

    def _new_row(self, index: int, prompt: str, params: GenParams, attempt: int = 0) -> _Row:
        seed = params.seed if params.seed is not None else secrets.randbelow(SEED_LIMIT + 1)
        sample_seed = attempt_seed(seed, attempt)
        window = min(params.memory_window, self.max_positions)
        tokens = self._tokenize(prompt)[-window:] or [self._start_id]
        return _Row(index, prompt, replace(params, seed=seed), seed, window, tokens,
                    self._row_rng(sample_seed), attempt)

    def _append(self, row: _Row, token: int, should_stop: ShouldStop | None) -> bool:
        """Add a sampled token to a row; returns True when the row's text changed."""
        if token in self.eos_ids:
            self._finish(row, "eos")
            return False
        row.generated.append(token)
        row.context.append(token)
        raw = row.decoded.text(self._detokenize, row.generated, self.byte_level)
        old, row.text = row.text, tidy_continuation(raw)
        p = row.params
        if len(row.generated) >= p.max_new_tokens:
            self._finish(row, "length")
        elif sentence_stop(p, len(row.generated), row.text):
            self._finish(row, "sentence")
        elif should_stop is not None and should_stop(row.index):
            self._finish(row, "cancelled")
        return row.text != old

    def _decode_text(self, token_ids: list[int]) -> str:
        # Tidying also drops the U+FFFD of a character split across tokens until it completes.
        return tidy_continuation(self._detokenize(token_ids))

    @staticmethod
    def _finish(row: _Row, reason: str) -> None:
        row.finish, row.finished_at = reason, time.monotonic()

    # -- the decoding loop ----------------------------------------------------------------

    def _decode(self, rows: list[_Row], run: _Run) -> None:
        """Sample until every row has finished; finished rows leave, admitted rows join.

        A joining row (admitted, retried by the guard, or whose memory window slid) is
        prefilled on its own and its cache merged into the batch, so the rows already decoding
        pay one step, not a re-prefill. ``run.hold`` may sit rows out between steps: their
        cache waits aside and they resume where they stopped. Models whose cache cannot be
        merged re-prefill the whole batch when rows join instead.
        """
        state = Decoding(self._new_batch(), joining=list(rows))
        while True:
            state.joining += self._admitted(run, len(state.active) + len(state.joining))
            state.joining = self._starting(state.joining, run)
            self._hold(state, run)
            if not state.active and not state.joining:
                return
            logits = self._forward(state)
            tokens = self._sample(state.batch, logits, state.active)
            slid = self._advance(state.active, tokens, run)
            self._retire(state, tokens, slid, run)

    def _forward(self, state: Decoding) -> Any:
        """Next-token logits for every active row, then the joining rows (which become active)."""
        batch = state.batch
        room = self._room()  # rows beyond the runtime's room wait as joining rows
        joining, waiting = state.joining[:room], state.joining[room:]
        parts = []
        if state.active and joining and not batch.mergeable:
            contexts = [r.context for r in state.active + joining]  # re-prefill everything
            parts.append(batch.prefill(contexts))
        else:
            if state.active:
                parts.append(batch.step(state.pending))
            if joining and state.active:
                fresh = self._new_batch()
                parts.append(fresh.prefill([r.context for r in joining]))
                batch.merge(fresh)
            elif joining:
                parts.append(batch.prefill([r.context for r in joining]))
        state.active, state.joining = state.active + joining, waiting
        return self._concat(parts) if len(parts) > 1 else parts[0]

    def _retire(self, state: Decoding, tokens: list[int], slid: list[bool],
                run: _Run) -> None:
        """Settle finished rows and send rows whose window slid back to be prefilled."""
        keep = []
        for j, row in enumerate(state.active):
            if row.finish is not None:
                state.joining += self._settle(row, run)
            elif slid[j]:
                state.joining.append(row)  # its context already holds the sampled token
            else:
                keep.append(j)
        if len(keep) < len(state.active):
            if keep:
                state.batch.keep(keep)
            tokens = [tokens[j] for j in keep]
            state.active = [state.active[j] for j in keep]
        state.pending = tokens

    def _hold(self, state: Decoding, run: _Run) -> None:
        """Sit out the rows ``run.hold`` names; bring back held rows it no longer names."""
        for index, held in list(state.held.items()):
            if run.should_stop is not None and run.should_stop(index):
                del state.held[index]
                self._finish(held.row, "cancelled")
                self._settle(held.row, run)
        if run.hold is None or (not state.held and len(state.active) + len(state.joining) < 2):
            return
        rows = state.active + state.joining + [h.row for h in state.held.values()]
        names = set(run.hold([run.keys[r.index] for r in rows]))
        out = {r.index for r in rows if run.keys[r.index] in names}
        if len(out) == len(rows):  # never hold everyone: keep the oldest row going
            out.discard(min(out))
        state.resume([i for i in state.held if i not in out])
        state.pause(out)

    def _admitted(self, run: _Run, busy: int) -> list[_Row]:
        """New rows from ``run.admit`` while the batch has free slots; they take new indices."""
        free = run.max_rows - busy
        if run.admit is None or free <= 0:
            return []
        new = list(run.admit(free))[:free]
        self._check_request([prompt for _, prompt, _ in new], [opts for _, _, opts in new])
        rows = []
        for key, prompt, options in new:
            index = len(run.keys)
            run.keys[index], run.since[index] = key, time.monotonic()
            rows.append(self._new_row(index, prompt, options))
        return rows

    def _starting(self, rows: list[_Row], run: _Run) -> list[_Row]:
        """Rows about to join, less those already asked to stop (they finish at once)."""
        kept = []
        for row in rows:
            if run.should_stop is not None and run.should_stop(row.index):
                self._finish(row, "cancelled")
                self._settle(row, run)
            else:
                kept.append(row)
        return kept

    def _advance(self, rows: list[_Row], tokens: list[int], run: _Run) -> list[bool]:
        """Append each row's sampled token; per row, whether its window slid (re-prefill)."""
        slid = []
        for row, token in zip(rows, tokens, strict=True):
            if self._append(row, token, run.should_stop) and run.on_token is not None:
                run.on_token(row.index, row.text)
            slid.append(self._slide_window(row))
        return slid

    @staticmethod
    def _slide_window(row: _Row) -> bool:
        """Keep the last half window when a row's context outgrows it; True if it did."""
        if row.finish is not None or len(row.context) <= row.window:
            return False
        row.context = row.context[-(row.window // 2):]
        return True

    # -- finishing: sentence trim, verbatim guard -----------------------------------------

    def _final_text(self, row: _Row) -> str:
        return final_text(self._decode_text(row.generated), row.params, row.finish or "length")

    def _settle(self, row: _Row, run: _Run) -> list[_Row]:
        """Report a finished row, or return its retry when the guard wants it regenerated."""
        text, finish = self._final_text(row), row.finish or "length"
        if self.finisher.regenerate(text, finish, row.attempt):
            return [self._new_row(row.index, row.prompt, row.params, row.attempt + 1)]
        result = self.finisher.result(
            row.prompt, text, row.params, seed=row.seed, new_tokens=len(row.generated),
            finish=finish, attempt=row.attempt, model_id=self.model_id,
            seconds=row.finished_at - run.since[row.index])
        run.results[row.index] = result
        if run.on_done is not None:
            run.on_done(run.keys[row.index], result)
        return []
