"""rc_darts_tf/search/derive.py: Eq. 1 on a hand-made θ; exact-budget derivation
(derive.solve_budget / solve_milp) against brute force and a greedy repair, feasibility checks,
derive_in_budget; the Eq. 1 cost of the derived genotype at any temperature; the darts_irb
space. (benchmarks/derive_budget.py times the same random cases.)"""

import itertools
import time

import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs, ops, search_space
from rc_darts_tf.budget import Bounds
from rc_darts_tf.errors import BudgetError
from rc_darts_tf.genotype import Genotype
from rc_darts_tf.search import derive
from tests.helpers import fake_latency_table
from tests.greedy_repair import greedy_repair

NONE = ops.PRIMITIVES.index("none")


IRB = search_space.get("darts_irb")


def test_derive_follows_eq1_on_hand_made_theta():
  theta = np.zeros((2, 14, 8))
  idx = {name: k for k, name in enumerate(ops.PRIMITIVES)}
  # node 0 (edges 0, 1): strongest non-none; 'none' is ignored even when it dominates
  theta[0, 0, idx["none"]] = 9.0
  theta[0, 0, idx["sep_conv_3x3"]] = 2.0
  theta[0, 1, idx["max_pool_3x3"]] = 3.0
  # node 1 (edges 2, 3, 4): input 2 strongest, then input 0; input 1 dropped
  theta[0, 2, idx["dil_conv_5x5"]] = 1.0
  theta[0, 3, idx["skip_connect"]] = 0.5
  theta[0, 4, idx["sep_conv_5x5"]] = 4.0
  # node 2 (edges 5..8): inputs 3 and 1
  theta[0, 8, idx["avg_pool_3x3"]] = 5.0
  theta[0, 6, idx["dil_conv_3x3"]] = 4.5
  # node 3 (edges 9..13): all equal -> ties go to the lower inputs, argmax op = first non-none
  genotype = derive.derive(theta, None, 1)
  assert genotype.normal[0] == [
      ("max_pool_3x3", 1), ("sep_conv_3x3", 0),
      ("sep_conv_5x5", 2), ("dil_conv_5x5", 0),
      ("avg_pool_3x3", 3), ("dil_conv_3x3", 1),
      ("max_pool_3x3", 0), ("max_pool_3x3", 1)]
  assert genotype.connection is None and genotype.levels == 1
  # the edges derive keeps are exactly those σ selects in Φ
  probs = costs.softmax(theta[0])
  mask = costs.top2_mask(costs.edge_strength(probs))
  kept = {costs.NODE_EDGE_RANGES[k // 2][0] + i for k, (_, i) in enumerate(genotype.normal[0])}
  assert set(np.flatnonzero(mask)) == kept
  tf_mask = costs.CostModel(costs.cost_tables(costs.network_plan(16, 8, 1), False)).top2_mask(
      tf.constant(costs.softmax(theta), tf.float32)).numpy()
  np.testing.assert_array_equal(tf_mask[0], mask)


def _objective(genotype, theta, conn, temperature=1.0):
  """Σ log softmax(θ / τ) over the genotype's chosen ops (+ the connection op's)."""
  logp = np.log(costs.softmax(np.asarray(theta, np.float64) / temperature))
  total = 0.0
  for g, pairs in enumerate(list(genotype.normal) + [genotype.reduce]):
    for k, (op, i) in enumerate(pairs):
      total += logp[g, costs.NODE_EDGE_RANGES[k // 2][0] + i, ops.PRIMITIVES.index(op)]
  if conn is not None and genotype.connection is not None:
    total += np.log(costs.softmax(np.asarray(conn, np.float64) / temperature))[
        ops.CONNECTION_PRIMITIVES.index(genotype.connection)]
  return total


def _cost(plan, genotype, latency_table=None):
  c = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection,
                          latency_table=latency_table)
  return np.array([c.get(r) for r in costs.RESOURCES], np.float64)


def _brute_force(logp, cost, fixed, low, high, conn_logp, conn_cost):
  """Best (objective, cost) over every choice of 2 inputs per node and one op per kept edge of a
  one-cell space, and every connection op, by enumeration (vectorised per node)."""
  per_node = []
  for start, end in costs.NODE_EDGE_RANGES:
    options = []
    for a, b in itertools.combinations(range(start, end), 2):
      for oa, ob in itertools.product(np.flatnonzero(np.isfinite(logp[0, a])),
                                      np.flatnonzero(np.isfinite(logp[0, b]))):
        options.append((logp[0, a, oa] + logp[0, b, ob], cost[:, 0, a, oa] + cost[:, 0, b, ob]))
    per_node.append((np.array([o[0] for o in options]), np.array([o[1] for o in options])))
  obj = np.zeros(1)
  tot = fixed[None, :].copy()
  for values, costs_ in per_node:
    obj = (obj[:, None] + values[None, :]).reshape(-1)
    tot = (tot[:, None, :] + costs_[None, :, :]).reshape(-1, tot.shape[-1])
  obj = (obj[:, None] + conn_logp[None, :]).reshape(-1)
  tot = (tot[:, None, :] + conn_cost.T[None, :, :]).reshape(-1, tot.shape[-1])
  ok = np.all((tot >= low) & (tot <= high), axis=-1)
  if not ok.any():
    return None
  best = np.argmax(np.where(ok, obj, -np.inf))
  return obj[best], tot[best]


def test_milp_equals_brute_force_on_an_enumerable_space():
  """One cell, two ops per edge, two connection ops: 46,080 × 2 genotypes, enumerated; params,
  MACs (whole numbers) and latency (ms, made-up table entries) bounded together."""
  plan = costs.network_plan(8, 5, 1, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True, latency_table=fake_latency_table(plan))
  rng = np.random.default_rng(0)
  checked = 0
  for case in range(12):
    subset = rng.choice(np.arange(1, len(ops.PRIMITIVES)), 2, replace=False)
    logp = np.full((1, costs.NUM_EDGES, len(ops.PRIMITIVES)), -np.inf)
    raw = np.log(costs.softmax(rng.normal(0, 1.5, (1, costs.NUM_EDGES, len(ops.PRIMITIVES)))))
    logp[..., subset] = raw[..., subset]
    cost = tables.cells[:, :1]
    conn_logp = np.log(costs.softmax(rng.normal(size=2)))
    conn_cost = tables.connection[:, :2]
    # random feasible bounds around the cost of a random member of the space
    choice = np.zeros((1, costs.NUM_EDGES), np.int64) - 1
    for start, end in costs.NODE_EDGE_RANGES:
      for e in rng.choice(np.arange(start, end), 2, replace=False):
        choice[0, e] = rng.choice(subset)
    member = tables.fixed + sum(cost[:, 0, e, choice[0, e]] for e in range(costs.NUM_EDGES)
                                if choice[0, e] >= 0) + conn_cost[:, rng.integers(2)]
    low = member * (1 - rng.uniform(0.0, 0.1, len(costs.RESOURCES)))
    high = member * (1 + rng.uniform(0.0, 0.1, len(costs.RESOURCES)))
    if case % 3 == 0:
      low[1] = -np.inf                              # one-sided bounds too
    solved = derive.solve_milp(logp, cost, tables.fixed, low, high, conn_logp, conn_cost)
    best = _brute_force(logp, cost, tables.fixed, low, high, conn_logp, conn_cost)
    assert best is not None and solved is not None
    picked, conn, objective = solved
    assert objective == pytest.approx(best[0], abs=1e-9)
    got = tables.fixed + sum(cost[:, 0, e, picked[0, e]] for e in range(costs.NUM_EDGES)
                             if picked[0, e] >= 0) + conn_cost[:, conn]
    assert np.all(got >= low) and np.all(got <= high)
    assert set(np.unique(picked[picked >= 0])) <= set(subset)
    checked += 1
  assert checked == 12


def _random_feasible_bounds(rng, plan, tables):
  """Bounds around a random genotype of the space (so feasible), often excluding Eq. 1's."""
  from rc_darts_tf.genotype import random_genotype
  g = random_genotype(int(rng.integers(1 << 30)), levels=plan.levels)
  g = Genotype(normal=g.normal, reduce=g.reduce,
               connection=ops.CONNECTION_PRIMITIVES[rng.integers(4)])
  member = _cost(plan, g)
  kind = rng.integers(3)
  params = Bounds(member[0] * rng.uniform(0.9, 1.0), member[0] * rng.uniform(1.0, 1.1))
  macs = Bounds(None, member[1] * rng.uniform(1.0, 1.1))
  if kind == 0:
    return {"params": params, "macs": macs}
  if kind == 1:
    return {"params": params, "macs": None}
  return {"params": None, "macs": Bounds(member[1] * rng.uniform(0.9, 1.0),
                                         member[1] * rng.uniform(1.0, 1.1))}


def test_milp_on_200_random_cases_of_the_full_space():
  """3 levels + connection: inside every bound, objective ≥ the greedy repair's, ≤ 1 s each
  (processor time of this process, so that other work on the machine does not count; the
  wall-clock figures are benchmarks/derive_budget.py's)."""
  plan = costs.network_plan(16, 8, 3, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True)
  from scipy.optimize import milp  # noqa: F401  (imported before anything is timed)
  rng = np.random.default_rng(1)
  slowest, beat, outside_eq1 = 0.0, 0, 0
  for _ in range(200):
    tau = rng.choice([1.0, 0.3])
    theta = rng.normal(0, rng.choice([0.05, 1.0, 3.0]), (4, 14, 8))
    conn = rng.normal(0, 1.0, 4)
    bounds = _random_feasible_bounds(rng, plan, tables)
    started = time.process_time()
    solved = derive.solve_budget(theta, conn, tables, bounds, temperature=tau)
    slowest = max(slowest, time.process_time() - started)
    solved.validate()
    cost = _cost(plan, solved)
    for k, r in enumerate(costs.RESOURCES):
      assert bounds.get(r) is None or bounds[r].contains(cost[k]), (r, cost, bounds)
    eq1 = derive.derive(theta, conn, temperature=tau)
    inside = all(b is None or b.contains(_cost(plan, eq1)[k])
                 for k, b in enumerate(bounds.get(r) for r in costs.RESOURCES))
    if inside:   # without binding bounds the optimum is Eq. 1's genotype
      assert _objective(solved, theta, conn, tau) == pytest.approx(
          _objective(eq1, theta, conn, tau), abs=1e-9)
      continue
    outside_eq1 += 1
    greedy, _ = greedy_repair(eq1, np.asarray(theta) / tau, conn / tau, tables, bounds)
    g_cost = _cost(plan, greedy)
    if all(b is None or b.contains(g_cost[k])
           for k, b in enumerate(bounds.get(r) for r in costs.RESOURCES)):
      g_obj = _objective(greedy, theta, conn, tau)
      s_obj = _objective(solved, theta, conn, tau)
      assert s_obj >= g_obj - 1e-9
      beat += s_obj > g_obj + 1e-9
  assert slowest <= 1.0, slowest
  assert outside_eq1 > 100 and beat > 0


def test_infeasible_bounds_raise_one_line_with_the_exact_range():
  plan = costs.network_plan(16, 8, 3, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True)
  low, high = costs.achievable_range(tables)[0]
  # each bound alone is achievable, both together are not: the cheapest network's MACs are
  # above a ceiling that only the cheapest networks' params meet
  bounds = {"params": Bounds(None, low + 10), "macs": Bounds(None, costs.achievable_range(
      tables)[1][0] + 1)}
  derive.check_feasible(tables, {"params": Bounds(None, low + 10), "macs": None})
  with pytest.raises(BudgetError) as error:
    derive.check_feasible(tables, {"params": Bounds(10, 20), "macs": None})
  message = str(error.value)
  assert "\n" not in message and f"[{low:,.0f}, {high:,.0f}]" in message
  with pytest.raises(BudgetError):
    derive.solve_budget(np.zeros((4, 14, 8)), np.zeros(4), tables,
                        {"params": Bounds(high + 1, None), "macs": None})
  # jointly: a floor on params that forces MACs above a ceiling that alone is met
  macs_low = costs.achievable_range(tables)[1][0]
  joint = {"params": Bounds(high - 1, None), "macs": Bounds(None, macs_low + 1)}
  with pytest.raises(BudgetError, match="met together"):
    derive.check_feasible(tables, joint)
  del bounds


def test_feasibility_check_agrees_with_the_milp():
  """check_feasible decides single out-of-range bounds and all-wide bounds from the exact range
  without the solver; on random bounds (some out of range, some joint) it agrees with the MILP.
  Latency (ms, not whole numbers) is bounded like the counts."""
  plan = costs.network_plan(16, 8, 3, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True, latency_table=fake_latency_table(plan))
  ranges = costs.achievable_range(tables)
  rng = np.random.default_rng(3)
  zeros = np.zeros(tables.cells.shape[1:])
  zeros[..., NONE] = -np.inf
  refused = 0
  for _ in range(40):
    bounds = {}
    for k, r in enumerate(costs.RESOURCES):
      a, b = sorted(rng.uniform(ranges[k, 0] * 0.5, ranges[k, 1] * 1.5, 2))
      bounds[r] = rng.choice([None, Bounds(a, b), Bounds(None, a), Bounds(b, None)])
    low, high = derive._bound_arrays(bounds)
    expected = derive.solve_milp(zeros, tables.cells, tables.fixed, low, high,
                                 np.zeros(tables.connection.shape[1]), tables.connection)
    if expected is None:
      refused += 1
      with pytest.raises(BudgetError):
        derive.check_feasible(tables, bounds)
    else:
      derive.check_feasible(tables, bounds)
  assert 5 <= refused <= 35, refused


def test_a_latency_bound_needs_a_latency_table():
  tables = costs.cost_tables(costs.network_plan(8, 5, 1, "cifar", 16, 10), True)
  assert tables.priced == ("params", "macs")
  with pytest.raises(BudgetError, match=r"--budget_latency_ms=:1.*not priced.*--latency_table"):
    derive.check_feasible(tables, {"params": None, "macs": None, "latency_ms": Bounds(None, 1)})


def test_derive_in_budget_records_eq1_and_changes_and_leaves_a_fitting_genotype_alone():
  plan = costs.network_plan(8, 5, 3, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True)
  rng = np.random.default_rng(0)
  theta = rng.normal(0, 0.01, (4, 14, 8))
  free = [ops.PRIMITIVES.index(o) for o in ("max_pool_3x3", "avg_pool_3x3", "skip_connect")]
  theta[..., free] += 0.1                        # Eq. 1 picks a free op on every edge
  conn = np.array([0.0, 0.1, 0.0, 0.0])
  eq1 = derive.derive(theta, conn, 3)
  eq1_cost = _cost(plan, eq1)
  bounds = {"params": Bounds(2.5 * eq1_cost[0], 3.0 * eq1_cost[0]), "macs": None}
  first, final, changes, seconds = derive.derive_in_budget(theta, conn, tables, bounds)
  assert first.normal == eq1.normal and seconds is not None and seconds < 1.0
  assert bounds["params"].contains(_cost(plan, final)[0])
  assert changes and all(" -> " in c for c in changes)
  final.validate()
  again = derive.derive_in_budget(theta, conn, tables,
                                  {"params": Bounds(None, eq1_cost[0]), "macs": None})
  assert again[2] == [] and again[1] is again[0] and again[3] is None


def test_eq1_cost_equals_the_derived_genotypes_exact_cost_at_any_temperature():
  import tensorflow as tf
  plan = costs.network_plan(16, 8, 3, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True)
  model = costs.CostModel(tables)
  rng = np.random.default_rng(2)
  for tau in (1.0, 0.3, 0.05):
    for _ in range(4):
      theta = rng.normal(0, 1.0, (4, 14, 8))
      conn = rng.normal(size=4)
      genotype = derive.derive(theta, conn, temperature=tau)
      exact = _cost(plan, genotype)
      np.testing.assert_allclose(costs.eq1_cost_numpy(tables, theta, conn, tau), exact)
      got = model.eq1(tf.constant(theta, tf.float32), tf.constant(conn, tf.float32), tau)
      np.testing.assert_allclose(got.numpy(), exact, rtol=1e-6)


def test_derivation_picks_irb_ops_and_keeps_the_space():
  rng = np.random.default_rng(5)
  theta = rng.normal(0, 0.1, (2, costs.NUM_EDGES, len(IRB.primitives)))
  theta[..., IRB.primitives.index("irb_5x5_e3")] += 3.0
  genotype = derive.derive(theta, np.zeros(4), temperature=1.0, space=IRB)
  assert genotype.search_space == "darts_irb"
  assert {op for cell in genotype.normal + [genotype.reduce] for op, _ in cell} == {"irb_5x5_e3"}
  plan = costs.network_plan(8, 5, 1, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True, IRB)
  eq1 = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)
  np.testing.assert_allclose(costs.eq1_cost_numpy(tables, theta, np.zeros(4), 1.0),
                             [eq1.get(r) for r in costs.RESOURCES])
  # a budget below the all-IRB network: the exact-budget derivation trades IRBs away
  bound = {"params": Bounds(None, 0.8 * eq1.params), "macs": None}
  _, solved, changes, _ = derive.derive_in_budget(theta, np.zeros(4), tables, bound)
  assert solved.search_space == "darts_irb" and changes
  cost = costs.genotype_cost(plan, solved.normal, solved.reduce, solved.connection)
  assert cost.params <= 0.8 * eq1.params
  assert derive.decisiveness(genotype, costs.softmax(theta))["uniform"] == 1 / 10

