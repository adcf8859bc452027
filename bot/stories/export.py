"""A story as one Markdown file: its prompt, every passage, who asked, and how to regenerate it.

Pure: takes the rows ``bot.stories.tree`` read and returns text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.stories.tree import FINISHED, PassageInfo, StoryInfo

_MARKDOWN = re.compile(r"([\\*_~`|])")


def escape_markdown(text: str) -> str:
    """Backslash the characters Markdown (and Discord) would read as formatting."""
    return _MARKDOWN.sub(r"\\\1", text)


def passage_markdown(heading: str | None, text: str) -> str:
    """A passage as shown: its heading (a root's prompt) in bold, then the generated text."""
    if not heading:
        return text.strip() or "…"
    # the model may continue mid-word or with a new word; only the latter needs a space
    gap = " " if text[:1].isalnum() else ""
    return f"**{escape_markdown(heading)}**{gap}{text}".strip()


def _options(p: PassageInfo) -> str:
    o = p.params
    parts = [f"seed {p.seed}", f"length {o.get('max_new_tokens')}",
             f"temperature {o.get('temperature')}", f"top_p {o.get('top_p')}",
             f"top_k {o.get('top_k')}", f"repetition_penalty {o.get('repetition_penalty')}",
             f"memory_window {o.get('memory_window')}", f"model {p.model_id or 'unknown'}"]
    if p.state == "stopped":
        parts.append("stopped early")
    return " · ".join(parts)


def _what(p: PassageInfo, numbers: dict[int, int]) -> str:
    who = p.asked_by or "someone"
    parent = numbers.get(p.parent_id or -1)
    ref = f"passage {parent}" if parent else "an earlier passage"
    if p.relation == "continue":
        return f"{who} continued {ref}"
    if p.relation == "regenerate":
        return f"{who} regenerated {ref}"
    return f"{who} started the story"


def heading_of(p: PassageInfo, base: PassageInfo | None) -> str | None:
    """What is shown in bold above a passage: the prompt, for passages that begin a line."""
    return p.prompt if base is None and p.relation != "continue" else None


def story_markdown(story: StoryInfo, passages: Sequence[PassageInfo],
                   headings: dict[int, str | None], bot_name: str) -> str:
    """The whole story: a title, then each finished passage with who asked and its options."""
    shown = [p for p in passages if p.state in FINISHED]
    numbers = {p.id: i for i, p in enumerate(shown, start=1)}
    lines = [f"# {story.title}", "",
             f"A story written with {bot_name}, started {story.created_at:%Y-%m-%d %H:%M} UTC: "
             f"{len(shown)} passages. Each names who asked for it and the seed and options "
             "that generate it again from the text before it.", ""]
    for p in shown:
        lines += [f"## {numbers[p.id]} · {_what(p, numbers)}", "", f"*{_options(p)}*", ""]
        heading = headings.get(p.id)
        if p.prompt and not heading:
            lines += [f"> {line}" for line in p.prompt.splitlines()] + [""]
        lines += [passage_markdown(heading, p.output or ""), ""]
    return "\n".join(lines).rstrip() + "\n"
