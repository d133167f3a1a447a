"""Every op layer of every search space round-trips through Keras serialization: get_config ->
from_config (keras.saving.serialize_keras_object / deserialize_keras_object, the form a .keras
file stores) gives a layer of the same config and weights that computes the same output, at
stride 1 and 2, for derived networks (affine) and the search (no γ/β)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import ops, search_space

CASES = [(name, connection, stride, affine)
         for connection, table in ((False, ops.ALL_CELL_OPS), (True, ops.ALL_CONNECTION_OPS))
         for name in table for stride in (1, 2) for affine in (True, False)]


@pytest.mark.parametrize("name, connection, stride, affine", CASES,
                         ids=[f"{n}-{'conn' if c else 'cell'}-s{s}-{'affine' if a else 'search'}"
                              for n, c, s, a in CASES])
def test_op_layer_round_trips_through_keras_serialization(name, connection, stride, affine):
  c_in, c_out = 8, 8
  layer = ops.build_op(name, c_in, c_out, stride, affine, connection=connection)
  x = tf.constant(np.random.default_rng(0).standard_normal((2, 6, 6, c_in)), tf.float32)
  expected = layer(x, training=False).numpy()
  config = keras.saving.serialize_keras_object(layer)
  # a layer of ours, found again by its registered name
  assert config["registered_name"] == f"{ops.PACKAGE}>{type(layer).__name__}", config
  clone = keras.saving.deserialize_keras_object(config)
  assert type(clone) is type(layer)
  assert clone.get_config() == layer.get_config()
  clone(x, training=False)                         # builds it
  assert [w.path.split("/", 1)[-1] for w in clone.weights] == [
      w.path.split("/", 1)[-1] for w in layer.weights]
  clone.set_weights(layer.get_weights())
  np.testing.assert_allclose(clone(x, training=False).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_every_op_of_every_space_is_covered():
  names = {n for n, c, _, _ in CASES if not c}
  assert names == {n for space in search_space.SPACES.values() for n in space.primitives}
