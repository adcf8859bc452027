"""Bits per character through llama.cpp: the torch evaluator's texts, windows and arithmetic
(``engine.training.evaluation``), with each window's logits from a model folder's GGUF.

:class:`LlamaScorer` owns one model and one single-sequence context (``n_ctx`` = the window)
and frees them on ``close``. The tokens come from the folder's Hugging Face tokenizer, as
for torch, so both runtimes score the very same token ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelError
from engine.generation.llama.lib import Lib, load_lib, open_model
from engine.generation.llama.metadata import (
    GGUF_FILE,
    WEIGHTS_FILE,
    gguf_is_current,
    read_key,
    weights_sha256,
)

OUTPUT_CHUNK = 256  # scored positions per llama_decode: bounds the logits buffer (~50 MB)


class LlamaScorer:
    """A GGUF model and a context for scoring windows of up to ``window`` tokens."""

    def __init__(self, gguf_path: Path, window: int, threads: int | None = None,
                 lib: Lib | None = None):
        self.lib = lib = lib or load_lib()
        self.window = window
        self.model, self.ctx = open_model(lib, gguf_path, n_ctx=window, n_batch=window,
                                          sequences=1, threads=threads,
                                          hint="try a smaller --block / --raw-block")
        self.n_vocab = int(lib.vocab_n_tokens(lib.model_get_vocab(self.model)))
        self.memory = lib.get_memory(self.ctx)
        self.batch = lib.batch_init(window, 0, 1)
        self._open = True

    def close(self) -> None:
        if self._open:
            self._open = False
            self.lib.batch_free(self.batch)
            self.lib.free(self.ctx)
            self.lib.model_free(self.model)

    def __enter__(self) -> LlamaScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def window_nll(self, ids: Sequence[int], n_new: int) -> float:
        """NLL (nats) of the last ``n_new`` tokens of ``ids``, each given all tokens before it
        in ``ids`` (the torch evaluator's ``_score_window``)."""
        x, y = list(ids[:-1]), list(ids[1:])
        if not 0 < n_new <= len(x) <= self.window:
            raise ModelError(f"a window of {len(x)} tokens ({n_new} scored) does not fit the "
                             f"{self.window}-token context")
        self.lib.memory_seq_rm(self.memory, 0, -1, -1)
        first = len(x) - n_new
        if first:
            self._decode(x, 0, first, want=False)
        nll = 0.0
        for lo in range(first, len(x), OUTPUT_CHUNK):
            hi = min(lo + OUTPUT_CHUNK, len(x))
            logits = self._decode(x, lo, hi, want=True)
            nll += _nll(logits, np.asarray(y[lo:hi], dtype=np.int64))
        return nll

    def logits(self, ids: Sequence[int]) -> np.ndarray[Any, Any]:
        """The logits after each of ``ids`` (a copy, one row per token)."""
        if not 0 < len(ids) <= min(self.window, OUTPUT_CHUNK):
            raise ModelError(f"logits() takes 1 to {min(self.window, OUTPUT_CHUNK)} tokens")
        self.lib.memory_seq_rm(self.memory, 0, -1, -1)
        return self._decode(list(ids), 0, len(ids), want=True).copy()

    def _decode(self, x: list[int], lo: int, hi: int, want: bool) -> np.ndarray[Any, Any]:
        b = self.batch
        for i, pos in enumerate(range(lo, hi)):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = x[pos], pos, 1, int(want)
            b.seq_id[i][0] = 0
        b.n_tokens = hi - lo
        rc = self.lib.decode(self.ctx, b)
        if rc != 0:
            raise ModelError(f"llama_decode failed ({rc}) on a {hi - lo}-token batch")
        if not want:
            return np.empty((0, self.n_vocab), dtype=np.float32)
        rows = self.lib.get_logits(self.ctx)
        return np.ctypeslib.as_array(rows, shape=(hi - lo, self.n_vocab))


def _nll(logits: np.ndarray[Any, Any], targets: np.ndarray[Any, Any]) -> float:
    """Sum of -log softmax(logits)[target] over rows (cross-entropy, as torch computes it)."""
    top = logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(logits - top).sum(axis=1, dtype=np.float64)) + top[:, 0]
    picked = logits[np.arange(len(targets)), targets]
    return float((lse - picked).sum())


def evaluate_gguf(model_dir: Path, texts: Sequence[Any], base: str | None = None,
                  threads: int | None = None) -> list[Any]:
    """``evaluation.evaluate`` with llama.cpp on ``model_dir/model.gguf``: the same windows."""
    from engine.training.windows import Score, _start_token, _windows

    model_dir = Path(model_dir)
    path = model_dir / GGUF_FILE
    if not path.is_file():
        raise ModelError(f"{model_dir} has no {GGUF_FILE}: make it with "
                         f"`spren model gguf {model_dir}`")
    if not gguf_is_current(model_dir, _source(model_dir, base)):
        raise ModelError(f"{path} was made from other weights than {model_dir} holds now: "
                         f"remake it with `spren model gguf {model_dir}`")
    tokenizer = _tokenizer(model_dir, base)
    context = read_key(path, "llama.context_length")
    limit = int(context) if isinstance(context, int) else 2048
    scores: list[Any] = []
    for t in texts:
        block = min(t.block, limit)
        stride = min(t.stride, block)
        ids = [_start_token(tokenizer, t.start)]
        ids += tokenizer(t.text, add_special_tokens=False)["input_ids"]
        nll = 0.0
        with LlamaScorer(path, block, threads) as scorer:
            for begin, end, n_new in _windows(len(ids), block, stride):
                nll += scorer.window_nll(ids[begin:end], n_new)
        scores.append(Score(nll=nll, chars=len(t.text), words=len(t.text.split()),
                            tokens=len(ids) - 1))
    return scores


def _source(model_dir: Path, base: str | None) -> str:
    """The weights identity of a model folder, or of an adapter folder on its base (from
    --base or train_meta.json)."""
    from engine.training.windows import _adapter_base

    if (model_dir / WEIGHTS_FILE).is_file():
        return weights_sha256(model_dir)
    return weights_sha256(model_dir, _adapter_base(model_dir, base))


def _tokenizer(model_dir: Path, base: str | None) -> Any:
    from transformers import AutoTokenizer

    source = str(model_dir)
    if not (model_dir / "tokenizer.json").is_file():
        from engine.training.windows import _adapter_base

        source = _adapter_base(model_dir, base)
    return AutoTokenizer.from_pretrained(source, local_files_only=Path(source).is_dir())
