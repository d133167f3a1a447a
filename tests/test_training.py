"""The training model (rc_darts_tf/training.py): learning-rate schedules, label
smoothing and the auxiliary weight in the loss, and retraining with --jit_compile (XLA) and
--mixed_precision (mixed_float16, loss scaling) on CPU at tiny shapes, with the float32 copy of a
mixed-precision network that is saved.

Tolerances: XLA reorders float32 arithmetic, so its losses agree with the plain step's to 1e-4
(relative) step by step. float16 activations carry ~3 significant digits: from the same weights
a mixed-precision loss agrees with the float32 one to 1e-2 (relative; measured within 5e-3).
Later steps are not compared one by one: dynamic loss scaling starts at S = 2^15 and skips the
first steps whose float16 gradient overflows (halving S each time), as Keras's loss scaling
does, so the two runs take different numbers of updates; the losses must stay finite and fall.
(The search step under the same flags: tests/search/test_supernet.py.)"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import network, precision, training
from rc_darts_tf import genotype as genotype_lib

DARTS_V2 = genotype_lib.resolve("DARTS_V2")


def test_learning_rate_schedules_follow_the_recipes():
  cosine = training.learning_rate_schedule("cosine", 0.025, 10, 600, 0.0)
  assert float(cosine(0)) == pytest.approx(0.025)
  assert float(cosine(3000)) == pytest.approx(0.0125, rel=1e-5)
  assert float(cosine(6000)) == pytest.approx(0.0, abs=1e-9)
  exponential = training.learning_rate_schedule("exponential", 0.1, 10, 250, decay_rate=0.97)
  assert float(exponential(9)) == pytest.approx(0.1)
  assert float(exponential(10)) == pytest.approx(0.097)
  assert float(exponential(25)) == pytest.approx(0.1 * 0.97 ** 2)
  with pytest.raises(ValueError):
    training.learning_rate_schedule("step", 0.1, 10, 10)


def test_label_smoothing_and_auxiliary_weight_enter_the_loss():
  model = network.build_network(DARTS_V2, 8, 5, image_size=16, num_classes=4, auxiliary=True)
  plain = training.Trainer(model, 4, label_smoothing=0.0)
  smooth = training.Trainer(model, 4, label_smoothing=0.1)
  logits = tf.constant([[4.0, 0.0, 0.0, 0.0]])
  labels = tf.constant([0])
  p = tf.nn.softmax(logits)[0].numpy()
  assert float(plain.cross_entropy(labels, logits)) == pytest.approx(-np.log(p[0]), rel=1e-5)
  target = np.array([0.925, 0.025, 0.025, 0.025])
  assert float(smooth.cross_entropy(labels, logits)) == pytest.approx(
      -(target * np.log(p)).sum(), rel=1e-5)


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

