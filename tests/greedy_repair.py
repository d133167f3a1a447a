"""The greedy budget repair that `--derive=budget` used before the exact-budget derivation (kept
here as the baseline the MILP must match or beat, tests/search/test_derive.py).

Same edges as Eq. 1; swaps one kept edge's op (or the connection op) at a time, choosing the swap
that removes the most constraint violation per unit of lost log-probability, until the exact cost
is inside the bounds.
"""

from typing import Dict, Optional, Tuple

import numpy as np

from rc_darts_tf import costs, ops
from rc_darts_tf.budget import Bounds
from rc_darts_tf.genotype import Genotype


def _violation(cost: np.ndarray, bounds: Dict[str, Optional[Bounds]]) -> float:
  total = 0.0
  for k, resource in enumerate(costs.RESOURCES):
    b = bounds.get(resource)
    if b is None:
      continue
    scale = b.high if b.high else (b.low or 1.0)
    if b.low is not None:
      total += max(b.low - cost[k], 0.0) / scale
    if b.high is not None:
      total += max(cost[k] - b.high, 0.0) / scale
  return total


def greedy_repair(genotype: Genotype, theta_cells: np.ndarray,
                  theta_connection: Optional[np.ndarray], tables: costs.CostTables,
                  bounds: Dict[str, Optional[Bounds]], max_changes: int = 500) -> Tuple[Genotype, list]:
  """Move an Eq. 1 genotype whose exact cost is outside the budget to an in-budget one, keeping
  its edges and changing as little of θ's preference as possible.

  θ can satisfy the budget in expectation (Φ) while its argmax network does not: when θ is still
  flat (short searches), cheap ops win the argmax on every edge even though expensive ops keep
  most of the expected cost. The repair is greedy on the exact cost tables u (the discrete
  network's cost is additive over kept edges): at each change it swaps one kept edge's op (or the
  connection op) for the one that removes the most violation per unit of lost log-probability,
  until the exact cost is inside the bounds. Returns the genotype and the list of changes (empty
  when Eq. 1's genotype already fits or nothing can reduce the violation).
  """
  levels = genotype.levels
  logp = np.log(np.maximum(costs.softmax(np.asarray(theta_cells, np.float64)), 1e-300))
  cells = [list(cell) for cell in genotype.normal] + [list(genotype.reduce)]
  index = {op: o for o, op in enumerate(ops.PRIMITIVES)}
  conn_names = ops.CONNECTION_PRIMITIVES
  conn_logp = None
  if tables.learn_connection and theta_connection is not None:
    conn_logp = np.log(np.maximum(costs.softmax(np.asarray(theta_connection, np.float64)),
                                  1e-300))

  def edge_of(k, i):
    return costs.NODE_EDGE_RANGES[k // 2][0] + i

  cost = tables.fixed.copy()
  for g, cell in enumerate(cells):
    for k, (op, i) in enumerate(cell):
      cost += tables.cells[:, g, edge_of(k, i), index[op]]
  connection = genotype.connection
  if conn_logp is not None:
    cost += tables.connection[:, conn_names.index(connection)]

  changes = []
  violation = _violation(cost, bounds)
  while violation > 0 and len(changes) < max_changes:
    best = None
    for g, cell in enumerate(cells):
      for k, (op, i) in enumerate(cell):
        e = edge_of(k, i)
        for new in ops.PRIMITIVES:
          if new in ("none", op):
            continue
          new_cost = cost + tables.cells[:, g, e, index[new]] - tables.cells[:, g, e, index[op]]
          gain = violation - _violation(new_cost, bounds)
          if gain <= 1e-12:
            continue
          loss = max(logp[g, e, index[op]] - logp[g, e, index[new]], 0.0)
          key = (loss / gain, -gain)
          if best is None or key < best[0]:
            best = (key, ("cell", g, k, new), new_cost)
    if conn_logp is not None:
      current = conn_names.index(connection)
      for c, new in enumerate(conn_names):
        if c == current:
          continue
        new_cost = cost + tables.connection[:, c] - tables.connection[:, current]
        gain = violation - _violation(new_cost, bounds)
        if gain <= 1e-12:
          continue
        loss = max(conn_logp[current] - conn_logp[c], 0.0)
        key = (loss / gain, -gain)
        if best is None or key < best[0]:
          best = (key, ("connection", new), new_cost)
    if best is None:
      break
    _, change, cost = best
    if change[0] == "cell":
      _, g, k, new = change
      old, i = cells[g][k]
      cells[g][k] = (new, i)
      group = "reduce" if g == levels else f"normal level {g}"
      changes.append(f"{group} node {k // 2} input {i}: {old} -> {new}")
    else:
      changes.append(f"connection: {connection} -> {change[1]}")
      connection = change[1]
    violation = _violation(cost, bounds)
  repaired = Genotype(normal=cells[:levels], reduce=cells[levels],
                      normal_concat=genotype.normal_concat, reduce_concat=genotype.reduce_concat,
                      connection=connection, meta=dict(genotype.meta))
  return repaired, changes
