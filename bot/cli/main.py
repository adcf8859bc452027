"""The `spren` command line: ingest, books, stats, chat, run, db, and the model commands."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click

from bot import logs
from bot.config import Config, load_config
from bot.errors import SprenError
from engine.errors import EngineError

log = logging.getLogger(__name__)


class Context:
    """Lazily loads the config once; `ctx.obj()` returns it (sub-modules rely on this)."""

    def __init__(self, path: str | None, settings: tuple[str, ...], verbose: int = 0):
        self.path, self.settings, self.verbose = path, settings, verbose
        self._cfg: Config | None = None

    def __call__(self) -> Config:
        if self._cfg is None:
            self._cfg = load_config(self.path, overrides=_parse_settings(self.settings))
            # [log] sets the format and level; -v / -vv can only make it more verbose
            level = min(logs.LEVELS[self._cfg.log.level.lower()], _flag_level(self.verbose))
            logs.configure(self._cfg.log.format, level)
        return self._cfg


def _flag_level(verbose: int) -> int:
    return [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]


def _parse_settings(settings: tuple[str, ...]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise click.BadParameter(f"{item!r}: use SECTION.KEY=VALUE, e.g. queue.max_batch=4",
                                     param_hint="--set")
        out.setdefault(section, {})[name] = value
    return out


class FriendlyGroup(click.Group):
    """Every failure ends as one line on stderr; the traceback only with -vv (in the log)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (SprenError, EngineError) as exc:
            raise click.ClickException(str(exc)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # the last net: a surprise is still one line
            log.debug("unexpected failure", exc_info=True)
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {str(exc)[:300]} (run again with -vv for "
                "the details, and report it)") from None


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="SPREN_CONFIG", type=click.Path(dir_okay=False),
              help="TOML config file (default: $SPREN_CONFIG, else built-in demo settings).")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one config key (beats file and environment). Repeatable.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, settings: tuple[str, ...],
        verbose: int) -> None:
    """spren: passages in a book series' voice, and book stats, for fan communities."""
    logs.configure("text", _flag_level(verbose))  # until the config says otherwise
    ctx.obj = Context(config_path, settings, verbose)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--code", help="Short code users type for this book (one file only), e.g. wor.")
@click.option("--title", help="Title to use instead of the one found in the file.")
@click.option("--series-order", type=int, help="Position of the book in its series.")
@click.option("--jobs", type=int, default=None, help="Parallel parsing processes (default: cores).")
@click.pass_obj
def ingest(get_config, paths, code, title, series_order, jobs) -> None:
    """Ingest books (.txt or .epub files, or directories of them)."""
    from tqdm import tqdm

    from bot.app import open_store
    from bot.ingest import Ingestor

    cfg = get_config()
    store = open_store(cfg)
    bar = tqdm(total=None, unit="book", desc="ingesting", disable=None, file=sys.stderr)

    def progress(result):
        bar.update(1)
        bar.write(result.line())

    try:
        results = Ingestor(store, cfg).run(paths, code=code, title=title,
                                           series_order=series_order, jobs=jobs,
                                           progress=progress)
    finally:
        bar.close()
        store.dispose()
    failed = [r for r in results if r.error]
    counts = {s: sum(r.status == s for r in results)
              for s in ("added", "replaced", "unchanged", "skipped")}
    click.echo(f"{counts['added']} added, {counts['replaced']} replaced, "
               f"{counts['unchanged']} unchanged, {counts['skipped']} skipped, "
               f"{len(failed)} failed")
    if failed:
        raise SystemExit(1)


@cli.command()
@click.pass_obj
def books(get_config) -> None:
    """List the ingested books and the codes users type for them."""
    from bot.app import open_store
    from bot.stats_service import StatsService

    cfg = get_config()
    store = open_store(cfg)
    items = StatsService(store, cfg).books()
    store.dispose()
    if not items:
        click.echo("No books ingested yet. Run: spren ingest PATH")
        return
    click.echo(f"{'code':<8}{'#':>3}  {'chapters':>8} {'sentences':>9} {'words':>8}  title")
    for b in items:
        order = "" if b.series_order is None else str(b.series_order)
        click.echo(f"{b.code:<8}{order:>3}  {b.n_chapters:>8} {b.n_sentences:>9} "
                   f"{b.n_words:>8}  {b.title}")


@cli.command()
@click.argument("kind", type=click.Choice(["sentiment", "wordcount"]))
@click.argument("query", nargs=-1, required=True)
@click.option("--range", "range_spec", default="", help="sentiment: 'first N' or 'last N'.")
@click.option("--exact", is_flag=True, help="wordcount: whole words only.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the chart here.")
@click.pass_obj
def stats(get_config, kind, query, range_spec, exact, out) -> None:
    """Print a book's sentiment summary or a term's counts per book (with a chart)."""
    from bot.app import open_store
    from bot.stats_service import StatsService

    cfg = get_config()
    store = open_store(cfg)
    svc = StatsService(store, cfg)
    text = " ".join(query)
    reply = (svc.sentiment(text, range_spec or None) if kind == "sentiment"
             else svc.wordcount(text, exact=exact))
    store.dispose()
    click.echo(reply.text)
    for att in reply.files:
        path = out or (cfg.chart_dir / att.filename)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(att.data)
        click.echo(f"chart: {path}")


@cli.command()
@click.option("--no-model", is_flag=True, help="Do not load the model (stats commands only).")
@click.pass_obj
def chat(get_config, no_model: bool) -> None:
    """Chat in the terminal: /help, /books, /sentiment, /wordcount, and generation."""
    from bot.adapters.console import ConsoleChat
    from bot.app import open_app

    async def main():
        async with open_app(get_config(), load_model=not no_model) as app:
            await ConsoleChat(app).run()

    asyncio.run(main())


@cli.command()
@click.pass_obj
def run(get_config) -> None:
    """Run the bot: Discord and/or Reddit when configured; with neither, the console chat
    when a terminal is attached, else an error (there would be nothing to serve)."""
    from bot import app

    cfg = get_config()

    async def main() -> None:
        # SIGTERM (docker stop) stops the bot like Ctrl-C: adapters and queue close cleanly
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await app.run(cfg)

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        logging.getLogger("bot.cli").warning("stopped")


@cli.group()
def db() -> None:
    """Database schema commands (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def db_upgrade(get_config, revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from bot import migrate

    cfg = get_config()
    migrate.upgrade(cfg.database_url, revision)
    click.echo(f"database at revision {migrate.current(cfg.database_url)}")


@db.command("downgrade")
@click.argument("revision")
@click.pass_obj
def db_downgrade(get_config, revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes every table)."""
    from bot import migrate

    cfg = get_config()
    migrate.downgrade(cfg.database_url, revision)
    click.echo(f"database at revision {migrate.current(cfg.database_url)}")


def _register_subcommands() -> None:
    """Mount the command groups that live in their own modules."""
    from bot.cli import discord as cli_discord
    from bot.cli import model as cli_model
    from bot.cli import ops as cli_ops
    from bot.cli import training as cli_training

    cli_training.register(cli)
    cli_model.register(cli)
    cli_discord.register(cli)
    cli_ops.register(cli)


_register_subcommands()


def main() -> None:
    cli(prog_name="spren")


if __name__ == "__main__":
    main()
