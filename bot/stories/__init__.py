"""Stories: passages linked into trees, and the commands that grow them on every platform.

``commands`` (``StoryCommands``: new passages, Regenerate, Continue, Stop, story threads,
export; the Dispatcher routes to it), ``tree`` (the ``passages`` and ``stories`` tables:
writing passages, reading a story's line), ``text`` (what a continuation is conditioned on:
the story so far within the memory window), ``policy`` (who may press what), ``export``
(a story as Markdown). Adapters say only which passage a press or reply points at.
"""

from bot.stories.commands import StoryCommands, new_seed
from bot.stories.policy import refusal
from bot.stories.tree import FINISHED, PassageInfo, PassageTree, Plan, StoryInfo

__all__ = ["FINISHED", "PassageInfo", "PassageTree", "Plan", "StoryCommands", "StoryInfo",
           "new_seed", "refusal"]
