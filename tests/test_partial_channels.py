"""Partial-channel search (PC-DARTS, issue 17): channel shuffle, the partial mixed op, β (edge
normalisation) in the edge strength of derivation and Φ, the supernet's step, the CLI flag."""

import json

import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs, ops
from rc_darts_tf.budget import Bounds
from rc_darts_tf.search import derive
from rc_darts_tf.search.mixed import MixedOp, channel_shuffle
from rc_darts_tf.search.supernet import SearchNetwork
from tests.helpers import error_lines, run_entry, search_batch, tiny_search_network


def _shuffle_reference(x, groups):
  """PC-DARTS channel_shuffle written out: output channel i·groups + g = input g·(C/groups) + i."""
  c = x.shape[-1]
  out = np.empty_like(x)
  for g in range(groups):
    for i in range(c // groups):
      out[..., i * groups + g] = x[..., g * (c // groups) + i]
  return out


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_channel_shuffle_is_a_permutation(groups):
  x = np.arange(2 * 3 * 3 * 8, dtype=np.float32).reshape(2, 3, 3, 8)
  got = channel_shuffle(tf.constant(x), groups).numpy()
  np.testing.assert_array_equal(got, _shuffle_reference(x, groups))
  np.testing.assert_array_equal(np.sort(got, axis=-1), np.sort(x, axis=-1))
  if groups == 1:
    np.testing.assert_array_equal(got, x)


def _inputs(rng, k, c, size=8, batch=4):
  return [tf.constant(rng.standard_normal((batch, size, size, c)), tf.float32) for _ in range(k)]


def _probs(rng, k):
  return tf.constant(costs.softmax(rng.standard_normal((k, len(ops.PRIMITIVES)))), tf.float32)


@pytest.mark.parametrize("num_inputs, stride", [(3, 1), (2, 2)])
def test_partial_channels_one_is_the_darts_mixed_op(num_inputs, stride):
  """K = 1 with every edge weighing 1 (the partial path: per-edge sum, shuffle of 1 group) gives
  today's mixed op output."""
  rng = np.random.default_rng(num_inputs)
  mixed = MixedOp(8, stride, num_inputs, partial_channels=1)
  mixed.build(None)
  inputs, probs = _inputs(rng, num_inputs, 8), _probs(rng, num_inputs)
  plain = mixed(inputs, probs).numpy()
  weighted = mixed(inputs, probs, tf.ones([num_inputs])).numpy()
  np.testing.assert_allclose(weighted, plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k_partial, num_inputs, stride", [(2, 3, 1), (4, 2, 2), (4, 1, 1)])
def test_partial_mixed_op_equals_the_pc_darts_edge_sum(k_partial, num_inputs, stride):
  """Σ_i β̂_i · shuffle(concat(mixed_i(x_i[..., :C/K]), bypass_i)), bypass max-pooled 2x2 at
  stride 2, against a full-width DARTS mixed op of C/K channels run edge by edge."""
  c = 8
  rng = np.random.default_rng(10 * k_partial + stride)
  pc = MixedOp(c, stride, num_inputs, partial_channels=k_partial)
  pc.build(None)
  narrow = MixedOp(c // k_partial, stride, num_inputs)
  narrow.build(None)
  assert narrow.flat.shape == pc.flat.shape
  narrow.flat.assign(pc.flat)
  inputs, probs = _inputs(rng, num_inputs, c), _probs(rng, num_inputs)
  beta = costs.softmax(rng.standard_normal(num_inputs))
  got = pc(inputs, probs, tf.constant(beta, tf.float32)).numpy()
  part = [x[..., :c // k_partial] for x in inputs]
  total = 0.0
  for i, x in enumerate(inputs):
    only_i = np.zeros(probs.shape, np.float32)
    only_i[i] = probs[i].numpy()
    edge = narrow(part, tf.constant(only_i)).numpy()                 # mixed_i(x_i[..., :C/K])
    rest = x[..., c // k_partial:]
    if stride > 1:
      rest = tf.nn.max_pool2d(rest, 2, 2, "VALID")
    total = total + beta[i] * np.concatenate([edge, rest.numpy()], axis=-1)
  np.testing.assert_allclose(got, _shuffle_reference(total, k_partial), rtol=1e-4, atol=1e-4)


def test_partial_channels_must_divide_the_channels():
  with pytest.raises(ValueError, match="partial_channels=3"):
    MixedOp(8, 1, 2, partial_channels=3)
  with pytest.raises(ValueError, match="partial_channels=3"):
    SearchNetwork(init_channels=8, layers=5, levels=1, partial_channels=3)


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
  tables = costs.cost_tables(plan, True)
  model = costs.CostModel(tables)
  np.testing.assert_allclose(
      model.expected(tf.constant(theta), tf.constant(conn), 0.7, theta_edges=tf.constant(beta)),
      costs.expected_cost_numpy(tables, theta, conn, 0.7, theta_edges=beta), rtol=1e-7)
  exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)
  np.testing.assert_allclose(costs.eq1_cost_numpy(tables, theta, conn, 0.7, theta_edges=beta),
                             [exact.get(r) for r in costs.RESOURCES])
  np.testing.assert_allclose(
      model.eq1(tf.constant(theta), tf.constant(conn), 0.7, theta_edges=tf.constant(beta)),
      [exact.get(r) for r in costs.RESOURCES], rtol=1e-6)
  # the exact-budget derivation without a binding bound is Eq. 1 with β
  wide = {"params": Bounds(None, 1e12), "macs": None}
  assert derive.solve_budget(theta, conn, tables, wide, 0.7, theta_edges=beta) == genotype


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


def test_search_main_partial_channels_records_beta(tmp_path, tiny_tree_16):
  out = tmp_path / "run"
  result = run_entry(
      "rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree_16}", f"--output_dir={out}",
      "--batch_size=4", "--epochs=1", "--init_channels=4", "--layers=3", "--levels=1",
      "--partial_channels=2", "--budget_params=:1e9", "--projection_iters=5", "--report_freq=1",
      timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert error_lines(result.stderr) == []
  saved = np.load(out / "theta.npz")
  assert saved["theta_edges"].shape == (2, costs.NUM_EDGES)
  genotype = json.loads((out / "genotype.json").read_text())
  assert genotype["meta"]["settings"]["partial_channels"] == 2
  again = derive.derive(saved["theta_cells"], saved["theta_connection"],
                        temperature=genotype["meta"]["temperature"],
                        theta_edges=saved["theta_edges"])
  assert [list(map(list, cell)) for cell in again.normal] == genotype["normal"]


def test_search_main_refuses_partial_channels_that_do_not_divide(tmp_path, tiny_tree_16):
  result = run_entry("rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree_16}",
                     f"--output_dir={tmp_path / 'run'}", "--init_channels=8",
                     "--partial_channels=3", "--budget_params=:1e9", timeout=120)
  assert result.returncode == 2
  assert error_lines(result.stderr) == [
      "rc-darts-search: error: flag --partial_channels=3: must divide --init_channels=8"]
  assert not (tmp_path / "run").exists()
