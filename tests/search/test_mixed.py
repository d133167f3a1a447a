"""rc_darts_tf/search/mixed.py: the mixed op equals the weighted sum of the registry's ops;
partial channels (PC-DARTS, issue 17): channel shuffle and the partial mixed op."""

import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs, ops, search_space
from rc_darts_tf.search import mixed as mixed_module
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


@pytest.mark.parametrize("num_inputs, stride", [(3, 1), (2, 2)])
def test_mixed_op_gradients_equal_the_registry_ops(num_inputs, stride):
  """The gradients of Σ g · MixedOp(x, p) (g fixed, random) w.r.t. p (softmax(θ) [k, O]), the
  inputs x_i and every kernel equal those of Σ_i Σ_o p_io · op_o(x_i) built from the registry's
  layers: the candidate weight folded into the closing BN as its γ and the one shared relu(x)
  change no number."""
  c, size = 8, 8
  rng = np.random.default_rng(7 * num_inputs + stride)
  mixed = MixedOp(c, stride, num_inputs)
  mixed.build(None)
  inputs = [tf.Variable(x) for x in _inputs(rng, num_inputs, c, size)]
  probs = tf.Variable(_probs(rng, num_inputs))
  side = -(-size // stride)
  g = tf.constant(rng.standard_normal((4, side, side, c)), tf.float32)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(g * mixed(inputs, probs))
  got = tape.gradient(loss, [probs, mixed.flat] + inputs)
  layers = {}
  for i in range(num_inputs):
    for name in ops.PRIMITIVES:
      layer = ops.build_op(name, c, c, stride, affine=False)
      layer.build(inputs[i].shape)
      for variable, value in zip(layer.trainable_weights, mixed.edge_weights(i, name)):
        variable.assign(value)
      layers[i, name] = layer
  with tf.GradientTape() as tape:
    expected = 0.0
    for (i, name), layer in layers.items():
      expected = expected + probs[i, ops.PRIMITIVES.index(name)] * layer(inputs[i],
                                                                          training=True)
    loss = tf.reduce_sum(g * expected)
  variables = [v for layer in layers.values() for v in layer.trainable_weights]
  want = tape.gradient(loss, [probs] + inputs + variables)
  np.testing.assert_allclose(tf.convert_to_tensor(got[0]).numpy(),
                             tf.convert_to_tensor(want[0]).numpy(), rtol=1e-3, atol=1e-3)
  for x_got, x_want in zip(got[2:], want[1:1 + num_inputs]):
    np.testing.assert_allclose(x_got.numpy(), x_want.numpy(), rtol=1e-3, atol=1e-3)
  # the kernels' gradient [P], unpacked per edge and op as edge_weights unpacks the kernels
  kernel_grads = want[1 + num_inputs:]
  mixed.flat.assign(got[1])
  offset = 0
  for (i, name), layer in layers.items():
    unpacked = mixed.edge_weights(i, name)
    assert len(unpacked) == len(layer.trainable_weights), name
    for got_k, want_k in zip(unpacked, kernel_grads[offset:offset + len(unpacked)]):
      np.testing.assert_allclose(np.reshape(got_k, want_k.shape), want_k.numpy(), rtol=1e-3,
                                 atol=1e-3, err_msg=f"edge {i} {name}")
    offset += len(unpacked)
  assert offset == len(variables) > 0


def _value_and_grads(fn, inputs, upstream):
  inputs = [tf.constant(x) for x in inputs]
  with tf.GradientTape() as tape:
    tape.watch(inputs)
    loss = tf.reduce_sum(fn(*inputs) * upstream)
  return [fn(*inputs).numpy()] + [g.numpy() for g in tape.gradient(loss, inputs)]


@pytest.mark.parametrize("size, kernel", [(8, 3), (8, 5), (4, 5), (2, 3), (7, 3), (5, 5)])
def test_dilated_depthwise_and_its_gradients_equal_tensorflows(size, kernel):
  """The native dilated depthwise conv with its written-out gradient (even sizes) and the
  lowering it falls back to (odd sizes) against tf.nn.depthwise_conv2d(dilations=2)."""
  rng = np.random.default_rng(size * 10 + kernel)
  x = rng.standard_normal((3, size, size, 5)).astype(np.float32)
  k = rng.standard_normal((kernel, kernel, 5, 1)).astype(np.float32)
  upstream = rng.standard_normal((3, size, size, 5)).astype(np.float32)
  got = _value_and_grads(lambda a, b: mixed_module.dilated_depthwise(a, b, 2), [x, k], upstream)
  want = _value_and_grads(lambda a, b: tf.nn.depthwise_conv2d(
      a, b, [1, 1, 1, 1], "SAME", dilations=[2, 2]), [x, k], upstream)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size, kernel, stride", [
    (8, 3, 1), (8, 5, 1), (7, 5, 1), (2, 5, 1), (8, 3, 2), (8, 5, 2), (7, 5, 2), (5, 3, 2),
    (1, 5, 2)])
def test_depthwise_and_its_gradients_equal_tensorflows(size, kernel, stride):
  """depthwise (the written-out gradient on CPU: the filter gradient in width-3 column blocks,
  the input gradient TensorFlow's own kernel) against tf.nn.depthwise_conv2d SAME, for
  even and odd sizes, both strides (SAME pads unevenly at stride 2) and images smaller than the
  kernel; the filter gradient alone for a 7-wide kernel (three blocks)."""
  rng = np.random.default_rng(size * 100 + kernel * 10 + stride)
  x = rng.standard_normal((3, size, size, 5)).astype(np.float32)
  k = rng.standard_normal((kernel, kernel, 5, 1)).astype(np.float32)
  out = -(-size // stride)
  upstream = rng.standard_normal((3, out, out, 5)).astype(np.float32)
  got = _value_and_grads(lambda a, b: mixed_module.depthwise(a, b, stride), [x, k], upstream)
  want = _value_and_grads(lambda a, b: tf.nn.depthwise_conv2d(
      a, b, [1, stride, stride, 1], "SAME"), [x, k], upstream)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  seven = mixed_module.depthwise_filter_gradient(tf.constant(x), tf.constant(upstream),
                                                 [7, 7, 5, 1], stride)
  np.testing.assert_allclose(seven.numpy(), tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
      input=x, filter_sizes=[7, 7, 5, 1], out_backprop=upstream, strides=[1, stride, stride, 1],
      padding="SAME").numpy(), rtol=1e-4, atol=1e-4)


def test_depthwise_uses_the_written_out_gradient_on_cpu():
  """On this CPU the probe agrees, so the 5x5 conv's filter gradient is width-3 blocks (two
  DepthwiseConv2dNativeBackpropFilter of a 5x3 kernel in the traced gradient)."""
  x = tf.random.normal([2, 8, 8, 4])
  k = tf.random.normal([5, 5, 4, 1])

  @tf.function(autograph=False)      # as the search's step
  def grads(x, k):
    with tf.GradientTape() as tape:
      tape.watch(k)
      y = mixed_module.depthwise(x, k, 1)
    return tape.gradient(y, k)
  graph = grads.get_concrete_function(x, k).graph
  filter_grads = [op for op in graph.get_operations()
                  if op.type == "DepthwiseConv2dNativeBackpropFilter"]
  assert mixed_module._device_type() == "CPU"
  assert len(filter_grads) == 2, [op.type for op in graph.get_operations()]


@pytest.mark.parametrize("size", [8, 7, 2, 1])
def test_odd_pixels_and_its_gradient(size):
  """odd_pixels(x) = x[:, 1::2, 1::2] zero-padded to ceil(H/2) (DARTS's FactorizedReduce
  second path), value and gradient, for even (roll) and odd (slice and pad) sizes."""
  rng = np.random.default_rng(size)
  x = rng.standard_normal((2, size, size, 3)).astype(np.float32)
  half = -(-size // 2)
  expected = np.zeros((2, half, half, 3), np.float32)
  odd = x[:, 1::2, 1::2]
  expected[:, :odd.shape[1], :odd.shape[2]] = odd
  upstream = rng.standard_normal(expected.shape).astype(np.float32)
  value, grad = _value_and_grads(mixed_module.odd_pixels, [x], upstream)
  np.testing.assert_array_equal(value, expected)
  want = np.zeros_like(x)
  want[:, 1::2, 1::2] = upstream[:, :odd.shape[1], :odd.shape[2]]
  np.testing.assert_array_equal(grad, want)


def test_grouped_pointwise_equals_the_block_diagonal_matmul():
  """The grouped 1x1 conv (where the device has it) and the block-diagonal matmul: value and
  gradients."""
  rng = np.random.default_rng(3)
  x = rng.standard_normal((2, 4, 4, 12)).astype(np.float32)
  k = rng.standard_normal((3, 4, 6)).astype(np.float32)
  upstream = rng.standard_normal((2, 4, 4, 18)).astype(np.float32)
  got = _value_and_grads(mixed_module.grouped_pointwise, [x, k], upstream)
  want = _value_and_grads(mixed_module._block_diagonal_matmul, [x, k], upstream)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


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

