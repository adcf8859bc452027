"""The slash commands: names, options, bounds and descriptions, bound to an InteractionFlow.

The generation command's name and length bound come from the config, so the callbacks are
built at run time. (No ``from __future__ import annotations`` here: discord.py reads these
annotations as objects, and the Range bounds are local values.)
"""

from typing import Any, Literal

import discord
from discord import app_commands

from bot.config import Config
from bot.stories.text import message_prompt

MAX_SEED = 2**31 - 1
CONTINUE_MENU = "Continue in the books' voice"


def _passage_command(cfg: Config, flow) -> app_commands.Command:
    """``/<generate_command> prompt [length] [temperature] [top_p] [seed]``."""
    name = cfg.bot.generate_command
    Prompt = app_commands.Range[str, 1, max(1, min(cfg.bot.max_prompt_chars, 6000))]
    Length = app_commands.Range[int, 1, max(1, cfg.generation.max_new_tokens_limit)]
    Temperature = app_commands.Range[float, 0.1, 2.0]
    TopP = app_commands.Range[float, 0.05, 1.0]
    Seed = app_commands.Range[int, 0, MAX_SEED]

    @app_commands.describe(
        prompt="How the passage starts; the bot continues it",
        length=f"Most new tokens to write (default {cfg.generation.max_new_tokens})",
        temperature=f"Randomness: low is safe, high is wild (default {cfg.generation.temperature})",
        top_p=f"Nucleus sampling cut-off (default {cfg.generation.top_p})",
        seed="Same prompt + options + seed gives the same passage",
    )
    async def passage(interaction: discord.Interaction, prompt: Prompt,
                      length: Length | None = None, temperature: Temperature | None = None,
                      top_p: TopP | None = None, seed: Seed | None = None) -> None:
        args = {"prompt": prompt, "length": length, "temperature": temperature,
                "top_p": top_p, "seed": seed}
        await flow.generate(interaction, name, args)

    return app_commands.Command(
        name=name, callback=passage,
        description=f"Write a passage in the voice of {cfg.bot.series}"[:100])


def _sentiment_command(flow) -> app_commands.Command:
    """``/sentiment book [range]`` with book autocomplete."""
    Range = app_commands.Range[str, 1, 40]

    @app_commands.describe(book="A book code or title", range='e.g. "first 200" or "last 200"',
                           reveal="Show everything, even past your reading progress")
    async def sentiment(interaction: discord.Interaction, book: app_commands.Range[str, 1, 200],
                        range: Range | None = None, reveal: bool = False) -> None:
        await flow.answer(interaction, "sentiment", {"book": book, "range": range,
                                                     "reveal": reveal})

    cmd: app_commands.Command[Any, ..., Any] = app_commands.Command(
        name="sentiment", callback=sentiment,
        description="The sentiment arc of a book, with a chart")
    return _with_book_choices(cmd, flow)


def _wordcount_command(flow) -> app_commands.Command:
    """``/wordcount term [exact]``."""

    @app_commands.describe(term="A word or phrase to count",
                           exact="Whole words only, case-sensitive",
                           reveal="Show everything, even past your reading progress")
    async def wordcount(interaction: discord.Interaction, term: app_commands.Range[str, 1, 100],
                        exact: bool = False, reveal: bool = False) -> None:
        await flow.answer(interaction, "wordcount", {"term": term, "exact": exact,
                                                     "reveal": reveal})

    return app_commands.Command(name="wordcount", callback=wordcount,
                                description="How often a term appears in each book, with a chart")


def _progress_command(flow) -> app_commands.Command:
    """``/progress [book] [chapter] [finished]``: set or show your reading progress."""

    @app_commands.describe(book="A book code or title (leave empty to see your progress)",
                           chapter="The last chapter you have read",
                           finished="You have finished this book")
    async def progress(interaction: discord.Interaction,
                       book: app_commands.Range[str, 1, 200] | None = None,
                       chapter: app_commands.Range[int, 1, 9999] | None = None,
                       finished: bool = False) -> None:
        await flow.answer(interaction, "progress", {"book": book, "chapter": chapter,
                                                    "finished": finished or None})

    cmd: app_commands.Command[Any, ..., Any] = app_commands.Command(
        name="progress", callback=progress,
        description="How far you have read: stats hide spoilers past it")
    return _with_book_choices(cmd, flow)


def _mod_group(flow) -> app_commands.Group:
    """``/mod status|pause|resume|block|unblock|spoilers|filter`` (moderators only)."""
    group = app_commands.Group(name="mod", description="Moderator controls for this server",
                               guild_only=True,
                               default_permissions=discord.Permissions(manage_messages=True))

    def simple(action: str, description: str) -> None:
        async def run(interaction: discord.Interaction) -> None:
            await flow.answer(interaction, "mod", {"action": action})

        group.add_command(app_commands.Command(name=action, callback=run,
                                               description=description))

    simple("status", "This server's settings and recent changes")
    simple("pause", "Pause passage writing in this server")
    simple("resume", "Resume passage writing in this server")

    @group.command(name="block", description="Block a member from using the bot here")
    async def block(interaction: discord.Interaction, user: discord.User) -> None:
        await flow.answer(interaction, "mod", {"action": "block", "user": str(user.id)})

    @group.command(name="unblock", description="Let a blocked member use the bot again")
    async def unblock(interaction: discord.Interaction, user: discord.User) -> None:
        await flow.answer(interaction, "mod", {"action": "unblock", "user": str(user.id)})

    @group.command(name="spoilers", description="What readers without progress are assumed "
                                                "to have read")
    @app_commands.describe(policy="all, none, 'first N' (books) or 'through <book code>'")
    async def spoilers(interaction: discord.Interaction,
                       policy: app_commands.Range[str, 1, 64]) -> None:
        await flow.answer(interaction, "mod", {"action": "spoilers", "value": policy})

    @group.command(name="filter", description="What the word filter does on a hit")
    async def filter_action(interaction: discord.Interaction,
                            action: Literal["mask", "regenerate", "refuse"]) -> None:
        await flow.answer(interaction, "mod", {"action": "filter", "value": action})

    return group


def _simple_command(flow, name: str, description: str) -> app_commands.Command:
    async def simple(interaction: discord.Interaction) -> None:
        await flow.answer(interaction, name)

    return app_commands.Command(name=name, callback=simple, description=description)


def _story_group(cfg: Config, flow, stories) -> app_commands.Group:
    """``/story start prompt`` (a thread where the story grows) and ``/story export``."""
    group = app_commands.Group(name="story", description="Write a story together in a thread")
    Prompt = app_commands.Range[str, 1, max(1, min(cfg.bot.max_prompt_chars, 6000))]

    @group.command(name="start", description="Start a story in a new thread; every message "
                                             "there continues it")
    @app_commands.describe(prompt="How the story starts; the bot writes the first passage")
    async def start(interaction: discord.Interaction, prompt: Prompt) -> None:
        await stories.start(interaction, prompt)

    @group.command(name="export", description="This thread's story as a Markdown file")
    async def export(interaction: discord.Interaction) -> None:
        await flow.answer(interaction, "export")

    return group


def _continue_menu(cfg: Config, flow) -> app_commands.ContextMenu:
    """Right-click a message → Apps → "Continue in the books' voice": it is the prompt."""

    async def continue_message(interaction: discord.Interaction,
                               message: discord.Message) -> None:
        heading = message_prompt(message.content, cfg.bot.max_prompt_chars)
        await flow.generate(interaction, "continue_message", {"text": message.content},
                            heading=heading or None)

    return app_commands.ContextMenu(name=CONTINUE_MENU, callback=continue_message)


def add_commands(tree: app_commands.CommandTree, cfg: Config, flow, stories=None) -> None:
    """Register every command on ``tree``; ``flow`` and ``stories`` may be None when only
    syncing."""
    tree.add_command(_continue_menu(cfg, flow))
    for command in (
        _passage_command(cfg, flow),
        _story_group(cfg, flow, stories),
        _sentiment_command(flow),
        _wordcount_command(flow),
        _simple_command(flow, "queue", "Your place in the generation queue, and its length"),
        _simple_command(flow, "books", "The books the bot knows"),
        _simple_command(flow, "about", "What this bot is, which model it runs, its sources"),
        _simple_command(flow, "help", "How to use the bot"),
        _progress_command(flow),
        _simple_command(flow, "forget-me", "Delete everything the bot stored about you"),
        _mod_group(flow),
    ):
        tree.add_command(command)


def _with_book_choices(cmd: app_commands.Command, flow) -> app_commands.Command:
    """``cmd`` with its ``book`` option completed from the library."""

    async def book_choices(interaction: discord.Interaction,
                           current: str) -> list[app_commands.Choice[str]]:
        return await flow.book_choices(interaction, current)

    cmd.autocomplete("book")(book_choices)
    return cmd
