"""The llama.cpp runtime: spren's decoding loop (``engine.generation.batching``) on a GGUF
model, without torch in the process.

The model folder holds ``model.gguf`` (written by ``spren model build-demo`` or
``spren model gguf``) next to the Hugging Face files it came from; text becomes tokens with
the folder's ``tokenizer.json`` (the ``tokenizers`` library, as the torch runtime does), and
every row samples in numpy from the logits llama.cpp returns, with its own seeded stream.
"""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelError
from engine.generation.batching import BatchedGenerator, RowRandom, _Row
from engine.generation.guard import VerbatimGuard
from engine.generation.llama.batch import Context, LlamaBatch
from engine.generation.llama.sampling import penalise_repeats, sample_in_c, sample_next
from engine.hashing import remembered_sha256

GGUF_NAME = "model.gguf"
DEFAULT_SEQUENCES = 8  # rows the context holds at once (the bot passes max_batch + 4)


class _NumpyRandom:
    """A row's random stream on numpy's PCG64."""

    def __init__(self, seed: int):
        self.generator = np.random.default_rng(seed)

    def uniform(self) -> float:
        return float(self.generator.random())


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is not readable JSON ({exc}): rebuild the model.") from exc
    return data if isinstance(data, dict) else {}


def _token_id(tokenizer: Any, token: Any) -> int | None:
    if isinstance(token, dict):
        token = token.get("content")
    return tokenizer.token_to_id(token) if isinstance(token, str) else None


class LlamaGenerator(BatchedGenerator):
    """A model folder's ``model.gguf`` on llama.cpp, generating batched passages.

    threads: llama.cpp threads (default: every core). sequences: rows held at once, each
    with its own KV stream of ``context_tokens`` cells; a row's memory window is cut to that.
    library: the libllama.so to use (a native build's, see ``native``); None: the wheel's.
    The first library a process loads is the one every later model there uses.
    """

    runtime = "llama"
    # A step of 2 rows costs ~1.35x one row here, 3-4 rows ~1.9x (benchmarks/generation.py:
    # with 4, a user arriving beside a flood waited 2.0-2.2x a lone request; with 2, 1.4-1.7x).
    shared_batch = 2

    def __init__(self, model_dir: Path | str, *, threads: int | None = None,
                 guard: VerbatimGuard | None = None, guard_words: int = 12,
                 guard_action: str = "regenerate", guard_retries: int = 3,
                 sequences: int = DEFAULT_SEQUENCES, context_tokens: int = 512,
                 library: Path | None = None):
        self._start_engine(threads, guard, guard_words, guard_action, guard_retries)
        for name, value in (("sequences", sequences), ("context_tokens", context_tokens)):
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ModelError(f"{name}={value!r}: use a whole number >= 1.")
        self.model_dir = Path(model_dir)
        self.context: Context = self._engine.submit(self._load, sequences, context_tokens,
                                                    library).result()

    def _load(self, sequences: int, context_tokens: int, library: Path | None) -> Context:
        from tokenizers import Tokenizer, decoders

        folder = self.model_dir
        gguf = folder / GGUF_NAME
        if not gguf.is_file():
            raise ModelError(f"{folder} has no {GGUF_NAME}: run `spren model gguf {folder}` "
                             '(or set [model] runtime = "torch").')
        try:
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises its own Exception types
            raise ModelError(f"could not read {folder / 'tokenizer.json'} ({exc}): the llama "
                             "runtime needs the model's tokenizer.json beside its GGUF.") from exc
        # byte-level BPE decodes by joining bytes: a row's text can grow a token at a time
        self.byte_level = isinstance(self.tokenizer.decoder, decoders.ByteLevel)
        config = _json(folder / "config.json")
        positions = next((config[k] for k in ("max_position_embeddings", "n_positions")
                          if isinstance(config.get(k), int)), 2048)
        context = Context(gguf, threads=self.threads or os.cpu_count() or 1,
                          sequences=sequences, per_row=min(context_tokens, positions),
                          library=library)
        if context.vocab_size < self.tokenizer.get_vocab_size():
            context.close()
            raise ModelError(f"{gguf} does not match {folder / 'tokenizer.json'} (vocabulary "
                             "sizes differ): rebuild it with `spren model gguf`.")
        self._special_ids(folder, config)
        self.max_positions = min(positions, context.per_row)
        self.model_id = f"{folder.resolve().name}-{remembered_sha256(gguf)[:8]}-gguf"
        return context

    def _special_ids(self, folder: Path, config: dict[str, Any]) -> None:
        """End-of-text ids and the id an empty prompt starts with (as the torch loader)."""
        generation = _json(folder / "generation_config.json")
        special = _json(folder / "tokenizer_config.json")
        eos = generation.get("eos_token_id", config.get("eos_token_id"))
        ids = set(eos if isinstance(eos, list) else [eos] if isinstance(eos, int) else [])
        named = _token_id(self.tokenizer, special.get("eos_token"))
        if named is not None:
            ids.add(named)
        self.eos_ids = frozenset(i for i in ids if isinstance(i, int))
        start = _token_id(self.tokenizer, special.get("bos_token"))
        self._start_id = start if start is not None else min(self.eos_ids, default=0)

    def close(self) -> None:
        """Free the llama.cpp model and context (also done when the process ends)."""
        self._engine.submit(self.context.close).result()

    # -- the runtime's hooks ----------------------------------------------------------------

    def _scope(self) -> AbstractContextManager[Any]:
        return self._fresh_sequences()

    @contextmanager
    def _fresh_sequences(self) -> Any:
        try:
            yield
        finally:
            self.context.reset()  # rows that ended (or failed) leave no sequence taken

    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids)

    def _detokenize(self, token_ids: list[int]) -> str:
        return str(self.tokenizer.decode(token_ids, skip_special_tokens=True))

    def _row_rng(self, seed: int) -> RowRandom:
        return _NumpyRandom(seed)

    def _new_batch(self) -> LlamaBatch:
        return LlamaBatch(self.context)

    def _concat(self, parts: list[Any]) -> Any:
        return np.concatenate(parts)

    def _room(self) -> int:
        return self.context.room()

    def _sample(self, batch: Any, logits: Any, rows: list[_Row]) -> list[int]:
        uniforms = [row.uniform() for row in rows]
        options = ([r.params.temperature for r in rows], [r.params.top_k for r in rows],
                   [r.params.top_p for r in rows], uniforms)
        penalty = [r.params.repetition_penalty for r in rows]
        if self.context.lib.sample_rows is not None:  # a native build's C sampler
            return sample_in_c(self.context.lib.sample_rows, logits, batch.seen, penalty,
                               *options)
        logits = penalise_repeats(logits, batch.seen, np.array(penalty, dtype=np.float32),
                                  copy=False)  # ours to change
        return sample_next(logits, *options)
