"""The story commands through the Dispatcher with the real tiny model: who may press what,
what a continuation is given, story limits, and refusals that say what to do."""

import asyncio

import pytest

from bot.app import open_app
from bot.messages import Request
from tests.bot.conftest import make_config


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    from engine.generation.generator import Generator

    return Generator(tiny_model_dir)


def req(command, user="alice", rid=None, channel="c1", moderator=False, **args):
    return Request("discord", user, command, args, channel=channel, guild="g1", request_id=rid,
                   moderator=moderator, display_name=user)


def run(cfg, generator, steps):
    async def main():
        async with open_app(cfg, generator=generator, load_model=False) as app:
            return await steps(app.dispatcher)
    return asyncio.run(main())


def test_requesters_and_moderators_may_regenerate_others_are_told_why(tmp_path, generator):
    cfg = make_config(tmp_path)

    async def steps(d):
        first = await d.handle(req("oz", rid="1", prompt="Dorothy walked", length=12))
        stranger = await d.handle(req("regenerate", "bob", rid="2", parent="1"))
        precheck = await d.stories.refusal(req("regenerate", "bob", parent="1"))
        moderator = await d.handle(req("regenerate", "mod", rid="3", parent="1", moderator=True))
        mine = await d.handle(req("continue", "bob", rid="4", parent="1"))  # open to all
        unknown = await d.handle(req("stop", rid="5", parent="999"))
        return first, stranger, precheck, moderator, mine, unknown

    first, stranger, precheck, moderator, mine, unknown = run(cfg, generator, steps)
    assert first.outcome == "ok" and first.meta["request_id"] == "1"
    assert stranger.outcome == "refused" and stranger.private
    assert "Only the person who asked" in stranger.text and precheck == stranger.text
    assert moderator.outcome == "ok" and moderator.meta["seed"] != first.meta["seed"]
    assert moderator.meta["prompt"] == "Dorothy walked"  # a root's regeneration keeps its heading
    assert mine.outcome == "ok" and mine.meta["prompt"] is None
    assert unknown.outcome == "refused" and "no record of that passage" in unknown.text


def test_policies_come_from_the_config(tmp_path, generator):
    cfg = make_config(tmp_path, stories={"continue_by": "moderators", "regenerate_by":
                                         "everyone"})

    async def steps(d):
        await d.handle(req("oz", rid="1", prompt="Ozma", length=8))
        return (await d.handle(req("continue", "alice", rid="2", parent="1")),
                await d.handle(req("regenerate", "bob", rid="3", parent="1")))

    cont, regen = run(cfg, generator, steps)
    assert cont.outcome == "refused" and "manage messages" in cont.text
    assert regen.outcome == "ok"


def test_a_story_stops_growing_at_its_limit_and_exports_only_in_its_thread(tmp_path, generator):
    cfg = make_config(tmp_path, stories={"max_passages": 2})

    async def steps(d):
        start = await d.handle(req("story", rid="1", channel="t1", prompt="The road was long",
                                   length=12))
        one = await d.handle(req("continue", rid="2", channel="t1", text="Toto barked."))
        full = await d.handle(req("continue", rid="3", channel="t1", text="Then what?"))
        export = await d.handle(req("export", rid="4", channel="t1"))
        elsewhere = await d.handle(req("export", rid="5", channel="c9"))
        return start, one, full, export, elsewhere

    start, one, full, export, elsewhere = run(cfg, generator, steps)
    assert start.outcome == one.outcome == "ok"
    assert full.outcome == "refused" and "2 passages" in full.text and "/story start" in full.text
    (md,) = export.files
    assert md.content_type == "text/markdown" and b"Toto barked." in md.data
    assert elsewhere.outcome == "refused" and "not a story thread" in elsewhere.text


def test_console_continue_before_any_passage_says_what_to_do(tmp_path, generator):
    cfg = make_config(tmp_path)

    async def steps(d):
        return await d.handle(Request("console", "me", "continue", {"text": ""}))

    reply = run(cfg, generator, steps)
    assert reply.outcome == "refused" and "/oz <prompt>" in reply.text
