"""Generation options that parse but make no sense are refused at the edge, in one line."""

import math

import pytest

from bot.config import load_config
from bot.errors import BadRequest
from bot.options import gen_params
from engine.generation.params import shown

CFG = load_config(None, environ={})


@pytest.mark.parametrize("key, value, bounds", [
    ("temperature", "1e-46", "0.1..2"),
    ("temperature", 1e-46, "0.1..2"),
    ("temperature", "nan", "0.1..2"),
    ("temperature", "inf", "0.1..2"),
    ("temperature", "-1", "0.1..2"),
    ("top_p", "7.5", "0.05..1"),
    ("top_p", 0.0, "0.05..1"),
    ("top_k", str(10**20), "0..1,000"),
    ("top_k", 10**20, "0..1,000"),
    ("top_k", "-3", "0..1,000"),
    ("seed", "1" * 5000, "0..2,147,483,647"),
    ("seed", 10**5000, "0..2,147,483,647"),
    ("seed", "-1", "0..2,147,483,647"),
    ("seed", 2**31, "0..2,147,483,647"),
    ("length", "0", "1..400"),
    ("length", "-5", "1..400"),
    ("length", "401", "1..400"),
    ("length", 2.5, "1..400"),
    ("length", True, "1..400"),
    ("length", "twelve", "1..400"),
], ids=shown)
def test_nonsense_values_are_refused_naming_the_option_and_its_bounds(key, value, bounds):
    with pytest.raises(BadRequest) as err:
        gen_params({key: value}, CFG.generation)
    message = str(err.value)
    assert key in message and bounds in message
    assert len(message) < 160  # a huge value is never echoed back
    assert "\n" not in message


def test_values_in_range_pass_and_reach_the_params():
    p = gen_params({"temperature": "0.1", "top_p": "1", "top_k": "0", "seed": "2147483647",
                    "length": 400}, CFG.generation)
    assert (p.temperature, p.top_p, p.top_k, p.seed, p.max_new_tokens) == (
        0.1, 1.0, 0, 2**31 - 1, 400)
    defaults = gen_params({}, CFG.generation)
    assert defaults.seed is None and math.isclose(defaults.temperature, 0.8)
