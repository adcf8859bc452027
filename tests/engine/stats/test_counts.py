"""Term counts per book: matching rules, errors and speed on the real Oz books."""

import re

import pytest

from engine.errors import EngineError
from engine.stats.counts import MAX_TERM_CHARS, TermCounter, TermError, normalise
from tests.paths import OZ_DIR

OZ = OZ_DIR


@pytest.fixture(scope="module")
def oz_books():
    books = {}
    for i, path in enumerate(sorted(OZ.glob("*.txt")), start=1):
        text = path.read_text(encoding="utf-8")
        books[f"oz{i}"] = text.split("*** START OF")[1].split("*** END OF")[0]
    return books


@pytest.fixture(scope="module")
def oz_counter(oz_books):
    return TermCounter(oz_books)


@pytest.fixture(scope="module")
def oz_normalised(oz_books):
    return {code: normalise(text) for code, text in oz_books.items()}


def small():
    return TermCounter({
        "b1": "Oz and OZMA went to Oz's palace. The Tin\r\n   Woodman waved; _Oz_ slept.",
        "b2": "Ozma! ozma? The tin-woodman and the Tin Woodman. Ha ha ha.",
        "b3": "",
    })


def test_order_is_series_order():
    assert list(small().count("oz")) == ["b1", "b2", "b3"]
    assert small().codes == ["b1", "b2", "b3"]


def test_substring_mode_counts_inside_words_case_insensitively():
    assert small().count("oz") == {"b1": 4, "b2": 2, "b3": 0}
    assert small().count("OZMA") == {"b1": 1, "b2": 2, "b3": 0}


def test_exact_mode_counts_whole_words_only():
    c = small()
    assert c.count("Oz", exact=True) == {"b1": 3, "b2": 0, "b3": 0}  # Oz, Oz's, _Oz_
    assert c.count("ozma", exact=True) == {"b1": 1, "b2": 2, "b3": 0}
    assert c.count("zma", exact=True)["b2"] == 0
    assert c.count("zma", exact=False)["b2"] == 2


def test_multi_word_terms_match_across_whitespace_and_newlines():
    c = small()
    assert c.count("Tin Woodman") == {"b1": 1, "b2": 1, "b3": 0}
    assert c.count("tin   woodman", exact=True) == {"b1": 1, "b2": 1, "b3": 0}
    assert c.count("tin-woodman", exact=True)["b2"] == 1  # the hyphen is part of the term


def test_counts_do_not_overlap():
    c = small()
    assert c.count("ha ha")["b2"] == 1
    assert c.count("ha ha", exact=True)["b2"] == 1


def test_terms_with_punctuation_at_the_edges():
    c = small()
    assert c.count("ozma!", exact=True)["b2"] == 1
    assert c.count("oz's", exact=True)["b1"] == 1
    assert c.count("!", exact=True)["b2"] == 1


def test_unknown_words_count_zero():
    assert small().count("Glinda", exact=True) == {"b1": 0, "b2": 0, "b3": 0}


@pytest.mark.parametrize("term", ["", "   ", "\n", "x" * (MAX_TERM_CHARS + 1)])
def test_bad_terms_raise_clear_errors(term):
    with pytest.raises(TermError) as info:
        small().count(term)
    assert isinstance(info.value, EngineError) and isinstance(info.value, ValueError)
    assert "search term" in str(info.value)


def test_longest_allowed_term_is_fine():
    assert small().count("y" * MAX_TERM_CHARS)["b1"] == 0


def test_normalise():
    assert normalise("  Dorothy\u2019s\r\n\tDOG ") == "dorothy's dog"


@pytest.mark.parametrize(
    "term", ["Oz", "Tin\nWoodman", "of the", "Dorothy's", "said the scarecrow"])
def test_exact_agrees_with_a_regex_on_the_books(oz_counter, oz_normalised, term):
    norm = normalise(term)
    pattern = re.compile(r"(?<![^\W_])" + re.escape(norm) + r"(?![^\W_])")
    got = oz_counter.count(term, exact=True)
    want = {code: len(pattern.findall(text)) for code, text in oz_normalised.items()}
    assert got == want
    substring = oz_counter.count(term)
    assert all(got[c] <= substring[c] for c in got)


def test_real_counts_are_plausible(oz_counter):
    assert len(oz_counter.codes) == 14
    dorothy = oz_counter.count("Dorothy", exact=True)
    assert all(n > 0 for code, n in dorothy.items() if code not in ("oz2", "oz9", "oz10"))
    oz_exact = sum(oz_counter.count("Oz", exact=True).values())
    oz_sub = sum(oz_counter.count("Oz").values())
    assert 0 < oz_exact < oz_sub  # "Ozma" counts only as a substring


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("term", ["Dorothy", "the Tin Woodman", "oz", "Scarecrow's", "said"])
def test_counts_before_a_point_equal_counts_of_that_first_part(oz_books, oz_counter, term,
                                                               exact):
    """A reader's progress: counts in the first n tokens, as if that part were the book."""
    text = oz_books["oz1"]
    tokens = text.split()
    for n in (0, 1, 5000, len(tokens) // 2, len(tokens)):
        end = oz_counter.prefix_end("oz1", n)
        alone = TermCounter({"part": " ".join(tokens[:n])}).count(term, exact)["part"]
        assert oz_counter.count_before(term, "oz1", end, exact) == alone, (term, n)
    assert oz_counter.count_before(term, "oz1", len(normalise(text)), exact) == \
        oz_counter.count(term, exact)["oz1"]
