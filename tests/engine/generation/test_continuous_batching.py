"""Continuous batching on the tiny model: rows admitted into a running batch, on_done."""

import pytest

from engine.generation.generator import Generator, GenParams

A, B, C = "Dorothy looked at the Scarecrow and", "The Lion roared", "Toto ran to the"
LONG = GenParams(max_new_tokens=40, seed=3, stop_at_sentence=False)
SHORT = GenParams(max_new_tokens=15, seed=9, stop_at_sentence=False)


@pytest.fixture(scope="module", params=["torch", "llama"])
def gen(request, tiny_model_dir):
    """Each runtime: torch on the tiny GPT-2, llama.cpp on the demo model's GGUF."""
    if request.param == "llama":
        return request.getfixturevalue("llama_gen")
    return Generator(tiny_model_dir, dtype="float32")


class Admitter:
    """Offers one waiting row after ``after`` calls; remembers the free slots it was told."""

    def __init__(self, rows, after):
        self.rows, self.after, self.free = list(rows), after, []

    def __call__(self, free):
        self.free.append(free)
        if len(self.free) < self.after or not self.rows:
            return []
        return [self.rows.pop(0)]


def test_admitted_row_writes_what_it_writes_alone(gen):
    lone = [gen.generate([p], [o])[0] for p, o in ((A, LONG), (C, LONG), (B, SHORT))]
    admit, done, streamed = Admitter([("late", B, SHORT)], after=6), [], []
    results = gen.generate([A, C], [LONG, LONG], admit=admit, max_rows=3,
                           on_done=lambda key, r: done.append((key, r)),
                           on_token=lambda i, text: streamed.append(i))
    assert [r.text for r in results] == [r.text for r in lone]  # admitted row comes last
    assert [r.seed for r in results] == [3, 3, 9]
    assert results[2].new_tokens == 15 and results[0].new_tokens == 40
    # It joined mid-batch: streamed after rows 0/1 had started, and finished before them.
    last = {i: len(streamed) - 1 - streamed[::-1].index(i) for i in (0, 2)}
    assert streamed.index(2) > streamed.index(0) and last[2] < last[0]
    assert [key for key, _ in done] == ["late", 0, 1]
    assert dict(done)["late"] is results[2]
    assert set(admit.free[:6]) == {1} and max(admit.free) <= 3  # never past max_rows


def test_admitted_row_can_be_stopped_and_callers_without_admit_are_unchanged(gen):
    plain = gen.generate([A], [LONG])
    admit = Admitter([("x", B, SHORT)], after=1)
    results = gen.generate([A], [LONG], admit=admit, max_rows=2, should_stop=lambda i: i == 1)
    assert results[0].text == plain[0].text
    assert results[1].finish_reason == "cancelled" and results[1].new_tokens == 0
    assert gen.generate([A], [LONG], on_done=lambda *a: None)[0].text == plain[0].text


class Holder:
    """Holds the rows whose keys are in ``out`` while ``steps`` calls last; records calls."""

    def __init__(self, out, steps):
        self.out, self.steps, self.calls = set(out), steps, []

    def __call__(self, keys):
        self.calls.append(list(keys))
        return self.out if len(self.calls) <= self.steps else set()


def test_held_rows_sit_out_and_resume_writing_what_they_write_alone(gen):
    lone = [gen.generate([p], [LONG])[0] for p in (A, B, C)]
    streamed = []  # (row, hold calls so far) per streamed token
    hold = Holder({1, 2}, steps=12)
    results = gen.generate([A, B, C], [LONG] * 3, hold=hold,
                           on_token=lambda i, text: streamed.append((i, len(hold.calls))))
    assert [r.text for r in results] == [r.text for r in lone]
    # While held, rows 1 and 2 streamed nothing; row 0 ran on alone.
    assert 12 < min(n for i, n in streamed if i in (1, 2)) <= 16
    assert sum(1 for i, n in streamed if i == 0 and n <= 12) >= 8
    assert hold.calls[0] == [0, 1, 2] and len(hold.calls) >= 40


def test_hold_frees_slots_for_admitted_rows_and_never_holds_everyone(gen):
    lone = [gen.generate([p], [o])[0] for p, o in ((A, LONG), (C, LONG), (B, SHORT))]
    admit = Admitter([("late", B, SHORT)], after=3)
    hold = Holder({1}, steps=25)  # row 1 sits out: the late row takes its slot at once
    results = gen.generate([A, C], [LONG, LONG], admit=admit, hold=hold, max_rows=2)
    assert [r.text for r in results] == [r.text for r in lone]
    assert admit.free[2] == 1  # row 1 was held, so one slot was free for the late row
    everyone = gen.generate([A, C], [LONG, LONG], hold=lambda keys: set(keys))
    assert [r.text for r in everyone] == [r.text for r in lone[:2]]


def test_a_held_row_can_be_cancelled(gen):
    results = gen.generate([A, C], [LONG, LONG], hold=lambda keys: {1},
                           should_stop=lambda i: i == 1)
    assert results[1].finish_reason == "cancelled" and results[1].new_tokens == 0
    assert results[0].new_tokens == 40


def test_joining_rows_are_prefilled_alone_and_merged_into_the_cache(tiny_model_dir):
    gen = Generator(tiny_model_dir, dtype="float32")
    shapes = []
    gen.model.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True)
    admit = Admitter([("late", B, SHORT)], after=6)
    gen.generate([A, C], [LONG, LONG], admit=admit, max_rows=3)
    assert shapes[0][0] == 2 and shapes[0][1] > 1  # the first prefill
    wide = [s for s in shapes[1:] if s[1] > 1]
    assert wide == [(1, len(gen.tokenizer(B).input_ids))]  # only the late row, on its own
    assert (3, 1) in shapes  # then it decodes in the same batch as the others


@pytest.mark.parametrize("case", ["admit", "hold"])
def test_models_without_a_movable_cache_re_prefill_and_write_the_same(gen, monkeypatch, case):
    from engine.generation import kv_batch

    if gen.runtime == "llama":
        pytest.skip("llama.cpp rows always move with their sequence (see test_llama_runtime)")
    lone = [gen.generate([p], [o])[0] for p, o in ((A, LONG), (C, LONG), (B, SHORT))]
    monkeypatch.setattr(kv_batch.Batch, "mergeable", property(lambda self: False))
    if case == "admit":
        results = gen.generate([A, C], [LONG, LONG], max_rows=3,
                               admit=Admitter([("late", B, SHORT)], after=6))
    else:
        results = gen.generate([A, C, B], [LONG, LONG, SHORT], hold=Holder({0, 2}, steps=9))
    assert [r.text for r in results] == [r.text for r in lone]


def test_random_joins_holds_slides_and_cancels_never_change_a_row(gen):
    """A seeded schedule mixing admissions, holds, memory-window slides and cancels: every
    row that is not cancelled writes exactly what it writes alone."""
    import random

    rnd = random.Random(7)
    prompts = [A, B, C, "Oz", "The Tin Woodman said that the wicked witch of the West"]
    rows = [(f"r{i}", rnd.choice(prompts),
             GenParams(max_new_tokens=rnd.randint(5, 45), seed=i, stop_at_sentence=False,
                       memory_window=rnd.choice([16, 24, 512])))
            for i in range(10)]
    lone = {key: gen.generate([p], [o])[0].text for key, p, o in rows}
    first, later = rows[:3], rows[3:]
    step = {"n": 0}
    keys = [key for key, _, _ in first]  # index -> key, as the generator numbers rows

    def admit(free):
        step["n"] += 1
        if not later or rnd.random() < 0.6:
            return []
        taken = later[:rnd.randint(1, free)]
        del later[:len(taken)]
        keys.extend(key for key, _, _ in taken)
        return taken

    def hold(row_keys):
        return {k for k in row_keys if rnd.random() < 0.3}

    cancelled = {3, 7}
    results = gen.generate([p for _, p, _ in first], [o for _, _, o in first], admit=admit,
                           hold=hold, max_rows=4,
                           should_stop=lambda i: i in cancelled and step["n"] > 8)
    assert not later and len(results) == 10
    for i, result in enumerate(results):
        if result.finish_reason == "cancelled":
            assert i in cancelled
        else:
            assert result.text == lone[keys[i]], keys[i]
