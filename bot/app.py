"""Wiring: the one place where resources are opened and objects built (STYLE.md rule 1)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select

from bot import metrics, migrate, monitor
from bot.config import Config, QueueConfig
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.safety.privacy import retention_loop
from bot.stats_service import StatsService
from bot.store import GuardIndex, Store, load_salt
from bot.stories import PassageTree

log = logging.getLogger(__name__)


class PlatformAdapter(Protocol):
    """What `spren run` needs from a platform adapter: serve until cancelled, say if healthy."""

    name: str  # its part in /healthz

    async def run(self) -> None:
        """Connect and serve events until the task is cancelled."""
        ...

    def health(self) -> str | None:
        """None while connected and working; else why not (shown by /healthz)."""
        ...


@dataclass
class App:
    """Everything a platform adapter needs, built once per process."""

    cfg: Config
    store: Store
    stats: StatsService
    service: Any  # bot.serving.service.GenerationService | None
    dispatcher: Dispatcher
    stats_warm: asyncio.Future | None = None  # the stats helper's background warm-up

    async def stats_warmed(self) -> None:
        """Wait until the stats helper holds the books."""
        if self.stats_warm is not None:
            await asyncio.shield(self.stats_warm)


def open_store(cfg: Config) -> Store:
    """Open the database (migrated to the newest schema) with the user-id salt.

    Any reason it cannot be opened is a ConfigError: one line saying what to change.
    """
    salt = load_salt(cfg.data_dir, cfg.secret(cfg.bot.salt_env))
    migrate.upgrade(cfg.database_url)
    return Store(cfg.database_url, salt=salt, hash_ids=cfg.bot.hash_user_ids)


def load_guard(store: Store):
    """The verbatim guard over every ingested book (None when no books are ingested)."""
    from engine.generation.guard import VerbatimGuard

    with store.session() as s:
        rows = s.execute(select(GuardIndex.k, GuardIndex.hashes)).all()
    if not rows:
        return None
    k = rows[0][0]
    return VerbatimGuard([np.frombuffer(h, dtype=np.uint64) for kk, h in rows if kk == k], k)


def load_generators(cfg: Config, store: Store) -> list:
    """One generator per [queue] worker (each holds its own model copy) sharing one guard;
    with ``[model] backend = "openai"``, one remote engine over every server."""
    guard = load_guard(store)
    first = load_generator(cfg, guard)
    if first is None:
        return []
    if cfg.model.backend == "openai":
        return [first]
    return [first] + [load_generator(cfg, guard) for _ in range(cfg.queue.workers - 1)]


def load_generator(cfg: Config, guard=None):
    """Load the configured engine once: the local model (None, with a warning, when it is
    not there) or the remote backend's servers."""
    from engine.errors import ModelError

    if cfg.model.backend == "openai":
        return load_remote(cfg, guard)
    model_dir = cfg.model_dir()
    if not model_dir.exists():
        log.warning("model %s not found: generation is off until it is built "
                    "(`spren model build-demo`) or [model] path points at a model", model_dir)
        return None
    try:
        return load_local(cfg, model_dir, guard)
    except ModelError as exc:
        raise ConfigError(f"[model] path: {exc}") from exc


def local_runtime(cfg: Config, model_dir: Path) -> str:
    """The runtime ``[model] runtime`` picks for this model folder: "llama" or "torch" (a
    model.gguf older than the folder's weights is never used: ModelError for "llama")."""
    from engine.errors import ModelError
    from engine.generation.llama.metadata import gguf_is_current
    from engine.generation.llama.runtime import GGUF_NAME

    runtime, gguf = cfg.model.runtime, Path(model_dir) / GGUF_NAME
    weights = any(Path(model_dir).glob("*.safetensors"))
    if gguf.is_file() and weights and not gguf_is_current(Path(model_dir)):
        fix = f"`spren model gguf {model_dir}` makes it again"
        if runtime == "llama":
            raise ModelError(f"{gguf} was made from other weights than the folder's: {fix}.")
        if runtime == "auto":
            log.warning("%s was made from other weights than the folder's: generating with "
                        "torch (%s)", gguf, fix)
        return "torch"
    if runtime == "auto":
        usable = cfg.model.device == "cpu" and gguf.is_file() and _llama_loads(cfg, gguf)
        runtime = "llama" if usable else "torch"
        if not gguf.is_file() and cfg.model.device == "cpu":
            log.info("%s has no %s: generating with torch (`spren model gguf %s` makes the "
                     "faster llama.cpp runtime available)", model_dir, GGUF_NAME, model_dir)
    return runtime


def llama_library(cfg: Config, choice: str | None = None) -> Path | None:
    """The libllama.so ``[model] llama_library`` (or ``choice``) picks: a native build for
    this CPU under ``<data_dir>/lib`` (``spren model build-llama``), or None for the pinned
    wheel's library."""
    from engine.errors import ModelError
    from engine.generation.llama.native import find_build

    choice = choice or cfg.model.llama_library
    if choice == "wheel":
        _say_library('the xllamacpp wheel\'s generic build ([model] llama_library = "wheel")')
        return None
    library, why = find_build(cfg.data_dir / "lib")
    if library is None and choice == "native":
        raise ModelError(f"[model] llama_library = \"native\": {why}. Run `spren model "
                         'build-llama` (or set llama_library = "auto").')
    _say_library(why if library is not None else f"the xllamacpp wheel's generic build "
                 f"({why}; `spren model build-llama` compiles one for this CPU)")
    return library


_said: list[str] = []


def _say_library(what: str) -> None:
    """Log which llama.cpp library is used, once per process and choice."""
    if what not in _said:
        _said.append(what)
        log.info("llama.cpp library: %s", what)


def _llama_loads(cfg: Config, gguf: Path) -> bool:
    """Whether the llama.cpp library loads here (it needs the system's libgomp)."""
    from engine.errors import ModelError

    try:
        load_llama_library(cfg, gguf)
    except ModelError as exc:
        log.warning("generating with torch: %s", exc)
        return False
    return True


def load_llama_library(cfg: Config, gguf: Path) -> Path | None:
    """Load the library :func:`llama_library` picks (the process's one llama.cpp library) and
    return its path, None for the wheel's. A native build is first checked on ``gguf`` in a
    child process, once per file (``native.check_for_model``). One that ``auto`` picked and
    that fails that check or does not load (a damaged file, a missing system library) gives
    way to the wheel's library, with a warning; one asked for with ``native`` is a
    ModelError like the wheel's failing."""
    from engine.errors import ModelError
    from engine.generation.llama.lib import load_lib, loaded
    from engine.generation.llama.native import check_for_model

    library = llama_library(cfg)
    try:
        # A process loads one library: once it has, its check was done (or not needed) then.
        problem = (check_for_model(library, gguf)
                   if library is not None and loaded() is None else None)
        if problem is not None:
            raise ModelError(f"{library} failed its check on {gguf} ({problem})")
        lib = load_lib(library)
    except ModelError as exc:
        if library is None or cfg.model.llama_library == "native":
            raise
        log.warning("the native llama.cpp build is not usable here, so the wheel's library "
                    "is (`spren model build-llama --force` builds it again): %s", exc)
        load_lib(None)
        return None
    return library if lib.path == library else None  # an earlier fall-back stands


def load_local(cfg: Config, model_dir: Path, guard=None):
    """The local engine for ``model_dir`` on the configured runtime (ModelError if unusable)."""
    threads = cfg.model.threads or os.cpu_count()  # torch alone counts physical cores
    guarding = dict(guard=guard, guard_words=cfg.guard.max_copied_words,
                    guard_action=cfg.guard.action, guard_retries=cfg.guard.max_attempts)
    if local_runtime(cfg, model_dir) == "llama":
        from engine.generation.llama.runtime import GGUF_NAME, LlamaGenerator

        sequences = cfg.model.sequences or cfg.queue.max_batch + 4  # room for held rows
        return LlamaGenerator(model_dir, threads=threads, sequences=sequences,
                              context_tokens=cfg.generation.memory_window,
                              library=load_llama_library(cfg, Path(model_dir) / GGUF_NAME),
                              **guarding)
    from engine.generation.generator import Generator

    return Generator(model_dir, device=cfg.model.device, threads=threads,
                     dtype=None if cfg.model.dtype == "auto" else cfg.model.dtype, **guarding)


def load_remote(cfg: Config, guard=None):
    """The remote backend over ``[model] urls``; servers that are down are retried later."""
    from engine.errors import GenerationError
    from engine.generation.finishing import Finisher
    from engine.generation.remote import RemoteEngine

    m = cfg.model
    api_key = None
    if m.api_key_env:
        api_key = cfg.secret(m.api_key_env)
        if api_key is None:
            raise ConfigError(f"[model] api_key_env names {m.api_key_env}, but that "
                              "environment variable is empty: export the server's token there "
                              "(or set api_key_env = \"\" if the server needs none)")
    try:
        finisher = Finisher(guard, cfg.guard.max_copied_words, cfg.guard.action,
                            cfg.guard.max_attempts)
        return RemoteEngine(m.urls, name=m.name, api_key=api_key,
                            max_concurrency=m.max_concurrency,
                            request_timeout_s=m.request_timeout_s, finisher=finisher)
    except GenerationError as exc:
        raise ConfigError(str(exc)) from exc


def queue_config(cfg: Config, generators: list) -> QueueConfig:
    """The [queue] section the service runs with: a remote backend keeps up to
    ``max_concurrency`` rows per server in flight, split fairly among users."""
    remote = _remote_engines(generators)
    if not remote:
        return cfg.queue
    capacity = sum(g.capacity for g in remote)
    return replace(cfg.queue, max_batch=capacity, shared_batch=capacity)


def close_generators(generators: list) -> None:
    """Close what the engines hold open (the remote backend's connections and thread)."""
    for generator in _remote_engines(generators):
        generator.close()


def _remote_engines(generators: list) -> list:
    """The remote backends among ``generators``, without importing the remote package (httpx
    and what it pulls in: ~0.2 s of start-up) where no RemoteEngine was ever made."""
    remote = sys.modules.get("engine.generation.remote")
    if remote is None:
        return []
    return [g for g in generators if isinstance(g, remote.RemoteEngine)]


@asynccontextmanager
async def open_app(cfg: Config, *, generator: Any = None,
                   load_model: bool = True) -> AsyncIterator[App]:
    """Open the store, load the model, start the queue worker; close all of it on exit."""
    from bot.serving.service import GenerationService

    store = await asyncio.to_thread(open_store, cfg)
    # one bot process per database: a passage still "generating" was cut off by a restart
    await asyncio.to_thread(PassageTree(store).interrupt_stale)
    stats = StatsService(store, cfg, use_helper=True)
    service = None
    loaded: list = []  # engines opened here, closed here
    dispatcher = None
    warm: asyncio.Task | None = None
    try:
        await asyncio.to_thread(stats.refresh)  # the books, before anything is served
        # The stats helper warms up in the background (~3 s on 2 cores): the first passage
        # does not wait for it, and a stats request that comes first gives it what it lacks.
        warm = asyncio.create_task(asyncio.to_thread(_warm_stats, stats), name="stats-warm")
        if generator is None and load_model:
            loaded = await asyncio.to_thread(load_generators, cfg, store)
            generator = loaded or None
        if generator is not None:
            engines = list(generator) if isinstance(generator, list) else [generator]
            service = GenerationService.from_config(generator, queue_config(cfg, engines))
            await service.start()
        dispatcher = await asyncio.to_thread(Dispatcher, cfg, store, stats, service)
        retention = asyncio.create_task(retention_loop(
            store, cfg.privacy.keep_days, cfg.privacy.purge_interval_h * 3600), name="retention")
        try:
            yield App(cfg, store, stats, service, dispatcher, stats_warm=warm)
        finally:
            retention.cancel()
            await asyncio.gather(retention, return_exceptions=True)
    finally:
        if service is not None:
            await service.close()
        if dispatcher is not None:
            await dispatcher.aclose()  # after the service: its last replies are logged too
        await asyncio.to_thread(close_generators, loaded)
        if warm is not None:
            await asyncio.gather(warm, return_exceptions=True)  # its thread reads the store
        store.dispose()


def _warm_stats(stats: StatsService) -> None:
    """Start the stats helper and give it the books (else the first stats request does)."""
    try:
        stats.warm_helper()
    except Exception as exc:  # a background warm-up must not end the bot
        log.warning("the stats helper did not warm up (%s); the first stats request will "
                    "start it", exc)


HEADLESS_NO_PLATFORM = (
    "spren run: no platform is configured and no terminal is attached, so there is nothing to "
    "serve. Configure [discord] or [reddit] (README: 'Run it on your Discord server'), or use "
    "`spren chat` for the console (piped input works there).")


async def run(cfg: Config, interactive: bool | None = None) -> None:
    """`spren run`: serve every configured platform until stopped; with none configured,
    the console chat when a terminal is attached, else a clear error (nothing to serve)."""
    secrets = platform_secrets(cfg)  # fail fast, before the model loads
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if not secrets and not interactive:
        raise ConfigError(HEADLESS_NO_PLATFORM)
    health = monitor.Health()
    async with monitor.serve(cfg.metrics.listen, health), open_app(cfg) as app:
        health.add("engine", monitor.engine_check(app.service))
        if app.service is not None:
            metrics.watch_queue(app.service.snapshot)
        try:
            await _serve(app, secrets, health)
        finally:
            metrics.watch_queue(None)


async def _serve(app: App, secrets: dict[str, Any], health: monitor.Health) -> None:
    """Run the platform adapters until one fails or the process is stopped."""
    from bot.adapters import platform_adapters

    adapters: list[PlatformAdapter] = platform_adapters(app, secrets)
    if not adapters:
        from bot.adapters.console import ConsoleChat

        log.info("no platform credentials configured: starting the console chat")
        health.starting = None
        await ConsoleChat(app).run()
        return
    tasks = []
    for adapter in adapters:
        health.add(adapter.name, adapter.health)
        tasks.append(asyncio.create_task(adapter.run(), name=type(adapter).__name__))
    health.starting = None
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            t.result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def platform_secrets(cfg: Config) -> dict[str, Any]:
    """Credentials of every enabled platform, read from the environment; clear error if unset."""
    found: dict[str, Any] = {}
    if cfg.discord is not None and cfg.discord.enabled:
        token = cfg.secret(cfg.discord.token_env)
        if not token:
            raise ConfigError(f"[discord] is configured but the environment variable "
                              f"{cfg.discord.token_env} is empty: export the bot token there "
                              "(or set [discord] enabled = false)")
        found["discord"] = token
    if cfg.reddit is not None and cfg.reddit.enabled:
        from bot.adapters.reddit.adapter import credentials_from_env

        found["reddit"] = credentials_from_env(cfg)
    return found
