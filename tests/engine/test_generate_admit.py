"""Continuous batching on the tiny model: rows admitted into a running batch, on_done."""

import pytest

from engine.generate import Generator, GenParams

A, B, C = "Dorothy looked at the Scarecrow and", "The Lion roared", "Toto ran to the"
LONG = GenParams(max_new_tokens=40, seed=3, stop_at_sentence=False)
SHORT = GenParams(max_new_tokens=15, seed=9, stop_at_sentence=False)


@pytest.fixture(scope="module")
def gen(tiny_model_dir):
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
