"""What a continuation is conditioned on: the story so far, the reader's addition, the window.

Pure functions over plain strings; ``bot.stories.tree`` feeds them rows from the database.
"""

from __future__ import annotations

# The engine keeps the last ``memory_window`` tokens of whatever it is given; sending more than
# it can use only costs tokenising time. English BPE averages about 4 characters a token, so 8
# leaves room for unusual text while keeping a long story's context bounded.
CHARS_PER_TOKEN = 8
ADDITION_BREAK = "\n\n"  # a reader's addition starts a new paragraph of the story


def context_budget(memory_window: int) -> int:
    """Characters of story sent with a continuation, for a memory window of that many tokens."""
    return CHARS_PER_TOKEN * max(1, memory_window)


def extend(story: str, addition: str) -> str:
    """The story followed by a reader's addition (a new paragraph); either may be empty."""
    if not addition:
        return story
    if not story.strip():
        return addition
    return story.rstrip() + ADDITION_BREAK + addition


def tail(text: str, limit: int) -> str:
    """The end of ``text`` within ``limit`` characters, starting at a word when it is cut."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    space = next((i for i, ch in enumerate(cut) if ch.isspace()), -1)
    # a single word longer than the window: keep its end rather than nothing
    return cut[space + 1:] if 0 <= space < len(cut) - 1 else cut


def message_prompt(text: str, limit: int) -> str:
    """A message used as a prompt: whitespace normalised, its last ``limit`` characters."""
    return tail(" ".join(str(text or "").split()), limit)


def thread_title(prompt: str, limit: int = 100) -> str:
    """A thread name from a prompt: one line, at most ``limit`` characters."""
    title = " ".join(prompt.split())
    if len(title) <= limit:
        return title or "A story"
    cut = title[: limit - 1]
    return (cut[: cut.rfind(" ")] if " " in cut else cut).rstrip() + "…"
