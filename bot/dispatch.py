"""The platform-neutral command layer: Request -> Reply, shared by console, Discord and Reddit.

Cheap commands (help, books, stats) are answered at once; generation goes to the queue.
Every request is logged with its outcome. User errors come back as private replies, never
as exceptions, so each adapter has one simple path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot import logs, metrics, options
from bot.cheap import CheapPath, Handler
from bot.config import Config
from bot.errors import BadRequest, Cancelled, QueueFull, SprenError
from bot.messages import EventCallback, Reply, Request, well_formed
from bot.parsing import parse_command_line, shown_command
from bot.safety import Safety, Visibility
from bot.stats_service import StatsService
from bot.store import Store
from bot.store.log_writer import InteractionWriter
from bot.stories import StoryCommands
from engine.errors import EngineError
from engine.generation.params import GenParams

log = logging.getLogger(__name__)
# answered to anyone who asks: blocked users too may read the help, forget themselves, and
# moderators are checked by /mod itself
UNGATED = frozenset({"about", "forget-me", "forgetme", "forget_me", "mod"})

_STORY_HELP = {
    "console": "/continue [text] — the next passage after your last one (your text joins "
               "the story first) · /regen — your last passage again, with a new seed",
    "discord": "Under each passage: 🔁 Regenerate (a new seed), ➕ Continue, ⏹ Stop while it "
               "writes · /story start <prompt> — a thread where every message continues "
               "the story · /story export — the story as a Markdown file · right-click a "
               "message → Apps → Continue in the books' voice",
}


class Dispatcher:
    """Answers requests from every platform; logs each one with its outcome."""

    def __init__(self, cfg: Config, store: Store, stats: StatsService, service=None,
                 safety: Safety | None = None):
        self.cfg = cfg
        self.store = store
        self.stats = stats
        self.service = service
        self.safety = safety or Safety(cfg, store, stats)
        self.gen = cfg.bot.generate_command
        # cheap commands get their own bounded path and per-user rate; the log its own writer
        self.cheap = CheapPath(cfg.limits, stats, self.safety.audience)
        self.log_writer = InteractionWriter(store)
        self.stories = StoryCommands(cfg, store, service, self.gen_params, self.clean_prompt,
                                     self.safety)
        try:  # readers' settings in memory, so stats can be answered from memory at once
            self.safety.audience.refresh(force=True)
        except SQLAlchemyError as exc:  # answered the slow way until the next check
            log.warning("could not read readers' settings (%s: %s)", type(exc).__name__, exc)

    async def aclose(self) -> None:
        """Write the interaction rows still queued and stop the dispatcher's threads."""
        await self.log_writer.close()
        self.cheap.close()

    async def handle(self, req: Request, on_event: EventCallback | None = None) -> Reply:
        """Answer one request. User mistakes become private 'refused' replies."""
        req = well_formed(req)
        if req.request_id is None:  # every request gets an id: the log lines carry it
            req = dataclasses.replace(req, request_id=logs.new_request_id())
        with logs.request_context(req.request_id):
            return await self._handle(req, on_event)

    async def _handle(self, req: Request, on_event: EventCallback | None) -> Reply:
        started = time.monotonic()
        record: dict[str, Any] = {}
        try:
            reply = await self._route(req, on_event, record)
        except QueueFull as exc:
            reply = Reply([str(exc)], private=True, outcome="refused", retry_after=exc.retry_after)
        except Cancelled as exc:
            reply = Reply([str(exc)], private=True, outcome="cancelled")
        except (BadRequest, EngineError) as exc:
            reply = Reply([str(exc)], private=True, outcome="refused")
        except asyncio.CancelledError:
            await asyncio.shield(self._log(req, Reply(outcome="cancelled"), record, started))
            raise
        except Exception as exc:  # the one place a surprise is turned into a message
            log.exception("command %s failed", req.command)
            metrics.error("dispatch", exc)
            reply = Reply(["Something went wrong on our side; it has been logged. "
                           "Please try again in a minute."], private=True, outcome="error")
        await self._log(req, reply, record, started)
        metrics.request_done(req.platform, req.command.lower().lstrip("/!"), reply.outcome,
                             known=record.get("known", False))
        log.info("%s /%s: %s in %.3f s", req.platform, record.get("command", "?"),
                 reply.outcome, time.monotonic() - started)
        return reply

    async def refuse(self, req: Request, message: str) -> Reply:
        """Answer and log a request refused before it could be routed (an unparsable line)."""
        reply = Reply([message], private=True, outcome="refused")
        await self._log(well_formed(req), reply, {}, time.monotonic())
        return reply

    async def _route(self, req: Request, on_event, record) -> Reply:
        cmd = req.command.lower().lstrip("/!")
        record["known"] = True
        record["command"] = cmd[:32]
        st = self.stories
        writes = {self.gen: st.passage, "regen": st.regenerate, "regenerate": st.regenerate,
                  "continue": st.continue_, "story": st.start_story,
                  "continue_message": st.from_message}
        if cmd in writes:  # each is screened (gates, filter) where it is written
            return await writes[cmd](req, on_event, record)
        if cmd in ("stop", "export"):
            return await (st.stop if cmd == "stop" else st.export)(req)
        sf = self.safety
        handler = {"help": self._help, "books": self._books, "sentiment": self._sentiment,
                   "wordcount": self._wordcount, "queue": self._queue, "about": self._about,
                   "progress": sf.progress_command, "forget-me": sf.forget_me,
                   "forgetme": sf.forget_me, "forget_me": sf.forget_me, "mod": sf.mod}.get(cmd)
        record["known"] = handler is not None  # a made-up command is no metric label
        if handler is None:
            raise BadRequest(f"unknown command '/{shown_command(cmd)}'. {self._command_list()}")
        return await self._cheap(req, cmd, handler)

    async def _cheap(self, req: Request, cmd: str, handler: Handler) -> Reply:
        """A cheap command through the bounded lane. Blocked users are refused, from memory
        when it knows (``Safety.quick_view``), else in the lane; stats answers follow the
        reader's view, and are shared (in flight and in the cache) only by readers whose
        views are alike."""
        user_key = self.store.user_key(req.platform, req.user)
        if cmd == "help":
            return await self.cheap.answer(req, user_key, cmd, handler, lambda: self._help(req))
        if cmd in UNGATED:
            return await self.cheap.answer(req, user_key, cmd, handler)
        view = self.safety.quick_view(req, user_key)  # BadRequest when known to be blocked
        if view is None:  # only the database knows: gate and view are read in the lane

            def gated(r: Request) -> Reply:
                self.safety.check_allowed(r, False)
                return handler(r)

            return await self.cheap.answer(req, user_key, cmd, gated, private=True)
        if cmd not in ("sentiment", "wordcount"):
            return await self.cheap.answer(req, user_key, cmd, handler)
        term = str(req.args.get("term") or req.args.get("text") or "")
        if cmd == "wordcount" and not self.safety.filter.check(term[:200]).clean:
            quick = None  # a filtered term is masked (and logged) the slow way
        else:
            quick = lambda: self.stats.peek(cmd, req.args, view)  # noqa: E731
        stats = self._sentiment if cmd == "sentiment" else self._wordcount
        return await self.cheap.answer(req, user_key, cmd, lambda r: stats(r, view), quick,
                                       view_key=_view_key(view))

    # ---- cheap commands -----------------------------------------------------------------
    def _command_list(self) -> str:
        return ("Commands: /help, /books, /sentiment <book> [first N|last N] [reveal], "
                f"/wordcount <term> [exact] [reveal], /{self.gen} <prompt>, /continue [text], "
                "/regen, /queue, /progress <book> <chapter|finished>, /forget-me, /mod, /about")

    def _help(self, req: Request) -> Reply:
        g = self.gen
        lines = [
            f"**{self.cfg.bot.name}** — passages in the voice of {self.cfg.bot.series}, and "
            "book stats.",
            f"/{g} <prompt> — continue your prompt in the books' voice "
            f"(options: length=, temperature=, top_p=, seed=; e.g. /{g} Dorothy walked seed=7)",
            _STORY_HELP.get(req.platform, _STORY_HELP["console"]),
            "/sentiment <book> [first N | last N] — the sentiment arc of a book, with a chart",
            "/wordcount <term> [exact] — mentions per book (exact = whole words only)",
            "/books — the books I know · /queue — your place in line · /about — model and "
            "sources",
            "/progress <book> <chapter | finished> — how far you have read: stats hide later "
            "chapters and books behind spoiler tags (add reveal:true to see everything)",
            "/forget-me — delete everything I stored about you · /mod — moderators' controls",
        ]
        return Reply(["\n".join(lines)], title="Help")

    def _books(self, req: Request) -> Reply:
        books = self.stats.books()
        if not books:
            return Reply(["No books are ingested yet. An operator runs `spren ingest PATH`."])
        lines = [f"{b.code:<6} {b.title} — {b.n_chapters} chapters, {b.n_words:,} words"
                 for b in books]
        return Reply(["\n".join(lines)], title=f"{len(books)} books")

    def _sentiment(self, req: Request, view: Visibility | None = None) -> Reply:
        book = req.args.get("book") or req.args.get("text") or ""
        return self.stats.sentiment(str(book), str(req.args.get("range") or "") or None,
                                    view=view or self.safety.view(req))

    def _wordcount(self, req: Request, view: Visibility | None = None) -> Reply:
        term = str(req.args.get("term") or req.args.get("text") or "")
        return self.stats.wordcount(term, exact=_truthy(req.args.get("exact", False)),
                                    view=view or self.safety.view(req),
                                    label=self.safety.screen_term(req, term[:200]))

    def _queue(self, req: Request) -> Reply:
        if self.service is None:
            return Reply(["Generation is not available (no model loaded)."], private=True)
        snap = self.service.snapshot(self.store.user_key(req.platform, req.user))
        lines = [f"Queue: {snap.text()}"]
        if not snap.positions and not snap.running:
            lines.append("You have nothing in the queue.")
        return Reply(["\n".join(lines)], private=True)

    def _about(self, req: Request) -> Reply:
        model = self.service.model_id if self.service else "none loaded"
        servers = self.service.servers() if self.service else []
        books = self.stats.books()
        lines = [
            f"{self.cfg.bot.name}: a fan-made bot. Passages come from a small language model "
            f"trained on the books; they are new text, not quotes (a guard cuts any run of "
            f"{self.cfg.guard.max_copied_words}+ words copied from the books).",
            f"Model: {model}",
            *(["Generation servers:"] + [f"- {line}" for line in servers] if servers else []),
            f"Books: {len(books)} ingested ({', '.join(b.code for b in books[:20])})",
            "Opt out: on Reddit reply `!optout` (or message the bot); `!optin` undoes it. "
            "Your user id is stored only as a salted hash.",
            f"Source: {self.cfg.bot.source_url}",
        ]
        return Reply(["\n".join(lines)], title="About")

    # ---- generation ----------------------------------------------------------------------
    def gen_params(self, args: dict[str, Any]) -> GenParams:
        """Build GenParams from config defaults and the user's options (validated)."""
        return options.gen_params(args, self.cfg.generation)

    def clean_prompt(self, prompt: str) -> str:
        """Normalise whitespace; refuse empty or oversized prompts with a clear message."""
        raw, limit = str(prompt or ""), self.cfg.bot.max_prompt_chars
        # bounded before splitting: a megabyte of prompt costs no more than the limit allows
        prompt = " ".join(raw[: 4 * limit + 64].split())
        if not prompt:
            raise BadRequest(f"give me the start of a passage, e.g. `/{self.gen} "
                             f"{self.cfg.bot.default_prompt}`")
        if len(prompt) > limit:
            size = len(prompt) if len(raw) <= 4 * limit + 64 else len(raw)
            raise BadRequest(f"your prompt is {size:,} characters; the limit is "
                             f"{limit:,}. Shorten it and try again.")
        return prompt

    async def _log(self, req: Request, reply: Reply, record: dict, started: float) -> None:
        if reply.meta.get("forgotten"):  # forget-me counted itself anonymously; no row
            return
        options = {k: v for k, v in req.args.items() if k != "prompt"}
        fields = dict(
            platform=req.platform, request_id=req.request_id,
            user=self.store.user_key(req.platform, req.user),
            guild=self.store.user_key(req.platform, req.guild) if req.guild else None,
            channel=req.channel, command=req.command[:32], options=_jsonable(options),
            outcome=reply.outcome, error=None if reply.outcome == "ok" else reply.text[:500],
            prompt=record.get("prompt"), seed=record.get("seed"),
            model_id=record.get("model_id"), output=record.get("output"),
            queue_wait_s=record.get("queue_wait_s"), generation_s=record.get("generation_s"))
        if "generation_s" not in record:
            fields["generation_s"] = time.monotonic() - started
        await self.log_row(**fields)

    async def log_row(self, **fields: Any) -> None:
        """Append one interaction row through the log's own writer thread."""
        try:
            await self.log_writer.write(**fields)
        except Exception as exc:  # logging must never take a user's answer down with it
            log.error("could not log an interaction (%s: %s)", type(exc).__name__, exc)

    def book_choices(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        """(code, title) pairs for autocomplete."""
        return self.stats.choices(prefix, limit)


def _view_key(view: Visibility) -> tuple[Any, ...]:
    """What of a reader's view tells answers apart (readers alike share one answer)."""
    if view.reveal:
        return ("reveal",)
    return (view.source, view.default, tuple(sorted(view.read.items())))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "exact", "on")
    return bool(value)


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, int | float | bool | str | None) else str(v)
            for k, v in options.items()}


__all__ = ["Dispatcher", "parse_command_line", "SprenError"]
