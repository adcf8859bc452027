"""GenerationService with a fake generator on a fake clock: batching, fairness, caps,
positions and ETAs, cancellation, timeouts, streaming, failures and shutdown."""

import asyncio
import threading

import pytest

from bot.errors import Cancelled, QueueFull
from bot.messages import QueueUpdate, TokenUpdate
from bot.serving.service import GenerationService
from engine.errors import GenerationError
from engine.generation.generator import GenParams, GenResult

BUDGET = 5  # tokens per request in these tests
STEP_S = 0.01  # fake seconds per decoding step


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class FakeGenerator:
    """Same ``generate`` signature as the engine's Generator; emits " w0 w1 ..." per row.

    With ``gated=True`` each call waits for a permit (``admit.release()``) before decoding,
    honouring ``should_stop`` while it waits. ``pause_at`` pauses after that many steps
    until ``resume`` is set. Prompts containing ``fail_word`` make the whole call raise.
    """

    model_id = "fake"
    supports_joins = supports_holds = independent_rows = False

    def __init__(self, clock: FakeClock, gated=False, pause_at=None, fail_word=None):
        self.clock, self.gated, self.pause_at, self.fail_word = clock, gated, pause_at, fail_word
        self.admit = threading.Semaphore(0)
        self.resume, self.paused = threading.Event(), threading.Event()
        self.calls: list[list[str]] = []
        self.stopped: list[str] = []

    def generate(self, prompts, params, on_token=None, should_stop=None, **no_joins):
        self.calls.append(list(prompts))
        if self.fail_word and any(self.fail_word in p for p in prompts):
            raise RuntimeError("fake model fell over")
        stop = should_stop or (lambda i: False)
        if self.gated:
            while not self.admit.acquire(timeout=0.005):
                if all(stop(i) for i in range(len(prompts))):
                    break
        texts, reasons = [""] * len(prompts), ["length"] * len(prompts)
        for step in range(max(p.max_new_tokens for p in params)):
            if step == self.pause_at:
                self.paused.set()
                assert self.resume.wait(10)
            self._step(step, prompts, params, texts, reasons, stop, on_token)
            self.clock.advance(STEP_S)
            if all(r != "length" or len(t.split()) >= p.max_new_tokens
                   for r, t, p in zip(reasons, texts, params, strict=True)):
                break
        return [GenResult(p, t, 7, len(t.split()), r, "fake", None, 0.0)
                for p, t, r in zip(prompts, texts, reasons, strict=True)]

    def _step(self, step, prompts, params, texts, reasons, stop, on_token):
        for i, prompt in enumerate(prompts):
            if reasons[i] != "length" or step >= params[i].max_new_tokens:
                continue
            if stop(i):
                reasons[i] = "cancelled"
                self.stopped.append(prompt)
                continue
            texts[i] += f" w{step}"
            if on_token:
                on_token(i, texts[i])


class Recorder:
    """An on_event callback that remembers events and the thread each arrived on."""

    def __init__(self) -> None:
        self.events, self.threads = [], []

    def __call__(self, event) -> None:
        self.events.append(event)
        self.threads.append(threading.get_ident())

    def positions(self) -> list[int]:
        return [e.position for e in self.events if isinstance(e, QueueUpdate)]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def until(predicate, timeout=5.0):
    """Yield to the loop until predicate() holds."""
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


def service(gen, clock, **kw):
    kw.setdefault("per_user_pending", 20)
    return GenerationService(gen, clock=clock, tick_s=0.01, default_tokens_per_s=50.0, **kw)


def params(n=BUDGET):
    return GenParams(max_new_tokens=n, seed=1)


def submit(svc, user, prompt, on_event=None):
    return asyncio.ensure_future(svc.generate(user, prompt, params(), on_event))


async def started(svc, gen, user="z", prompt="block"):
    """Submit a blocker and wait until the (gated) worker holds it."""
    task = submit(svc, user, prompt)
    await until(lambda: len(gen.calls) == 1)
    return task


def test_waiting_requests_are_generated_as_one_batch():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True)
        async with service(gen, clock, max_batch=8) as svc:
            blocker = await started(svc, gen)
            tasks = [submit(svc, f"u{i}", f"p{i}") for i in range(4)]
            await until(lambda: svc.snapshot().queue_length == 4)
            gen.admit.release(10)
            results = await asyncio.gather(blocker, *tasks)
        assert gen.calls == [["block"], ["p0", "p1", "p2", "p3"]]
        assert [r.text for r in results] == [" w0 w1 w2 w3 w4"] * 5

    run(main())


def test_a_flooding_user_does_not_starve_another():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True)
        async with service(gen, clock, max_batch=4) as svc:
            blocker = await started(svc, gen)
            flood = [submit(svc, "A", f"a{i}") for i in range(10)]
            await until(lambda: svc.snapshot().queue_length == 10)
            lone = submit(svc, "B", "b0")
            await until(lambda: svc.snapshot().queue_length == 11)
            assert svc.snapshot("B").positions[0][0] == 2
            gen.admit.release(10)
            await asyncio.gather(blocker, lone, *flood)
        assert gen.calls[1] == ["a0", "b0", "a1", "a2"]
        assert [len(c) for c in gen.calls] == [1, 4, 4, 3]

    run(main())


def test_per_user_cap_raises_queue_full_with_retry_after():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True)
        async with service(gen, clock, per_user_pending=2) as svc:
            first = await started(svc, gen, user="A", prompt="a0")
            second = submit(svc, "A", "a1")
            await until(lambda: svc.snapshot().queue_length == 1)
            with pytest.raises(QueueFull, match=r"limit is 2.*try again in ~\d+ s") as info:
                await svc.generate("A", "a2", params())
            assert info.value.retry_after > 0
            other = submit(svc, "B", "b0")  # another user is not held back by A's cap
            await until(lambda: svc.snapshot().queue_length == 2)
            gen.admit.release(10)
            await asyncio.gather(first, second, other)

    run(main())


def test_global_bound_raises_queue_full_saying_busy():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True)
        async with service(gen, clock, max_pending=2) as svc:
            tasks = [await started(svc, gen)]
            tasks += [submit(svc, "b", "b0"), submit(svc, "c", "c0")]
            await until(lambda: svc.snapshot().queue_length == 2)
            with pytest.raises(QueueFull, match=r"busy \(2 requests waiting\); try again in ~"
                               ) as info:
                await svc.generate("d", "d0", params())
            assert info.value.retry_after >= 1
            gen.admit.release(10)
            await asyncio.gather(*tasks)

    run(main())


def test_positions_and_etas_decrease_and_updates_fire():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True)
        rec = {u: Recorder() for u in "abc"}
        async with service(gen, clock, max_batch=1) as svc:
            tasks = [await started(svc, gen)]
            tasks += [submit(svc, u, f"{u}0", rec[u]) for u in "abc"]
            await until(lambda: rec["c"].events)
            # Default 50 tok/s, 5-token jobs: 0.1 s each, one at a time behind the blocker.
            assert rec["c"].events == [QueueUpdate(3, 0.4)]
            assert rec["a"].events == [QueueUpdate(1, 0.2)]
            for calls, pos in ((2, 2), (3, 1)):
                gen.admit.release()
                await until(lambda c=calls, p=pos: len(gen.calls) == c
                            and rec["c"].positions()[-1] == p)
            gen.admit.release(10)
            await asyncio.gather(*tasks)
        updates = [e for e in rec["c"].events if isinstance(e, QueueUpdate)]
        assert [u.position for u in updates] == [3, 2, 1]
        assert updates[0].eta_s > updates[1].eta_s > updates[2].eta_s > 0
        assert isinstance(rec["c"].events[-1], TokenUpdate)

    run(main())


def test_tokens_arrive_in_order_on_the_loop_thread():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock)
        rec = Recorder()
        async with service(gen, clock) as svc:
            result = await svc.generate("u", "hello", params(40), rec)
        texts = [e.text for e in rec.events if isinstance(e, TokenUpdate)]
        assert texts and texts[-1] == result.text
        pairs = zip(texts, texts[1:], strict=False)
        assert all(b.startswith(a) and len(b) > len(a) for a, b in pairs)
        assert set(rec.threads) == {threading.get_ident()}

    run(main())


def test_cancelling_a_waiting_request_removes_it():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True)
        async with service(gen, clock) as svc:
            blocker = await started(svc, gen)
            doomed = submit(svc, "x", "doomed")
            await until(lambda: svc.snapshot().queue_length == 1)
            doomed.cancel()
            await until(lambda: svc.snapshot().queue_length == 0)
            gen.admit.release(10)
            await blocker
            assert (await svc.generate("y", "after", params())).text
        assert doomed.cancelled()
        assert gen.calls == [["block"], ["after"]]

    run(main())


def test_cancelling_mid_generation_stops_only_that_row():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, pause_at=2)
        async with service(gen, clock) as svc:
            keep, doomed = submit(svc, "a", "keep"), submit(svc, "b", "doomed")
            await asyncio.to_thread(gen.paused.wait, 5)
            doomed.cancel()
            await asyncio.sleep(0.01)
            gen.resume.set()
            kept = await keep
        assert gen.calls == [["keep", "doomed"]] and gen.stopped == ["doomed"]
        assert kept.new_tokens == BUDGET and doomed.cancelled()

    run(main())


def test_timeout_cancels_waiting_and_running_jobs_by_the_clock():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, pause_at=1)
        async with service(gen, clock, max_batch=1, timeout_s=10.0) as svc:
            running = submit(svc, "a", "running")
            await asyncio.to_thread(gen.paused.wait, 5)
            waiting = submit(svc, "b", "waiting")
            await until(lambda: svc.snapshot().queue_length == 1)
            clock.advance(10.5)
            for task in (running, waiting):
                with pytest.raises(Cancelled, match="timed out after 10 s"):
                    await task
            gen.resume.set()
            await until(lambda: svc.snapshot().in_flight == 0)
        assert gen.calls == [["running"]] and gen.stopped == ["running"]

    run(main())


def test_a_failing_request_errors_alone_and_the_worker_survives():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True, fail_word="boom")
        async with service(gen, clock) as svc:
            blocker = await started(svc, gen)
            good, bad = submit(svc, "a", "good"), submit(svc, "b", "boom")
            await until(lambda: svc.snapshot().queue_length == 2)
            gen.admit.release(10)
            await blocker
            assert (await good).text
            with pytest.raises(GenerationError, match=r"RuntimeError: fake model fell over.*"
                               "try again"):
                await bad
            assert (await svc.generate("c", "later", params())).text
        assert gen.calls == [["block"], ["good", "boom"], ["good"], ["boom"], ["later"]]

    run(main())


def test_close_cancels_pending_jobs_and_joins_the_thread():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True)
        svc = service(gen, clock)
        await svc.start()
        tasks = [await started(svc, gen), submit(svc, "b", "waiting")]
        await until(lambda: svc.snapshot().queue_length == 1)
        await svc.close()
        for task in tasks:
            with pytest.raises(Cancelled, match="shutting down"):
                await task
        assert not any(w.thread.is_alive() for w in svc._workers)
        with pytest.raises(Cancelled, match="shutting down"):
            await svc.generate("c", "late", params())

    run(main())


def test_snapshot_reports_queue_user_positions_and_measured_speed():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock, gated=True)
        async with service(gen, clock, max_batch=2) as svc:
            tasks = [await started(svc, gen, user="a")]
            tasks += [submit(svc, u, f"{u}{i}") for u, i in (("a", 1), ("b", 0), ("a", 2))]
            await until(lambda: svc.snapshot().queue_length == 3)
            snap = svc.snapshot("a")
            assert (snap.queue_length, snap.in_flight, snap.running) == (3, 1, 1)
            assert [p for p, _ in snap.positions] == [1, 3]
            assert snap.tokens_per_s == 50.0 and not snap.measured
            assert "#3 in queue" in snap.text()
            gen.admit.release(10)
            await asyncio.gather(*tasks)
            snap = svc.snapshot("a")
        # The fake costs 0.01 s per step on the fake clock: 5 tokens in 0.05 s = 100 tokens/s
        # for the first batch, 2 rows x 5 tokens in 0.05 s = 200 for the next two.
        assert snap.measured and 100 < snap.tokens_per_s < 200
        assert (snap.queue_length, snap.in_flight, snap.positions) == (0, 0, ())

    run(main())


def test_bad_params_are_refused_before_queueing():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock)
        async with service(gen, clock) as svc:
            with pytest.raises(GenerationError, match="temperature"):
                await svc.generate("a", "x", GenParams(temperature=0))
        assert gen.calls == []

    run(main())


def test_a_user_can_send_again_as_soon_as_a_result_arrives():
    async def main():
        clock = FakeClock()
        gen = FakeGenerator(clock)
        async with service(gen, clock, per_user_pending=1, batch_window_s=0.0) as svc:
            # A result can reach the user before the worker has closed its batch; the cap
            # must not count that finished row.
            for i in range(100):
                assert (await svc.generate("a", f"a{i}", params(1))).text

    run(main())
