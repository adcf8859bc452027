"""Passage commands for every platform: new passages, regenerations, continuations, Stop,
story threads and their export. The Dispatcher routes to these; adapters only say which
passage a button or reply points at (``args["parent"]``, a request id) and where (a thread).

Every passage is written to the tree when it starts and completed when it ends, so a
restart finds it; each runs through the same fair queue as any other generation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any

from bot import metrics
from bot.config import Config
from bot.errors import BadRequest, Cancelled, QueueFull
from bot.messages import Attachment, EventCallback, Reply, Request
from bot.safety import Safety
from bot.store import Store
from bot.stories.export import heading_of, story_markdown
from bot.stories.policy import refusal
from bot.stories.text import context_budget, extend, message_prompt, tail, thread_title
from bot.stories.tree import FINISHED, PassageInfo, PassageTree, Plan
from engine.generation.params import SEED_LIMIT, GenParams

Record = dict[str, Any]


def new_seed(avoid: int | None = None) -> int:
    """A random seed (different from ``avoid``: a regeneration must not repeat itself)."""
    while (seed := secrets.randbelow(SEED_LIMIT + 1)) == avoid:
        pass
    return seed


class StoryCommands:
    """Generates passages into the tree and answers the story commands."""

    def __init__(self, cfg: Config, store: Store, service: Any,
                 gen_params: Callable[[dict[str, Any]], GenParams],
                 clean_prompt: Callable[[str], str], safety: Safety):
        self.cfg, self.store, self.service, self.safety = cfg, store, service, safety
        self._admit = asyncio.Lock()  # screening (a thread hop) must not reorder the queue
        self.tree = PassageTree(store)
        self.gen_params, self.clean_prompt = gen_params, clean_prompt

    # ---- new passages -------------------------------------------------------------------
    async def passage(self, req: Request, on_event: EventCallback | None,
                      record: Record) -> Reply:
        """A passage from the user's prompt and options."""
        prompt = self.clean_prompt(req.args.get("prompt", ""))
        return await self._root(req, prompt, on_event, record)

    async def from_message(self, req: Request, on_event: EventCallback | None,
                           record: Record) -> Reply:
        """A passage that continues someone's message (its last ``max_prompt_chars``)."""
        prompt = message_prompt(req.args.get("text", ""), self.cfg.bot.max_prompt_chars)
        if not prompt:
            raise BadRequest("that message has no text I can continue; pick one with words in it")
        return await self._root(req, prompt, on_event, record)

    async def start_story(self, req: Request, on_event: EventCallback | None,
                          record: Record) -> Reply:
        """A new story in the thread ``req.channel``: its first passage from the prompt."""
        prompt = self.clean_prompt(req.args.get("prompt", ""))
        if not req.channel:
            raise BadRequest("a story needs a thread to live in; start it from a server channel")
        await asyncio.to_thread(self.safety.check_allowed, req, True)  # before the story row
        story_id = await asyncio.to_thread(
            self.tree.create_story, req.platform, req.channel, thread_title(prompt),
            self._user(req))
        return await self._root(req, prompt, on_event, record, story_id=story_id)

    async def _root(self, req: Request, prompt: str, on_event: EventCallback | None,
                    record: Record, story_id: int | None = None) -> Reply:
        params = self.gen_params(req.args)
        if params.seed is None:
            params = dataclasses.replace(params, seed=new_seed())
        plan = self._plan(req, "root", prompt, prompt, params, heading=prompt,
                          story_id=story_id)
        return await self.write(req, plan, on_event, record)

    # ---- passages from passages ---------------------------------------------------------
    async def regenerate(self, req: Request, on_event: EventCallback | None,
                         record: Record) -> Reply:
        """The same prompt and options as the target passage, with a new seed."""
        parent = await self._target(req)
        self._allow("regenerate", parent, req)
        await self._room(parent)
        base = await asyncio.to_thread(self.tree.base_of, parent)
        params = parent.gen_params(seed=new_seed(avoid=parent.seed))
        plan = self._plan(req, "regenerate", parent.prompt, parent.context, params,
                          heading=heading_of(parent, base), parent=parent)
        return await self.write(req, plan, on_event, record)

    async def continue_(self, req: Request, on_event: EventCallback | None,
                        record: Record) -> Reply:
        """The next passage after the target one, conditioned on the story so far (within
        the memory window) and on the reader's addition (``args["text"]``), if any."""
        parent = await self._target(req)
        if parent.state not in FINISHED:
            raise BadRequest(_unfinished(parent))
        self._allow("continue", parent, req)
        await self._room(parent)
        addition = self._addition(req.args.get("text"))
        seed = self._seed_option(req)
        params = parent.gen_params(seed=new_seed(avoid=parent.seed) if seed is None else seed)
        budget = context_budget(params.memory_window)
        story = await asyncio.to_thread(self.tree.line_text, parent.id, budget)
        plan = self._plan(req, "continue", addition, tail(extend(story, addition), budget),
                          params, parent=parent)
        return await self.write(req, plan, on_event, record)

    async def refusal(self, req: Request) -> str | None:
        """Why a Regenerate or Continue press would be refused (None: it may go ahead), so an
        adapter can say so privately before it shows anything in public."""
        try:
            await asyncio.to_thread(self.safety.check_allowed, req, True)
            passage = await self._target(req)
            action = "continue" if req.command == "continue" else "regenerate"
            if action == "continue" and passage.state not in FINISHED:
                raise BadRequest(_unfinished(passage))
            self._allow(action, passage, req)
            await self._room(passage)
        except BadRequest as exc:
            return str(exc)
        return None

    # ---- stop and export ----------------------------------------------------------------
    async def stop(self, req: Request) -> Reply:
        """End a passage that is being written; it keeps what it has so far."""
        passage = await self._target(req)
        self._allow("stop", passage, req)
        # the service knows what this process is writing; the row may be from another run
        if self.service is None \
                or not self.service.stop(_key(passage.platform, passage.request_id)):
            return Reply(["That passage is not being written any more, so there is nothing "
                          "to stop."], private=True)
        return Reply(["⏹ Stopped: the passage keeps what was written so far."], private=True)

    async def export(self, req: Request) -> Reply:
        """The story of this thread as a Markdown file."""
        story = await asyncio.to_thread(self.tree.story_in, req.platform, req.channel or "")
        if story is None:
            raise BadRequest("this is not a story thread: use /story export inside a thread "
                             "that /story start made")
        passages = await asyncio.to_thread(self.tree.story_passages, story.id)
        by_id = {p.id: p for p in passages}
        headings = {p.id: heading_of(p, _base_in(p, by_id)) for p in passages}
        markdown = story_markdown(story, passages, headings, self.cfg.bot.name)
        shown = sum(p.state in FINISHED for p in passages)
        return Reply([f"{shown} passages, {len(markdown):,} characters of Markdown."],
                     files=[Attachment(f"story-{story.id}.md", markdown.encode(),
                                       "text/markdown")],
                     title=f"Story: {story.title}")

    # ---- writing one passage ------------------------------------------------------------
    async def write(self, req: Request, plan: Plan, on_event: EventCallback | None,
                    record: Record) -> Reply:
        """Generate a planned passage through the queue, keeping the tree up to date.

        Every kind of passage passes here, so here it is screened: the user may write here
        (not blocked, not paused) before it is queued; its input goes through the word
        filter (masked, or refused); previews are masked as they stream; the passage is
        checked when done (masked, written again with another seed, or refused) and only
        the screened text is kept, in the tree and in the log."""
        if self.service is None:
            raise BadRequest("generation is not available: no model is loaded. An operator "
                             "runs `spren model build-demo` or sets [model] path.")
        async with self._admit:  # passages take their places in the order they came
            plan = await asyncio.to_thread(self._screened, req, plan)
            record.update(prompt=plan.prompt or None, seed=plan.params.seed)
            events = self.safety.previews(on_event)
            key = _key(plan.platform, plan.request_id)
            # queued first, recorded while it waits: the row's write must not cost its place
            begun = asyncio.ensure_future(asyncio.to_thread(self.tree.begin, plan))
            submitted = time.monotonic()
            first = asyncio.ensure_future(self.service.generate(
                plan.user, plan.context, plan.params, events, key=key))
            await asyncio.sleep(0)  # it joins the queue before the next passage is screened
        try:
            result = await first
            stopped = result.finish_reason == "cancelled"
            again = None if stopped else (  # a stopped passage is masked, not rewritten
                lambda p: self.service.generate(plan.user, plan.context, p, events, key=key))
            result, text = await self.safety.screen_output(req, result, plan.params, again)
        except BaseException as exc:
            first.cancel()
            await asyncio.shield(self._abandon(begun, exc))
            raise
        result = dataclasses.replace(result, text=text)
        pid = await begun
        await asyncio.to_thread(self.tree.finish, pid, result, "stopped" if stopped else "done")
        # which server answered goes in the log with the model (remote backend only)
        logged = f"{result.model_id} @ {result.server}" if result.server else result.model_id
        record.update(seed=result.seed, model_id=logged[:200], output=result.text,
                      generation_s=result.seconds,
                      queue_wait_s=max(0.0, time.monotonic() - submitted - result.seconds))
        metrics.generation_done(record["queue_wait_s"], result.seconds, result.new_tokens,
                                result.guard)
        return Reply([result.text or "…"], meta={
            "seed": result.seed, "model_id": result.model_id, "prompt": plan.heading,
            "guard": result.guard, "new_tokens": result.new_tokens, "server": result.server,
            "passage": pid, "request_id": plan.request_id, "relation": plan.relation,
            "stopped": stopped})

    def _screened(self, req: Request, plan: Plan) -> Plan:
        """The plan once the user may write here and its words passed the filter."""
        self.safety.check_allowed(req, True)
        prompt, context = self.safety.screen_input(req, plan.prompt, plan.context)
        heading = self.safety.filter.check(plan.heading).masked if plan.heading else None
        return dataclasses.replace(plan, prompt=prompt, context=context, heading=heading)

    async def _abandon(self, begun: asyncio.Future[int], exc: BaseException) -> None:
        """A passage that did not come to be: forgotten if never queued, else marked."""
        pid = await begun
        if isinstance(exc, QueueFull):
            await asyncio.to_thread(self.tree.discard, pid)
        else:
            state = "cancelled" if isinstance(exc, Cancelled | asyncio.CancelledError) \
                else "failed"
            await asyncio.to_thread(self.tree.settle, pid, state)

    # ---- helpers ------------------------------------------------------------------------
    def _user(self, req: Request) -> str:
        return self.store.user_key(req.platform, req.user)

    def _plan(self, req: Request, relation: str, prompt: str, context: str,
              params: GenParams, *, heading: str | None = None,
              parent: PassageInfo | None = None, story_id: int | None = None) -> Plan:
        story_id = parent.story_id if parent is not None else story_id
        return Plan(platform=req.platform, request_id=req.request_id, user=self._user(req),
                    relation=relation, prompt=prompt, context=context, params=params,
                    heading=heading, parent_id=parent.id if parent else None,
                    story_id=story_id, channel=req.channel,
                    asked_by=req.display_name if story_id is not None else None)

    async def _target(self, req: Request) -> PassageInfo:
        """The passage a command is about: the one a button names, else the newest in this
        story thread, else the user's own newest (the console's /continue and /regen)."""
        rid = str(req.args.get("parent") or "")
        if rid:
            found = await asyncio.to_thread(self.tree.by_request, req.platform, rid)
            if found is None:
                raise BadRequest("I have no record of that passage, so I cannot do that.")
            return found
        story = await asyncio.to_thread(self.tree.story_in, req.platform, req.channel or "") \
            if req.channel else None
        if story is not None:
            found = await asyncio.to_thread(self.tree.latest_in_story, story.id)
        else:
            found = await asyncio.to_thread(self.tree.latest_for_user, req.platform,
                                            self._user(req))
        if found is None:
            raise BadRequest(f"there is no finished passage to work from yet; write one with "
                             f"/{self.cfg.bot.generate_command} <prompt>")
        return found

    def _allow(self, action: str, passage: PassageInfo, req: Request) -> None:
        if passage.state == "forgotten":  # bot.safety.privacy blanked it: nothing to use
            raise BadRequest(FORGOTTEN_NOTE)
        policy = getattr(self.cfg.stories, f"{action}_by")
        why = refusal(action, policy, is_requester=passage.user == self._user(req),
                      is_moderator=req.moderator)
        if why:
            raise BadRequest(why)

    async def _room(self, parent: PassageInfo) -> None:
        """Refuse a new passage in a story that already has the most it may have."""
        if parent.story_id is None:
            return
        size = await asyncio.to_thread(self.tree.story_size, parent.story_id)
        if size >= self.cfg.stories.max_passages:
            raise BadRequest(f"this story already has {size} passages, the most one may have: "
                             "export it with /story export and start another with "
                             "/story start")

    def _addition(self, text: Any) -> str:
        """A reader's words added to the story: may be empty; bounded like a prompt."""
        text = " ".join(str(text or "").split())
        return self.clean_prompt(text) if text else ""

    def _seed_option(self, req: Request) -> int | None:
        raw = req.args.get("seed")
        return self.gen_params({"seed": raw}).seed if raw not in (None, "") else None


def _key(platform: str, request_id: str | None) -> tuple[str, str] | None:
    """How the queue knows a passage's job, so Stop can find it (None: not stoppable)."""
    return (platform, request_id) if request_id else None


_ENDED = {"failed": "failed", "cancelled": "was cancelled",
          "interrupted": "was cut off by a restart"}
FORGOTTEN_NOTE = ("that passage was deleted at its author's request, so there is nothing to "
                  "work from")


def _unfinished(passage: PassageInfo) -> str:
    if passage.state == "generating":
        return "that passage is still being written; continue it once it is done"
    if passage.state == "forgotten":
        return FORGOTTEN_NOTE
    how = _ENDED.get(passage.state, "did not finish")
    return f"that passage {how}, so there is nothing to continue; regenerate it instead"


def _base_in(p: PassageInfo, by_id: dict[int, PassageInfo]) -> PassageInfo | None:
    """``PassageTree.base_of`` over rows already in memory (a story's own passages)."""
    relation, parent_id = p.relation, p.parent_id
    for _ in range(len(by_id) + 1):
        parent = by_id.get(parent_id) if parent_id is not None else None
        if relation == "root" or parent is None:
            return None
        if relation == "continue":
            return parent
        relation, parent_id = parent.relation, parent.parent_id
    return None
