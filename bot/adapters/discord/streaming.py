"""A message that follows a stream of contents with throttled edits.

``show()`` may be called as often as tokens arrive; at most one edit per ``interval`` seconds
reaches Discord and each edit carries the newest content (older ones are skipped, never
queued). ``finish()`` always sends the final content.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord
from asyncio_throttle import Throttler

from bot.messages import Event, QueueUpdate, TokenUpdate

log = logging.getLogger(__name__)

Edit = Callable[[str], Awaitable[object]]


class ThrottledMessage:
    """One message, edited at most once per ``interval`` with the latest content."""

    def __init__(self, edit: Edit, interval: float):
        self._edit = edit
        # period is the minimum spacing between edit starts; a single slot per period
        self._throttler = Throttler(rate_limit=1, period=max(interval, 0.0),
                                    retry_interval=min(0.05, max(interval, 0.01) / 4))
        self._latest: str | None = None
        self._shown: str | None = None
        self._final = False
        self._force = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.edits = 0

    def show(self, content: str) -> None:
        """Make ``content`` the next thing the message shows (coalesced, throttled)."""
        if self._final or content == self._latest:
            return
        self._latest = content
        self._kick()

    async def finish(self, content: str, always: bool = False) -> None:
        """Show the final content and wait until it has been sent; raises if that edit fails.
        ``always`` sends it even when it is what the message already shows (the edit may
        change more than the text, e.g. the buttons)."""
        self._latest, self._final, self._force = content, True, always
        self._kick()
        if self._task is not None:
            await self._task

    async def abandon(self) -> None:
        """Stop editing (an in-flight edit completes first)."""
        self._final = True
        self._latest = self._shown
        if self._task is not None:
            self._wake.set()
            await asyncio.gather(self._task, return_exceptions=True)

    def cancel(self) -> None:
        """Stop at once, an edit in flight included (the passage was cancelled)."""
        self._final = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _kick(self) -> None:
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._pump(), name="discord-stream-edit")

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            async with self._throttler:
                self._wake.clear()
                content, final = self._latest, self._final
                if content is not None and (content != self._shown or final and self._force):
                    await self._send(content, final)
            if final:
                return

    async def _send(self, content: str, final: bool) -> None:
        try:
            await self._edit(content)
        except discord.HTTPException:
            if final:
                raise
            # an intermediate frame is expendable: the next (or final) edit supersedes it
            log.warning("a streaming edit failed; the next edit will carry the text",
                        exc_info=True)
            return
        self._shown = content
        self.edits += 1


class PassageProgress:
    """Turns queue and token events into what the deferred message shows."""

    def __init__(self, message: ThrottledMessage, render_queue: Callable[[int, float], str],
                 render_partial: Callable[[str], str]):
        self.message = message
        self._render_queue = render_queue
        self._render_partial = render_partial
        self._position: int | None = None
        self.positions: list[int] = []

    def on_event(self, event: Event) -> None:
        """EventCallback for ``Dispatcher.handle``; runs on the event loop."""
        if isinstance(event, QueueUpdate):
            # the ETA drifts with every token; only a new position is worth an edit
            if event.position != self._position:
                self._position = event.position
                self.positions.append(event.position)
                self.message.show(self._render_queue(event.position, event.eta_s))
        elif isinstance(event, TokenUpdate) and event.text.strip():
            self.message.show(self._render_partial(event.text))
