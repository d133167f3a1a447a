"""Φ's σ at sharp θ / τ: the TensorFlow cost model (CostModel, what the search logs and projects)
keeps the same edges as derivation (NumPy, float64), also where float32 strengths round to 0."""

import numpy as np
import tensorflow as tf

from rc_darts_tf import costs


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
  tables = costs.cost_tables(costs.network_plan(8, 5, 1, image_size=16), True)
  model = costs.CostModel(tables)
  phi = model.expected(tf.constant(theta), tf.constant(connection), 0.03).numpy()
  eq1 = model.eq1(tf.constant(theta), tf.constant(connection), 0.03).numpy()
  np.testing.assert_allclose(phi, costs.expected_cost_numpy(tables, theta, connection, 0.03),
                             rtol=1e-5)
  np.testing.assert_allclose(eq1, costs.eq1_cost_numpy(tables, theta, connection, 0.03),
                             rtol=1e-6)
