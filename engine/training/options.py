"""Every training option, declared once: `TrainConfig` fields carry their help text, and both
command lines (``python -m engine.training`` and ``spren train``) are derived from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

SAMPLE_PROMPT = "Dorothy looked at the Scarecrow and said,"
PRESETS = {"tiny": (2, 128, 2), "small": (4, 256, 4), "base": (6, 384, 6)}  # layers, width, heads
ADAPTER_FILE = "adapter.safetensors"  # a LoRA adapter's weights (lora.py writes it)
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj", "c_attn", "c_proj", "c_fc")


def _opt(default: Any, help: str, **extra: Any) -> Any:
    """A TrainConfig field with its command-line help (``cli=False`` keeps it off the CLI)."""
    meta = {"help": help, **extra}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Everything that decides a training run (saved beside the model as train_meta.json)."""

    out_dir: str = _opt("", "output model directory", cli=False)
    preset: str | None = _opt("small", "from-scratch size", choices=tuple(PRESETS))
    base: str | None = _opt(None, "fine-tune this model folder (or hub name while online)")
    lora_rank: int = _opt(0, "LoRA rank; 0 = train every weight")
    lora_alpha: float = _opt(32.0, "LoRA scale numerator (scale = alpha / rank)")
    lora_dropout: float = _opt(0.0, "dropout on the LoRA branch")
    lora_targets: list[str] = _opt(list(DEFAULT_LORA_TARGETS),
                                   "comma-separated module names that get LoRA adapters")
    vocab_size: int = _opt(8192, "BPE vocabulary size (from scratch only)")
    block_size: int = _opt(256, "tokens per training block")
    batch_size: int = _opt(8, "blocks per optimiser step")
    lr: float = _opt(1e-3, "peak learning rate")
    weight_decay: float = _opt(0.01, "AdamW weight decay (matrices only)")
    warmup_steps: int = _opt(20, "linear warm-up steps before the cosine decay")
    epochs: float = _opt(3.0, "passes over the training blocks")
    max_steps: int | None = _opt(None, "stop after this many steps in all (overrides --epochs)")
    eval_every: int = _opt(100, "validate every N steps")
    eval_block: int = _opt(512, "validation window in tokens (stride: half of it)")
    checkpoint_every: int = _opt(100, "write a resumable checkpoint every N steps")
    stop_after: int | None = _opt(None, "pause after this many steps (continue with --resume)")
    max_minutes: float | None = _opt(None, "pause when this much wall time has passed")
    seed: int = _opt(1234, "random seed (data order, initialisation)")
    device: str = _opt("auto", "auto | cpu | cuda | cuda:N")
    threads: int | None = _opt(None, "CPU threads (1 is fastest on a busy machine)")
    bf16: bool | None = _opt(None, "bfloat16 autocast (default: on for CUDA, off for CPU)")
    sample_prompt: str = _opt(SAMPLE_PROMPT, "prompt of the sample printed at each validation")
    sample_tokens: int = _opt(40, "tokens of that sample")
    resume: bool = _opt(False, "continue the interrupted run in the output folder")
    progress: bool = _opt(True, "show a progress bar", cli=False)


@dataclass(frozen=True)
class CliOption:
    """One command-line option derived from a TrainConfig field."""

    name: str  # the field name
    flag: str  # --the-field-name
    kind: type  # int, float, str, bool (a switch) or list (comma-separated)
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    tristate: bool = False  # --x / --no-x with None meaning "decide for me"


def _kind(annotation: str) -> tuple[type, bool]:
    base = annotation.replace(" | None", "")
    kinds: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool,
                              "list[str]": list}
    return kinds[base], base == "bool" and "None" in annotation


def cli_options() -> list[CliOption]:
    """The options every training command line offers, in declaration order."""
    out = []
    for f in fields(TrainConfig):
        if not f.metadata.get("cli", True):
            continue
        kind, tristate = _kind(str(f.type))
        default: Any = f.default
        if f.default_factory is not MISSING:
            default = f.default_factory()
        if kind is list:
            default = ",".join(default)
        out.append(CliOption(f.name, "--" + f.name.replace("_", "-"), kind, default,
                             f.metadata["help"], f.metadata.get("choices"), tristate))
    return out


def config_from_options(out_dir: str, values: Mapping[str, Any], *,
                        progress: bool = True) -> TrainConfig:
    """A TrainConfig from parsed option values (keys are field names; others are ignored)."""
    kw = {o.name: values[o.name] for o in cli_options() if o.name in values}
    if isinstance(kw.get("lora_targets"), str):
        kw["lora_targets"] = [t.strip() for t in kw["lora_targets"].split(",") if t.strip()]
    return TrainConfig(out_dir=str(out_dir), progress=progress, **kw)
