"""Sentence polarity, per-book rescaling, smoothing and chapter summaries."""

import re

import pytest
from textblob import TextBlob

from engine.stats import sentiment as S
from tests.paths import OZ_DIR

OZ = OZ_DIR


def oz_sentences(name: str) -> list[str]:
    """Rough sentences of one Oz book (Gutenberg header and footer dropped)."""
    text = (OZ / name).read_text(encoding="utf-8")
    body = text.split("*** START OF")[1].split("*** END OF")[0]
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", body) if s.strip()]


TRICKY = [
    "", "   ", "It was good.", "It was not good.", "It wasn't good at all!",
    "I wouldn't call it bad.", "Really very happy!!", "She smiled :)", "He frowned : (",
    "Oh, wonderful (!)", "The GREAT and TERRIBLE Oz.", "\u201cHow lovely,\u201d said she.",
    "Dorothy\u2019s dog isn\u2019t sad.", "A well-known, light-hearted tale.", "<3 Toto",
    "Tik-Tok is a machine-man; he never tires.", "caf\u00e9 \u00fcber na\u00efve", "12 o'clock",
]


@pytest.mark.parametrize("sentence", TRICKY)
def test_polarity_matches_textblob_on_tricky_sentences(sentence):
    assert S.polarity([sentence]) == [TextBlob(sentence).sentiment.polarity]


@pytest.mark.parametrize("book", ["01-the-wonderful-wizard-of-oz.txt", "14-glinda-of-oz.txt"])
def test_polarity_matches_textblob_on_a_whole_book(book):
    sentences = oz_sentences(book)
    assert len(sentences) > 1000
    expected = [TextBlob(s).sentiment.polarity for s in sentences]
    got = S.polarity(sentences)
    assert got == expected
    assert any(p > 0 for p in got) and any(p < 0 for p in got)


def test_polarity_of_repeated_sentences_is_consistent():
    got = S.polarity(["What a happy day.", "Go away.", "What a happy day."])
    assert got[0] == got[2] > 0
    assert got[1] == 0.0


def test_compound_centres_on_median_and_fills_range():
    scores = [0.0] * 50 + [0.1 * i for i in range(1, 11)] + [-0.05 * i for i in range(1, 11)]
    out = S.compound(scores)
    assert len(out) == len(scores)
    assert sorted(out)[len(out) // 2] == 0.0
    assert max(out) == 1.0 and min(out) > -1.0
    assert all(-1.0 <= v <= 1.0 for v in out)


def test_compound_is_robust_to_one_outlier():
    scores = [0.01 * ((i % 21) - 10) for i in range(210)] + [50.0]
    out = S.compound(scores)
    assert out[-1] == 1.0  # clipped, not allowed to squash the rest
    assert max(abs(v) for v in out[:-1]) > 0.9


def test_compound_handles_empty_and_constant():
    assert S.compound([]) == []
    assert S.compound([0.3, 0.3, 0.3]) == [0.0, 0.0, 0.0]


def test_ewma_matches_pandas_adjust_false():
    # alpha = 2 / (3 + 1) = 0.5: each value moves halfway to the new point
    assert S.ewma([1.0, 0.0, 0.0, 1.0], span=3) == [1.0, 0.5, 0.25, 0.625]
    assert S.ewma([2.0] * 5, span=10) == [2.0] * 5
    assert S.ewma([], span=4) == []
    with pytest.raises(ValueError, match="span"):
        S.ewma([1.0], span=0)


def test_arc_is_rescaled_smoothing():
    sentences = oz_sentences("03-ozma-of-oz.txt")
    arc = S.arc(S.polarity(sentences))
    assert len(arc) == len(sentences)
    assert max(abs(v) for v in arc) == pytest.approx(1.0)
    steps = [abs(b - a) for a, b in zip(arc, arc[1:], strict=False)]
    assert max(steps) < 0.2  # smooth: no sentence jumps the arc far


def test_chapter_means_in_first_appearance_order():
    means = S.chapter_means([1.0, 0.0, 0.5, -1.0], [2, 2, 1, 1])
    assert list(means) == [2, 1]
    assert means == {2: 0.5, 1: -0.25}
    with pytest.raises(ValueError):
        S.chapter_means([1.0], [1, 2])


def test_summarise_picks_chapters_and_quotes():
    sentences = ["Fine day."] * 5 + ["A glorious, joyful feast!", "Nice."] + \
                ["Bad news."] * 5 + ["A terrible, dreadful storm.", "Meh."] + ["Sad."]
    scores = [0.1] * 5 + [0.9, 0.2] + [-0.2] * 5 + [-0.95, 0.0] + [-1.0]
    chapters = [1] * 7 + [2] * 7 + [3]
    summary = S.summarise(sentences, scores, chapters, {1: "Feast", 2: "Storm"})
    assert summary.sentences == 15
    assert summary.most_positive.chapter == 1
    assert summary.most_positive.title == "Feast"
    assert summary.most_positive.quote == "A glorious, joyful feast!"
    assert summary.most_negative.chapter == 2  # chapter 3 is too short to count
    assert summary.most_negative.quote == "A terrible, dreadful storm."
    assert summary.most_negative.quote_score == -0.95
    assert S.summarise(sentences, scores, chapters, min_sentences=1).most_negative.chapter == 3


def test_quote_prefers_short_sentences_and_shortens_long_ones():
    long = "word " * 100
    quote, score = S.quote_for([long, "Short and sweet."], [1.0, 0.5], positive=True)
    assert (quote, score) == ("Short and sweet.", 0.5)
    quote, score = S.quote_for([long], [1.0], positive=True, max_chars=50)
    assert len(quote) <= 50 and quote.endswith("\u2026") and score == 1.0
    assert S.shorten("a  b\n c", 10) == "a b c"


def test_ewma_warm_start_begins_at_the_mean_of_the_first_span():
    # level starts at mean([1, 0, 0]) = 1/3, alpha = 0.5
    want = [2 / 3, 1 / 3, 1 / 6, 7 / 12]
    assert S.ewma([1.0, 0.0, 0.0, 1.0], span=3, warm=True) == pytest.approx(want)


def test_arc_is_not_dominated_by_an_extreme_opening_sentence():
    # one very positive first sentence, then a slow rise: the arc must rise, not fall from +1
    pol = [1.0] + [0.2 * (i / 400) - 0.1 + (0.3 if i % 7 == 0 else 0.0) for i in range(400)]
    a = S.arc(pol, span=40)
    assert a[0] < 0.5 and a[-1] > a[len(a) // 4]
