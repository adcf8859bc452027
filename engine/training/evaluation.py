"""Tokenizer-independent scores of a causal LM on a text: bits per character, word perplexity.

Sliding window (the HF perplexity recipe): windows of ``block`` tokens advance by ``stride``
and only the tokens not scored by an earlier window count, so each token is scored once
with up to ``block - stride`` tokens of context. An eos token is put in front so that the
first token of the text is scored too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from engine.errors import ModelError
from engine.generation.loading import max_positions, read_model
from engine.training.windows import Score, _adapter_base, _start_token, _windows

__all__ = ["EvalText", "Score", "bits_per_char", "evaluate", "load_for_scoring", "score_text",
           "_adapter_base", "_start_token", "_windows"]


def _score_window(model: Any, ids: torch.Tensor, n_new: int, device: torch.device,
                  autocast: bool) -> float:
    x = ids[None, :-1].to(device)
    y = ids[None, 1:].to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=x).logits
    logp = F.cross_entropy(logits[0, -n_new:].float(), y[0, -n_new:], reduction="sum")
    return float(logp)


@torch.no_grad()
def score_text(model: Any, tokenizer: Any, text: str, *, block: int = 512,
               stride: int | None = None, autocast: bool = False,
               start: str = "eos") -> Score:
    """Sum the model's NLL over ``text`` with a sliding window; ``start`` names the special
    token put in front ("eos" or "bos"; eos when the tokenizer has no bos)."""
    stride = stride or max(block // 2, 1)
    if not 0 < stride <= block:
        raise ModelError(f"stride must be between 1 and block ({block}), got {stride}")
    first = _start_token(tokenizer, start)
    ids = torch.tensor([first] + tokenizer(text, add_special_tokens=False)["input_ids"])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nll = 0.0
    for begin, end, n_new in _windows(len(ids), block, stride):
        nll += _score_window(model, ids[begin:end], n_new, device, autocast)
    model.train(was_training)
    return Score(nll=nll, chars=len(text), words=len(text.split()), tokens=len(ids) - 1)


def load_for_scoring(model_dir: Path, base: str | None = None) -> tuple[Any, Any]:
    """A model folder, or a LoRA adapter folder merged onto its base, in fp32 for scoring."""
    from engine.training.lora import load_adapter, merge_lora
    from engine.training.options import ADAPTER_FILE

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist; train or build it first "
                         "(`spren train`, `spren model build-demo`)")
    is_adapter = (model_dir / ADAPTER_FILE).is_file() and not (model_dir / "config.json").is_file()
    src = _adapter_base(model_dir, base) if is_adapter else str(model_dir)
    model, tok = read_model(src, allow_hub=is_adapter)
    if is_adapter:
        load_adapter(model, model_dir)
        merge_lora(model)
    return model.eval(), tok


@dataclass(frozen=True)
class EvalText:
    """One text to score and how: window, stride and the special token put first."""

    name: str
    text: str
    block: int = 1024
    stride: int = 512
    start: str = "eos"


RUNTIMES = ("torch", "llama")


def evaluate(model_dir: Path, texts: list[EvalText], base: str | None = None,
             threads: int | None = None, runtime: str = "torch") -> list[Score]:
    """Score each text with the model in ``model_dir`` (loaded once, fp32), or with
    ``runtime="llama"`` through llama.cpp on the folder's model.gguf (the same windows)."""
    if runtime == "llama":
        from engine.generation.llama.scoring import evaluate_gguf

        return evaluate_gguf(model_dir, texts, base, threads)
    if runtime != "torch":
        raise ModelError(f"runtime={runtime!r}: use one of {', '.join(RUNTIMES)}")
    if threads:
        torch.set_num_threads(threads)
    model, tok = load_for_scoring(model_dir, base)
    scores = []
    for t in texts:
        block = min(t.block, max_positions(model.config))
        scores.append(score_text(model, tok, t.text, block=block, stride=min(t.stride, block),
                                 start=t.start))
    return scores


def bits_per_char(model_dir: Path, text: str, max_chars: int = 100_000, block: int = 1024,
                  stride: int = 512, base: str | None = None, threads: int | None = None) -> Score:
    """Score the first ``max_chars`` characters of ``text`` with the model in ``model_dir``."""
    return evaluate(model_dir, [EvalText("text", text[:max_chars], block, stride)], base,
                    threads)[0]
