"""rc_darts_tf/search/projection.py: the projection reaches feasible bounds (Newton and
penalty), is a no-op when feasible and traced once, the closing projection puts Φ and the Eq. 1
network inside, and a far budget is reached."""

import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs
from rc_darts_tf.budget import Bounds
from rc_darts_tf.search.projection import Projection


def _projection_setup(bounds_fn, seed=0, levels=2, max_iters=500, method="newton"):
  plan = costs.network_plan(16, 8, levels)
  tables = costs.cost_tables(plan, True)
  model = costs.CostModel(tables)
  rng = np.random.default_rng(seed)
  theta = tf.Variable(rng.standard_normal((levels + 1, 14, 8)).astype(np.float32))
  conn = tf.Variable(rng.standard_normal(4).astype(np.float32))
  phi0 = model.expected(theta, conn).numpy()
  projection = Projection(model, bounds_fn(phi0), lambda_init=10.0, lambda_decay=0.95,
                          max_iters=max_iters, method=method)
  return projection.bind(theta, conn), model, theta, conn, phi0


@pytest.mark.parametrize("method", ["newton", "penalty"])
@pytest.mark.parametrize("direction", [-1, +1])
def test_projection_reaches_feasible_bounds(direction, method):
  # bounds 3% beyond Φ(θ) on the other side: θ must move for both resources
  def bounds(phi0):
    if direction < 0:
      return {"params": Bounds(None, phi0[0] * 0.97), "macs": Bounds(None, phi0[1] * 0.97)}
    return {"params": Bounds(phi0[0] * 1.03, None), "macs": Bounds(phi0[1] * 1.03, None)}
  projection, model, theta, conn, phi0 = _projection_setup(bounds, method=method)
  assert not bool(projection.feasible(tf.constant(phi0, tf.float32)))
  theta_before = theta.numpy().copy()
  iters, phi, feasible = projection()
  assert bool(feasible) and 0 < int(iters) <= 500
  np.testing.assert_allclose(model.expected(theta, conn).numpy(), phi.numpy(), rtol=1e-6)
  assert np.abs(theta.numpy() - theta_before).max() < 0.5  # a nearby point, not a jump
  assert float(projection.lam.numpy()) == pytest.approx(10.0 * 0.95)


def test_projection_is_a_noop_when_feasible_and_traced_once():
  projection, model, theta, conn, phi0 = _projection_setup(
      lambda phi0: {"params": Bounds(0, phi0[0] * 2)})
  before = theta.numpy().copy()
  for _ in range(5):
    iters, _, feasible = projection()
    assert int(iters) == 0 and bool(feasible)
  np.testing.assert_array_equal(theta.numpy(), before)
  # infeasible calls with changing θ and λ: still the same trace
  projection2, _, theta2, _, phi2 = _projection_setup(
      lambda phi0: {"macs": Bounds(None, phi0[1] * 0.5)}, max_iters=20, method="penalty")
  for k in range(6):
    theta2.assign(theta2 * 1.01)
    iters, _, feasible = projection2()
    assert int(iters) == 20 and not bool(feasible)
  assert projection.tracing_count == 1 and projection2.tracing_count == 1
  assert int(projection2.count.numpy()) == 6


def test_closing_projection_puts_phi_and_the_eq1_network_inside():
  """At a low τ, from θ whose Φ and Eq. 1 network are both over a ceiling (and one whose Φ is
  inside but whose Eq. 1 network is not): `finish` ends with both inside, near θ."""
  import tensorflow as tf
  from rc_darts_tf.search.projection import Projection
  plan = costs.network_plan(16, 8, 3, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True)
  model = costs.CostModel(tables)
  rng = np.random.default_rng(7)
  tau = 0.2
  kinds = set()
  for case in range(8):
    theta = tf.Variable(rng.normal(0, 1.0, (4, 14, 8)).astype(np.float32))
    conn = tf.Variable(rng.normal(size=4).astype(np.float32))
    eq1 = model.eq1(theta, conn, tau).numpy()
    phi = model.expected(theta, conn, tau).numpy()
    if eq1[0] > phi[0] and case % 2:
      ceiling, kind = 0.5 * (phi[0] + eq1[0]), "only Eq. 1 over"      # Φ already inside
    else:
      ceiling, kind = 0.9 * min(phi[0], eq1[0]), "both over"
    kinds.add(kind)
    bounds = {"params": Bounds(None, float(ceiling)), "macs": None}
    projection = Projection(model, bounds, temperature=lambda: tf.constant(tau)).bind(theta, conn)
    before = theta.numpy().copy()
    iters, phi_after, feasible = projection.finish()
    eq1_after = model.eq1(theta, conn, tau).numpy()
    assert bool(feasible) and eq1_after[0] <= ceiling, (case, eq1, phi, eq1_after, ceiling)
    assert 0 < int(iters) < 500
    assert np.abs(theta.numpy() - before).max() < 3.0
  assert kinds == {"only Eq. 1 over", "both over"}


def test_newton_projection_reaches_a_far_budget():
  """A 45 % cut of Φ at τ = 0.79 (the first projection after a warm start that favoured the
  convolutions): σ's top-2 edges swap as weight moves, the anchored step cycles, the local steps
  that follow end feasible. (Before them every such case ran all 500 iterations, infeasible.)"""
  import tensorflow as tf
  from rc_darts_tf.search.projection import Projection
  plan = costs.network_plan(16, 8, 3, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True)
  model = costs.CostModel(tables)
  bounds = {"params": Bounds(1e5, 1.4e5), "macs": Bounds(None, 7e6)}
  rng = np.random.default_rng(0)
  for sd in (0.1, 0.3, 1.0):
    theta = tf.Variable(rng.normal(0, sd, (4, 14, 8)).astype(np.float32))
    theta[..., 4:].assign(theta[..., 4:] + 0.5)       # the convolutions ahead
    conn = tf.Variable(rng.normal(0, sd, 4).astype(np.float32))
    projection = Projection(model, bounds, temperature=lambda: tf.constant(0.794)).bind(theta,
                                                                                        conn)
    before = model.expected(theta, conn, 0.794).numpy()
    iters, phi, feasible = projection()
    assert before[0] > 2.2e5 and bool(feasible) and int(iters) < 60, (before, int(iters))
    assert 1.3e5 < float(phi[0]) <= 1.4e5          # on the bound, not far inside

