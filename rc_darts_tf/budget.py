"""Resource bounds `C_L <= Φ <= C_H` as given on the command line ("LOW:HIGH")."""

import dataclasses
import math
from typing import Optional

from rc_darts_tf.errors import BudgetError


@dataclasses.dataclass(frozen=True)
class Bounds:
  """Closed interval [low, high]; either end may be None (unbounded)."""

  low: Optional[float] = None
  high: Optional[float] = None

  def contains(self, value: float) -> bool:
    return ((self.low is None or value >= self.low) and
            (self.high is None or value <= self.high))

  def __str__(self):
    fmt = lambda v: "" if v is None else f"{v:.6g}"  # noqa: E731
    return f"{fmt(self.low)}:{fmt(self.high)}"


def parse_bounds(text: str, what: str = "budget") -> Bounds:
  """Parse "LOW:HIGH", "LOW:" or ":HIGH" (numbers like 1.8e5), or a single number meaning ":HIGH".

  Raises BudgetError naming the bad text when a number is malformed, negative or not finite, when
  LOW > HIGH, or when neither end is given.
  """
  raw = text.strip()
  parts = raw.split(":") if ":" in raw else ["", raw]
  if len(parts) != 2:
    raise BudgetError(f"{what} {text!r}: expected LOW:HIGH, e.g. 1.8e5:2.0e5 (either end may be "
                      "left empty)")
  values = []
  for part in parts:
    part = part.strip()
    if not part:
      values.append(None)
      continue
    try:
      value = float(part)
    except ValueError:
      raise BudgetError(f"{what} {text!r}: {part!r} is not a number; expected LOW:HIGH, "
                        "e.g. 1.8e5:2.0e5") from None
    if not math.isfinite(value) or value < 0:
      raise BudgetError(f"{what} {text!r}: {part!r} must be a finite number >= 0")
    values.append(value)
  low, high = values
  if low is None and high is None:
    raise BudgetError(f"{what} {text!r}: give at least one bound, e.g. 1.8e5:2.0e5 or :2.0e5")
  if low is not None and high is not None and low > high:
    raise BudgetError(f"{what} {text!r}: lower bound {low:.6g} is above upper bound {high:.6g}")
  return Bounds(low, high)
