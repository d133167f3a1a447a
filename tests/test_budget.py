import math

import pytest

from rc_darts_tf.budget import Bounds, parse_bounds
from rc_darts_tf.errors import BudgetError


@pytest.mark.parametrize("text, low, high", [
    ("1.8e5:2.0e5", 1.8e5, 2.0e5),
    (":3.3e7", None, 3.3e7),
    ("2.8e7:", 2.8e7, None),
    ("200000", None, 2e5),
    (" 0:0 ", 0.0, 0.0),
])
def test_parse_bounds(text, low, high):
  bounds = parse_bounds(text)
  assert bounds == Bounds(low, high)


@pytest.mark.parametrize("text, fragment", [
    ("2e5:1e5", "lower bound 200000 is above upper bound 100000"),
    ("-1:5", "'-1' must be a finite number >= 0"),
    ("abc:5", "'abc' is not a number"),
    ("1:2:3", "expected LOW:HIGH"),
    (":", "give at least one bound"),
    ("nan:1", "must be a finite number"),
    ("1:inf", "must be a finite number"),
])
def test_parse_bounds_rejects(text, fragment):
  with pytest.raises(BudgetError) as info:
    parse_bounds(text, "budget_params")
  message = str(info.value)
  assert fragment in message
  assert text in message and "budget_params" in message
  assert "\n" not in message


def test_bounds_contains_and_str():
  bounds = parse_bounds("1.8e5:2.0e5")
  assert bounds.contains(1.9e5) and bounds.contains(1.8e5) and bounds.contains(2.0e5)
  assert not bounds.contains(1.79e5) and not bounds.contains(2.01e5)
  assert Bounds(None, 5).contains(-math.inf)
  assert str(parse_bounds("1.8e5:2e5")) == "180000:200000"
