"""Search core: MixedOp, Φ, derivation (Eq. 1), projection, the supernet's step."""

import itertools
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs, ops, search_space
from rc_darts_tf.budget import Bounds
from rc_darts_tf.search import derive
from rc_darts_tf.search.mixed import MixedOp
from rc_darts_tf.search.projection import Projection
from rc_darts_tf.search.supernet import SearchNetwork
from tests.helpers import (error_lines, make_image_tree, run_entry, search_batch,
                           tiny_search_network)


@pytest.mark.parametrize("space", ["darts", "darts_irb"])
@pytest.mark.parametrize("num_inputs, stride", [(1, 1), (3, 1), (2, 2), (1, 2)])
def test_mixed_op_equals_weighted_sum_of_registry_ops(num_inputs, stride, space):
  c, size = 8, 8
  primitives = search_space.get(space).primitives
  rng = np.random.default_rng(num_inputs * 10 + stride)
  mixed = MixedOp(c, stride, num_inputs, primitives)
  mixed.build(None)
  assert not mixed.fallback        # every op of both spaces runs batched
  inputs = [tf.constant(rng.standard_normal((4, size, size, c)), tf.float32)
            for _ in range(num_inputs)]
  probs = tf.constant(costs.softmax(rng.standard_normal((num_inputs, len(primitives)))),
                      tf.float32)
  got = mixed(inputs, probs).numpy()
  expected = 0.0
  for i, x in enumerate(inputs):
    for o, name in enumerate(primitives):
      layer = ops.build_op(name, c, c, stride, affine=False)
      layer.build(x.shape)
      weights = mixed.edge_weights(i, name)
      assert len(weights) == len(layer.trainable_weights), name
      for variable, value in zip(layer.trainable_weights, weights):
        variable.assign(value)
      expected = expected + probs[i, o].numpy() * layer(x, training=True).numpy()
  assert got.shape == (4, -(-size // stride), -(-size // stride), c)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_search_network_darts_mode_has_the_reference_weight_count():
  net = SearchNetwork(levels=1, learn_connection=False)
  net.build()
  assert net.count_weight_params() == 1_930_618  # ../shared/bench/darts_torch_step.py
  assert net.theta_cells.shape == (2, 14, 8)
  weights = {id(v) for v in net.weight_variables}
  assert id(net.theta_cells) not in weights and id(net.theta_connection) not in weights


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


@pytest.mark.parametrize("derivable_only", [False, True])
@pytest.mark.parametrize("levels, learn_connection", [(1, False), (3, True), (2, True)])
def test_phi_equals_brute_force_expectation(levels, learn_connection, derivable_only):
  plan = costs.network_plan(16, 8, levels)
  tables = costs.cost_tables(plan, learn_connection)
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
  tables = costs.cost_tables(plan, True)
  rng = np.random.default_rng(3)
  thetas = np.zeros((3, 14, 8))
  chosen = rng.integers(1, 8, size=(3, 14))          # one non-'none' op per edge
  np.put_along_axis(thetas, chosen[..., None], 60 + rng.uniform(0, 5, (3, 14, 1)), axis=-1)
  conn = np.array([0.0, 0.0, 60.0, 0.0])
  genotype = derive.derive(thetas, conn, 2)
  exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)
  phi = costs.expected_cost_numpy(tables, thetas, conn)
  np.testing.assert_allclose(phi, [exact.params, exact.macs], rtol=1e-6)
  assert genotype.connection == "group_conv_1x1_g2"


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


def test_achievable_range_brackets_phi():
  tables = costs.cost_tables(costs.network_plan(16, 8, 3), True)
  ranges = costs.achievable_range(tables)
  rng = np.random.default_rng(5)
  for _ in range(20):
    phi = costs.expected_cost_numpy(tables, rng.standard_normal((4, 14, 8)) * 5,
                                    rng.standard_normal(4) * 5)
    assert np.all(phi >= ranges[:, 0]) and np.all(phi <= ranges[:, 1])


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


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("search_tree")
  return make_image_tree(str(root), classes=3, train_per_class=16, test_per_class=2, size=16)


def test_search_main_writes_genotype_and_tensorboard(tmp_path, tiny_tree):
  out = tmp_path / "run"
  result = run_entry(
      "rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree}", f"--output_dir={out}",
      "--batch_size=8", "--epochs=2", "--init_channels=8", "--layers=5", "--levels=3",
      "--budget_params=:1e9", "--projection_interval=2", "--projection_iters=5",
      "--report_freq=1", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  for name in ("flags.txt", "genotype.json", "genotype_epoch_001.json",
               "genotype_epoch_002.json", "search_history.npz", "projections.json"):
    assert (out / name).exists(), name
  genotype = json.loads((out / "genotype.json").read_text())
  assert genotype["format_version"] == 1 and len(genotype["normal"]) == 3
  assert genotype["connection"] in ops.CONNECTION_PRIMITIVES
  meta = genotype["meta"]
  assert set(meta["exact_cost"]) == {"params", "macs"} and meta["within_budget"] is True
  assert meta["settings"]["levels"] == 3 and meta["budget"] == {"params": ":1e+09"}
  # every epoch trained: projections after steps 3 (warm start = 1 epoch of 3 steps) and 5, and
  # the closing projection after the last step (6)
  projections = json.loads((out / "projections.json").read_text())
  assert [p["step"] for p in projections] == [3, 5, 6]
  assert [p["final"] for p in projections] == [False, False, True]
  assert projections[-1]["feasible"] and projections[-1]["eq1_feasible"]
  assert "ran out of data" not in result.stderr
  events = [f for _, _, files in os.walk(out / "tensorboard") for f in files
            if f.startswith("events.out.tfevents")]
  assert len(events) >= 2
  assert "derived genotype" in result.stdout


def test_search_main_refuses_bounds_outside_the_achievable_range(tmp_path, tiny_tree):
  out = tmp_path / "run"
  result = run_entry("rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree}",
                     f"--output_dir={out}", "--budget_params=10:20", "--init_channels=8",
                     "--layers=5")
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "--budget_params=10:20 cannot be met" in lines[0], lines
  assert "lie in [" in lines[0]
  assert not out.exists()  # nothing written before every check has passed


@pytest.mark.parametrize("args, fragment", [
    (["--budget_params=2e5:1e5"], "above upper bound"),
    (["--budget_macs=-1:5"], "finite number >= 0"),
    (["--budget_params=abc"], "not a number"),
    (["--constraints=rc"], "needs a budget"),
])
def test_search_main_bad_budgets_exit_2(tmp_path, args, fragment):
  result = run_entry("rc_darts_tf.cli.search", "--dataset=sample",
                     f"--output_dir={tmp_path / 'run'}", *args)
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and fragment in lines[0], lines


def test_search_main_refuses_an_output_dir_that_is_a_file(tmp_path):
  target = tmp_path / "file"
  target.write_text("x")
  result = run_entry("rc_darts_tf.cli.search", "--dataset=sample", f"--output_dir={target}",
                     "--constraints=none")
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "is not a directory" in lines[0], lines
  assert target.read_text() == "x"


def test_search_main_does_not_replace_an_earlier_run(tmp_path):
  out = tmp_path / "run"
  out.mkdir()
  (out / "genotype.json").write_text("{\"keep\": true}")
  result = run_entry("rc_darts_tf.cli.search", "--dataset=sample", f"--output_dir={out}",
                     "--constraints=none")
  assert result.returncode == 2
  assert "already holds a run" in error_lines(result.stderr)[0]
  assert (out / "genotype.json").read_text() == "{\"keep\": true}"


def test_level_split_by_depth():
  assert costs.level_of_normal_cells(8, 3) == {0: 0, 1: 0, 3: 1, 4: 1, 6: 2, 7: 2}
  assert set(costs.level_of_normal_cells(8, 1).values()) == {0}
  assert list(itertools.chain(costs.reduction_indices(8))) == [2, 5]


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


def test_a_short_search_moves_theta_as_far_as_the_papers():
  """The step-size rule: over S = 6 steps, θ's largest move is within 2× of the paper's travel
  3e-4 × 19,550 ≈ 5.9 (at the fixed 3e-4 it would be ≤ 0.0018). τ anneals 1 -> 0.1 on the way."""
  from rc_darts_tf.search import step_sizes
  steps = 6
  arch_lr, _ = step_sizes.resolve(None, None, steps)
  net = SearchNetwork(num_classes=3, init_channels=4, layers=3, levels=1, learn_connection=False,
                      image_size=8, seed=3, temperature_init=1.0, temperature_final=0.1,
                      total_steps=steps)
  net.compile(keras.optimizers.SGD(0.025, momentum=0.9),
              keras.optimizers.Adam(arch_lr, beta_1=0.5, beta_2=0.999))
  net.build_optimizers()
  rng = np.random.default_rng(0)
  x = rng.standard_normal((8, 8, 8, 3)).astype(np.float32)
  y = rng.integers(0, 3, 8).astype(np.int32)
  step = tf.function(net.search_step)
  before = net.theta_cells.numpy().copy()
  taus = []
  for _ in range(steps):
    logs = step(((x[:4], y[:4]), (x[4:], y[4:])))
    taus.append(float(logs["temperature"]))
  move = np.abs(net.theta_cells.numpy() - before).max()
  paper = 3e-4 * step_sizes.PAPER_STEPS
  assert paper / 2 <= move <= 2 * paper, move
  assert taus[-1] == pytest.approx(0.1, rel=1e-5) and taus[0] == pytest.approx(
      0.1 ** (1 / steps), rel=1e-5)
  np.testing.assert_allclose(float(net.temperature(3)), 0.1 ** 0.5, rtol=1e-6)
  # Φ and the Eq. 1 network's exact cost are logged at every step, at τ after the step
  np.testing.assert_allclose(float(logs["eq1_params"]), net.eq1_cost().numpy()[0])
