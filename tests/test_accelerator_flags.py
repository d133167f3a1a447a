"""--jit_compile (XLA) and --mixed_precision (mixed_float16, loss scaling) on CPU at tiny shapes:
the same genotype, losses within a stated tolerance, θ / Φ / the saved network in float32.

Tolerances: XLA reorders float32 arithmetic, so its losses agree with the plain step's to 1e-4
(relative) step by step. float16 activations carry ~3 significant digits: from the same weights
a mixed-precision loss agrees with the float32 one to 1e-2 (relative; measured within 5e-3).
Later steps are not compared one by one: dynamic loss scaling starts at S = 2^15 and skips the
first steps whose float16 gradient overflows (halving S each time), as Keras's loss scaling
does, so the two runs take different numbers of updates; they must stay finite and agree on Φ
and the genotype.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs, network, precision, training
from rc_darts_tf.budget import Bounds
from rc_darts_tf import genotype as genotype_lib
from rc_darts_tf.search import derive
from rc_darts_tf.search.supernet import SearchNetwork
from tests.helpers import error_lines, run_entry, search_batch

STEPS = 3
DARTS_V2 = genotype_lib.resolve("DARTS_V2")


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


def test_loss_scaling_skips_a_non_finite_step_and_halves_the_scale():
  with precision.policy(True):
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
  opt = precision.loss_scaling(keras.optimizers.SGD(0.1))
  opt.build(layer.trainable_variables)
  before = [v.numpy().copy() for v in layer.trainable_variables]
  scale = float(opt.dynamic_scale)
  grads = [tf.fill(v.shape, np.inf) for v in layer.trainable_variables]
  precision.apply(opt, grads, layer.trainable_variables, precision.scale_of(opt))
  assert float(opt.dynamic_scale) == scale / 2
  for a, v in zip(before, layer.trainable_variables):
    np.testing.assert_array_equal(a, v.numpy())
  grads = [tf.ones(v.shape) for v in layer.trainable_variables]
  precision.apply(opt, grads, layer.trainable_variables, precision.scale_of(opt))
  np.testing.assert_allclose(layer.trainable_variables[0].numpy(), before[0] - 0.1, rtol=1e-6)


def _retrain(mixed=False, jit=False, steps=4):
  """`steps` training steps of a tiny DARTS_V2 network on one batch; returns (the loss of every
  step, computed before that step's update; the network; the batch; the trainer)."""
  keras.utils.set_random_seed(3)
  with precision.policy(mixed):
    net = network.build_network(DARTS_V2, 4, 3, "cifar", 16, 3, seed=3)
    trainer = training.Trainer(net, 3, weight_decay=3e-4, grad_clip=5.0)
    optimizer = precision.loss_scaling(keras.optimizers.SGD(0.05, momentum=0.9), mixed)
    trainer.compile(optimizer=optimizer, jit_compile=jit, auto_scale_loss=False)
  rng = np.random.default_rng(1)
  x = rng.standard_normal((4, 16, 16, 3)).astype(np.float32)
  y = rng.integers(0, 3, 4).astype(np.int32)
  batches = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
  trainer.make_train_function()
  losses = []
  for _ in range(steps):
    trainer.reset_metrics()
    losses.append(float(trainer.train_function(batches)["loss"]))
  return losses, net, x, trainer


@pytest.fixture(scope="module")
def plain_retrain():
  return _retrain()


def test_retraining_with_jit_matches_float32(plain_retrain):
  losses = plain_retrain[0]
  jit_losses = _retrain(jit=True)[0]
  np.testing.assert_allclose(jit_losses, losses, rtol=1e-4)


def test_retraining_with_mixed_precision_and_its_float32_copy(plain_retrain):
  losses = plain_retrain[0]
  mixed_losses, mixed_net, x, trainer = _retrain(mixed=True, steps=8)
  assert mixed_losses[0] == pytest.approx(losses[0], rel=1e-2)       # same weights
  assert all(np.isfinite(mixed_losses))
  assert 1 <= int(trainer.optimizer.iterations) <= 8                  # overflowing steps skipped
  assert mixed_losses[-1] < mixed_losses[0]                            # and it learns
  saved = training.float32_network(mixed_net)
  assert saved is not mixed_net
  assert {layer.dtype_policy.name for layer in saved._flatten_layers()} == {"float32"}
  np.testing.assert_allclose(saved(x, training=False).numpy(),
                             tf.cast(mixed_net(x, training=False), tf.float32).numpy(),
                             atol=5e-2)


def test_train_main_mixed_precision_writes_a_float32_model(tmp_path, tiny_tree_16):
  out = tmp_path / "train"
  result = run_entry("rc_darts_tf.cli.train", f"--dataset=imagefolder:{tiny_tree_16}",
                     "--genotype=DARTS_V2", "--preset=none", "--layers=3", "--init_channels=4",
                     "--epochs=1", "--batch_size=4", "--max_steps_per_epoch=3", "--mixed_precision",
                     "--noauxiliary", "--nocutout", f"--output_dir={out}", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert error_lines(result.stderr) == []
  model = keras.saving.load_model(out / "model.keras", compile=False)
  assert {layer.dtype_policy.name for layer in model._flatten_layers()} == {"float32"}
  assert json.loads((out / "run.json").read_text())["settings"]["mixed_precision"] is True
