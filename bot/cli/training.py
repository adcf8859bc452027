"""Training commands for the `spren` CLI: train and eval, and choosing the books they read.

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
from engine.generation.llama.metadata import GGUF_FILE

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


def no_database(cfg: Config) -> bool:
    """True when the configured SQLite file does not exist (opening it would create it)."""
    url = cfg.database_url
    return url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file()


def read_books(cfg: Config, codes: list[str], column: str = "text") -> dict[str, str]:
    """Cleaned text (or, with column="source_path", the original file) of the named ingested
    books, in the order given."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store import Book, BookText, Store

    if no_database(cfg):
        raise click.UsageError(f"no database at {cfg.database_url}: ingest the books first "
                               "(`spren ingest FILES`) or train on --text-file FILE")
    store = Store(cfg.database_url, salt="x")
    try:
        with store.session() as s:
            value = BookText.text if column == "text" else Book.source_path
            rows = s.execute(select(Book.code, value).join(
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


def _book_texts(cfg: Config, codes: list[str], raw: list[str]) -> dict[str, str]:
    """Each book as a training document: its cleaned text, or for the ``raw`` codes the
    original file between the Gutenberg markers (wraps, contents and markup kept)."""
    texts = {c: t.strip() + "\n" for c, t in read_books(cfg, codes).items()}
    stray = [c for c in raw if c not in texts]
    if stray:
        raise click.UsageError(f"--raw-books {', '.join(stray)}: not among the books trained "
                               "on or held out")
    texts.update(_file_texts(cfg, raw, "--raw-books"))
    return texts


def _file_texts(cfg: Config, codes: list[str], option: str) -> dict[str, str]:
    """The original file's text (Gutenberg body) of each book, for ``option``'s books."""
    from engine.training.data import read_text_files

    texts = {}
    for code, path in read_books(cfg, codes, column="source_path").items():
        if not Path(path).is_file():
            raise click.UsageError(f"{option} {code}: its original file {path} is gone; "
                                   f"put it back or leave the book out of {option}")
        texts[code] = read_text_files([Path(path)])[0]
    return texts


def _second_forms(cfg: Config, codes: list[str], raw_too: list[str],
                  holdout_book: str | None) -> list[str]:
    """The original file's text of each ``--raw-too`` book, trained beside its cleaned text
    (the model learns both the book and the file conventions a user's own books have)."""
    stray = [c for c in raw_too if c not in codes or c == holdout_book]
    if stray:
        raise click.UsageError(f"--raw-too {', '.join(stray)}: not among the books trained on")
    return list(_file_texts(cfg, raw_too, "--raw-too").values())


def _select_texts(cfg: Config, kw: dict[str, Any]) -> tuple[list[str], list[str], str]:
    """(train texts, validation texts, description) from the DB or from plain files."""
    from engine.training.data import read_text_files, split_holdout

    books, holdout_book, text_files = kw["books"], kw["holdout_book"], kw["text_files"]
    if bool(books) == bool(text_files):
        raise click.UsageError("give either --books CODES (ingested books) or --text-file FILE")
    val = read_text_files(list(kw["val_files"]))
    if text_files:
        train = read_text_files(list(text_files))
        what = f"{len(train)} text file(s)"
    else:
        codes = expand_codes(books)
        texts = _book_texts(cfg, codes + ([holdout_book] if holdout_book else []),
                            expand_codes(kw["raw_books"]))
        train = [texts[c] for c in codes if c != holdout_book]
        train += _second_forms(cfg, codes, expand_codes(kw["raw_too"]), holdout_book)
        val = val or ([texts[holdout_book]] if holdout_book else [])
        what = f"books {', '.join(c for c in codes if c != holdout_book)}"
    if not val:
        train, val = split_holdout(train, kw["holdout_frac"])
    if kw["val_max_chars"]:
        val = ["\n\n".join(val)[:kw["val_max_chars"]]]
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
        click.option("--raw-books", default="", help="Of --books, these as their original "
                     "files' text (Gutenberg body: wraps, contents, _italics_ kept)."),
        click.option("--raw-too", default="", help="Of --books, these also as their "
                     "original files' text, beside the cleaned text (each book twice)."),
        click.option("--holdout-fraction", "holdout_frac", type=float, default=0.05,
                     show_default=True, help="Else validate on this tail fraction of each book."),
        click.option("--text-file", "text_files", multiple=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option("--val-file", "val_files", multiple=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Validate on this file instead (with --books or --text-file)."),
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
    train_texts, val_texts, what = _select_texts(cfg, kw)
    tc = config_from_options(str(kw["out"] or cfg.model_dir()), kw)
    click.echo(f"training on {what} ({sum(map(len, train_texts)):,} chars; "
               f"validation {sum(map(len, val_texts)):,} chars) -> {tc.out_dir}")
    r = train(train_texts, val_texts, tc)
    state = "finished" if r.finished else "paused (resume with --resume)"
    click.echo(f"{state}: {r.steps}/{r.total_steps} steps, {r.tokens:,} tokens, "
               f"{r.seconds:.0f} s; best validation bpc {r.best_bpc:.4f} at step {r.best_step}")


# ---- eval ----------------------------------------------------------------------------------
def _raw_body(path: Path) -> str:
    """A book file as it is (Gutenberg body, line ends normalised), for the raw method."""
    from engine.corpus.gutenberg import body_text

    try:
        return body_text(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"cannot read {path} as UTF-8 text ({exc}); the raw method "
                               "scores the book's original .txt file") from None


def _eval_texts(cfg: Config, kw: dict[str, Any]) -> list[Any]:
    from engine.training.data import read_text_files
    from engine.training.evaluation import EvalText

    book, text_file, n = kw["book"], kw["text_file"], kw["max_chars"]
    if bool(book) == bool(text_file):
        raise click.UsageError("give either --book CODE or --text-file FILE to score")
    text = read_books(cfg, [book])[book] if book else read_text_files([text_file])[0]
    texts = [EvalText("cleaned" if book else "text", text[:n], kw["block"], kw["stride"])]
    if kw["raw"]:
        source = Path(read_books(cfg, [book], "source_path")[book]) if book else text_file
        texts.append(EvalText("raw", _raw_body(source)[:n], kw["raw_block"], kw["raw_stride"],
                              start="bos"))
    return texts


def _eval_command(get_config: Callable[[], Config], kw: dict[str, Any]) -> None:
    from engine.training.evaluation import evaluate

    cfg = get_config()
    texts = _eval_texts(cfg, kw)
    model_dir = Path(kw["model"]) if kw["model"] else cfg.model_dir()
    library = {}
    gguf = model_dir / GGUF_FILE
    if kw["runtime"] == "llama" and gguf.is_file():  # the library the bot would load
        from bot.app import load_llama_library

        native = load_llama_library(cfg, gguf)
        library = {"llama_library": str(native) if native else "wheel"}
    scores = evaluate(model_dir, texts, base=kw["base"],
                      threads=kw["threads"] or cfg.model.threads or None, runtime=kw["runtime"])
    for t, s in zip(texts, scores, strict=True):
        click.echo(json.dumps({"model": str(model_dir), "text": kw["book"] or str(kw["text_file"]),
                               "method": t.name, "runtime": kw["runtime"], **library,
                               "block": t.block, "stride": t.stride,
                               "chars": s.chars, "words": s.words, "tokens": s.tokens,
                               "bpc": round(s.bpc, 4),
                               "word_perplexity": round(s.word_perplexity, 2)}))


def register(cli: click.Group) -> None:
    """Add train and eval to the `spren` group."""
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
    @click.option("--max-chars", type=click.IntRange(min=1), default=100_000, show_default=True)
    @click.option("--base", default=None, help="Base model for a bare LoRA adapter dir.")
    @click.option("--block", type=click.IntRange(min=2), default=1024, show_default=True)
    @click.option("--stride", type=click.IntRange(min=1), default=512, show_default=True)
    @click.option("--raw", is_flag=True, help="Also score the book's original file as it is "
                  "(Gutenberg body, newlines normalised, bos first).")
    @click.option("--raw-block", type=click.IntRange(min=2), default=512, show_default=True)
    @click.option("--raw-stride", type=click.IntRange(min=1), default=256, show_default=True)
    @click.option("--threads", type=int, default=None, help="CPU threads (1 on a busy box).")
    @click.option("--runtime", type=click.Choice(["torch", "llama"]), default="torch",
                  show_default=True, help="Score with torch (fp32 weights) or with llama.cpp "
                  "on the folder's model.gguf (`spren model gguf` makes it).")
    @click.pass_obj
    def eval_cmd(get_config, **kw):
        """Bits per character and word perplexity of MODEL (default: configured) on a book:
        its cleaned text, and with --raw also its original file."""
        _eval_command(get_config, kw)
