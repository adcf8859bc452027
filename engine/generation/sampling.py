"""Sampling the next token: repetition penalty, temperature, top-k and top-p, per row.

Every row carries its own options and its own random stream, so what a row samples depends
only on its own context, options and seed, never on the rows that share its batch.
"""

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
