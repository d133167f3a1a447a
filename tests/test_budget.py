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


def test_a_budget_from_flag_texts_and_whether_a_cost_is_inside():
  from rc_darts_tf import budget
  from rc_darts_tf.costs import Cost
  bounds = budget.parse_budget("1.0e5:1.4e5", ":7e6", "no budget")
  assert bounds == {"params": budget.Bounds(1.0e5, 1.4e5), "macs": budget.Bounds(None, 7e6),
                    "latency_ms": None}
  assert budget.parse_budget(None, "5", "no budget") == {"params": None,
                                                         "macs": budget.Bounds(None, 5.0),
                                                         "latency_ms": None}
  assert budget.parse_budget(None, None, "no", latency_ms=":1.5")["latency_ms"] == budget.Bounds(
      None, 1.5)
  with pytest.raises(BudgetError, match="budget_latency_ms 'fast'"):
    budget.parse_budget(None, None, "no", latency_ms="fast")
  with pytest.raises(BudgetError, match="^no budget$"):
    budget.parse_budget(None, "", "no budget")
  with pytest.raises(BudgetError, match="budget_macs 'x'"):
    budget.parse_budget("1:2", "x", "no budget")
  assert budget.within(Cost(120_000, 7_000_000), bounds)             # both ends closed
  assert not budget.within(Cost(140_001, 1), bounds)
  assert not budget.within(Cost(99_999, 1), bounds)
  assert budget.within(Cost(1, 1), {"params": None, "macs": None})
  assert budget.describe(Cost(123_456, 7_100_000), bounds) == (
      "123,456 params in 100000:140000, 7,100,000 MACs OUTSIDE :7e+06")
