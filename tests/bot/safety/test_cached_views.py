"""Cached stats answers never show a reader more than their progress allows, nor less.

The reply cache and the sharing of answers in flight are keyed by what of the reader's view
changes the answer: a full answer cached for one reader must not reach a reader who set
progress, and a cut answer cached for them must not reach a reader who may see everything.
"""

import asyncio
import shutil

from bot.app import open_app
from bot.messages import Request
from bot.safety import progress, spoilers
from tests.bot.conftest import make_config


def _config(oz_library, tmp_path):
    home = tmp_path / "lib"  # a copy: progress is written, the shared library stays as it is
    shutil.copytree(oz_library, home)
    return make_config(home, spoilers={"default_policy": "all"},
                       limits={"user_per_minute": "0", "cheap_max_wait_s": "120"})


def _open_part(reply) -> str:
    """What a reply shows outside spoiler spans."""
    text, out, inside = reply.text, [], False
    for ch in text:
        if ch == spoilers.OPEN:
            inside = True
        elif ch == spoilers.CLOSE:
            inside = False
        elif not inside:
            out.append(ch)
    return "".join(out)


ASKS = [("wordcount", {"term": "Toto"}), ("sentiment", {"book": "oz2"}),
        ("sentiment", {"book": "oz1", "range": "last 40"})]


async def _ask(app, user: str, command: str, args: dict):
    reply = await app.dispatcher.handle(Request("test", user, command, dict(args)))
    assert reply.outcome == "ok", reply.text
    return reply


async def _set_progress(app, user: str) -> None:
    reply = await app.dispatcher.handle(Request("test", user, "progress",
                                                {"book": "oz1", "chapter": "2"}))
    assert reply.outcome == "ok", reply.text


def test_a_cached_full_answer_never_reaches_a_reader_with_progress(oz_library, tmp_path):
    async def go():
        async with open_app(_config(oz_library, tmp_path), load_model=False) as app:
            await _set_progress(app, "reader")
            for command, args in ASKS:
                full = await _ask(app, "newcomer", command, args)  # cached first
                assert not full.meta["hidden"]
                for _ in range(2):  # the second time from memory, if anything is there
                    cut = await _ask(app, "reader", command, args)
                    assert cut.meta["hidden"], (command, args, cut.text)
                    assert spoilers.has_spoilers(cut.text)
                    assert _open_part(cut) != _open_part(full)
                if command == "wordcount":
                    total = f"{full.meta['total']:,} in all"
                    assert total in full.text and total not in _open_part(cut)

    asyncio.run(go())


def test_a_cached_cut_answer_never_reaches_a_reader_without_progress(oz_library, tmp_path):
    async def go():
        async with open_app(_config(oz_library, tmp_path), load_model=False) as app:
            await _set_progress(app, "reader")
            for command, args in ASKS:
                cut = await _ask(app, "reader", command, args)  # cached first
                assert cut.meta["hidden"]
                for _ in range(2):
                    full = await _ask(app, "newcomer", command, args)
                    assert not full.meta["hidden"] and not spoilers.has_spoilers(full.text)
                revealed = await _ask(app, "reader", command, {**args, "reveal": True})
                assert not revealed.meta["hidden"]

    asyncio.run(go())


def test_readers_asking_at_once_each_get_their_own_view(oz_library, tmp_path):
    async def go():
        async with open_app(_config(oz_library, tmp_path), load_model=False) as app:
            await _set_progress(app, "reader")
            for command, args in ASKS:
                users = ["newcomer", "reader"] * 10 + [f"other{i}" for i in range(10)]
                replies = await asyncio.gather(*(_ask(app, u, command, args) for u in users))
                for user, reply in zip(users, replies, strict=True):
                    assert reply.meta["hidden"] == (user == "reader"), (user, command)

    asyncio.run(go())


def test_progress_saved_by_another_process_is_seen_at_the_next_check(oz_library, tmp_path):
    async def go():
        async with open_app(_config(oz_library, tmp_path), load_model=False) as app:
            for command, args in ASKS:
                assert not (await _ask(app, "elsewhere", command, args)).meta["hidden"]
            # as another bot process would: straight to the database, not through this one
            key = app.store.user_key("test", "elsewhere")
            await asyncio.to_thread(progress.save, app.store, "test", key, "oz1",
                                    progress.Entry(1))
            await asyncio.to_thread(app.dispatcher.safety.audience.refresh, True)
            for command, args in ASKS:
                assert (await _ask(app, "elsewhere", command, args)).meta["hidden"]

    asyncio.run(go())
