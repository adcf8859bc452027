"""``Safety``: what the dispatcher asks of community safety, platform-neutral.

Gates (blocked users, paused places), the reader's spoiler view, the filter on prompts,
previews and passages, and the answers to /progress, /forget-me and /mod. Adapters only
say who is a moderator (``Request.moderator``) and render spoiler spans their own way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.config import Config
from bot.errors import BadRequest
from bot.messages import EventCallback, Reply, Request, TokenUpdate
from bot.safety import moderation, privacy, progress
from bot.safety.audience import Audience
from bot.safety.filtering import ContentFilter, Verdict
from bot.safety.moderation import Change, Moderation
from bot.safety.progress import Entry, Visibility
from bot.store import Store
from engine.generation.params import GenParams

BLOCKED = ("The moderators here have blocked you from using this bot. Ask them if you "
           "think that is a mistake.")
PREVIEW_INTERVAL_S = 0.5  # streamed previews are filtered at most this often
Regenerate = Callable[[GenParams], Awaitable[Any]]


def truthy(value: Any) -> bool:
    """An option that may come as a bool or as text ('true', 'yes', 'reveal')."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "reveal")
    return bool(value)


class Safety:
    """Spoilers, the filter, moderator controls and forget-me for one running bot."""

    def __init__(self, cfg: Config, store: Store, stats: Any):
        self.cfg = cfg
        self.store = store
        self.stats = stats
        self.filter = ContentFilter(cfg.filter, store)
        self.moderation = Moderation(store)
        self.audience = Audience(store)  # for answers from memory; loaded on first refresh

    def _key(self, req: Request) -> str:
        return self.store.user_key(req.platform, req.user)

    # ---- gates ------------------------------------------------------------------------------
    def check_allowed(self, req: Request, generating: bool) -> None:
        """Refuse (politely) a blocked user, or generation in a paused place."""
        if self.moderation.is_blocked(req.platform, req.guild, self._key(req)):
            raise BadRequest(BLOCKED)
        if generating and self.moderation.state(req.platform, req.guild).paused:
            raise BadRequest("The moderators have paused passage writing here for now. "
                             "Book stats (/sentiment, /wordcount) still work; try a passage "
                             "again later.")

    # ---- spoilers ---------------------------------------------------------------------------
    def view(self, req: Request) -> Visibility:
        """What this reader may see openly: their progress, else the place's policy."""
        books = self.stats.books()
        entries = progress.entries(self.store, req.platform, self._key(req))
        chosen = self.moderation.state(req.platform, req.guild).spoiler_policy
        policy, source = self._policy(req, books, chosen)
        return progress.visibility(books, entries, policy, source,
                                   truthy(req.args.get("reveal", False)))

    def quick_view(self, req: Request, user_key: str) -> Visibility | None:
        """The reader's view from memory alone (safe on the event loop), or None when only
        the database can tell (a reader with progress, or memory not checked lately).
        Raises BadRequest for a user blocked here, as ``check_allowed`` would."""
        audience = self.audience
        if not audience.known():
            return None
        if audience.is_blocked(req.platform, req.guild, user_key):
            raise BadRequest(BLOCKED)
        if audience.has_progress(req.platform, user_key):
            return None
        books = self.stats.known_books()
        policy, source = self._policy(req, books, audience.policy(req.platform, req.guild))
        return progress.visibility(books, {}, policy, source,
                                   truthy(req.args.get("reveal", False)))

    def _policy(self, req: Request, books: list, chosen: str | None) -> tuple[str, str]:
        """The place's spoiler policy (``chosen`` by its moderators), else the default."""
        if chosen:
            where = "server" if req.platform == "discord" else "community"
            return chosen, f"this {where}'s spoiler policy"
        try:
            return (progress.parse_policy(self.cfg.spoilers.default_policy, books),
                    "the default spoiler policy")
        except BadRequest:  # a 'through <code>' naming a book not ingested: hide nothing
            return "all", ""

    # ---- the filter -------------------------------------------------------------------------
    def filter_action(self, req: Request) -> str:
        """The place's filter action, else the configured one."""
        chosen = self.moderation.state(req.platform, req.guild).filter_action
        return chosen or self.cfg.filter.action

    def _record(self, req: Request, stage: str, action: str, verdict: Verdict) -> None:
        self.filter.record(platform=req.platform, place=req.guild, user=self._key(req),
                           stage=stage, action=action, verdict=verdict)

    def screen_prompt(self, req: Request, prompt: str) -> str:
        """The prompt with listed words masked, or a refusal when the action is refuse."""
        verdict = self.filter.check(prompt)
        if verdict.clean:
            return prompt
        if self.filter_action(req) == "refuse":
            self._record(req, "prompt", "refuse", verdict)
            raise BadRequest("Your prompt has words this community filters. "
                             "Rephrase it and try again.")
        self._record(req, "prompt", "mask", verdict)
        return verdict.masked

    def screen_term(self, req: Request, term: str) -> str:
        """How a /wordcount term may be shown (masked when it hits the filter)."""
        verdict = self.filter.check(term)
        if not verdict.clean:
            self._record(req, "prompt", "mask", verdict)
        return verdict.masked

    def screen_input(self, req: Request, prompt: str, context: str) -> tuple[str, str]:
        """A passage's input: the user's new words (``prompt``) screened like a prompt
        (masked, or refused), and all the model is given (``context``: earlier passages,
        already screened, and those words) masked."""
        prompt = self.screen_prompt(req, prompt) if prompt else prompt
        return prompt, self.filter.check(context).masked

    async def screen_output(self, req: Request, result: Any, params: GenParams,
                            regenerate: Regenerate | None) -> tuple[Any, str]:
        """A generation result whose text passes the filter: (result, masked text).

        ``regenerate`` writes the passage again with other params (another seed); None
        when it may not (a passage the user stopped is masked instead)."""
        verdict = self.filter.check(result.text)
        if verdict.clean:
            return result, result.text
        action = await asyncio.to_thread(self.filter_action, req)
        if action == "refuse":
            await asyncio.to_thread(self._record, req, "output", "refuse", verdict)
            raise BadRequest("The passage I wrote had words this community filters, so I "
                             "will not post it. Try another prompt or seed.")
        tries = self.cfg.filter.max_regenerations if action == "regenerate" else 0
        for attempt in range(1, tries + 1):
            if regenerate is None:
                break
            await asyncio.to_thread(self._record, req, "output", "regenerate", verdict)
            seed = ((result.seed or 0) + 7919 * attempt) % (2**31 - 1)
            result = await regenerate(dataclasses.replace(params, seed=seed))
            verdict = self.filter.check(result.text)
            if verdict.clean:
                return result, result.text
        await asyncio.to_thread(self._record, req, "output", "mask", verdict)
        return result, verdict.masked

    def previews(self, on_event: EventCallback | None) -> EventCallback | None:
        """Wrap an event callback so streamed text is masked too (filtered at most every
        PREVIEW_INTERVAL_S; skipped frames are superseded by later ones and the final text)."""
        if on_event is None or not self.filter.enabled:
            return on_event
        last = [0.0]

        def forward(event: Any) -> Any:
            if isinstance(event, TokenUpdate):
                now = time.monotonic()
                if now - last[0] < PREVIEW_INTERVAL_S:
                    return None
                last[0] = now
                event = TokenUpdate(self.filter.check(event.text).masked)
            return on_event(event)

        return forward

    # ---- commands ---------------------------------------------------------------------------
    def progress_command(self, req: Request) -> Reply:
        """/progress: show, set (a chapter or finished) or clear a reader's progress."""
        from bot.safety.commands import progress_reply

        return progress_reply(self, req)

    def forget_me(self, req: Request) -> Reply:
        """/forget-me: delete everything stored about the person asking."""
        report = privacy.forget(self.store, req.platform, self._key(req))
        self.audience.reading(req.platform, self._key(req), False)
        text = (f"Done. I deleted what I had stored about you here: {report.text()}. "
                "Only anonymous daily counts remain (how many requests, not whose). "
                "If you had opted out, you are opted in again: reply !optout to opt out.")
        return Reply([text], private=True, meta={"forgotten": True})

    def mod(self, req: Request) -> Reply:
        """/mod: a moderator's change to this place, or its status."""
        if not req.guild:
            raise BadRequest("moderator commands work in a server (or, on Reddit, in a "
                             "private message naming the subreddit)")
        if not req.moderator:
            raise BadRequest("only moderators can do that: on Discord you need the Manage "
                             "Messages or Manage Server permission")
        action = str(req.args.get("action") or "status").lower()
        if action == "status":
            return self._status(req)
        value = str(req.args.get("value") or "").strip() or None
        if action == "spoilers":
            value = progress.parse_policy(value or "", self.stats.books())
        target = req.args.get("user")
        change = Change(req.platform, req.guild, self._key(req), action,
                        self.store.user_key(req.platform, str(target)) if target else None,
                        value if action != "filter" else (value or "").lower())
        done = self.moderation.apply(change)
        self.audience.refresh(force=True)  # blocks and policies: small, read again at once
        return Reply([f"Done: {done}. The change is in the audit log."], private=True)

    def _status(self, req: Request) -> Reply:
        state = self.moderation.state(req.platform, req.guild)
        policy = state.spoiler_policy or self.cfg.spoilers.default_policy
        lines = [
            f"Passages: {'paused' if state.paused else 'on'}",
            f"Spoiler policy: {progress.describe_policy(policy)}"
            + ("" if state.spoiler_policy else " (the default)"),
            f"Filter action: {state.filter_action or self.cfg.filter.action}"
            + ("" if state.filter_action else " (the default)"),
            f"Blocked users: {state.blocked}",
        ]
        recent = self.moderation.audit(req.platform, req.guild or "", 5)
        if recent:
            lines.append("Recent changes: " + "; ".join(
                f"{e.created_at:%Y-%m-%d %H:%M} {e.action}{' ' + e.value if e.value else ''}"
                for e in recent))
        return Reply(["\n".join(lines)], private=True, title="Moderation")

    def save_progress(self, req: Request, code: str, entry: Entry) -> None:
        """Store one progress entry for the person asking."""
        progress.save(self.store, req.platform, self._key(req), code, entry)
        self.audience.reading(req.platform, self._key(req), True)

    def progress_entries(self, req: Request) -> dict[str, Entry]:
        return progress.entries(self.store, req.platform, self._key(req))

    def clear_progress(self, req: Request) -> int:
        n = progress.clear(self.store, req.platform, self._key(req))
        self.audience.reading(req.platform, self._key(req), False)
        return n


__all__ = ["Safety", "moderation", "truthy"]
