"""Regenerate, Continue and Stop under passages: real discord.py against the fake Discord,
the real tiny model, the passage tree in SQLite; presses survive a restart of the bot."""


import asyncio

import discord  # noqa: F401
import pytest

from bot.adapters.discord.commands import CONTINUE_MENU
from tests.e2e import fake_discord_payloads as P
from tests.e2e.discord_harness import make_config, running_bot
from tests.e2e.discord_story_harness import (
    SlowEngine,
    engine_text,
    interactions,
    params_of,
    passages,
    plain,
    shown,
)
from tests.e2e.fake_discord import FakeDiscord

PROMPT = "Dorothy looked at the Scarecrow and"


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    from engine.generation.generator import Generator

    return Generator(tiny_model_dir)


def _config(tmp_path, **settings):
    """The e2e config without the output filter: these tests compare what the bot logged with
    what the engine writes for the same seed, and a regenerated passage's seed is random, so
    now and then the tiny model writes a word the filter masks (the filter has its own tests
    in test_discord_safety.py)."""
    cfg = make_config(tmp_path, **settings)
    cfg.filter.enabled = False
    return cfg


def _message(fake, ex) -> dict:
    """The message an interaction's response became, as Discord holds it now."""
    return fake.channels.messages[ex.original_id]


def _buttons(fake, ex) -> list[str]:
    return fake.channels.custom_ids(_message(fake, ex))


def test_a_finished_passage_has_regenerate_and_continue_and_stop_while_it_is_written(
        tmp_path, generator):
    cfg = _config(tmp_path)

    async def scenario():
        async with running_bot(cfg, generator) as bot:
            ex = await bot.fake.command("oz", {"prompt": PROMPT, "seed": 7, "length": 60})
            await bot.idle(ex)
            return bot.fake, ex, passages(bot.app)

    fake, ex, rows = asyncio.run(scenario())
    rid = ex.payload["id"]
    assert _buttons(fake, ex) == [f"spren:regen:{rid}", f"spren:more:{rid}"]
    first = ex.ok_edits()[0].body  # the queue line, while the passage waits and is written
    assert first["content"].startswith("⏳") and fake.channels.custom_ids(first) == [
        f"spren:stop:{rid}"]
    labels = [c["label"] for row in _message(fake, ex)["components"] for c in row["components"]]
    assert labels == ["Regenerate", "Continue"]
    (row,) = rows
    assert (row.relation, row.request_id, row.state, row.seed) == ("root", rid, "done", 7)
    assert row.context == PROMPT and row.prompt == PROMPT and row.parent_id is None
    assert plain(_message(fake, ex)["content"]) == shown(PROMPT, row.output)


def test_regenerate_is_a_new_passage_with_a_new_seed_linked_to_the_old(tmp_path, generator):
    cfg = _config(tmp_path)

    async def scenario():
        async with running_bot(cfg, generator) as bot:
            ex = await bot.fake.command("oz", {"prompt": PROMPT, "seed": 7, "length": 60})
            await bot.idle(ex)
            again = await bot.fake.press(_message(bot.fake, ex), f"spren:regen:{ex.payload['id']}")
            await bot.idle(again)
            rows = passages(bot.app)
            return bot.fake, ex, again, rows, await engine_text(generator, PROMPT,
                                                                params_of(rows[1]))

    fake, ex, again, (old, new), expected = asyncio.run(scenario())
    assert again.callback.body["type"] == 5  # a new message, not an edit of the old one
    assert (new.relation, new.parent_id, new.request_id) == ("regenerate", old.id,
                                                             again.payload["id"])
    assert new.seed != old.seed and new.context == old.context == PROMPT
    assert {**new.params, "seed": 0} == {**old.params, "seed": 0}  # same options otherwise
    assert new.output == expected  # the seed in the log reproduces it
    assert plain(_message(fake, again)["content"]) == shown(PROMPT, new.output)
    assert _buttons(fake, again) == [f"spren:regen:{again.payload['id']}",
                                     f"spren:more:{again.payload['id']}"]
    assert plain(_message(fake, ex)["content"]) == shown(PROMPT, old.output)  # old one kept


def test_continue_starts_where_the_passage_ended(tmp_path, generator):
    cfg = _config(tmp_path)

    async def scenario():
        async with running_bot(cfg, generator) as bot:
            ex = await bot.fake.command("oz", {"prompt": PROMPT, "seed": 3, "length": 40})
            await bot.idle(ex)
            more = await bot.fake.press(_message(bot.fake, ex), f"spren:more:{ex.payload['id']}",
                                        user_id=2002)  # Continue is open to everyone
            await bot.idle(more)
            further = await bot.fake.press(_message(bot.fake, more),
                                           f"spren:more:{more.payload['id']}")
            await bot.idle(further)
            rows = passages(bot.app)
            expected = [await engine_text(generator, r.context, params_of(r)) for r in rows[1:]]
            return bot.fake, more, further, rows, expected

    fake, more, further, (root, cont, cont2), expected = asyncio.run(scenario())
    assert (cont.relation, cont.parent_id, cont2.parent_id) == ("continue", root.id, cont.id)
    assert cont.context == PROMPT + root.output  # the passage so far, ending where it ended
    assert cont2.context == PROMPT + root.output + cont.output  # the whole line
    assert [cont.output, cont2.output] == expected
    assert cont.seed != root.seed and cont.params["max_new_tokens"] == 40
    assert plain(_message(fake, more)["content"]) == cont.output.strip()
    assert _buttons(fake, further)[1] == f"spren:more:{further.payload['id']}"


def test_stop_ends_the_passage_early_and_keeps_its_text(tmp_path, generator):
    cfg = _config(tmp_path, per_user_pending=1)
    cfg.generation.stop_at_sentence = False
    slow = SlowEngine(generator, per_token_s=0.05)

    async def scenario():
        async with running_bot(cfg, slow) as bot:
            ex = await bot.fake.command("oz", {"prompt": PROMPT, "seed": 5, "length": 300})
            await bot.fake.wait_for(lambda: any(c.body["content"].endswith(" …")
                                                for c in ex.ok_edits()), timeout=60)
            stop = await bot.fake.press(_message(bot.fake, ex), f"spren:stop:{ex.payload['id']}")
            await bot.idle(ex, stop)
            # the slot is free at once: the same user may ask again (per_user_pending = 1)
            after = await bot.fake.command("oz", {"prompt": "Toto", "seed": 1, "length": 5})
            await bot.idle(after)
            rows = passages(bot.app)
            full = await engine_text(generator, PROMPT, params_of(rows[0]))
            return bot.fake, ex, stop, after, rows, full

    fake, ex, stop, after, rows, full = asyncio.run(scenario())
    note = stop.callback.body
    assert note["type"] == 4 and note["data"]["flags"] & 64 and "Stopped" in note["data"][
        "content"]
    row = rows[0]
    assert (row.state, row.finish_reason) == ("stopped", "cancelled")
    assert 0 < row.new_tokens < 300
    words = row.output.split()
    assert words[:-1] == full.split()[:len(words) - 1]  # the text so far, as the engine wrote it
    assert plain(_message(fake, ex)["content"]) == shown(PROMPT, row.output)
    assert _buttons(fake, ex) == [f"spren:regen:{ex.payload['id']}",
                                  f"spren:more:{ex.payload['id']}"]  # Stop is gone
    assert after.callback.body["type"] == 5 and rows[1].state == "done"


def test_someone_elses_stop_and_regenerate_are_refused_privately(tmp_path, generator):
    cfg = _config(tmp_path)
    slow = SlowEngine(generator, per_token_s=0.03)

    async def scenario():
        async with running_bot(cfg, slow) as bot:
            ex = await bot.fake.command("oz", {"prompt": PROMPT, "seed": 5, "length": 120},
                                        user_id=1001)
            await bot.fake.wait_for(lambda: len(ex.ok_edits()) >= 2, timeout=60)
            rid = ex.payload["id"]
            stranger = await bot.fake.press(_message(bot.fake, ex), f"spren:stop:{rid}",
                                            user_id=3003)
            await bot.idle(ex, stranger)
            regen = await bot.fake.press(_message(bot.fake, ex), f"spren:regen:{rid}",
                                         user_id=3003)
            moderator = await bot.fake.press(_message(bot.fake, ex), f"spren:regen:{rid}",
                                             user_id=4004,
                                             permissions=P.MEMBER_PERMISSIONS | P.MANAGE_MESSAGES)
            await bot.idle(regen, moderator)
            return stranger, regen, moderator, passages(bot.app), interactions(bot.app)

    stranger, regen, moderator, rows, log = asyncio.run(scenario())
    for ex in (stranger, regen):
        body = ex.callback.body
        assert body["type"] == 4 and body["data"]["flags"] & 64
        assert "Only the person who asked for this passage" in body["data"]["content"]
    assert rows[0].state == "done" and rows[0].finish_reason != "cancelled"  # not stopped
    assert moderator.callback.body["type"] == 5 and rows[1].relation == "regenerate"
    assert [r.outcome for r in log if r.command in ("stop", "regenerate")] == [
        "refused", "refused", "ok"]


def test_buttons_work_after_the_bot_restarts(tmp_path, generator):
    cfg = _config(tmp_path)
    slow = SlowEngine(generator, per_token_s=0.02)

    async def scenario():
        async with FakeDiscord() as fake:
            async with running_bot(cfg, slow, fake) as bot:
                done = await fake.command("oz", {"prompt": PROMPT, "seed": 11, "length": 30})
                await bot.idle(done)
                cut = await fake.command("oz", {"prompt": "Ozma", "seed": 2, "length": 300})
                await fake.wait_for(lambda: len(cut.ok_edits()) >= 2, timeout=60)
                # discord.py announces "ready" ~2 s after READY; a client closed sooner leaves
                # that announcement to fail on the still-running loop (harmless in a process
                # that exits, noise in a test that carries on)
                await asyncio.wait_for(bot.adapter.client.wait_until_ready(), 10)
                first_app = bot.app
            # the bot stops mid-passage; a new app, store, queue, client and gateway session
            async with running_bot(cfg, slow, fake) as bot:
                assert bot.app is not first_app and fake.identifies == 2
                rid = done.payload["id"]
                regen = await fake.press(_message(fake, done), f"spren:regen:{rid}")
                more = await fake.press(_message(fake, done), f"spren:more:{rid}",
                                        user_id=2002)
                stop = await fake.press(_message(fake, cut), f"spren:stop:{cut.payload['id']}")
                await bot.idle(regen, more, stop)
                return fake, regen, stop, passages(bot.app)

    fake, regen, stop, rows = asyncio.run(scenario())
    root, cut = rows[:2]
    assert root.state == "done" and cut.state in ("cancelled", "interrupted")
    kinds = sorted((r.relation, r.parent_id, r.state) for r in rows[2:])
    assert kinds == [("continue", root.id, "done"), ("regenerate", root.id, "done")]
    assert plain(_message(fake, regen)["content"]) == shown(PROMPT, rows[2].output) or \
        plain(_message(fake, regen)["content"]) == shown(PROMPT, rows[3].output)
    note = stop.callback.body
    assert note["data"]["flags"] & 64 and "not being written" in note["data"]["content"]


def test_continue_in_the_books_voice_uses_the_message_as_the_prompt(tmp_path, generator):
    cfg = _config(tmp_path)
    said = P.user_message(P.next_id(), 7001, 5001, 1234, "The Tin Woodman oiled his   axe and")
    empty = P.user_message(P.next_id(), 7001, 5001, 1234, "")

    async def scenario():
        async with running_bot(cfg, generator) as bot:
            ex = await bot.fake.message_command(CONTINUE_MENU, said)
            nothing = await bot.fake.message_command(CONTINUE_MENU, empty)
            await bot.idle(ex, nothing)
            rows = passages(bot.app)
            return bot.fake, ex, nothing, rows, await engine_text(generator, rows[0].context,
                                                                   params_of(rows[0]))

    fake, ex, nothing, rows, expected = asyncio.run(scenario())
    (row,) = rows
    assert row.prompt == row.context == "The Tin Woodman oiled his axe and"
    assert row.output == expected and row.relation == "root"
    assert plain(_message(fake, ex)["content"]) == shown(row.prompt, row.output)
    assert _buttons(fake, ex) == [f"spren:regen:{ex.payload['id']}",
                                  f"spren:more:{ex.payload['id']}"]
    (note,) = [c.body for c in nothing.followups]  # deferred at once, then told privately
    assert note["flags"] & 64 and "no text" in note["content"] and nothing.deleted_original
