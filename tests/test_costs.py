"""rc_darts_tf/costs.py: Φ (the expected cost) against a brute-force expectation and
its gradient, the cost tables, the achievable range, the Eq. 1 cost against Φ as the temperature
falls, β (edge normalisation) in the edge strength, Φ's σ at sharp θ / τ (the TensorFlow cost
model keeps the same edges as derivation, NumPy in float64, also where float32 strengths round
to 0), the network plan's levels and reduction cells, and the search network's weight count
against PyTorch DARTS's."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs, latency, ops
from rc_darts_tf.budget import Bounds
from rc_darts_tf.search import derive
from tests.helpers import fake_latency_table

NONE = ops.PRIMITIVES.index("none")


DARTS_SEARCH_PARAMS = 1_930_618  # PyTorch DARTS's search network, C=16, 8 cells, CIFAR-10


def _brute_force_phi(tables, thetas, theta_conn, derivable_only=False):
  """Φ by explicit loops: Σ over groups, nodes, the 2 strongest edges, ops (derivable_only: the
  kept edge's weights renormalised over the non-'none' ops)."""
  phi = tables.fixed.copy()
  for g in range(thetas.shape[0]):
    probs = np.exp(thetas[g]) / np.exp(thetas[g]).sum(-1, keepdims=True)
    for j, (start, end) in enumerate(costs.NODE_EDGE_RANGES):
      strengths = [(max(probs[e][1:]), e) for e in range(start, end)]
      kept = [e for _, e in sorted(strengths, key=lambda t: -t[0])[:2]]
      for e in kept:
        for o in range(len(ops.PRIMITIVES)):
          weight = probs[e, o] / (1 - probs[e, 0]) if derivable_only else probs[e, o]
          if derivable_only and o == 0:
            weight = 0.0
          phi += tables.cells[:, g, e, o] * weight
  if tables.learn_connection:
    pc = np.exp(theta_conn) / np.exp(theta_conn).sum()
    phi += tables.connection @ pc
  return phi


def _priced_tables(plan, learn_connection):
  """costs.cost_tables with every resource priced: latency from helpers.fake_latency_table (made-up
  ms per entry, a fit of slope 0.9 and intercept 0.05 ms), so the tests below hold Φ, Eq. 1 and
  the derivation to the latency rows as to params and MACs."""
  table = fake_latency_table(plan, fit=latency.Fit(0.9, 0.05))
  return costs.cost_tables(plan, learn_connection, latency_table=table)


@pytest.mark.parametrize("derivable_only", [False, True])
@pytest.mark.parametrize("levels, learn_connection", [(1, False), (3, True), (2, True)])
def test_phi_equals_brute_force_expectation(levels, learn_connection, derivable_only):
  plan = costs.network_plan(16, 8, levels)
  tables = _priced_tables(plan, learn_connection)
  model = costs.CostModel(tables)
  rng = np.random.default_rng(levels)
  for _ in range(5):
    thetas = rng.standard_normal((levels + 1, 14, 8))
    conn = rng.standard_normal(4)
    expected = _brute_force_phi(tables, thetas, conn, derivable_only)
    got = model.expected(tf.constant(thetas, tf.float32),
                         tf.constant(conn, tf.float32) if learn_connection else None,
                         derivable_only=derivable_only).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(
        costs.expected_cost_numpy(tables, thetas, conn, derivable_only=derivable_only),
        expected, rtol=1e-10)


def test_phi_is_differentiable_in_theta():
  tables = costs.cost_tables(costs.network_plan(16, 8, 1), True)
  model = costs.CostModel(tables)
  theta = tf.Variable(tf.random.normal([2, 14, 8], seed=1))
  conn = tf.Variable(tf.zeros([4]))
  with tf.GradientTape() as tape:
    params = model.expected(theta, conn)[0]
  g_theta, g_conn = tape.gradient(params, [theta, conn])
  assert np.abs(g_theta.numpy()).sum() > 0 and np.abs(g_conn.numpy()).sum() > 0


def test_cost_tables_exact_cost_of_a_concentrated_theta():
  """When θ puts (almost) all weight on one op per edge, Φ tends to the discrete cost."""
  plan = costs.network_plan(16, 8, 2)
  tables = _priced_tables(plan, True)
  rng = np.random.default_rng(3)
  thetas = np.zeros((3, 14, 8))
  chosen = rng.integers(1, 8, size=(3, 14))          # one non-'none' op per edge
  np.put_along_axis(thetas, chosen[..., None], 60 + rng.uniform(0, 5, (3, 14, 1)), axis=-1)
  conn = np.array([0.0, 0.0, 60.0, 0.0])
  genotype = derive.derive(thetas, conn, 2)
  exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection,
                              latency_table=tables.latency_table)
  phi = costs.expected_cost_numpy(tables, thetas, conn)
  np.testing.assert_allclose(phi, [exact.get(r) for r in costs.RESOURCES], rtol=1e-6)
  assert genotype.connection == "group_conv_1x1_g2"


def test_achievable_range_brackets_phi():
  tables = costs.cost_tables(costs.network_plan(16, 8, 3), True)
  ranges = costs.achievable_range(tables)
  rng = np.random.default_rng(5)
  for _ in range(20):
    phi = costs.expected_cost_numpy(tables, rng.standard_normal((4, 14, 8)) * 5,
                                    rng.standard_normal(4) * 5)
    assert np.all(phi >= ranges[:, 0]) and np.all(phi <= ranges[:, 1])


def test_level_split_by_depth():
  assert costs.level_of_normal_cells(8, 3) == {0: 0, 1: 0, 3: 1, 4: 1, 6: 2, 7: 2}
  assert set(costs.level_of_normal_cells(8, 1).values()) == {0}
  assert list(itertools.chain(costs.reduction_indices(8))) == [2, 5]


def test_phi_meets_the_eq1_cost_as_the_temperature_falls():
  """Φ (derivable ops) tends to the exact cost of the network Eq. 1 derives as τ -> 0, also on
  edges where 'none' holds most of the weight; Eq. 6 literally (derivable_only=False) does not."""
  plan = costs.network_plan(16, 8, 3, "cifar", 16, 10)
  tables = _priced_tables(plan, True)
  rng = np.random.default_rng(4)
  theta = rng.normal(0, 1.0, (4, 14, 8))
  theta[..., NONE] += 3.0                        # 'none' leads every edge
  conn = rng.normal(size=4)
  gaps = []
  for tau in (1.0, 0.3, 0.1, 0.02):
    exact = costs.eq1_cost_numpy(tables, theta, conn, tau)
    phi = costs.expected_cost_numpy(tables, theta, conn, tau)
    gaps.append(np.abs(phi - exact) / exact)
  assert np.all(np.diff(np.array(gaps), axis=0) <= 1e-12) and np.all(gaps[-1] < 0.01)
  literal = costs.expected_cost_numpy(tables, theta, conn, 0.02, derivable_only=False)
  assert np.all(literal < 0.9 * costs.eq1_cost_numpy(tables, theta, conn, 0.02))


def _random_theta(rng, groups=3):
  return (rng.standard_normal((groups, costs.NUM_EDGES, len(ops.PRIMITIVES))),
          rng.standard_normal(len(ops.CONNECTION_PRIMITIVES)),
          3.0 * rng.standard_normal((groups, costs.NUM_EDGES)))


def test_beta_enters_the_edge_strength_of_derivation_phi_and_eq1():
  rng = np.random.default_rng(3)
  theta, conn, beta = _random_theta(rng)
  log_beta = costs.edge_log_weights(beta)
  for start, end in costs.NODE_EDGE_RANGES:   # β̂ is a distribution over each node's edges
    np.testing.assert_allclose(np.exp(log_beta[:, start:end]).sum(-1), 1.0, rtol=1e-12)
  np.testing.assert_allclose(
      costs.edge_log_strength(theta, 0.7, theta_edges=beta),
      costs.edge_log_strength(theta, 0.7) + log_beta, rtol=1e-12)
  # derivation keeps, per node, the 2 edges of highest β̂_e · max_{o≠none} softmax(θ_e)[o]
  genotype = derive.derive(theta, conn, temperature=0.7, theta_edges=beta)
  strength = costs.edge_strength(costs.softmax(theta / 0.7)) * np.exp(log_beta)
  for g, pairs in enumerate(list(genotype.normal) + [genotype.reduce]):
    for j, (start, end) in enumerate(costs.NODE_EDGE_RANGES):
      kept = sorted(i for _, i in pairs[2 * j:2 * j + 2])
      assert kept == sorted(np.argsort(-strength[g, start:end])[:2].tolist())
  assert genotype != derive.derive(theta, conn, temperature=0.7)    # β changed some edges
  # Φ's σ and the Eq. 1 cost follow the same strengths, in NumPy and in TensorFlow
  plan = costs.network_plan(8, 5, 2, "cifar", 16, 10)
  tables = _priced_tables(plan, True)
  model = costs.CostModel(tables)
  np.testing.assert_allclose(
      model.expected(tf.constant(theta), tf.constant(conn), 0.7, theta_edges=tf.constant(beta)),
      costs.expected_cost_numpy(tables, theta, conn, 0.7, theta_edges=beta), rtol=1e-7)
  exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection,
                              latency_table=tables.latency_table)
  np.testing.assert_allclose(costs.eq1_cost_numpy(tables, theta, conn, 0.7, theta_edges=beta),
                             [exact.get(r) for r in costs.RESOURCES])
  np.testing.assert_allclose(
      model.eq1(tf.constant(theta), tf.constant(conn), 0.7, theta_edges=tf.constant(beta)),
      [exact.get(r) for r in costs.RESOURCES], rtol=1e-6)
  # the exact-budget derivation without a binding bound is Eq. 1 with β
  wide = {"params": Bounds(None, 1e12), "macs": None}
  assert derive.solve_budget(theta, conn, tables, wide, 0.7, theta_edges=beta) == genotype


def _theta(levels=1):
  # node 1's edges are 2, 3, 4: their best op leads the others by 8, 9, 10; at τ = 0.03 every
  # strength −softplus(rest) is below 1e-100, 0.0 in float32 (a three-way tie broken by index)
  theta = np.zeros([levels + 1, costs.NUM_EDGES, 8], np.float32)
  for edge, margin in ((2, 8.0), (3, 9.0), (4, 10.0)):
    theta[:, edge, 4] = margin
  return theta


def test_tf_mask_keeps_the_edges_derivation_keeps_at_sharp_temperature():
  theta = _theta()
  tables = costs.cost_tables(costs.network_plan(8, 5, 1, image_size=16), True)
  model = costs.CostModel(tables)
  expected = costs.top2_mask(costs.edge_log_strength(theta, 0.03))
  assert expected[0, 2:5].tolist() == [0.0, 1.0, 1.0]          # the two strongest: 3 and 4
  mask = model.top2_mask(strength=model.log_strength(tf.constant(theta), 0.03)).numpy()
  np.testing.assert_array_equal(mask, expected)


def test_tf_phi_and_eq1_equal_numpy_at_sharp_temperature():
  theta = _theta()
  connection = np.array([0.0, 0.0, 0.0, 3.0], np.float32)
  tables = _priced_tables(costs.network_plan(8, 5, 1, image_size=16), True)
  model = costs.CostModel(tables)
  phi = model.expected(tf.constant(theta), tf.constant(connection), 0.03).numpy()
  eq1 = model.eq1(tf.constant(theta), tf.constant(connection), 0.03).numpy()
  np.testing.assert_allclose(phi, costs.expected_cost_numpy(tables, theta, connection, 0.03),
                             rtol=1e-5)
  np.testing.assert_allclose(eq1, costs.eq1_cost_numpy(tables, theta, connection, 0.03),
                             rtol=1e-6)


def test_search_network_params_match_pytorch_darts():
  plan = costs.network_plan(16, 8, levels=1)
  total = plan.stem_cost + plan.classifier_cost
  for cell in plan.cells:
    total = total + costs.preprocess_costs(cell, None, affine=False)
    for edge in range(costs.NUM_EDGES):
      for name in ops.CELL_OPS:
        total = total + costs.edge_op_cost(cell, edge, name, affine=False)
  assert total.params == DARTS_SEARCH_PARAMS


def test_edges_between_nodes_of_a_reduction_cell_run_at_the_reduced_size():
  plan = costs.network_plan(8, 5, 1, "cifar", 32, 10)
  cell = plan.cells[1]
  assert cell.reduction and cell.size == 32
  for edge, (j, i) in enumerate(costs.EDGES):
    expected = costs.op_cost("sep_conv_3x3", cell.c, cell.c, 32 if i < 2 else 16,
                             32 if i < 2 else 16, 2 if i < 2 else 1)
    assert costs.edge_op_cost(cell, edge, "sep_conv_3x3") == expected, (j, i)
  normal = plan.cells[0]
  for edge in range(costs.NUM_EDGES):
    assert costs.edge_op_cost(normal, edge, "dil_conv_5x5") == costs.op_cost(
        "dil_conv_5x5", normal.c, normal.c, 32, 32, 1)


def test_count_weights_counts_elements_of_any_shape():
  assert costs.count_weights([np.zeros((3, 3, 8, 1)), np.zeros((8,)), np.zeros(())]) == 81
  assert costs.count_weights([]) == 0
  assert costs.count_weights(v for v in [np.zeros((2, 5))]) == 10        # a generator too

