"""Resource bounds `C_L <= Φ <= C_H` as given on the command line ("LOW:HIGH"), a budget
({resource: Bounds or None}) and whether a cost is inside it."""

import dataclasses
import math
from typing import Dict, Optional

from rc_darts_tf.errors import BudgetError


@dataclasses.dataclass(frozen=True)
class Bounds:
  """Closed interval [low, high]; either end may be None (unbounded)."""

  low: Optional[float] = None
  high: Optional[float] = None

  def contains(self, value: float) -> bool:
    """low <= value <= high, a None end not checked."""
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


def parse_budget(params: Optional[str], macs: Optional[str], missing: str,
                 latency_ms: Optional[str] = None) -> Dict[str, Optional[Bounds]]:
  """{resource: Bounds or None} for every resource of resources.REGISTRY, from the
  --budget_params / --budget_macs / --budget_latency_ms texts (None or "" = no bound on that
  resource). BudgetError naming the bad text (parse_bounds), or `missing` when none is given."""
  return parse_texts({"params": params, "macs": macs, "latency_ms": latency_ms}, missing)


def parse_texts(texts: Dict[str, Optional[str]], missing: str) -> Dict[str, Optional[Bounds]]:
  """{resource: Bounds or None} for every resource of resources.REGISTRY from {resource: text}
  (absent, None or "" = no bound). BudgetError naming the bad text, or `missing` when none is
  given; KeyError for a name that is not a resource."""
  from rc_darts_tf import resources
  unknown = set(texts) - set(resources.NAMES)
  if unknown:
    raise KeyError(f"unknown resources {sorted(unknown)}; known: {resources.NAMES}")
  budget = {r.name: parse_bounds(texts[r.name], r.flag) if texts.get(r.name) else None
            for r in resources.REGISTRY}
  if all(b is None for b in budget.values()):
    raise BudgetError(missing)
  return budget


def within(cost, budget: Dict[str, Optional[Bounds]]) -> bool:
  """Whether `cost` (anything with .get(resource): costs.Cost) is inside every bound."""
  return all(b is None or b.contains(cost.get(r)) for r, b in budget.items())


def describe(cost, budget: Dict[str, Optional[Bounds]]) -> str:
  """'123,456 params in 100000:140000, 7,100,000 MACs OUTSIDE :7e+06' (one part per bounded
  resource, and params and MACs always; latency as '0.460 ms latency in :0.6')."""
  from rc_darts_tf import resources
  parts = []
  for resource, b in budget.items():
    if b is None and resources.get(resource).table != "formula":
      continue
    value = cost.get(resource)
    mark = "" if b is None else (" in " if b.contains(value) else " OUTSIDE ") + str(b)
    r = resources.get(resource)
    parts.append(f"{r.format(value)} {r.label}{mark}")
  return ", ".join(parts)
