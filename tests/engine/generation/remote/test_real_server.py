"""The remote backend against a real `transformers serve` on the tiny model: streaming,
seeds, the sentence stop and the verbatim guard, cancellation."""

import pytest

from engine.generation.finishing import Finisher, attempt_seed
from engine.generation.guard import VerbatimGuard
from engine.generation.params import GenParams
from engine.generation.remote import RemoteEngine

PROMPT = "Dorothy looked at the Scarecrow and"


@pytest.fixture
def engine(served_tiny):
    engine = RemoteEngine([served_tiny.url], name=served_tiny.name, max_concurrency=2)
    yield engine
    engine.close()


def test_a_passage_streams_in_and_the_same_seed_gives_the_same_text(engine, served_tiny):
    params = GenParams(max_new_tokens=30, seed=7)
    seen: list[str] = []
    (first,) = engine.generate([PROMPT], [params], on_token=lambda i, text: seen.append(text))
    (again,) = engine.generate([PROMPT], [params])
    (other,) = engine.generate([PROMPT], [GenParams(max_new_tokens=30, seed=8)])
    assert len(seen) > 5 and all(b.startswith(a) for a, b in zip(seen, seen[1:], strict=False))
    assert first.text and seen[-1].startswith(first.text.rstrip())
    assert again.text == first.text and other.text != first.text
    assert (first.seed, first.server, first.model_id) == (7, served_tiny.url, served_tiny.name)
    assert 0 < first.new_tokens <= 30 and first.finish_reason in ("sentence", "length", "eos")
    up = engine.describe()[0]
    assert up.startswith(f"{served_tiny.url}: up") and "3 served" in up and "tokens/s" in up


def test_the_sentence_stop_ends_the_passage_at_a_sentence(engine):
    (r,) = engine.generate([PROMPT], [GenParams(max_new_tokens=60, seed=11)])
    if r.finish_reason == "sentence":
        assert r.new_tokens >= 36 and r.text.rstrip()[-1] in ".!?\"'”’)]"
    else:  # no sentence end after 60% of the budget: trimmed to the last one there is
        (raw,) = engine.generate([PROMPT], [GenParams(max_new_tokens=60, seed=11,
                                                      stop_at_sentence=False)])
        assert raw.text.startswith(r.text.rstrip())


def test_the_guard_regenerates_with_derived_seeds_then_cuts(served_tiny):
    params = GenParams(max_new_tokens=30, seed=21, stop_at_sentence=False)
    plain = RemoteEngine([served_tiny.url], name=served_tiny.name)
    try:
        (first,) = plain.generate([PROMPT], [params])
        (retry,) = plain.generate([PROMPT], [GenParams(max_new_tokens=30, stop_at_sentence=False,
                                                       seed=attempt_seed(21, 1))])
    finally:
        plain.close()
    books = VerbatimGuard.from_texts([first.text], k=8)  # "the books" hold the first passage
    guarded = RemoteEngine([served_tiny.url], name=served_tiny.name,
                           finisher=Finisher(books, guard_words=8))
    cutting = RemoteEngine([served_tiny.url], name=served_tiny.name,
                           finisher=Finisher(books, guard_words=8, guard_action="cut"))
    try:
        (regenerated,) = guarded.generate([PROMPT], [params])
        (cut,) = cutting.generate([PROMPT], [params])
    finally:
        guarded.close()
        cutting.close()
    assert len(first.text.split()) >= 8
    assert (regenerated.guard, regenerated.seed, regenerated.text) == \
        ("regenerated", 21, retry.text)  # the server honours the derived seed
    assert cut.guard == "cut" and len(cut.text) < len(first.text)


def test_a_stopped_passage_ends_at_once_and_the_server_serves_the_next(engine):
    seen: list[str] = []
    long = GenParams(max_new_tokens=400, seed=5, stop_at_sentence=False)
    (stopped,) = engine.generate([PROMPT], [long], on_token=lambda i, t: seen.append(t),
                                 should_stop=lambda i: len(seen) >= 3)
    (after,) = engine.generate([PROMPT], [GenParams(max_new_tokens=10, seed=5,
                                                    stop_at_sentence=False)])
    assert stopped.finish_reason == "cancelled" and stopped.new_tokens < 50
    assert after.finish_reason == "length" and after.new_tokens == 10
