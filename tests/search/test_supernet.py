"""rc_darts_tf/search/supernet.py: the search network's weights and θ, its traced step,
a budget stated for the deployed network, partial channels (β moves, Φ of the derived network),
the darts_irb space, and the search step under --jit_compile (XLA) and --mixed_precision
(mixed_float16, loss scaling) on CPU at tiny shapes: the same genotype, losses within a stated
tolerance, θ / Φ in float32.

Tolerances: XLA reorders float32 arithmetic, so its losses agree with the plain step's to 1e-4
(relative) step by step. float16 activations carry ~3 significant digits: from the same weights
a mixed-precision loss agrees with the float32 one to 1e-2 (relative; measured within 5e-3).
Later steps are not compared one by one: dynamic loss scaling starts at S = 2^15 and skips the
first steps whose float16 gradient overflows (halving S each time), as Keras's loss scaling
does, so the two runs take different numbers of updates; they must stay finite and agree on Φ
and the genotype."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs, precision, search_space
from rc_darts_tf.budget import Bounds
from rc_darts_tf.search import derive
from rc_darts_tf.search.supernet import SearchNetwork
from tests.helpers import search_batch, tiny_search_network

IRB = search_space.get("darts_irb")


STEPS = 3


def test_search_network_darts_mode_has_the_reference_weight_count():
  net = SearchNetwork(levels=1, learn_connection=False)
  net.build()
  assert net.count_weight_params() == 1_930_618  # ../shared/bench/darts_torch_step.py
  assert net.theta_cells.shape == (2, 14, 8)
  weights = {id(v) for v in net.weight_variables}
  assert id(net.theta_cells) not in weights and id(net.theta_connection) not in weights


def test_train_step_updates_weights_and_theta_and_is_traced_once():
  net = tiny_search_network(layers=5, levels=3)
  rng = np.random.default_rng(0)
  batch = lambda: search_batch(rng)  # noqa: E731
  step = tf.function(net.train_step)
  w_before = [v.numpy().copy() for v in net.weight_variables]
  theta_before = net.theta_cells.numpy().copy()
  conn_before = net.theta_connection.numpy().copy()
  for _ in range(3):
    logs = step(batch())
  assert step.experimental_get_tracing_count() == 1
  assert all(np.isfinite(float(v)) for v in logs.values())
  assert float(logs["feasible"]) == 1.0
  changed = [not np.array_equal(a, v.numpy()) for a, v in zip(w_before, net.weight_variables)]
  assert sum(changed) > 0.9 * len(changed)
  assert not np.array_equal(theta_before, net.theta_cells.numpy())
  assert not np.array_equal(conn_before, net.theta_connection.numpy())


def test_budget_can_be_stated_for_the_deployed_network():
  """--budget_layers/--budget_channels: Φ is computed with the target network's cost tables."""
  target = costs.network_plan(36, 20, 3)
  search = SearchNetwork(levels=3, learn_connection=True, init_channels=8, layers=5,
                         image_size=32, budget_plan=target, seed=0)
  own = SearchNetwork(levels=3, learn_connection=True, init_channels=8, layers=5,
                      image_size=32, seed=0)
  phi_target, phi_own = search.phi().numpy(), own.phi().numpy()
  assert phi_target[0] > 20 * phi_own[0]
  expected = costs.expected_cost_numpy(costs.cost_tables(target, True),
                                       search.theta_cells.numpy(),
                                       search.theta_connection.numpy())
  np.testing.assert_allclose(phi_target, expected, rtol=1e-5)
  # ImageNet stem geometry: 224 input, 28x28 at the first cell
  imagenet = costs.network_plan(48, 14, 1, stem="imagenet", image_size=224, num_classes=1000)
  assert imagenet.cells[0].size == 28 and imagenet.cells[0].reduction_prev


@pytest.fixture(scope="module")
def pc_network():
  return tiny_search_network(partial_channels=4)


def test_partial_search_step_moves_beta_and_keeps_phi_of_the_derived_network(pc_network):
  net = pc_network
  full = SearchNetwork(num_classes=3, init_channels=8, layers=3, levels=1, learn_connection=True,
                       image_size=16, seed=1)
  full.build()
  assert net.count_weight_params() < full.count_weight_params()
  assert net.theta_edges.shape == (2, costs.NUM_EDGES) and full.theta_edges is None
  assert any(v is net.theta_edges for v in net.arch_variables)
  np.testing.assert_array_equal(net.cost_tables.cells, full.cost_tables.cells)  # full width
  rng = np.random.default_rng(0)
  batch = lambda: search_batch(rng)  # noqa: E731
  step = tf.function(net.train_step)
  beta_before = net.theta_edges.numpy().copy()
  for _ in range(2):
    logs = step(batch())
  assert step.experimental_get_tracing_count() == 1
  assert all(np.isfinite(float(v)) for v in logs.values())
  assert not np.array_equal(beta_before, net.theta_edges.numpy())
  theta, conn, beta = (net.theta_cells.numpy(), net.theta_connection.numpy(),
                       net.theta_edges.numpy())
  tau = float(net.temperature())
  genotype = derive.derive(theta, conn, temperature=tau, theta_edges=beta)
  exact = costs.genotype_cost(net.plan, genotype.normal, genotype.reduce, genotype.connection)
  np.testing.assert_allclose(net.eq1_cost().numpy(), [exact.get(r) for r in costs.RESOURCES],
                             rtol=1e-6)
  np.testing.assert_allclose(net.phi().numpy(), costs.expected_cost_numpy(
      net.cost_tables, theta, conn, tau, theta_edges=beta), rtol=1e-5)


@pytest.fixture(scope="module")
def irb_network():
  return tiny_search_network(search_space=IRB)


def test_search_network_has_a_theta_column_per_op_and_steps(irb_network):
  net = irb_network
  assert net.theta_cells.shape == (2, costs.NUM_EDGES, len(IRB.primitives))
  assert net.cost_tables.cells.shape == (len(costs.RESOURCES), 2, costs.NUM_EDGES, 10)
  assert net.cost_tables.space is IRB
  cell = net.plan.cells[0]
  for o, name in enumerate(IRB.primitives):
    assert net.cost_tables.cells[0, 0, 0, o] == costs.edge_op_cost(cell, 0, name).params
  step = net.train_step        # eager: the traced step is tested above
  rng = np.random.default_rng(0)
  before = net.theta_cells.numpy().copy()
  for _ in range(2):
    logs = step(search_batch(rng))
  assert all(np.isfinite(float(v)) for v in logs.values())
  assert not np.array_equal(before, net.theta_cells.numpy())
  theta, conn = net.theta_cells.numpy(), net.theta_connection.numpy()
  tau = float(net.temperature())
  np.testing.assert_allclose(net.phi().numpy(), costs.expected_cost_numpy(
      net.cost_tables, theta, conn, tau), rtol=1e-5)


def _batches(seed=0, n=STEPS):
  rng = np.random.default_rng(seed)
  return [search_batch(rng, batch=4) for _ in range(n)]


def _search(mixed=False, jit=False, learn_connection=True):
  """STEPS search steps of a tiny supernet from fixed initial weights; returns (logs per step,
  network). θ's Adam rate is small: Adam moves θ by about its rate whatever the gradient's size,
  so rounding differences in gradients near zero would otherwise decide θ's next step."""
  keras.utils.set_random_seed(5)
  with precision.policy(mixed):
    net = SearchNetwork(num_classes=3, init_channels=4, layers=3, levels=1,
                        learn_connection=learn_connection, image_size=16,
                        bounds={"params": Bounds(None, 1e9)}, seed=1)
    net.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                keras.optimizers.Adam(3e-4, beta_1=0.5, beta_2=0.999))
    net.build_optimizers()
  # a decided θ (as after a search's first epochs): σ and the derived genotype do not hinge on
  # rounding-level differences between near-equal edges
  rng = np.random.default_rng(7)
  net.theta_cells.assign(rng.standard_normal(net.theta_cells.shape).astype(np.float32))
  net.theta_connection.assign(rng.standard_normal(net.theta_connection.shape).astype(np.float32))
  step = (tf.function(net.search_step, jit_compile=True, autograph=False) if jit else
          tf.function(net.search_step, autograph=False))
  logs = [{k: float(v) for k, v in step(batch).items()} for batch in _batches()]
  return logs, net


@pytest.fixture(scope="module")
def plain_search():
  return _search()


def _genotype(net):
  conn = net.theta_connection.numpy()
  return derive.derive(net.theta_cells.numpy(), conn, temperature=float(net.temperature()))


def test_jit_compiled_search_step_matches_the_plain_one(plain_search):
  logs, net = plain_search
  jit_logs, jit_net = _search(jit=True)
  for a, b in zip(logs, jit_logs):
    for name in ("loss", "arch_loss"):
      assert b[name] == pytest.approx(a[name], rel=1e-4), name
  np.testing.assert_allclose(jit_net.theta_cells.numpy(), net.theta_cells.numpy(), atol=1e-4)
  assert _genotype(jit_net) == _genotype(net)


def test_mixed_precision_search_keeps_theta_and_phi_float32(plain_search):
  logs, net = plain_search
  mixed_logs, mixed = _search(mixed=True)
  assert mixed.cells[0].dtype_policy.name == "mixed_float16"
  assert mixed.cells[0].compute_dtype == "float16"
  assert mixed.theta_cells.dtype == "float32" and mixed.phi().dtype == tf.float32
  assert isinstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer)
  assert isinstance(mixed.arch_optimizer, keras.optimizers.LossScaleOptimizer)
  for name in ("loss", "arch_loss"):   # the first step starts from the same weights and θ
    assert mixed_logs[0][name] == pytest.approx(logs[0][name], rel=1e-2), name
  for a, b in zip(logs, mixed_logs):
    assert b["finite"] == 1.0
    assert b["phi_params"] == pytest.approx(a["phi_params"], rel=1e-3)
  assert 1 <= int(mixed.optimizer.iterations) <= STEPS
  phi = costs.expected_cost_numpy(mixed.cost_tables, mixed.theta_cells.numpy(),
                                  mixed.theta_connection.numpy(), float(mixed.temperature()))
  np.testing.assert_allclose(mixed.phi().numpy(), phi, rtol=1e-5)
  assert _genotype(mixed) == _genotype(net)
  assert keras.config.dtype_policy().name == "float32"     # the policy was restored

