"""GenerationService driving the real engine Generator on the tiny test model."""

import asyncio
import threading

from bot.messages import TokenUpdate
from bot.serving.service import GenerationService
from engine.generation.generator import Generator, GenParams


class CountingGenerator:
    """The real Generator, with a record of each batch it was handed."""

    supports_joins = supports_holds = independent_rows = False

    def __init__(self, inner: Generator) -> None:
        self.inner, self.batches = inner, []
        self.model_id = inner.model_id

    def generate(self, prompts, params, on_token=None, should_stop=None, **no_joins):
        self.batches.append(len(prompts))
        return self.inner.generate(prompts, params, on_token, should_stop)


def test_concurrent_requests_share_a_batch_and_stream_on_the_loop(tiny_model_dir):
    gen = CountingGenerator(Generator(tiny_model_dir))
    prompts = ["Dorothy lived", "The Scarecrow said", "Toto barked"]
    opts = [GenParams(max_new_tokens=24, seed=s, stop_at_sentence=False) for s in (1, 2, 3)]
    seen: dict[int, list[tuple[int, str]]] = {0: [], 1: [], 2: []}

    def listener(i):
        def on_event(event):
            if isinstance(event, TokenUpdate):
                seen[i].append((threading.get_ident(), event.text))
        return on_event

    async def main():
        async with GenerationService(gen, max_batch=8, batch_window_s=0.05) as svc:
            together = await asyncio.gather(*[
                svc.generate(f"user{i}", p, o, listener(i))
                for i, (p, o) in enumerate(zip(prompts, opts, strict=True))])
            alone = await svc.generate("user9", prompts[1], opts[1])
            return together, alone, svc.snapshot()

    together, alone, snap = asyncio.run(asyncio.wait_for(main(), 120))
    assert gen.batches == [3, 1]
    assert all(r.new_tokens > 0 and r.text for r in together)
    assert alone.text == together[1].text  # a row's output does not depend on its batch
    for i, result in enumerate(together):
        assert {t for t, _ in seen[i]} == {threading.get_ident()}
        assert seen[i][-1][1].strip() == result.text.strip()
    assert snap.measured and snap.tokens_per_s > 0


class JoiningGenerator(CountingGenerator):
    """CountingGenerator that also lets waiting jobs join its running batch."""

    supports_joins = True

    def generate(self, prompts, params, on_token=None, should_stop=None, *, admit=None,
                 on_done=None, max_rows=None, hold=None):
        self.batches.append(len(prompts))
        return self.inner.generate(prompts, params, on_token, should_stop, admit=admit,
                                   on_done=on_done, max_rows=max_rows)


def test_a_late_request_joins_the_running_batch_and_returns_first(tiny_model_dir):
    gen = JoiningGenerator(Generator(tiny_model_dir))
    long = GenParams(max_new_tokens=400, seed=1, stop_at_sentence=False)
    short = GenParams(max_new_tokens=8, seed=2, stop_at_sentence=False)

    async def main():
        async with GenerationService(gen, max_batch=8) as svc:
            alone = await svc.generate("b", "Toto barked", short)
            streaming = asyncio.Event()
            a = asyncio.ensure_future(svc.generate(
                "a", "Dorothy lived", long,
                lambda e: streaming.set() if isinstance(e, TokenUpdate) else None))
            await streaming.wait()
            calls = len(gen.batches)  # a may even have joined the call that served `alone`
            joined = await svc.generate("b", "Toto barked", short)
            a_was_running = not a.done() and svc.snapshot("a").running == 1
            return alone, joined, a_was_running, await a, svc.snapshot(), calls

    alone, joined, a_was_running, a_result, snap, calls = asyncio.run(
        asyncio.wait_for(main(), 120))
    assert len(gen.batches) == calls  # b's second request joined a's batch: no call of its own
    assert joined.text == alone.text and joined.new_tokens == 8
    assert a_was_running and a_result.new_tokens > 8
    assert snap.in_flight == 0 and snap.queue_length == 0


class HoldingGenerator:
    """The real Generator with continuous batching and fair holds; records what each hold
    call held, by job prompt."""

    supports_joins = supports_holds = True
    independent_rows = False

    def __init__(self, inner: Generator) -> None:
        self.inner, self.held, self.batches = inner, [], []
        self.model_id = inner.model_id

    def generate(self, prompts, params, on_token=None, should_stop=None, *, admit=None,
                 on_done=None, max_rows=None, hold=None):
        self.batches.append(list(prompts))
        names = dict(enumerate(prompts))

        def admit_named(free):
            rows = admit(free)
            names.update({key: prompt for key, prompt, _ in rows})
            return rows

        def hold_recorded(keys):
            out = hold(keys)
            self.held.append((sorted(names[k] for k in keys), sorted(names[k] for k in out)))
            return out

        return self.inner.generate(prompts, params, on_token, should_stop, admit=admit_named,
                                   on_done=on_done, max_rows=max_rows, hold=hold_recorded)


def test_a_newcomer_gets_a_fair_share_of_a_flooders_batch_at_once(tiny_model_dir):
    gen = HoldingGenerator(Generator(tiny_model_dir))
    long = GenParams(max_new_tokens=200, seed=1, stop_at_sentence=False)
    short = GenParams(max_new_tokens=10, seed=2, stop_at_sentence=False)
    flood = [f"Dorothy number {i} walked" for i in range(4)]

    async def main():
        async with GenerationService(gen, max_batch=4, per_user_pending=10) as svc:
            alone = [await svc.generate("solo", p, long) for p in flood]
            b_alone = await svc.generate("solo", "Toto barked", short)
            started = asyncio.Event()
            tasks = [asyncio.ensure_future(svc.generate(
                "A", p, long, lambda e: started.set() if isinstance(e, TokenUpdate) else None))
                for p in flood]
            await started.wait()
            calls = len(gen.batches)  # A may even have joined the call that served b_alone
            b = await svc.generate("B", "Toto barked", short)
            a_running = [not t.done() for t in tasks]
            joined = len(gen.batches) == calls
            return (alone, b_alone, b, a_running, joined, await asyncio.gather(*tasks),
                    svc.snapshot())

    alone, b_alone, b, a_running, joined, a_results, snap = asyncio.run(
        asyncio.wait_for(main(), 120))
    assert all(a_running)  # B finished while all four of A's rows were still unfinished
    assert b.text == b_alone.text and b.new_tokens == 10
    assert [r.text for r in a_results] == [r.text for r in alone]  # holds change nothing
    assert all(r.new_tokens == 200 for r in a_results)
    assert joined  # B joined the running batch instead of waiting for a new one
    shares = [out for keys, out in gen.held if "Toto barked" in keys]
    assert shares and all(out == flood[3:] for out in shares)  # A kept 3 of shared_batch 4
    assert not gen.held[-1][1]  # once B left, A's held rows came back
    assert snap.in_flight == 0 and snap.queue_length == 0
