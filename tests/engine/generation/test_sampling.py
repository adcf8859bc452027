"""GenParams validation, the sampling maths and the text tidying, without a model."""

import pytest
import torch

from engine.errors import GenerationError
from engine.generation.generator import GenParams
from engine.generation.sampling import penalise_repeats, sample_next
from engine.generation.tidy import (
    ends_sentence,
    sentence_ends,
    tidy,
    tidy_continuation,
    trim_to_sentence,
)


def test_default_params_are_valid():
    GenParams().validate()
    GenParams(max_new_tokens=1000, temperature=5, top_k=0, top_p=1, repetition_penalty=3.0,
              seed=2**31 - 1, memory_window=16).validate()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_new_tokens", 0), ("max_new_tokens", 1001), ("max_new_tokens", 2.5),
        ("temperature", 0), ("temperature", 5.01), ("temperature", float("nan")),
        ("top_k", -1), ("top_k", 1.5), ("top_p", 0), ("top_p", 1.01),
        ("repetition_penalty", 0.99), ("repetition_penalty", 3.01),
        ("memory_window", 15), ("seed", -1), ("seed", 2**31), ("seed", "7"),
        ("stop_at_sentence", "yes"),
    ],
)
def test_bad_params_name_the_option(option, value):
    with pytest.raises(GenerationError, match=option):
        GenParams(**{option: value}).validate()


def _draws(logits, n=400, **opts):
    """Token ids drawn n times from one row of logits with the given options."""
    rows = logits.expand(n, -1)
    gen = torch.Generator().manual_seed(0)
    full = {"temperature": 1.0, "top_k": 0, "top_p": 1.0} | opts
    return sample_next(
        rows,
        torch.full((n,), float(full["temperature"])),
        torch.full((n,), int(full["top_k"]), dtype=torch.long),
        torch.full((n,), float(full["top_p"])),
        torch.rand(n, generator=gen),
    )


LOGITS = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -1.0]])


def test_sampling_without_limits_reaches_unlikely_tokens():
    assert set(_draws(LOGITS).tolist()) >= {0, 1, 2, 3}


def test_top_k_limits_the_candidates():
    assert set(_draws(LOGITS, top_k=2).tolist()) == {0, 1}
    assert set(_draws(LOGITS, top_k=1).tolist()) == {0}


def test_top_p_keeps_the_smallest_covering_set():
    probs = torch.softmax(LOGITS, dim=-1)[0]  # ~0.39, 0.24, 0.14, ...
    assert probs[0] < 0.5 < probs[0] + probs[1]
    assert set(_draws(LOGITS, top_p=0.5).tolist()) == {0, 1}
    assert set(_draws(LOGITS, top_p=1e-6).tolist()) == {0}


def test_low_temperature_is_nearly_greedy_and_high_spreads():
    assert set(_draws(LOGITS, temperature=0.01).tolist()) == {0}
    cold = (_draws(LOGITS, temperature=0.5) == 0).float().mean()
    hot = (_draws(LOGITS, temperature=5.0) == 0).float().mean()
    assert hot < cold


def test_rows_use_their_own_options():
    rows = LOGITS.expand(2, -1)
    ids = sample_next(rows, torch.tensor([1.0, 1.0]), torch.tensor([1, 0]),
                      torch.tensor([1.0, 1.0]), torch.tensor([0.999, 0.999]))
    assert ids.tolist() == [0, 5]  # a uniform near 1 picks the last candidate of each row


def test_repetition_penalty_divides_positive_and_multiplies_negative():
    logits = torch.tensor([[2.0, -2.0, 2.0]])
    seen = torch.tensor([[True, True, False]])
    out = penalise_repeats(logits, seen, torch.tensor([[2.0]]))
    assert out.tolist() == [[1.0, -4.0, 2.0]]


def test_tidy_undoes_hard_wraps_inside_sentences_only():
    # a model trained on fixed-width book files breaks lines mid-sentence; that reads as a space
    assert tidy("walked up to them and\npainted her face, then\nsat down.") == \
        "walked up to them and painted her face, then sat down."
    assert tidy("_very_\nangry; so\nhe left") == "_very_ angry; so he left"
    assert tidy('"He won\'t do that,"\nand the Wizard nodded.') == \
        '"He won\'t do that," and the Wizard nodded.'  # a line going on in lower case
    assert tidy("the mountains--\nand a well-\nknown road") == \
        "the mountains--and a well-known road"
    # a line that ends a sentence or a quotation keeps its break, and blank lines stay
    assert tidy('She smiled.\n"Why?" asked Toto.\nThe end\n\nChapter two') == \
        'She smiled.\n"Why?" asked Toto.\nThe end\n\nChapter two'
    # a trailing break (more text may follow while streaming) is only stripped
    assert tidy_continuation(" up to them and\n") == " up to them and"


def test_tidy_collapses_whitespace_and_drops_junk():
    assert tidy("  a \t b\r\n\n\n\nc\x07 d\ufffd  ") == "a b\n\nc d"


def test_continuations_keep_one_leading_separator():
    assert tidy_continuation("  hello   there ") == " hello there"
    assert tidy_continuation("\n\n\nChapter two") == "\n\nChapter two"
    assert tidy_continuation(" \nnext line") == "\nnext line"
    assert tidy_continuation("thy said") == "thy said"
    assert tidy_continuation("   ") == ""


def test_sentence_ends_skip_abbreviations_and_keep_closing_quotes():
    text = 'Mr. Baum wrote. "Is it?" she asked! Then'
    ends = sentence_ends(text)
    assert [text[:e] for e in ends] == [
        "Mr. Baum wrote.", 'Mr. Baum wrote. "Is it?"', 'Mr. Baum wrote. "Is it?" she asked!'
    ]
    assert ends_sentence('He ran away."  ')
    assert not ends_sentence("He met Mr.")
    assert not ends_sentence("He ran")


def test_trim_to_sentence_never_leaves_nothing():
    assert trim_to_sentence("One. Two and") == "One."
    assert trim_to_sentence("no end at all") == "no end at all"
    assert trim_to_sentence("") == ""
