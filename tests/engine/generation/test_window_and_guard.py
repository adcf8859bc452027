"""The memory window (positions never exceed it) and the verbatim-guard integration."""

from itertools import pairwise

import pytest
import torch

from engine.generation.generator import Generator, GenParams

PROMPT = "The Wizard told them"


@pytest.fixture(scope="module")
def gen(tiny_model_dir):
    return Generator(tiny_model_dir, dtype="float32")


def record_positions(gen) -> list[int]:
    """Record the largest position id of every forward pass (a public forward hook)."""
    seen: list[int] = []

    def hook(module, args, kwargs):
        seen.append(int(kwargs["position_ids"].max()))

    gen.model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def test_memory_window_bounds_positions_and_long_runs_work(tiny_model_dir):
    gen = Generator(tiny_model_dir, dtype="float32")
    positions = record_positions(gen)
    long_prompt = " ".join(["Dorothy walked along the yellow brick road."] * 30)
    params = [GenParams(seed=1, max_new_tokens=60, memory_window=16, stop_at_sentence=False),
              GenParams(seed=2, max_new_tokens=60, memory_window=32, stop_at_sentence=False)]
    results = gen.generate([long_prompt, PROMPT], params)
    assert [r.new_tokens for r in results] == [60, 60] or any(
        r.finish_reason == "eos" for r in results)
    assert max(positions) <= 31
    refills = sum(1 for a, b in pairwise(positions) if b < a)
    assert refills >= 3  # the contexts slid several times


def test_window_is_capped_by_the_model_positions(tiny_model_dir, tmp_path):
    """A model with 24 positions still writes 80 tokens with the default window of 512."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model_dir, n_positions=24)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(tmp_path)
    gen = Generator(tmp_path, dtype="float32")
    positions = record_positions(gen)
    r = gen.generate([PROMPT * 5], [GenParams(seed=3, max_new_tokens=80, stop_at_sentence=False,
                                               top_k=0)])[0]
    assert r.new_tokens == 80 or r.finish_reason == "eos"
    assert max(positions) <= 23


class FakeGuard:
    """Flags texts in `copied` (or all texts) as a 20-word copy starting half-way through."""

    def __init__(self, copied=None, flag_all=False):
        self.copied, self.flag_all = set(copied or ()), flag_all
        self.checked: list[str] = []
        self.cuts: list[tuple[str, int]] = []

    def longest_copy(self, text):
        self.checked.append(text)
        if self.flag_all or text in self.copied:
            return 20, len(text) // 2, len(text)
        return 3, 0, 5

    def cut(self, text, max_words):
        self.cuts.append((text, max_words))
        return text[: len(text) // 2]


PARAMS = GenParams(seed=9, max_new_tokens=40, stop_at_sentence=False)


def test_guard_passes_clean_text(tiny_model_dir, gen):
    plain = gen.generate([PROMPT], [PARAMS])[0]
    guard = FakeGuard()
    r = Generator(tiny_model_dir, dtype="float32", guard=guard).generate([PROMPT], [PARAMS])[0]
    assert (r.text, r.guard) == (plain.text, None) and guard.checked


def test_guard_regenerates_a_copied_row_with_a_derived_seed(tiny_model_dir, gen):
    plain = gen.generate([PROMPT, "Oz"], [PARAMS, PARAMS])
    guard = FakeGuard(copied={plain[0].text})
    guarded = Generator(tiny_model_dir, dtype="float32", guard=guard)
    first = guarded.generate([PROMPT], [PARAMS])[0]
    assert first.guard == "regenerated" and first.text != plain[0].text
    assert first.seed == PARAMS.seed and not guard.cuts
    r = guarded.generate([PROMPT, "Oz"], [PARAMS, PARAMS])
    assert r[0].text == first.text  # retries are deterministic too
    assert (r[1].text, r[1].guard) == (plain[1].text, None)


def test_guard_cuts_after_three_failed_retries(tiny_model_dir):
    guard = FakeGuard(flag_all=True)
    streamed: list[str] = []
    r = Generator(tiny_model_dir, dtype="float32", guard=guard, guard_words=15).generate(
        [PROMPT], [PARAMS], on_token=lambda i, t: streamed.append(t))[0]
    assert r.guard == "cut" and guard.cuts and guard.cuts[-1][1] == 15
    assert r.text == guard.cuts[-1][0][: len(guard.cuts[-1][0]) // 2].rstrip()
    restarts = sum(1 for a, b in pairwise(streamed) if len(b) < len(a))
    assert restarts == 3  # each of the 3 retries streams again from the start


def test_guard_cut_action_does_not_regenerate(tiny_model_dir, gen):
    plain = gen.generate([PROMPT], [PARAMS])[0]
    guard = FakeGuard(copied={plain.text})
    r = Generator(tiny_model_dir, dtype="float32", guard=guard, guard_action="cut").generate(
        [PROMPT], [PARAMS])[0]
    assert r.guard == "cut" and guard.cuts == [(plain.text, 12)]
    assert plain.text.startswith(r.text) and len(r.text) < len(plain.text)


def test_guard_below_the_threshold_is_ignored(tiny_model_dir, gen):
    plain = gen.generate([PROMPT], [PARAMS])[0]
    guard = FakeGuard(copied={plain.text})
    r = Generator(tiny_model_dir, dtype="float32", guard=guard, guard_words=21).generate(
        [PROMPT], [PARAMS])[0]
    assert (r.text, r.guard) == (plain.text, None)
