"""rc_darts_tf/ops.py: each op's cost (`spec.cost`, search_space.py's formulas) against
the layers of ops.py, for every op of both registries on a grid of geometries.

  params  `spec.cost(...).params` == the trainable weights of the built layer, whose output is
          (1, ceil(h/s), ceil(w/s), c_out);
  MACs    `spec.cost(...).macs` == an independent count: the op exported alone to ONNX (tf2onnx)
          and profiled by onnx_tool, Conv / Gemm / MatMul nodes only (see tests/onnx_macs.py).
Plus: 'none' outputs zeros, skip_connect at stride 1 is the identity, every op's cost is a
costs.Cost, and a BN applied per branch before a concat equals the BN of the concat.

The grid: cell ops C -> C with C in {8, 16}; connection ops also 24 -> 16 and 16 -> 8; H = W in
{8, 7} (odd sizes catch floor-vs-ceil errors); stride 1 and 2; affine True and False. The ONNX
exports are grouped: one Keras model per (registry, c_in, c_out, h, w) holds every op at every
stride and affine as a parallel branch, so the file needs 12 conversions (about 1-3 s each).
(Keras serialization of every op: tests/test_ops_serialization.py.)
"""

import functools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import costs, ops
from tests import onnx_macs

CELL_GEOMETRIES = tuple((c, c, h, h) for c in (8, 16) for h in (8, 7))
CONNECTION_GEOMETRIES = tuple((c_in, c_out, h, h)
                              for c_in, c_out in ((8, 8), (16, 16), (24, 16), (16, 8))
                              for h in (8, 7))
STRIDES = (1, 2)
AFFINES = (True, False)


def _registry(connection):
  """Every op of every search space (search_space.SPACES)."""
  return ops.ALL_CONNECTION_OPS if connection else ops.ALL_CELL_OPS


def _cases():
  cases = []
  for connection, geometries in ((False, CELL_GEOMETRIES), (True, CONNECTION_GEOMETRIES)):
    for name in _registry(connection):
      for c_in, c_out, h, w in geometries:
        for stride in STRIDES:
          for affine in AFFINES:
            case_id = (f"{'conn' if connection else 'cell'}-{name}-{c_in}to{c_out}-{h}x{w}-"
                       f"s{stride}-{'affine' if affine else 'search'}")
            cases.append(pytest.param(connection, name, c_in, c_out, h, w, stride, affine,
                                      id=case_id))
  return cases


CASES = _cases()
CASE_ARGS = "connection, name, c_in, c_out, h, w, stride, affine"


def _branch_key(name, stride, affine):
  return f"{name}__s{stride}_a{int(affine)}"


@functools.lru_cache(maxsize=None)
def _onnx_nodes(connection, c_in, c_out, h, w):
  """Counted ONNX nodes of every op of a registry at one geometry, keyed by (name, stride, affine).

  One export for all of them (see module docstring).
  """
  branches, keys = {}, {}
  for name in _registry(connection):
    for stride in STRIDES:
      for affine in AFFINES:
        key = _branch_key(name, stride, affine)
        branches[key] = ("x", ops.build_op(name, c_in, c_out, stride, affine, connection))
        keys[key] = (name, stride, affine)
  nodes = onnx_macs.branch_nodes({"x": (h, w, c_in)}, branches)
  return {keys[key]: found for key, found in nodes.items()}


def _trainable_count(layer):
  return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


def _input(h, w, c, seed=0):
  return tf.constant(np.random.default_rng(seed).standard_normal((1, h, w, c)), tf.float32)


# ---------------------------------------------------------------------------------------------
# (a) params and output shape


@pytest.mark.parametrize(CASE_ARGS, CASES)
def test_params_equal_trainable_weights(connection, name, c_in, c_out, h, w, stride, affine):
  spec = _registry(connection)[name]
  layer = ops.build_op(name, c_in, c_out, stride, affine, connection=connection)
  y = layer(_input(h, w, c_in), training=False)
  expected_channels = c_in if name == "none" or name.endswith("pool_3x3") else c_out
  assert tuple(y.shape) == (1, math.ceil(h / stride), math.ceil(w / stride), expected_channels)
  cost = spec.cost(c_in, c_out, h, w, stride, affine)
  weights = {v.path: tuple(v.shape) for v in layer.trainable_weights}
  assert cost.params == _trainable_count(layer), weights


# ---------------------------------------------------------------------------------------------
# (b) MACs, counted independently on the exported ONNX graph


@pytest.mark.parametrize(CASE_ARGS, CASES)
def test_macs_equal_onnx_tool_count(connection, name, c_in, c_out, h, w, stride, affine):
  spec = _registry(connection)[name]
  nodes = _onnx_nodes(connection, c_in, c_out, h, w)[(name, stride, affine)]
  counted = sum(node.macs for node in nodes)
  detail = [(node.name, node.input_shapes, node.output_shape, dict(node.attributes), node.macs)
            for node in nodes]
  assert spec.cost(c_in, c_out, h, w, stride, affine).macs == counted, detail


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("name, kernel", [("dil_conv_3x3", 3), ("dil_conv_5x5", 5)])
def test_onnx_count_of_depthwise_and_dilated_convs_by_hand(name, kernel, stride):
  """The reference itself: onnx_tool charges a depthwise conv (Conv, group = C) C*k*k per output
  pixel and ignores dilation, as costs.py does. Hand count on 16 channels, 7 x 7, C -> C."""
  c, h = 16, 7
  ho = math.ceil(h / stride)
  nodes = _onnx_nodes(False, c, c, h, h)[(name, stride, True)]
  depthwise = [n for n in nodes if n.attributes.get("group") == c]
  pointwise = [n for n in nodes if n.attributes.get("group") == 1]
  assert len(depthwise) == 1 and len(pointwise) == 1, nodes
  # at stride 1 the dilation is in the ONNX Conv; at stride 2 ops.py subsamples, then k x k
  assert list(depthwise[0].attributes["dilations"]) == ([2, 2] if stride == 1 else [1, 1])
  assert depthwise[0].input_shapes[1] == (c, 1, kernel, kernel)
  assert depthwise[0].output_shape == (1, c, ho, ho)
  assert depthwise[0].macs == c * kernel * kernel * ho * ho
  assert pointwise[0].macs == c * c * ho * ho


def test_onnx_count_ignores_a_folded_bn_bias():
  """Trained BN statistics make tf2onnx fold BN into the conv before it, with a bias (and a new
  node name); the count must neither charge the bias addition nor lose the renamed node."""
  layer = ops.build_op("sep_conv_3x3", 8, 8, 1, True)
  layer.build((1, 7, 7, 8))
  for v in layer.non_trainable_weights + layer.trainable_weights:
    if "moving_mean" in v.path or "beta" in v.path:
      v.assign(np.full(v.shape, 0.5, np.float32))
  nodes = onnx_macs.branch_nodes({"x": (7, 7, 8)}, {"trained": ("x", layer)})["trained"]
  assert any(len(node.input_shapes) == 3 for node in nodes), "no BN was folded into a conv"
  assert sum(node.macs for node in nodes) == ops.CELL_OPS["sep_conv_3x3"].cost(8, 8, 7, 7).macs


# ---------------------------------------------------------------------------------------------
# (c) numerics of the parameter-free ops


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("h, w", [(8, 8), (7, 7), (8, 7)])
def test_none_outputs_zeros(h, w, stride):
  y = ops.build_op("none", 8, 8, stride, True)(_input(h, w, 8)).numpy()
  assert y.shape == (1, math.ceil(h / stride), math.ceil(w / stride), 8)
  assert not y.any()


@pytest.mark.parametrize("affine", AFFINES)
@pytest.mark.parametrize("h, w", [(8, 8), (7, 7)])
def test_skip_connect_stride_1_is_identity(h, w, affine):
  x = _input(h, w, 16, seed=1)
  layer = ops.build_op("skip_connect", 16, 16, 1, affine)
  for training in (False, True):
    np.testing.assert_array_equal(layer(x, training=training).numpy(), x.numpy())
  assert not layer.weights


# ---------------------------------------------------------------------------------------------
# cost functions (the whole search network's: tests/test_costs.py)


@pytest.mark.parametrize("connection", [False, True], ids=["cell", "connection"])
def test_every_op_has_a_cost_function(connection):
  table = _registry(connection)
  assert table, "empty registry"
  for name, spec in table.items():
    assert spec.name == name and callable(spec.cost), name
    for stride in STRIDES:
      for affine in AFFINES:
        cost = spec.cost(16, 16, 7, 7, stride, affine)
        assert isinstance(cost, costs.Cost), (name, cost)
        assert isinstance(cost.params, int) and isinstance(cost.macs, int), (name, cost)
        assert cost.params >= 0 and cost.macs >= 0, (name, cost)
        assert costs.op_cost(name, 16, 16, 7, 7, stride, affine, connection) == cost, name


@pytest.mark.parametrize("layer_kind", ["factorized_reduce", "group_conv_1x1_g4"])
def test_bn_after_a_concat_per_branch_at_inference_equals_bn_of_the_concat(layer_kind):
  """ops._bn_per_branch: at inference FactorizedReduce and the grouped 1x1 apply their BN to each
  conv before the concat (so TFLite folds it into the convs); the numbers are those of the BN
  applied to the concat, with non-trivial moving statistics and affine parameters."""
  from rc_darts_tf import ops
  keras.utils.set_random_seed(4)
  layer = (ops.FactorizedReduce(16) if layer_kind == "factorized_reduce"
           else ops.GroupConv1x1(16, groups=4))
  x = tf.random.normal([2, 8, 8, 16])
  layer(x, training=True)
  rng = np.random.default_rng(0)
  for weight, low, high in ((layer.bn.moving_mean, -1, 1), (layer.bn.moving_variance, 0.2, 3),
                            (layer.bn.gamma, 0.3, 2), (layer.bn.beta, -1, 1)):
    weight.assign(rng.uniform(low, high, weight.shape).astype(np.float32))
  relu = tf.nn.relu(x)
  if layer_kind == "factorized_reduce":
    shifted = tf.pad(relu[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
    concat = tf.concat([layer.conv1(relu), layer.conv2(shifted)], -1)
    expected = layer.bn(concat, training=False)
  else:
    parts = tf.split(relu, 4, axis=-1)
    concat = tf.concat([conv(p) for conv, p in zip(layer.convs, parts)], -1)
    expected = ops.channel_shuffle(layer.bn(concat, training=False), 4)
  np.testing.assert_allclose(layer(x, training=False).numpy(), expected.numpy(), atol=2e-6)
  assert np.std(expected.numpy()) > 0.1


@pytest.mark.parametrize("groups", [2, 4])
def test_a_grouped_connection_reads_the_node_tensors_in_the_int8_export_form(groups):
  """ops._relu_groups: in the int8 export form a grouped 1x1 whose input is a traced channel
  concat of node tensors takes each group from its own pieces (ReLU per piece), so the concat
  feeds nothing and each node keeps its own int8 scale; the numbers are the layer's."""
  from rc_darts_tf import ops
  keras.utils.set_random_seed(5)
  layer = ops.GroupConv1x1(16, groups=groups)
  nodes = [tf.random.normal([2, 6, 6, 8]) + k for k in range(4)]
  layer(tf.concat(nodes, -1), training=True)
  rng = np.random.default_rng(1)
  for weight, low, high in ((layer.bn.moving_mean, -1, 1), (layer.bn.moving_variance, 0.2, 3),
                            (layer.bn.gamma, 0.3, 2), (layer.bn.beta, -1, 1)):
    weight.assign(rng.uniform(low, high, weight.shape).astype(np.float32))
  expected = layer(tf.concat(nodes, -1), training=False).numpy()
  specs = [tf.TensorSpec(n.shape, tf.float32) for n in nodes]
  for int8, concat_read in ((False, True), (True, False)):
    with ops.tflite_export_form(int8=int8):
      fn = tf.function(lambda *n: layer(tf.concat(n, -1), training=False),
                       autograph=False).get_concrete_function(*specs)
    inputs = [t.ref() for t in fn.graph.inputs[:4]]
    concats = [op for op in fn.graph.get_operations()
               if op.type == "ConcatV2" and [t.ref() for t in op.inputs[:-1]] == inputs]
    assert len(concats) == 1, int8
    assert bool(concats[0].outputs[0].consumers()) == concat_read, int8
    np.testing.assert_allclose(fn(*nodes).numpy(), expected, atol=2e-6)
