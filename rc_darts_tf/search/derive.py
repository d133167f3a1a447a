"""Eq. 1: discretise θ into a Genotype, and describe it with its exact cost.

Per node keep the 2 strongest predecessors, the strength of an edge being its largest softmax
weight over the non-'none' ops; per kept edge take the argmax non-'none' op. Pairs are listed
strongest edge first, as DARTS's `_parse` does (ties go to the lower input index). The same top-2
rule selects σ(i ∈ A_j) in Φ (costs.top2_mask / CostModel.top2_mask). The connection op is the
argmax of θ_connection.
"""

from typing import Dict, List, Optional, Tuple

import numpy as np

from rc_darts_tf import costs, ops
from rc_darts_tf.budget import Bounds
from rc_darts_tf.genotype import Genotype

NONE = ops.PRIMITIVES.index("none")


def parse_cell(probs: np.ndarray) -> List[Tuple[str, int]]:
  """[14, 8] softmax weights -> 8 (op, input) pairs, DARTS order (node by node, strongest first)."""
  probs = np.asarray(probs, np.float64)
  strength = costs.edge_strength(probs, NONE)
  masked = probs.copy()
  masked[:, NONE] = -np.inf
  pairs = []
  for j, (start, end) in enumerate(costs.NODE_EDGE_RANGES):
    order = np.argsort(-strength[start:end], kind="stable")[:2]
    for i in order:
      pairs.append((ops.PRIMITIVES[int(np.argmax(masked[start + i]))], int(i)))
  return pairs


def derive(theta_cells: np.ndarray, theta_connection: Optional[np.ndarray] = None,
           levels: Optional[int] = None) -> Genotype:
  """θ [levels + 1, 14, 8] (last row: reduce) and θ_connection [4] or None -> Genotype."""
  theta_cells = np.asarray(theta_cells, np.float64)
  levels = theta_cells.shape[0] - 1 if levels is None else levels
  probs = costs.softmax(theta_cells)
  normal = [parse_cell(probs[g]) for g in range(levels)]
  reduce = parse_cell(probs[levels])
  connection = None
  if theta_connection is not None:
    connection = ops.CONNECTION_PRIMITIVES[int(np.argmax(theta_connection))]
  return Genotype(normal=normal, reduce=reduce, connection=connection)


def describe(genotype: Genotype, plan: costs.NetworkPlan, bounds: Dict[str, Optional[Bounds]],
             phi: Optional[Dict[str, float]] = None, settings: Optional[dict] = None) -> Genotype:
  """Fill genotype.meta: settings, budget, Φ at the end, the exact cost of the discrete network
  at the budget's geometry, whether it is inside the budget, and warnings."""
  exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)
  budget = {r: str(b) for r, b in bounds.items() if b is not None}
  inside = {r: bool(b.contains(exact.get(r))) for r, b in bounds.items() if b is not None}
  warnings = []
  for resource, ok in inside.items():
    if not ok:
      warnings.append(
          f"the derived network's exact {resource} ({exact.get(resource):,}) is outside the "
          f"budget {budget[resource]}: the expected cost Φ the search constrained is not the "
          "cost of the discrete network; retrain at a different width (rc-darts-tune "
          "--fit_budget) or search longer")
  genotype.meta.update({
      "settings": dict(settings or {}),
      "budget": budget,
      "budget_network": {"init_channels": plan.init_channels, "layers": plan.layers,
                         "stem": plan.stem, "image_size": plan.image_size,
                         "num_classes": plan.num_classes},
      "phi": {r: float(v) for r, v in (phi or {}).items()},
      "exact_cost": exact.as_dict(),
      "within_budget": all(inside.values()) if inside else None,
      "warnings": warnings,
  })
  return genotype
