"""rc_darts_tf/search/mixed.py: the mixed op equals the weighted sum of the registry's ops;
partial channels (PC-DARTS, issue 17): channel shuffle and the partial mixed op."""

import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs, ops, search_space
from rc_darts_tf.search.mixed import MixedOp, channel_shuffle
from rc_darts_tf.search.supernet import SearchNetwork


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

