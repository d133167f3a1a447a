"""Eq. 1: discretise θ into a Genotype; the exact-budget derivation; the genotype's exact cost.

Eq. 1 (DARTS's `_parse`): per node keep the 2 strongest predecessors, the strength of an edge
being its largest softmax weight over the non-'none' ops (times β̂_e, its normalised edge weight,
in a partial-channel search: PC-DARTS); per kept edge take the argmax
non-'none' op. Pairs are listed strongest edge first (ties go to the lower input index). The
same top-2 rule selects σ(i ∈ A_j) in Φ (costs.top2_mask / CostModel.top2_mask). The connection
op is the argmax of θ_connection. The weights are softmax(θ / τ) with the search's final
temperature τ, the weights the search itself ends with.

Exact-budget derivation (`solve_budget`): among all genotypes of the space (2 inputs per node, one
non-'none' op per kept edge, one connection op), the one that maximises Σ log softmax(θ / τ) over
the chosen ops subject to the exact cost of the budget network inside every bound. The exact
cost is additive over kept edges (costs.CostTables: u[m, g, e, o] already sums the cells of a
group), so this is a mixed-integer linear program with G·E·(O − 1) + K binaries, solved by HiGHS
through `scipy.optimize.milp`. Without bounds its optimum is Eq. 1's genotype.
"""

import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rc_darts_tf import costs, resources
# The op names (the order of θ's columns) come from costs.py, which holds them without TensorFlow,
# so budgets and genotypes can be checked before TensorFlow is imported.
from rc_darts_tf import search_space as search_space_lib
from rc_darts_tf.budget import Bounds, within
from rc_darts_tf.errors import BudgetError
from rc_darts_tf.genotype import Genotype

NONE = 0      # 'none' is op 0 of every search space (search_space.SearchSpace checks it)
DARTS = search_space_lib.DEFAULT


def parse_cell(probs: np.ndarray, strength: Optional[np.ndarray] = None,
               space: search_space_lib.SearchSpace = DARTS) -> List[Tuple[str, int]]:
  """[E, O] softmax weights (O = `space`'s cell ops) -> 8 (op, input) pairs, DARTS order (node by
  node, strongest first). strength: [E] edge strengths in any monotone form (default: from
  probs; costs.edge_log_strength for sharp θ / τ, where weights round to 1.0)."""
  probs = np.asarray(probs, np.float64)
  if strength is None:
    strength = costs.edge_strength(probs, NONE)
  masked = probs.copy()
  masked[:, NONE] = -np.inf
  pairs = []
  for j, (start, end) in enumerate(costs.NODE_EDGE_RANGES):
    order = np.argsort(-strength[start:end], kind="stable")[:2]
    for i in order:
      pairs.append((space.primitives[int(np.argmax(masked[start + i]))], int(i)))
  return pairs


def derive(theta_cells: np.ndarray, theta_connection: Optional[np.ndarray] = None,
           levels: Optional[int] = None, temperature: float = 1.0,
           theta_edges: Optional[np.ndarray] = None,
           space: search_space_lib.SearchSpace = DARTS) -> Genotype:
  """Eq. 1. θ [G, E, O] (G = levels + 1, last row: reduce; O = `space`'s cell ops), θ_connection
  [K] or None, the softmax temperature τ > 0 (the search's final one), β [G, E] of a
  partial-channel search or None (PC-DARTS: an edge's strength is β̂_e · its largest non-'none'
  weight) -> Genotype of `space`."""
  theta_cells = np.asarray(theta_cells, np.float64)
  levels = theta_cells.shape[0] - 1 if levels is None else levels
  logp = costs.log_softmax(theta_cells / temperature)
  strength = costs.edge_log_strength(theta_cells, temperature, NONE, theta_edges)
  normal = [parse_cell(logp[g], strength[g], space) for g in range(levels)]
  reduce = parse_cell(logp[levels], strength[levels], space)
  connection = None
  if theta_connection is not None:
    connection = space.connection_primitives[int(np.argmax(theta_connection))]
  return Genotype(normal=normal, reduce=reduce, connection=connection, search_space=space.name)


def describe(genotype: Genotype, plan: costs.NetworkPlan, bounds: Dict[str, Optional[Bounds]],
             phi: Optional[Dict[str, float]] = None, settings: Optional[dict] = None,
             latency_table=None) -> Genotype:
  """Fill genotype.meta: settings, budget, Φ at the end, the exact cost of the discrete network
  at the budget's geometry (its latency too with a `latency_table`: costs.genotype_cost), whether
  it is inside the budget, and warnings."""
  exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection,
                              latency_table=latency_table)
  budget = {r: str(b) for r, b in bounds.items() if b is not None}
  inside = {r: bool(b.contains(exact.get(r))) for r, b in bounds.items() if b is not None}
  warnings = []
  for resource, ok in inside.items():
    if not ok:
      warnings.append(
          f"the derived network's exact {resource} "
          f"({resources.get(resource).format(exact.get(resource))}) is outside the "
          f"budget {budget[resource]}: the search bounds the expected cost Φ, not the cost "
          "of the argmax network; --derive=budget (the default) derives the most likely "
          "genotype inside the budget")
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


def _bound_arrays(bounds: Dict[str, Optional[Bounds]]):
  """{resource: Bounds or None} -> (low [R], high [R]) with ±inf for a missing end."""
  ends = [(getattr(bounds.get(r), "low", None), getattr(bounds.get(r), "high", None))
          for r in costs.RESOURCES]
  low = np.array([-np.inf if lo is None else float(lo) for lo, _ in ends])
  high = np.array([np.inf if hi is None else float(hi) for _, hi in ends])
  return low, high


def _node_of_edge():
  node = np.zeros(costs.NUM_EDGES, np.int64)
  for j, (start, end) in enumerate(costs.NODE_EDGE_RANGES):
    node[start:end] = j
  return node


def solve_milp(logp: np.ndarray, cost: np.ndarray, fixed: np.ndarray, low: np.ndarray,
               high: np.ndarray, conn_logp: Optional[np.ndarray] = None,
               conn_cost: Optional[np.ndarray] = None,
               node_ranges: Sequence[Tuple[int, int]] = costs.NODE_EDGE_RANGES,
               inputs_per_node: int = 2):
  """The exact-budget derivation as a mixed-integer linear program (HiGHS via scipy.optimize.milp).

  logp: [G, E, O] log-weights of the selectable ops (−inf = not selectable, e.g. 'none');
  cost: [R, G, E, O] exact cost of choosing op o on edge e of group g (summed over the group's
  cells); fixed: [R]; low, high: [R] bounds (±inf = none); conn_logp, conn_cost: [K], [R, K] or
  None (no connection choice); node_ranges: the edges [start, end) of every node.
  Maximises Σ logp·x + Σ conn_logp·y subject to: every node of every group takes exactly
  `inputs_per_node` edges, every kept edge exactly one op, exactly one connection op, and
  low ≤ fixed + Σ cost·x + Σ conn_cost·y ≤ high for every resource.
  Returns (choice [G, E] op index or −1, connection index or None, objective), or None when no
  genotype meets the bounds.
  """
  from scipy.optimize import Bounds as VarBounds
  from scipy.optimize import LinearConstraint, milp
  logp = np.asarray(logp, np.float64)
  g_count, e_count, o_count = logp.shape
  cost = np.asarray(cost, np.float64)
  selectable = np.isfinite(logp)
  # Ops of one edge with the same cost in every resource (the pools, and skip at stride 1, all
  # cost 0) are interchangeable in every constraint: only the likeliest of them can be optimal.
  # Dropping the others is exact and removes the near-ties that slow branch and bound.
  for g in range(g_count):
    for e in range(e_count):
      best = {}
      for o in np.flatnonzero(selectable[g, e]):
        key = tuple(cost[:, g, e, o])
        if key not in best or logp[g, e, o] > logp[g, e, best[key]]:
          best[key] = o
      selectable[g, e] = False
      selectable[g, e, list(best.values())] = True
  index = -np.ones(logp.shape, np.int64)
  index[selectable] = np.arange(int(selectable.sum()))
  n_x = int(selectable.sum())
  k = 0 if conn_logp is None else len(conn_logp)
  n = n_x + k
  objective = np.zeros(n)
  objective[:n_x] = -logp[selectable]
  if k:
    objective[n_x:] = -np.asarray(conn_logp, np.float64)
  rows, lo, hi = [], [], []
  for g in range(g_count):
    for e in range(e_count):                        # at most one op per edge
      cols = index[g, e][index[g, e] >= 0]
      if len(cols):
        row = np.zeros(n)
        row[cols] = 1.0
        rows.append(row), lo.append(0.0), hi.append(1.0)
    for start, end in node_ranges:                  # `inputs_per_node` edges per node
      row = np.zeros(n)
      cols = index[g, start:end][index[g, start:end] >= 0]
      row[cols] = 1.0
      rows.append(row), lo.append(inputs_per_node), hi.append(inputs_per_node)
  if k:
    row = np.zeros(n)
    row[n_x:] = 1.0
    rows.append(row), lo.append(1.0), hi.append(1.0)
  for m in range(cost.shape[0]):
    if not (np.isfinite(low[m]) or np.isfinite(high[m])):
      continue
    # counts (params, MACs) are integers: tighten to the integers inside the bound (not for a
    # resource in ms); scale the row to O(1)
    scale = abs(high[m]) if np.isfinite(high[m]) else abs(low[m])
    scale = scale if scale > 0 else 1.0
    row = np.zeros(n)
    row[:n_x] = cost[m][selectable]
    if k:
      row[n_x:] = conn_cost[m]
    whole = bool(np.all(row == np.round(row)) and fixed[m] == np.round(fixed[m]))
    low_m = np.ceil(low[m] - 1e-9) if whole else low[m]
    high_m = np.floor(high[m] + 1e-9) if whole else high[m]
    rows.append(row / scale)
    lo.append((low_m - fixed[m]) / scale if np.isfinite(low[m]) else -np.inf)
    hi.append((high_m - fixed[m]) / scale if np.isfinite(high[m]) else np.inf)
  result = milp(objective, integrality=np.ones(n), bounds=VarBounds(0, 1),
                constraints=LinearConstraint(np.array(rows), np.array(lo), np.array(hi)),
                options={"presolve": True, "mip_rel_gap": 1e-9})
  if result.status != 0 or result.x is None:
    return None
  x = np.round(result.x).astype(np.int64)
  choice = -np.ones((g_count, e_count), np.int64)
  for g in range(g_count):
    for e in range(e_count):
      picked = [o for o in range(o_count) if index[g, e, o] >= 0 and x[index[g, e, o]]]
      if picked:
        choice[g, e] = picked[0]
  connection = int(np.argmax(x[n_x:])) if k else None
  return choice, connection, float(-result.fun)


def _pairs_from_choice(choice_row: np.ndarray, strength_row: np.ndarray,
                       space: search_space_lib.SearchSpace):
  """Kept edges of one cell [E] (op index or −1) -> 8 DARTS pairs, strongest edge first."""
  pairs = []
  for start, end in costs.NODE_EDGE_RANGES:
    kept = [e for e in range(start, end) if choice_row[e] >= 0]
    kept.sort(key=lambda e: (-strength_row[e], e))
    pairs += [(space.primitives[int(choice_row[e])], e - start) for e in kept]
  return pairs


def changes_between(before: Genotype, after: Genotype) -> List[str]:
  """What the exact-budget derivation changed, one line per changed node or connection."""
  changes = []
  cells_before = list(before.normal) + [before.reduce]
  cells_after = list(after.normal) + [after.reduce]
  levels = before.levels
  for g, (a, b) in enumerate(zip(cells_before, cells_after)):
    group = "reduce" if g == levels else f"normal level {g}"
    for j in range(costs.NUM_NODES):
      old = sorted(a[2 * j:2 * j + 2], key=lambda p: p[1])
      new = sorted(b[2 * j:2 * j + 2], key=lambda p: p[1])
      if old != new:
        fmt = lambda pairs: ", ".join(f"{op} from {i}" for op, i in pairs)  # noqa: E731
        changes.append(f"{group} node {j}: {fmt(old)} -> {fmt(new)}")
  if before.connection != after.connection:
    changes.append(f"connection: {before.connection} -> {after.connection}")
  return changes


def solve_budget(theta_cells: np.ndarray, theta_connection: Optional[np.ndarray],
                 tables: costs.CostTables, bounds: Dict[str, Optional[Bounds]],
                 temperature: float = 1.0, levels: Optional[int] = None,
                 theta_edges: Optional[np.ndarray] = None) -> Genotype:
  """The exact-budget derivation: the genotype of highest Σ log softmax(θ / τ) over its chosen
  ops (plus Σ log β̂ over its kept edges in a partial-channel search) whose exact cost (at the
  budget network, `tables`) is inside every bound.

  θ: [G, E, O] (G = levels + 1), θ_connection: [K] or None (fixed connection), β: [G, E] or
  None. Raises
  BudgetError (one line with the exact achievable range) when no genotype of the space meets the
  bounds. Takes a few to a few tens of milliseconds (at most G·E·(O − 1) + K binaries).
  """
  theta_cells = np.asarray(theta_cells, np.float64)
  levels = theta_cells.shape[0] - 1 if levels is None else levels
  logp = costs.log_softmax(theta_cells / temperature)
  strength = costs.edge_log_strength(theta_cells, temperature, NONE, theta_edges)
  if theta_edges is not None:   # one op per kept edge: log β̂_e counts once per kept edge
    logp = logp + costs.edge_log_weights(theta_edges)[..., None]
  logp[..., NONE] = -np.inf
  conn_logp = conn_cost = None
  if tables.learn_connection and theta_connection is not None:
    conn_logp = costs.log_softmax(np.asarray(theta_connection, np.float64) / temperature)
    conn_cost = tables.connection
  low, high = _bound_arrays(bounds)
  solved = solve_milp(logp, tables.cells, tables.fixed, low, high, conn_logp, conn_cost)
  if solved is None:
    raise BudgetError(infeasible_message(tables, bounds))
  choice, connection, _ = solved
  space = tables.space
  cells = [_pairs_from_choice(choice[g], strength[g], space) for g in range(choice.shape[0])]
  fixed_connection = None
  if conn_logp is not None:
    fixed_connection = space.connection_primitives[connection]
  return Genotype(normal=cells[:levels], reduce=cells[levels], connection=fixed_connection,
                  search_space=space.name)


def infeasible_message(tables: costs.CostTables, bounds: Dict[str, Optional[Bounds]]) -> str:
  """One line: the bounds no genotype meets, and the exact achievable range per resource."""
  ranges = costs.achievable_range(tables)
  plan = tables.plan
  given = ", ".join(f"--budget_{r}={bounds[r]}" for r in costs.RESOURCES
                    if bounds.get(r) is not None)
  shown = [(k, resources.get(r)) for k, r in enumerate(costs.RESOURCES) if r in tables.priced]
  span = ", ".join(f"{'its ' if n == 0 else ''}{res.name} lie in "
                   f"[{res.format(ranges[k, 0])}, {res.format(ranges[k, 1])}]"
                   for n, (k, res) in enumerate(shown))
  return (f"{given} cannot be met by any genotype of this search space: {span} (budget "
          f"network: {plan.layers} cells, C={plan.init_channels}, {plan.stem} stem, "
          f"{plan.image_size}x{plan.image_size}, {plan.levels} "
          f"level{'s' if plan.levels != 1 else ''}, connection "
          f"{'learned' if tables.learn_connection else 'fixed'}"
          + ("; the bounds must also be met together)" if len(given.split(", ")) > 1 else ")"))


def check_feasible(tables: costs.CostTables, bounds: Dict[str, Optional[Bounds]]) -> None:
  """Raise BudgetError (one line) unless some genotype's exact cost is inside every bound."""
  if not any(b is not None for b in bounds.values()):
    return
  low, high = _bound_arrays(bounds)
  # One resource alone out of reach, or every bound wider than the space: decided by the exact
  # per-resource range, without the solver (nor scipy's import, ~0.7 s), so a refusal is quick.
  ranges = costs.achievable_range(tables)
  whole = np.array([resources.get(r).integer for r in costs.RESOURCES])
  low_reach = np.where(whole, np.ceil(low - 1e-9), low)       # counts are whole numbers
  high_reach = np.where(whole, np.floor(high + 1e-9), high)
  unpriced = [r for r in costs.RESOURCES if bounds.get(r) is not None and r not in tables.priced]
  if unpriced:
    raise BudgetError(f"--budget_{unpriced[0]}={bounds[unpriced[0]]}: the budget network's "
                      f"{unpriced[0]} is not priced (give --latency_table, measured for it with "
                      "rc-darts-latency)")
  if np.any(low_reach > ranges[:, 1]) or np.any(high_reach < ranges[:, 0]):
    raise BudgetError(infeasible_message(tables, bounds))
  if np.all(low <= ranges[:, 0]) and np.all(high >= ranges[:, 1]):
    return
  zeros = np.zeros(tables.cells.shape[1:])
  zeros[..., NONE] = -np.inf
  conn = tables.connection if tables.learn_connection else None
  conn_logp = np.zeros(tables.connection.shape[1]) if tables.learn_connection else None
  if solve_milp(zeros, tables.cells, tables.fixed, low, high, conn_logp, conn) is None:
    raise BudgetError(infeasible_message(tables, bounds))


def derive_in_budget(theta_cells: np.ndarray, theta_connection: Optional[np.ndarray],
                     tables: costs.CostTables, bounds: Dict[str, Optional[Bounds]],
                     temperature: float = 1.0, theta_edges: Optional[np.ndarray] = None):
  """Eq. 1, then, when its exact cost is outside the bounds, `solve_budget` (β: [G, E] of a
  partial-channel search or None).

  Returns (Eq. 1 genotype, final genotype, list of changes, seconds the MILP took or None).
  """
  eq1 = derive(theta_cells, theta_connection, temperature=temperature, theta_edges=theta_edges,
               space=tables.space)
  cost = costs.genotype_cost(tables.plan, eq1.normal, eq1.reduce, eq1.connection,
                             latency_table=tables.latency_table)
  if within(cost, bounds):
    return eq1, eq1, [], None
  started = time.perf_counter()
  solved = solve_budget(theta_cells, theta_connection, tables, bounds, temperature,
                        theta_edges=theta_edges)
  seconds = time.perf_counter() - started
  solved = Genotype(normal=solved.normal, reduce=solved.reduce, normal_concat=eq1.normal_concat,
                    reduce_concat=eq1.reduce_concat, connection=solved.connection,
                    meta=dict(eq1.meta), search_space=eq1.search_space)
  return eq1, solved, changes_between(eq1, solved), seconds


def decisiveness(genotype: Genotype, probs: np.ndarray,
                 conn_probs: Optional[np.ndarray] = None) -> dict:
  """How decided θ is about `genotype`: the softmax weight (the search's own, softmax(θ / τ),
  probs [G, E, O]) of the chosen op on every kept edge, averaged over the kept edges
  (`chosen_op_weight`; uniform weights give 1/O), per group, and the connection op's weight."""
  cells = list(genotype.normal) + [genotype.reduce]
  space = search_space_lib.get(genotype.search_space)
  index = {op: o for o, op in enumerate(space.primitives)}
  per_group = []
  for g, pairs in enumerate(cells):
    weights = [probs[g, costs.NODE_EDGE_RANGES[k // 2][0] + i, index[op]]
               for k, (op, i) in enumerate(pairs)]
    per_group.append(float(np.mean(weights)))
  result = {"chosen_op_weight": float(np.mean(per_group)), "per_group": per_group,
            "uniform": 1.0 / probs.shape[-1]}
  if conn_probs is not None and genotype.connection is not None:
    result["connection_weight"] = float(
        conn_probs[space.connection_primitives.index(genotype.connection)])
  return result
