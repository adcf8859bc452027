"""The filter's actions through the real Dispatcher and generation queue: mask, regenerate,
refuse, per place, each logged; streamed previews are masked too."""

import asyncio

import pytest
from sqlalchemy import select

from bot.app import open_app
from bot.messages import Request, TokenUpdate
from bot.store import FilterEvent
from tests.bot.conftest import make_config


class SeedGenerator:
    """Writes a listed word for odd seeds and clean text for even ones; streams its text."""

    model_id = "seed-test"
    supports_joins = supports_holds = independent_rows = False

    def generate(self, prompts, params, on_token=None, should_stop=None, **no_joins):
        from engine.generation.generator import GenResult

        out = []
        for i, (prompt, p) in enumerate(zip(prompts, params, strict=True)):
            text = " and the sh1t hit the fan." if p.seed % 2 else " and the wind rose."
            if on_token is not None:
                on_token(i, text)
            out.append(GenResult(prompt=prompt, text=text, seed=p.seed, new_tokens=6,
                                 finish_reason="sentence", model_id=self.model_id,
                                 guard=None, seconds=0.0))
        return out


def _ask(tmp_path, action: str, seed: int, prompt: str = "Dorothy walked"):
    cfg = make_config(tmp_path, filter={"action": action})
    events = []

    async def run():
        async with open_app(cfg, generator=SeedGenerator()) as app:
            req = Request("discord", "42", "oz", {"prompt": prompt, "seed": seed}, guild="9")
            reply = await app.dispatcher.handle(req, events.append)
            with app.store.session() as s:
                logged = [(e.stage, e.action) for e in s.scalars(select(FilterEvent))]
            return reply, logged

    reply, logged = asyncio.run(run())
    return reply, logged, [e.text for e in events if isinstance(e, TokenUpdate)]


def test_mask_covers_the_word_in_the_passage_and_the_preview(tmp_path):
    reply, logged, previews = _ask(tmp_path, "mask", 1)
    assert reply.outcome == "ok" and reply.text == " and the ████ hit the fan."
    assert logged == [("output", "mask")]
    assert previews and all("sh1t" not in p for p in previews)


def test_regenerate_writes_again_with_another_seed(tmp_path):
    reply, logged, _ = _ask(tmp_path, "regenerate", 1)
    assert reply.text == " and the wind rose." and reply.meta["seed"] % 2 == 0
    assert logged == [("output", "regenerate")]


def test_refuse_posts_nothing_and_says_why(tmp_path):
    reply, logged, _ = _ask(tmp_path, "refuse", 1)
    assert reply.outcome == "refused" and reply.private and "filters" in reply.text
    assert logged == [("output", "refuse")]
    reply, logged, _ = _ask(tmp_path / "p", "refuse", 2, prompt="Dorothy said f u c k")
    assert reply.outcome == "refused" and "prompt" in reply.text
    assert logged == [("prompt", "refuse")]


@pytest.mark.parametrize("seed", [2])
def test_clean_passages_pass_untouched_and_unlogged(tmp_path, seed):
    reply, logged, _ = _ask(tmp_path, "mask", seed)
    assert reply.text == " and the wind rose." and logged == []


def _steps(tmp_path, action, steps):
    cfg = make_config(tmp_path, filter={"action": action})

    async def run():
        async with open_app(cfg, generator=SeedGenerator()) as app:
            out = await steps(app.dispatcher)
            with app.store.session() as s:
                logged = [(e.stage, e.action) for e in s.scalars(select(FilterEvent))]
            return out, logged

    return asyncio.run(run())


def _req(command, rid, who="42", moderator=False, **args):
    return Request("discord", who, command, args, channel="c1", guild="9", request_id=rid,
                   moderator=moderator, display_name=who)


def test_every_kind_of_passage_is_screened(tmp_path):
    async def steps(d):
        first = await d.handle(_req("oz", "1", prompt="Dorothy walked", seed=2))
        more = await d.handle(_req("continue", "2", parent="1", text="then sh1t", seed=1))
        again = await d.handle(_req("regenerate", "3", parent="1"))
        quoted = await d.handle(_req("continue_message", "4", text="Toto said fuck off",
                                     seed=3))
        return first, more, again, quoted, d.stories.tree.by_request("discord", "2")

    (first, more, again, quoted, row), logged = _steps(tmp_path, "mask", steps)
    assert [r.outcome for r in (first, more, again, quoted)] == ["ok"] * 4
    for reply in (more, again, quoted):  # odd seeds (1, 3) write a listed word: masked
        assert "sh1t" not in reply.text and "fuck" not in reply.text
    assert "sh1t" not in (row.prompt + row.context)  # the reader's words, as kept and given
    assert logged.count(("prompt", "mask")) == 2 and ("output", "mask") in logged


def test_refused_continuations_and_paused_places_queue_nothing(tmp_path):
    async def steps(d):
        await d.handle(_req("oz", "1", prompt="Dorothy walked", seed=2))
        rude = await d.handle(_req("continue", "2", parent="1", text="f u c k"))
        await d.handle(_req("mod", "3", moderator=True, action="pause"))
        paused = [await d.handle(_req(c, f"p{c}", parent="1")) for c in ("continue",
                                                                       "regenerate")]
        precheck = await d.stories.refusal(_req("continue", None, parent="1"))
        await d.handle(_req("mod", "4", moderator=True, action="resume"))
        await d.handle(_req("mod", "5", "7", moderator=True, action="block", user="42"))
        blocked = await d.handle(_req("regenerate", "6", parent="1"))
        return rude, paused, precheck, blocked, d.stories.tree.by_request("discord", "2")

    (rude, paused, precheck, blocked, row), logged = _steps(tmp_path, "refuse", steps)
    assert rude.outcome == "refused" and "prompt" in rude.text and row is None
    assert all(r.outcome == "refused" and "paused" in r.text for r in paused)
    assert precheck == paused[0].text
    assert blocked.outcome == "refused" and "blocked" in blocked.text
    assert logged == [("prompt", "refuse")]


def test_forget_me_blanks_passages_and_cuts_their_words_from_continuations(tmp_path):
    from bot.store import Passage, Story

    async def steps(d):
        await d.handle(Request("discord", "alice", "story", {"prompt": "Ozma hid the emerald",
                                                              "seed": 2},
                               channel="t1", guild="9", request_id="1"))
        bob = await d.handle(_req("continue", "2", "bob", parent="1", text="Bob came by"))
        gone = await d.handle(Request("discord", "alice", "forget-me", {}))
        later = await d.handle(_req("continue", "3", "bob", parent="1"))
        with d.store.session() as s:
            rows = {p.request_id: (p.user, p.prompt, p.context, p.output, p.state)
                    for p in s.scalars(select(Passage))}
            titles = [st.title for st in s.scalars(select(Story))]
        return bob, gone, later, rows, titles

    (bob, gone, later, rows, titles), _ = _steps(tmp_path, "mask", steps)
    assert bob.outcome == "ok" and gone.outcome == "ok" and "1 passages" in gone.text
    assert rows["1"] == ("forgotten", "", "", None, "forgotten")
    assert "emerald" not in rows["2"][2] and "Bob came by" in rows["2"][2]
    assert rows["2"][0] != "forgotten" and titles == ["(forgotten)"]
    assert later.outcome == "refused" and "author's request" in later.text
