"""Stopping a queued or running generation by key: it ends early with what it has written,
and its place in the queue and its user's slot are free at once."""

import asyncio

from bot.serving.service import GenerationService
from engine.generation.generator import GenParams
from tests.bot.serving.test_service import FakeClock, FakeGenerator, run, until


def keyed(svc, user, prompt, key, n=8):
    return asyncio.ensure_future(svc.generate(user, prompt, GenParams(max_new_tokens=n, seed=1),
                                              key=key))


def test_stopping_a_running_generation_keeps_its_text_and_frees_the_slot():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, pause_at=3)
        async with GenerationService(gen, clock=clock, tick_s=0.01, per_user_pending=1) as svc:
            task = keyed(svc, "u", "long", key=("discord", "42"))
            await until(gen.paused.is_set)
            assert svc.snapshot("u").running == 1
            assert svc.stop(("discord", "42")) is True
            assert svc.snapshot("u").running == 0  # the slot is free before the row ends
            again = keyed(svc, "u", "next", key=None, n=2)  # no QueueFull: per_user_pending=1
            gen.resume.set()
            result, after = await asyncio.gather(task, again)
            assert svc.stop(("discord", "42")) is False  # finished: nothing to stop
        return result, after

    result, after = run(main())
    assert (result.text, result.finish_reason) == (" w0 w1 w2", "cancelled")
    assert after.finish_reason == "length" and after.text == " w0 w1"


def test_stopping_a_waiting_generation_takes_it_out_of_the_queue():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True)
        async with GenerationService(gen, clock=clock, tick_s=0.01) as svc:
            blocker = keyed(svc, "z", "block", key="b")
            await until(lambda: len(gen.calls) == 1)
            waiting = keyed(svc, "u", "waits", key="w")
            await until(lambda: svc.snapshot().queue_length == 1)
            assert svc.stop("nobody") is False
            assert svc.stop("w") is True and svc.stop("w") is False
            assert svc.snapshot().queue_length == 0
            result = await waiting
            gen.admit.release(5)
            await blocker
        return result, gen.calls

    result, calls = run(main())
    assert (result.text, result.new_tokens, result.finish_reason) == ("", 0, "cancelled")
    assert calls == [["block"]]  # the stopped request never reached the model
