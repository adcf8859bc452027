"""Shared pieces of the passage-button and story-thread tests: a slowed engine (so a press
can land mid-generation), reading the passage tree, and what the engine alone would write."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from sqlalchemy import select

from bot.store import Interaction, Passage
from engine.generation.params import GenParams

ZWSP = "\u200b"


class SlowEngine:
    """The real generator, with a pause after every streamed token: a long passage takes
    seconds, so Stop can be pressed while it is written. Nothing else changes."""

    supports_joins = supports_holds = independent_rows = False

    def __init__(self, generator: Any, per_token_s: float):
        self.generator, self.per_token_s = generator, per_token_s
        self.model_id = generator.model_id

    def generate(self, prompts, params, on_token=None, should_stop=None, **_no_joins):
        def slow(i: int, text: str) -> None:
            time.sleep(self.per_token_s)
            if on_token is not None:
                on_token(i, text)

        return self.generator.generate(prompts, params, on_token=slow, should_stop=should_stop)


def passages(app) -> list[Passage]:
    """Every passage row, oldest first."""
    with app.store.session() as s:
        return list(s.scalars(select(Passage).order_by(Passage.id)))


def interactions(app) -> list[Interaction]:
    with app.store.session() as s:
        return list(s.scalars(select(Interaction).order_by(Interaction.id)))


def params_of(row: Passage) -> GenParams:
    """The options a passage row says it was generated with."""
    known = {f.name for f in dataclasses.fields(GenParams)}
    return GenParams(**{k: v for k, v in row.params.items() if k in known})


async def engine_text(generator: Any, context: str, params: GenParams) -> str:
    """What the engine alone writes for this context and these options."""
    (result,) = await asyncio.to_thread(generator.generate, [context], [params])
    return result.text


def shown(heading: str | None, text: str) -> str:
    """A passage as the bot shows it: the heading in bold, then the text."""
    if not heading:
        return text.strip()
    return f"**{heading}**{' ' if text[:1].isalnum() else ''}{text}".strip()


def plain(content: str) -> str:
    return content.replace(ZWSP, "")
