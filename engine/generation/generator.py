"""The torch runtime: a Hugging Face causal LM loaded once, decoding batched passages.

`Generator.generate` decodes several prompts together (left-padded, one KV cache), each row
with its own options and its own seeded random stream, and calls `on_token` as rows grow. The
loop itself (joins, holds, streaming, the guard) is ``engine.generation.batching``'s.
"""

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch

from engine.generation.batching import BatchedGenerator, RowRandom, _Row
from engine.generation.guard import VerbatimGuard
from engine.generation.kv_batch import Batch
from engine.generation.loading import LoadedModel, load_model
from engine.generation.params import GenParams, GenResult  # noqa: F401  (re-exported)
from engine.generation.sampling import penalise_repeats, sample_next


class _TorchRandom:
    """A row's random stream on a torch generator."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def uniform(self) -> float:
        return float(torch.rand(1, generator=self.generator))


class Generator(BatchedGenerator):
    """A causal LM loaded once from a Hugging Face directory, generating batched passages.

    dtype: "float32", "bfloat16" or "int8" (weight-only, CPU); None picks the fastest measured
    setting: int8 on the CPU (2-3x float32 for SmolLM2, nearly the same loss), bfloat16 on CUDA.
    threads: torch.set_num_threads(threads) when given. On a box shared with other busy
    processes 1 can be faster: competing OpenMP threads ran 5-15x slower there.

    All model work (loading and every generate call) runs on one engine thread that the
    Generator owns, whichever thread calls it: OpenMP keeps a thread team per calling thread,
    and a second team made the int8 matmul 3x slower here (35 -> 19 tokens/s single stream).
    """

    runtime = "torch"

    def __init__(self, model_dir: Path | str, *, device: str = "cpu", threads: int | None = None,
                 guard: VerbatimGuard | None = None, guard_words: int = 12,
                 guard_action: str = "regenerate", dtype: str | None = None,
                 guard_retries: int = 3):
        self._start_engine(threads, guard, guard_words, guard_action, guard_retries)
        loaded = self._engine.submit(self._load, Path(model_dir), device, dtype).result()
        self.model: Any = loaded.model  # a transformers causal LM
        self.tokenizer = loaded.tokenizer
        self.model_id, self.device = loaded.model_id, loaded.device
        self.max_positions, self.eos_ids = loaded.max_positions, loaded.eos_ids
        self._start_id, self._pad_id = loaded.start_id, loaded.pad_id

    def _load(self, model_dir: Path, device: str, dtype: str | None) -> LoadedModel:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        return load_model(model_dir, device=device, dtype=dtype)

    def _scope(self) -> AbstractContextManager[Any]:
        return torch.inference_mode()

    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text).input_ids)

    def _detokenize(self, token_ids: list[int]) -> str:
        return str(self.tokenizer.decode(token_ids, skip_special_tokens=True))

    def _row_rng(self, seed: int) -> RowRandom:
        return _TorchRandom(seed)

    def _new_batch(self) -> Batch:
        return Batch(self.model, self._pad_id, self.model.config.vocab_size, self.device)

    def _concat(self, parts: list[Any]) -> torch.Tensor:
        return torch.cat(parts)

    def _sample(self, batch: Any, logits: Any, rows: list[_Row]) -> list[int]:
        def column(name: str, dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor([getattr(r.params, name) for r in rows], dtype=dtype,
                                device=logits.device)

        penalty = column("repetition_penalty", torch.float32)[:, None]
        logits = penalise_repeats(logits, batch.seen, penalty)
        uniforms = torch.tensor([row.uniform() for row in rows], device=logits.device)
        tokens = sample_next(logits, column("temperature", torch.float32),
                             column("top_k", torch.long), column("top_p", torch.float32),
                             uniforms)
        return [int(t) for t in tokens.cpu().tolist()]
