"""The resources a budget can bound, declared once: what each is, its unit, its flag, how it is
shown and where its per-op table comes from. Everything downstream (the budget flags, bounds, Φ's
rows, the projection, the exact-budget derivation, the summaries, the pictures, the logs) iterates
over `REGISTRY` in this order, so a resource added here is one more row everywhere.

  params      trainable weights of the inference network (costs.py's formulas)
  macs        multiply-accumulates at batch 1 (costs.py's formulas)
  latency_ms  batch-1 latency of the exported TFLite file in ms, from a measured latency table
              (rc_darts_tf/latency.py, rc-darts-latency): its rows are zeros and it cannot be
              bounded without --latency_table
"""

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class Resource:
  """One resource.

  name        the key of budgets, Φ's rows, logs and report fields ("params", ...)
  flag        the bound's flag, "budget_<name>"
  label       for people: "params", "MACs", "latency"
  unit        "" for counts, "ms" for latency
  help        the flag's help text
  table       where its per-op costs come from: "formula" (costs.py) or "latency_table"
  integer     whether values are whole counts (shown with thousands separators)
  """

  name: str
  flag: str
  label: str
  unit: str
  help: str
  table: str = "formula"
  integer: bool = True

  def format(self, value: float) -> str:
    """'123,456' for a count, '1.234 ms' for latency (exact, for summaries)."""
    if self.integer:
      return f"{value:,.0f}"
    return f"{value:,.3f} {self.unit}".strip()

  def short(self, value: float) -> str:
    """'1.23M' for a count (fmt_count), '1.23 ms' for latency (progress lines, pictures)."""
    if self.integer:
      return fmt_count(value)
    return f"{value:.3g} {self.unit}".strip()


PARAMS = Resource(
    "params", "budget_params", "params", "",
    "Parameter bounds LOW:HIGH, e.g. 1.8e5:2.0e5 (either end may be empty). Counted as trainable "
    "weights of the inference network without the auxiliary head, BN γ/β included.")
MACS = Resource(
    "macs", "budget_macs", "MACs", "",
    "Multiply-accumulate bounds LOW:HIGH at batch 1, e.g. 2.8e7:3.3e7 (Conv2D, DepthwiseConv2D "
    "and Dense).")
LATENCY_MS = Resource(
    "latency_ms", "budget_latency_ms", "latency", "ms",
    "Latency bounds LOW:HIGH in ms of the exported TFLite file at batch 1, e.g. :1.2 (needs "
    "--latency_table, measured for the budget network's geometry with rc-darts-latency).",
    table="latency_table", integer=False)

REGISTRY: Tuple[Resource, ...] = (PARAMS, MACS, LATENCY_MS)
NAMES: Tuple[str, ...] = tuple(r.name for r in REGISTRY)


def fmt_count(value: float) -> str:
  """1234567 -> '1.23M' (for people; files keep exact integers)."""
  import math
  value = float(value)
  for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
    if abs(value) >= scale:
      return f"{value / scale:.3g}{unit}"
  return f"{value:.0f}" if math.isfinite(value) else str(value)


def get(name: str) -> Resource:
  """The resource `name`; KeyError naming the known ones."""
  for resource in REGISTRY:
    if resource.name == name:
      return resource
  raise KeyError(f"unknown resource {name!r}; known: {', '.join(NAMES)}")
