"""The word filter: whole words, the usual disguises, no false alarms, any input."""

import pytest

from bot.config import FILTER_ALLOW, FilterConfig
from bot.safety.filtering import ContentFilter, load_wordlist
from bot.safety.wordfilter import MASK, WordMatcher, mask

LISTED = ["voidbringer", "shit", "ass", "blue moon"]


@pytest.fixture(scope="module")
def matcher():
    return WordMatcher(LISTED, allow=["blue moon"])


def _found(matcher, text):
    return [(text[h.start:h.end], h.entry) for h in matcher.find(text)]


@pytest.mark.parametrize("text", [
    "voidbringer", "VOIDBRINGER", "Voidbringers?"[:-2] + "r!",  # case, trailing punctuation
    "v0idbr1nger", "vo1dbr!nger", "v()idbringer"[:0] + "voidbr|nger",  # leetspeak
    "vooooidbriiinger", "voidbringerrrr",  # stretched letters
    "v.o.i.d.b.r.i.n.g.e.r", "v-o-i-d-b-r-i-n-g-e-r", "v_o_i_d_bringer", "v*o*i*d*bringer",
    "v o i d b r i n g e r", "void\u200bbringer", "void\u00adbringer",  # separators
    "ｖｏｉｄｂｒｉｎｇｅｒ", "vöidbrïnger", "vоidbringer",  # full width, accents, Cyrillic о
])
def test_a_listed_word_is_found_through_disguises(matcher, text):
    line = f"Then the {text} came."
    hits = _found(matcher, line)
    assert [entry for _, entry in hits] == ["voidbringer"], hits
    masked = mask(line, matcher.find(line))
    assert masked.startswith("Then the ") and masked.endswith(" came.") and MASK in masked


@pytest.mark.parametrize("text", [
    "class", "assume", "passage", "Scunthorpe", "bass", "as I said", "shitake"[:0] + "shiitake",
    "the voidbringers' wings"[:0] + "a void bringer", "45 55 455", "1337", "a b c",
    "blue moon", "BLUE MOON",  # allowed phrase
])
def test_innocent_text_is_left_alone(matcher, text):
    assert matcher.find(text) == [], text


def test_runs_may_only_be_longer_than_in_the_listed_word(matcher):
    assert _found(matcher, "asss and as") == [("asss", "ass")]


def test_phrases_and_pieces_of_joined_words():
    m = WordMatcher(["blue moon", "shit"])
    assert [e for _, e in _found(m, "once in a Blue   Mo0n")] == ["blue moon"]
    assert [e for _, e in _found(m, "holy shit-storm")] == ["shit"]
    assert [e for _, e in _found(m, "blue, moon")] == ["blue moon"]  # through punctuation
    assert _found(m, "blue big moon") == []  # not consecutive words


def test_masking_keeps_length_and_spaces():
    m = WordMatcher(["shit"])
    text = "oh s h i t, again"
    out = mask(text, m.find(text))
    assert len(out) == len(text) and out == f"oh {MASK} {MASK} {MASK} {MASK}, again"


@pytest.mark.parametrize("make", [
    lambda n: "a." * n, lambda n: "a " * n, lambda n: "v0" * n, lambda n: "x" * (2 * n),
    lambda n: "s h i " * (n // 3), lambda n: "blue " * n, lambda n: "\u200b" * (2 * n),
])
def test_any_input_is_handled_in_one_pass(make):
    """Adversarial shapes at 60,000 characters finish (a quadratic pass would take hours);
    benchmarks/safety_filter.py shows the time growing linearly with the length."""
    m = WordMatcher(["shit", "blue moon", "voidbringer", "a", "aaa"])
    m.find(make(30_000))


def test_the_maintained_list_loads_and_the_defaults_spare_ordinary_book_words():
    words = load_wordlist("english")
    assert len(words) > 300 and "fuck" in words
    f = ContentFilter(FilterConfig())
    assert f.enabled
    assert not f.check("A charming girl on the road met an escort of soldiers.").hits
    assert f.check("What the f.u.c.k is this").masked == f"What the {MASK * 7} is this"
    assert set(FILTER_ALLOW) <= set(FilterConfig().allow)


def test_an_unknown_list_is_a_clear_error():
    from bot.safety.filtering import WordListError

    with pytest.raises(WordListError, match="available: .*english"):
        load_wordlist("klingon")


def test_a_disabled_filter_passes_everything():
    f = ContentFilter(FilterConfig(enabled=False, block=["shit"]))
    assert not f.enabled and f.check("shit").clean
