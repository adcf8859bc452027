"""The rows being decoded together: a left-padded batch with one KV cache.

Rows can leave (``keep``), move out with their slice of the cache (``split``) and come back
or join (``merge``) without re-feeding their context, so continuous batching costs a
running row one step, not a re-prefill.
"""

import copy
from collections.abc import Sequence
from typing import Any

import torch


class Batch:
    """Model state for the rows being decoded together: KV cache, padding mask, seen tokens."""

    def __init__(self, model: Any, pad_id: int, vocab_size: int, device: torch.device):
        self.model = model
        self.pad_id = pad_id
        self.vocab_size = vocab_size
        self.device = device
        self.cache: Any = None  # the model's KV cache (a transformers Cache) once prefilled
        # Until the first prefill the batch has no rows: empty mask and seen-token table.
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=device)
        self.seen = torch.zeros((0, vocab_size), dtype=torch.bool, device=device)

    def prefill(self, contexts: Sequence[Sequence[int]]) -> torch.Tensor:
        """Feed whole (left-padded) contexts, dropping any old cache; next-token logits [B, V]."""
        width = max(len(c) for c in contexts)
        ids = torch.full((len(contexts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(contexts), width), dtype=torch.long)
        seen = torch.zeros((len(contexts), self.vocab_size), dtype=torch.bool)
        for row, context in enumerate(contexts):
            tokens = torch.tensor(context, dtype=torch.long)
            ids[row, width - len(context) :] = tokens
            mask[row, width - len(context) :] = 1
            seen[row, tokens] = True
        self.mask, self.seen, self.cache = mask.to(self.device), seen.to(self.device), None
        positions = (self.mask.cumsum(dim=-1) - 1).clamp(min=0)
        return self._forward(ids.to(self.device), positions)

    alive = True  # a held batch keeps its cache until it is merged back

    def resumed(self) -> None:
        """A held batch is back in the decoding loop (nothing to do for a torch cache)."""

    def step(self, token_ids: Sequence[int]) -> torch.Tensor:
        """Feed one new token per row on top of the cache; next-token logits [B, V]."""
        tokens = torch.tensor(list(token_ids), dtype=torch.long, device=self.device)
        ones = torch.ones((len(tokens), 1), dtype=self.mask.dtype, device=self.device)
        self.mask = torch.cat([self.mask, ones], dim=-1)
        self.seen[torch.arange(len(tokens), device=self.device), tokens] = True
        positions = self.mask.sum(dim=-1, keepdim=True) - 1
        return self._forward(tokens[:, None], positions)

    def keep(self, rows: list[int]) -> None:
        """Drop every other row from the batch so finished or paused rows stop costing compute."""
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        if self.cache is not None:
            self.cache.batch_select_indices(index)
        self.mask, self.seen = self.mask[index], self.seen[index]
        self._trim()

    @property
    def mergeable(self) -> bool:
        """Whether rows can move between batches with their cache (plain per-layer K/V).

        True for the usual dynamic cache (GPT-2, Llama, SmolLM2...). Sliding-window or
        quantised caches keep more state than keys and values; the decoder re-prefills
        instead of moving rows with them."""
        layers = getattr(self.cache, "layers", None) or []
        return self.cache is not None and bool(layers) and all(
            type(layer).__name__ == "DynamicLayer" and getattr(layer, "keys", None) is not None
            and layer.keys.dim() == 4 for layer in layers)

    def split(self, rows: list[int]) -> "Batch":
        """Move ``rows`` (with their cache) into a new batch; this one keeps the others."""
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        out = Batch(self.model, self.pad_id, self.vocab_size, self.device)
        out.cache = copy.copy(self.cache)
        out.cache.layers = [copy.copy(layer) for layer in self.cache.layers]
        for layer in out.cache.layers:
            layer.keys, layer.values = layer.keys[index], layer.values[index]
        out.mask, out.seen = self.mask[index], self.seen[index]
        out._trim()
        self.keep([r for r in range(len(self.mask)) if r not in set(rows)])
        return out

    def merge(self, other: "Batch") -> None:
        """Append ``other``'s rows after this batch's, left-padding the shorter cache.

        Padding is masked out and positions come from each row's own mask, so a row decodes
        exactly as it would have in its own batch."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        mine, theirs = width - self.mask.shape[1], width - other.mask.shape[1]
        pad = torch.nn.functional.pad
        for a, b in zip(self.cache.layers, other.cache.layers, strict=True):
            a.keys = torch.cat([pad(a.keys, (0, 0, mine, 0)), pad(b.keys, (0, 0, theirs, 0))])
            a.values = torch.cat([pad(a.values, (0, 0, mine, 0)),
                                  pad(b.values, (0, 0, theirs, 0))])
        self.mask = torch.cat([pad(self.mask, (mine, 0)), pad(other.mask, (theirs, 0))])
        self.seen = torch.cat([self.seen, other.seen])

    def _trim(self) -> None:
        """Drop leading columns that are padding in every row (left by rows that left)."""
        if self.mask is None or not len(self.mask) or self.cache is None:
            return
        first = int(self.mask.any(dim=0).to(torch.int8).argmax())
        if first == 0 or not self.mergeable:
            return
        self.mask = self.mask[:, first:]
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[:, :, first:], layer.values[:, :, first:]

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        out = self.model(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=positions,
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.cache = out.past_key_values
        logits: torch.Tensor = out.logits[:, -1, :].float()
        return logits
