"""Loading a Hugging Face causal-LM directory from local files, with a clear error if unusable."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import ModelError

DTYPES = ("float32", "bfloat16", "int8")
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


@dataclass
class LoadedModel:
    """A model ready for decoding, with the facts the sampling loop needs."""

    model: torch.nn.Module
    tokenizer: object
    model_id: str
    device: torch.device
    max_positions: int
    eos_ids: frozenset[int]
    start_id: int  # fed when a prompt is empty
    pad_id: int


def weight_files(model_dir: Path) -> list[Path]:
    """The weight files of a model directory, sorted (empty if there are none)."""
    return sorted(p for pattern in WEIGHT_PATTERNS for p in model_dir.glob(pattern))


def model_id_for(model_dir: Path) -> str:
    """Directory name plus a short hash of the weights, stable across copies and restarts."""
    digest = hashlib.sha256()
    for path in weight_files(model_dir):
        with path.open("rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return f"{model_dir.resolve().name}-{digest.hexdigest()[:8]}"


def _check_dir(model_dir: Path) -> None:
    hint = "point at a folder written by save_pretrained (config.json, weights, tokenizer)"
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist: {hint}.")
    missing = [name for name in ("config.json",) if not (model_dir / name).exists()]
    if not weight_files(model_dir):
        missing.append("weights (*.safetensors or pytorch_model.bin)")
    if not any((model_dir / n).exists() for n in ("tokenizer.json", "tokenizer_config.json")):
        missing.append("tokenizer (tokenizer.json)")
    if missing:
        raise ModelError(
            f"model directory {model_dir} is incomplete, missing {', '.join(missing)}: {hint}."
        )


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda"):
        raise ModelError(f"device={name!r} is not supported: use 'cpu' or 'cuda'.")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("device='cuda' was asked for but no CUDA GPU is available: use 'cpu'.")
    return torch.device(name)


class Int8Linear(torch.nn.Module):
    """A Linear layer with int8 weights (one scale per output row) and bfloat16 matmul.

    Weight-only: activations stay in floating point, so quality is close to float32 (unlike
    torch's dynamic quantization, which also rounds activations to 8 bits and hurt SmolLM2
    badly), while each step reads a quarter of the weight bytes.
    """

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).to(torch.int8))
        self.register_buffer("scale", scale.to(torch.bfloat16))
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.register_buffer("bias", bias)
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        y = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8, self.scale).to(x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


def _quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Swap every nn.Linear (lm_head included) for an Int8Linear, in place."""
    if not hasattr(torch.ops.aten, "_weight_int8pack_mm"):
        raise ModelError("dtype='int8' needs torch's _weight_int8pack_mm kernel: use 'float32'.")
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, Int8Linear(child))
    return model


def _convert(model: torch.nn.Module, dtype: str, device: torch.device) -> torch.nn.Module:
    if dtype == "int8":
        return _quantize_int8(model)
    model = model.to(device)
    return model.to(torch.bfloat16) if dtype == "bfloat16" else model


def _read(model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-load bar is noise in the chat and the bot's log
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True, dtype=torch.float32
        )
    # Loaders fail in many library-specific ways (SafetensorError, unknown architectures,
    # bad JSON...); all mean "this folder is not a usable model", so report them as one.
    except Exception as exc:
        raise ModelError(
            f"could not load the model in {model_dir} ({exc}): check that it is a complete "
            "Hugging Face causal-LM folder and that transformers can read it."
        ) from exc
    return model.eval(), tokenizer


def _special_ids(model, tokenizer) -> tuple[frozenset[int], int, int]:
    """End-of-text ids, the id to start an empty prompt with, and the padding id."""
    eos = model.generation_config.eos_token_id if model.generation_config else None
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    start = tokenizer.bos_token_id
    if start is None:
        start = min(eos_ids, default=0)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start
    return frozenset(eos_ids), start, pad


def _max_positions(config) -> int:
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        if isinstance(getattr(config, name, None), int):
            return getattr(config, name)
    return 2048


def load_model(model_dir: Path, *, device: str = "cpu", dtype: str | None = None) -> LoadedModel:
    """Load tokenizer and model once from local files; raise ModelError if unusable."""
    _check_dir(model_dir)
    dev = _device(device)
    if dtype is None:
        dtype = "int8" if dev.type == "cpu" else "bfloat16"
    if dtype not in DTYPES:
        raise ModelError(f"dtype={dtype!r} is not supported: use one of {', '.join(DTYPES)}.")
    if dtype == "int8" and dev.type != "cpu":
        raise ModelError("dtype='int8' runs on the CPU only: use dtype='bfloat16' on CUDA.")
    model, tokenizer = _read(model_dir)
    eos_ids, start_id, pad_id = _special_ids(model, tokenizer)
    return LoadedModel(
        model=_convert(model, dtype, dev),
        tokenizer=tokenizer,
        model_id=model_id_for(model_dir),
        device=dev,
        max_positions=_max_positions(model.config),
        eos_ids=eos_ids,
        start_id=start_id,
        pad_id=pad_id,
    )
