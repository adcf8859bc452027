"""The decoding step: a left-padded batch with a KV cache, and per-row sampling of the next token.

Every row carries its own options and its own random stream, so what a row samples depends
only on its own context, options and seed, never on the rows that share its batch.
"""

from collections.abc import Sequence

import torch


def penalise_repeats(
    logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor
) -> torch.Tensor:
    """HF-style repetition penalty: shrink logits of tokens already in the context."""
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def _candidates(logits: torch.Tensor, top_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits sorted high to low with their token ids, limited to each row's top_k (0 = all)."""
    vocab = logits.shape[-1]
    widest = vocab if bool((top_k == 0).any()) else min(int(top_k.max()), vocab)
    if widest < vocab:
        values, ids = logits.topk(widest, dim=-1)
    else:
        values, ids = logits.sort(dim=-1, descending=True)
    rank = torch.arange(widest, device=logits.device)
    outside = (top_k[:, None] > 0) & (rank[None, :] >= top_k[:, None])
    return values.masked_fill(outside, float("-inf")), ids


def sample_next(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    uniforms: torch.Tensor,
) -> torch.Tensor:
    """One token id per row by temperature, top-k and nucleus (top-p) sampling.

    The draw is an inverse-CDF lookup of a uniform number taken from the row's own generator,
    which keeps rows independent while the filtering stays vectorised.
    """
    values, ids = _candidates(logits / temperature[:, None], top_k)
    probs = torch.softmax(values, dim=-1)
    # Drop a candidate once the more likely ones already cover top_p (the first always stays).
    beyond = (probs.cumsum(dim=-1) - probs) > top_p[:, None]
    probs = torch.softmax(values.masked_fill(beyond, float("-inf")), dim=-1)
    cdf = probs.cumsum(dim=-1)
    choice = (cdf < uniforms[:, None] * cdf[:, -1:]).sum(dim=-1)
    choice = choice.clamp(max=values.shape[-1] - 1)
    return ids.gather(1, choice[:, None]).squeeze(1)


class Batch:
    """Model state for the rows being decoded together: KV cache, padding mask, seen tokens."""

    def __init__(self, model, pad_id: int, vocab_size: int, device: torch.device):
        self.model = model
        self.pad_id = pad_id
        self.vocab_size = vocab_size
        self.device = device
        self.cache = None
        self.mask: torch.Tensor | None = None
        self.seen: torch.Tensor | None = None

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

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one new token per row on top of the cache; next-token logits [B, V]."""
        tokens = tokens.to(self.device)
        ones = torch.ones((len(tokens), 1), dtype=self.mask.dtype, device=self.device)
        self.mask = torch.cat([self.mask, ones], dim=-1)
        self.seen[torch.arange(len(tokens), device=self.device), tokens] = True
        positions = self.mask.sum(dim=-1, keepdim=True) - 1
        return self._forward(tokens[:, None], positions)

    def keep(self, rows: list[int]) -> None:
        """Drop finished rows from the batch so they stop costing compute."""
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        self.cache.batch_select_indices(index)
        self.mask, self.seen = self.mask[index], self.seen[index]

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
        return out.logits[:, -1, :].float()
