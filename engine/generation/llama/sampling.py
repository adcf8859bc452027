"""Sampling the next token from llama.cpp's logits with numpy: the same rules as
``engine.generation.sampling`` (repetition penalty, temperature, top-k, top-p, an inverse-CDF
draw of the row's own uniform number), so a row depends only on its own context and seed.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]

# Candidates examined first when a row has no top-k limit: the nucleus (top-p) almost always
# lies inside them; when it does not, every token is sorted.
_NUCLEUS_FIRST = 1024
_GROUP = 64  # logits a group when looking for the top k (see _candidates)


class Seen:
    """A row's distinct tokens, for the repetition penalty: a set to ask, and the same ids in
    an int32 array (first seen first) that spren's C sampler takes as it is."""

    __slots__ = ("ids", "_set")

    def __init__(self, tokens: Iterable[int] = ()):
        self._set: set[int] = set()
        self.ids = array("i")
        for token in tokens:
            self.add(token)

    def add(self, token: int) -> None:
        if token not in self._set:
            self._set.add(token)
            self.ids.append(token)

    def __contains__(self, token: object) -> bool:
        return token in self._set

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


def penalise_repeats(logits: Floats, seen: Sequence[Collection[int]],
                     penalty: npt.NDArray[np.float32], *, copy: bool = True) -> Floats:
    """HF-style repetition penalty: shrink the logits of each row's seen tokens (by id), in a
    copy, or in ``logits`` itself (float32) with ``copy=False``."""
    out = np.array(logits, dtype=np.float32) if copy else logits
    for i, tokens in enumerate(seen):
        ids = np.fromiter(tokens, dtype=np.intp, count=len(tokens))
        values, p = out[i, ids], penalty[i]
        out[i, ids] = np.where(values > 0, values / p, values * p)
    return out


def _softmax(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    e = np.exp(values - values[0])  # values are sorted high to low; -inf gives 0
    out: npt.NDArray[np.float64] = e / e.sum()
    return out


def _candidates(row: Floats, k: int) -> npt.NDArray[np.intp] | None:
    """Ids that surely hold the k highest logits, found without a selection pass over the
    whole vocabulary (None where that would not pay). The logits are split into groups (id
    modulo the number of groups); the k-th highest of the groups' maxima is at most the k-th
    highest logit, so every logit at least that high is a candidate (usually a few dozen)."""
    groups = row.shape[0] // _GROUP
    if k * 8 > groups:
        return None
    maxima = row[:groups * _GROUP].reshape(_GROUP, groups).max(axis=0)
    if np.isnan(maxima).any():
        return None
    floor = np.partition(maxima, groups - k)[groups - k]
    return np.flatnonzero(row >= floor)


def _sorted_top(row: Floats, k: int) -> npt.NDArray[np.intp]:
    """Token ids of the k highest logits, high to low; of equal logits the lower id first
    (the order spren's C sampler keeps too)."""
    vocab = row.shape[0]
    if k >= vocab:
        return np.argsort(-row, kind="stable")
    pool = _candidates(row, k)
    if pool is None:
        if np.isnan(row).any():  # NaN sorts above everything here: the k "largest", by value
            top = np.argpartition(row, vocab - k)[vocab - k:]
            return top[np.argsort(-row[top], kind="stable")]
        kth = np.partition(row, vocab - k)[vocab - k]  # the k-th highest logit
        pool = np.flatnonzero(row >= kth)  # every logit tied with the k-th comes too
    return pool[np.lexsort((pool, -row[pool]))[:k]]


def sample_row(logits: Floats, temperature: float, top_k: int, top_p: float,
               uniform: float) -> int:
    """One token id from one row's logits (see the module docstring). Only the candidates
    are scaled and sorted: a top-k row never touches the rest of the vocabulary."""
    vocab = logits.shape[0]
    k = min(top_k, vocab) if top_k > 0 else min(_NUCLEUS_FIRST, vocab)
    whole: npt.NDArray[np.float64] | None = None  # every token's scaled logit (no top-k)
    while True:
        ids = _sorted_top(logits, k)
        values = logits[ids].astype(np.float64) / temperature
        if top_k > 0 or k == vocab:
            break
        # No top-k limit: widen until the candidates hold the nucleus (their share of the
        # whole distribution passes top_p), so the cut below is the same as on a full sort.
        if whole is None:
            whole = logits.astype(np.float64) / temperature
        share = np.exp(values - values[0]).sum() / np.exp(whole - values[0]).sum()
        if share > top_p and top_p < 1.0:
            break
        k = vocab if k * 8 >= vocab else k * 8
    probs = _softmax(values)
    if whole is not None and k < vocab:  # probabilities relative to the whole vocabulary
        probs = np.exp(values - values[0]) / np.exp(whole - values[0]).sum()
    beyond = (np.cumsum(probs) - probs) > top_p  # the first candidate always stays
    kept = np.where(beyond, -np.inf, values)
    cdf = np.cumsum(_softmax(kept))
    choice = min(int((cdf < uniform * cdf[-1]).sum()), len(ids) - 1)
    return int(ids[choice])


def sample_next(logits: Floats, temperature: list[float], top_k: list[int],
                top_p: list[float], uniforms: list[float]) -> list[int]:
    """One token id per row of ``logits`` [rows, vocab], each with its own options."""
    return [sample_row(logits[i], temperature[i], top_k[i], top_p[i], uniforms[i])
            for i in range(logits.shape[0])]


def sample_in_c(sampler: Callable[..., Any], logits: Floats, seen: Sequence[Seen],
                penalty: Sequence[float], temperature: Sequence[float], top_k: Sequence[int],
                top_p: Sequence[float], uniforms: Sequence[float]) -> list[int]:
    """``penalise_repeats`` and ``sample_next`` in one call of spren's C sampler (a native
    build's ``spren_sample_rows``; ``logits`` [rows, vocab] is penalised in place where it is
    C-contiguous float32). A row the sampler declines (it holds a NaN) is sampled here, by the
    same rule. Between two decoding steps little of this process is still in the CPU's caches,
    and every numpy call costs several times its usual time then: the few calls here take
    plain arrays."""
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    rows, vocab = logits.shape
    ids, ends = array("i"), array("q")
    for row_seen in seen:
        ids += row_seen.ids
        ends.append(len(ids))
    options = array("d", itertools.chain.from_iterable(
        zip(penalty, temperature, top_k, top_p, uniforms, strict=True)))
    out = array("i", bytes(4 * rows))
    sampler(logits.__array_interface__["data"][0], rows, vocab, ids.buffer_info()[0],
            ends.buffer_info()[0], options.buffer_info()[0], out.buffer_info()[0])
    chosen = out.tolist()
    for i, token in enumerate(chosen):
        if token < 0:  # declined (penalised already)
            chosen[i] = sample_row(logits[i], temperature[i], top_k[i], top_p[i], uniforms[i])
    return chosen
