"""Story threads through real discord.py and the fake Discord: /story start opens a thread,
each reader's message continues the story, /story export attaches it as Markdown."""


import asyncio
import re

import discord  # noqa: F401
import pytest

from bot.errors import ConfigError
from bot.store import Story
from tests.e2e.discord_harness import make_config, running_bot
from tests.e2e.discord_story_harness import passages, plain, shown
from tests.e2e.fake_discord import FakeDiscord
from tests.e2e.fake_discord_channels import MESSAGE_CONTENT

PROMPT = "Dorothy found a little door in the hedge"
READERS = [(1001, "Behind it was a garden of glass flowers."),
           (2002, "The Scarecrow knocked twice and waited."),
           (3003, "Then the door opened by itself.")]
GUILD_MESSAGES = 1 << 9


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    from engine.generation.generator import Generator

    return Generator(tiny_model_dir)


def _passage_messages(fake, thread_id: int) -> list[dict]:
    """The bot's passages in the thread (messages carrying Regenerate), oldest first."""
    return [m for m in fake.channels.in_channel(thread_id) if m["author"]["bot"]
            and any(c.startswith("spren:regen:") for c in fake.channels.custom_ids(m))]


async def _start(bot, prompt: str = PROMPT) -> int:
    start = await bot.fake.subcommand("story", "start", {"prompt": prompt})
    await bot.idle(start)
    (thread_id,) = bot.fake.channels.threads
    return thread_id


async def _say(bot, thread_id: int, words: str, passages_then: int, **kw) -> None:
    """A reader posts; wait until the thread holds that many finished passages."""
    await bot.fake.channels.member_says(thread_id, words, **kw)
    await bot.fake.wait_for(lambda: len(_passage_messages(bot.fake, thread_id)) >= passages_then,
                            timeout=60)
    await bot.idle()


def _export_passages(markdown: str) -> list[str]:
    """Each passage's text from an export: what follows its heading, options line and quote."""
    out = []
    for block in re.split(r"(?m)^## ", markdown)[1:]:
        lines = block.split("\n")[1:]
        body = [ln for ln in lines if not ln.startswith(("*seed", "> "))]
        out.append("\n".join(body).strip())
    return out


def test_three_readers_continue_the_story_and_the_export_matches_the_thread(
        tmp_path, generator):
    cfg = make_config(tmp_path, message_content=True)

    async def scenario():
        async with running_bot(cfg, generator) as bot:
            thread_id = await _start(bot)
            for n, (user, words) in enumerate(READERS, start=2):
                await bot.fake.channels.member_says(thread_id, "beep boop", user_id=9009,
                                                    bot=True)  # another bot: never read
                await _say(bot, thread_id, words, n, user_id=user)
            export = await bot.fake.subcommand("story", "export", channel_id=thread_id,
                                               channel_type=11)
            await bot.idle(export)
            with bot.app.store.session() as s:
                (story,) = s.query(Story).all()
            return bot.fake, thread_id, export, story, passages(bot.app)

    fake, thread_id, export, story, rows = asyncio.run(scenario())
    assert fake.intents & MESSAGE_CONTENT  # asked for, as configured
    starter = fake.channels.messages[thread_id]  # the thread hangs off the /story message
    assert PROMPT in starter["content"] and fake.channels.threads[thread_id]["name"] == PROMPT
    assert (story.channel, story.title) == (str(thread_id), PROMPT)
    root, *continued = rows
    assert len(continued) == 3 and all(r.story_id == story.id for r in rows)
    assert [r.parent_id for r in continued] == [root.id] + [r.id for r in continued[:-1]]
    assert [r.prompt for r in continued] == [w for _, w in READERS]
    assert [r.asked_by for r in continued] == ["user1", "user2", "user3"]
    assert continued[0].context == f"{PROMPT}{root.output}\n\n{READERS[0][1]}"
    last = continued[-1].context  # the whole thread so far, within the memory window
    assert last.startswith(PROMPT) and continued[1].output in last and last.endswith(
        READERS[2][1])
    shown_in_thread = [plain(m["content"]) for m in _passage_messages(fake, thread_id)]
    assert shown_in_thread == [shown(PROMPT, root.output)] + [r.output.strip()
                                                                for r in continued]
    replies = _passage_messages(fake, thread_id)[1:]
    assert all(m.get("message_reference") for m in replies)  # each answers its reader
    (call,) = [c for c in export.sends() if c.files]
    (md,) = call.files
    assert md.filename == f"story-{story.id}.md"
    markdown = md.data.decode()
    assert markdown.startswith(f"# {PROMPT}\n")
    assert _export_passages(markdown) == shown_in_thread
    for r in rows:
        assert f"seed {r.seed}" in markdown
    assert "user2 continued passage 2" in markdown


def test_without_message_content_readers_mention_the_bot(tmp_path, generator):
    cfg = make_config(tmp_path)  # [discord] message_content = false, the default

    async def scenario():
        async with running_bot(cfg, generator) as bot:
            thread_id = await _start(bot)
            await bot.fake.channels.member_says(thread_id, "not for the bot", user_id=1001)
            await _say(bot, thread_id, "The Lion roared.", 2, user_id=1001, mention_bot=True)
            return bot.fake, passages(bot.app)

    fake, rows = asyncio.run(scenario())
    assert not fake.intents & MESSAGE_CONTENT and fake.intents & GUILD_MESSAGES
    root, cont = rows  # the unaddressed message (blank without the intent) added nothing
    assert cont.prompt == "The Lion roared." and cont.parent_id == root.id


def test_message_content_not_granted_is_one_clear_error(tmp_path):
    cfg = make_config(tmp_path, message_content=True)

    async def scenario():
        async with FakeDiscord(allow_message_content=False) as fake, \
                running_bot(cfg, None, fake):
            pass

    with pytest.raises(ConfigError, match="Message Content intent") as err:
        asyncio.run(scenario())
    assert "Developer Portal" in str(err.value) and "message_content = false" in str(err.value)


def test_story_start_and_export_refuse_clearly(tmp_path, generator):
    cfg = make_config(tmp_path)

    async def scenario():
        async with running_bot(cfg, generator) as bot:
            fake = bot.fake
            dm = await fake.subcommand("story", "start", {"prompt": PROMPT}, guild_id=None,
                                       channel_id=8001)
            outside = await fake.subcommand("story", "export")
            fake.channels.thread_faults = 1
            forbidden = await fake.subcommand("story", "start", {"prompt": PROMPT})
            await bot.idle(dm, outside, forbidden)
            return dm, outside, forbidden, passages(bot.app)

    dm, outside, forbidden, rows = asyncio.run(scenario())
    for ex, words in ((dm, "text channel of a server"), (outside, "not a story thread")):
        data = ex.callback.body["data"]
        assert data["flags"] & 64 and words in data["content"]
    assert "Create Public Threads" in forbidden.original_content()
    assert rows == []
