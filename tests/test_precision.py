"""rc_darts_tf/precision.py: dynamic loss scaling skips a non-finite step and halves the
scale. (Searching and retraining under --mixed_precision: tests/search/test_supernet.py,
tests/test_training.py.)"""

import keras
import numpy as np
import tensorflow as tf

from rc_darts_tf import precision


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

