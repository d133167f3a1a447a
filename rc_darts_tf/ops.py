"""Candidate operations as Keras layers, and the one registry that maps op names to them.

Cell ops (every edge of a normal or reduce cell chooses one), C channels in and out:
  none, max_pool_3x3, avg_pool_3x3, skip_connect (factorized reduce at stride 2),
  sep_conv_3x3, sep_conv_5x5 (two stacked ReLU-DWConv-PWConv-BN blocks),
  dil_conv_3x3, dil_conv_5x5 (ReLU-DWConv(dilation 2)-PWConv-BN)
Connection ops (the connection cell between cells chooses one), C_in -> C_out:
  dil_conv_3x3, conv_1x1, group_conv_1x1_g2, group_conv_1x1_g4 (ReLU-Conv1x1-BN; grouped ones are
  followed by a channel shuffle)

Conventions, chosen so the same layer trains, exports to TFLite/ONNX with builtin operators only,
and costs exactly what costs.py says:
  * padding is 'same'; a pool at stride 2 pads like DARTS (count_include_pad=False for avg);
  * a dilated depthwise conv at stride 2 (TensorFlow cannot combine both) is computed as DARTS
    computes it: PyTorch's dil_conv with padding = dilation*(k-1)/2 at stride 2 reads only the
    even pixels, so it equals x[:, ::2, ::2] followed by an undilated k x k depthwise conv. The
    result, the weights and the MACs are those of the strided dilated conv;
  * grouped 1x1 convs are split -> per-group Conv2D -> concat (Keras's Conv2D(groups>1) becomes an
    XLA call tf2onnx cannot convert);
  * BatchNormalization: epsilon 1e-5, momentum 0.9 (PyTorch's 0.1); `affine=False` (the search)
    drops gamma/beta;
  * a BN after a concat of convolutions (factorized reduce, grouped 1x1) is applied at inference
    to each conv's output before the concat (`_bn_per_branch`): the same per-channel affine map,
    which the TFLite converter folds into each conv. Applied after the concat it stays a MUL and
    an ADD whose per-channel constants an int8 file quantizes with one scale (measured on a
    study network: int8 top-1 agreement 96.3 % -> 97.5 % on 2,000 CIFAR-10 test images);
  * TFLite export form (`tflite_export_form()`, entered by exporters/tflite.py while it traces a
    network for conversion; training, Keras inference and ONNX never enter it), same numbers:
    - a dilated depthwise conv is the DepthwiseConv2dNative op with its dilations, which the
      converter maps to one DEPTHWISE_CONV_2D; Keras's layer lowers it through SpaceToBatch,
      and where two ops read the same input the shared SPACE_TO_BATCH_ND stays in the file,
      which XNNPACK does not run (each one splits the graph into more delegate partitions);
    - int8 only: an op's leading ReLU reads a tensor other ops read too, so the converter cannot
      fuse it into its producer; it is written relu(max_pool 1x1), converted to MAX_POOL_2D with
      a fused ReLU, which keeps its input's quantization (no requantization) and which XNNPACK
      runs. A standalone int8 RELU (or LEAKY_RELU) is not delegated: it split the study network
      into 26 XNNPACK partitions.
    - int8 only: a grouped 1x1 connection reading a cell's output (the concat of its four node
      tensors) takes each group from the node tensors themselves (`_relu_groups`): the
      operands of an int8 concat share one scale, read this way each node keeps its own.

Add an op: declare it (name, family, cost formula, caption) in a space of search_space.py, the
TensorFlow-free module that is the search space, then write its layer (or reuse one) and add its
builder to `BUILDERS` here (importing ops checks that every op of every space has one).
"""

import contextlib
import dataclasses
from typing import Callable, Dict

import keras
import tensorflow as tf

from rc_darts_tf import search_space

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
PACKAGE = "rc_darts_tf"       # Keras serialization package of every layer of the library

serializable = keras.saving.register_keras_serializable(PACKAGE)


def _shape(shape, channels=None, stride=1):
  """NHWC shape after a 'same' op at `stride` with `channels` output channels."""
  b, h, w, c = shape
  h = None if h is None else -(-h // stride)
  w = None if w is None else -(-w // stride)
  return (b, h, w, c if channels is None else channels)


def batch_norm(affine: bool, name=None) -> keras.layers.BatchNormalization:
  """BatchNormalization as PyTorch's BatchNorm2d in DARTS: ε 1e-5, Keras momentum 0.9 (PyTorch
  0.1); γ and β only when `affine`."""
  return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, center=affine,
                                         scale=affine, name=name)


_export_form = {"tflite": False, "int8": False}


@contextlib.contextmanager
def tflite_export_form(int8: bool = False):
  """Within this block, networks traced from these layers take the TFLite export form (see the
  module docstring; `int8` adds the ReLU form). Read at trace time only."""
  previous = dict(_export_form)
  _export_form.update(tflite=True, int8=int8)
  try:
    yield
  finally:
    _export_form.update(previous)


def relu(x: tf.Tensor) -> tf.Tensor:
  """The ReLU at the start of an op, x [B, H, W, C]; relu(max_pool 1x1 (x)) in the int8 export
  form (identical values)."""
  if _export_form["int8"]:
    return tf.nn.relu(tf.nn.max_pool2d(x, 1, 1, "VALID"))
  return tf.nn.relu(x)


def _channel_pieces(x: tf.Tensor):
  """The tensors a traced channel concat joined into x [B, H, W, C] (looking through Identity
  ops), in order; None for an eager tensor, another producer or another axis."""
  if not tf.is_symbolic_tensor(x):
    return None
  op = x.op
  while op.type == "Identity":
    op = op.inputs[0].op
  if op.type != "ConcatV2":
    return None
  axis = tf.get_static_value(op.inputs[-1])
  if axis is None or int(axis) not in (-1, x.shape.rank - 1):
    return None
  return list(op.inputs[:-1])


def _relu_groups(x: tf.Tensor, groups: int):
  """relu(x) split into `groups` equal channel groups, x [B, H, W, C], each [B, H, W, C / groups].

  int8 export form: where x is a traced channel concat of equal-width pieces, a multiple of
  `groups` in number (a cell's output, the concat of its node tensors, read by a grouped 1x1
  connection), each group is the concat of relu(piece) over its own pieces, the same numbers. A concat's int8 operands share
  one scale; read this way, every node tensor keeps its own, and the cell's concat is not in the
  file unless another reader needs it (the classifier). Measured on the study's rc_s2 network
  (16x16, 2,000 CIFAR-10 test images): top-1 disagreements with the Keras network 68/76/62/76 ->
  52/59/57/60 over four calibration sets, int8 latency 0.392 -> 0.370 ms (docs/DESIGN.md).
  """
  pieces = _channel_pieces(x) if _export_form["int8"] else None
  if (pieces and len(pieces) % groups == 0 and
      all(p.shape[-1] == pieces[0].shape[-1] for p in pieces)):
    per_group = len(pieces) // groups
    relus = [relu(p) for p in pieces]
    return [relus[g] if per_group == 1 else
            tf.concat(relus[g * per_group:(g + 1) * per_group], axis=-1)
            for g in range(groups)]
  return tf.split(relu(x), groups, axis=-1)


def _bn_per_branch(bn: keras.layers.BatchNormalization, branches) -> tf.Tensor:
  """concat(branches) -> inference-mode `bn`, computed as concat(bn_slice(branch)): per branch
  [B, H, W, C_k] the affine map y = x * s + t with s = gamma / sqrt(moving_var + eps) and
  t = beta - moving_mean * s on its C_k channels. Equal to Keras's BN in inference mode. In
  float32 for float16 branches too (mixed precision), as Keras's BN computes, then cast back."""
  f32 = lambda v: tf.cast(v, tf.float32)  # noqa: E731
  scale = tf.math.rsqrt(f32(bn.moving_variance) + bn.epsilon)
  if bn.scale:
    scale = scale * f32(bn.gamma)
  shift = -f32(bn.moving_mean) * scale
  if bn.center:
    shift = shift + f32(bn.beta)
  outputs, start = [], 0
  for branch in branches:
    stop = start + branch.shape[-1]
    outputs.append(tf.cast(f32(branch) * scale[start:stop] + shift[start:stop], branch.dtype))
    start = stop
  return tf.concat(outputs, axis=-1)


@serializable
class ReLUConvBN(keras.layers.Layer):
  """ReLU -> Conv2D(k, stride, no bias) -> BN."""

  def __init__(self, c_out, kernel_size=1, stride=1, affine=True, **kwargs):
    super().__init__(**kwargs)
    self.conv = keras.layers.Conv2D(c_out, kernel_size, strides=stride, padding="same",
                                    use_bias=False, name="conv")
    self.bn = batch_norm(affine, name="bn")
    self.c_out, self.kernel_size, self.stride, self.affine = c_out, kernel_size, stride, affine

  def build(self, input_shape):
    self.conv.build(input_shape)
    self.bn.build(_shape(input_shape, self.c_out, self.stride))
    self.built = True

  def call(self, x, training=None):
    return self.bn(self.conv(relu(x)), training=training)

  def get_config(self):
    return {**super().get_config(),
            "c_out": self.c_out, "kernel_size": self.kernel_size, "stride": self.stride,
            "affine": self.affine}


@serializable
class DilConv(keras.layers.Layer):
  """ReLU -> depthwise k x k (dilation d, stride s) -> pointwise 1x1 to c_out -> BN."""

  def __init__(self, c_out, kernel_size, stride=1, dilation=1, affine=True, **kwargs):
    super().__init__(**kwargs)
    self.stride = stride
    # stride > 1 with dilation > 1: subsample first (see module docstring), then a dense kernel.
    self.subsample = stride > 1 and dilation > 1
    self.depthwise = keras.layers.DepthwiseConv2D(
        kernel_size, strides=1 if self.subsample else stride, padding="same",
        dilation_rate=1 if self.subsample else dilation, use_bias=False, name="depthwise")
    self.pointwise = keras.layers.Conv2D(c_out, 1, use_bias=False, name="pointwise")
    self.bn = batch_norm(affine, name="bn")
    self.c_out, self.kernel_size, self.affine = c_out, kernel_size, affine
    self.dilation_rate = dilation                    # as given (get_config)
    self.dilation = 1 if self.subsample else dilation

  def build(self, input_shape):
    self.depthwise.build(_shape(input_shape, stride=self.stride) if self.subsample
                         else input_shape)
    mid = _shape(input_shape, stride=self.stride)
    self.pointwise.build(mid)
    self.bn.build(_shape(mid, self.c_out))
    self.built = True

  def call(self, x, training=None):
    x = relu(x)
    if self.subsample:
      x = x[:, ::self.stride, ::self.stride, :]
    if self.dilation > 1 and _export_form["tflite"]:     # stride 1 here (see __init__)
      d = self.dilation
      y = tf.raw_ops.DepthwiseConv2dNative(input=x, filter=self.depthwise.kernel,
                                           strides=[1, 1, 1, 1], padding="SAME",
                                           dilations=[1, d, d, 1])
    else:
      y = self.depthwise(x)
    return self.bn(self.pointwise(y), training=training)

  def get_config(self):
    return {**super().get_config(),
            "c_out": self.c_out, "kernel_size": self.kernel_size, "stride": self.stride,
            "dilation": self.dilation_rate, "affine": self.affine}


@serializable
class SepConv(keras.layers.Layer):
  """Two DilConv(dilation 1) blocks; only the first is strided. DARTS's sep_conv."""

  def __init__(self, c_out, kernel_size, stride=1, affine=True, **kwargs):
    super().__init__(**kwargs)
    self.block1 = DilConv(c_out, kernel_size, stride, 1, affine, name="block1")
    self.block2 = DilConv(c_out, kernel_size, 1, 1, affine, name="block2")
    self.c_out, self.stride, self.kernel_size, self.affine = c_out, stride, kernel_size, affine

  def build(self, input_shape):
    self.block1.build(input_shape)
    self.block2.build(_shape(input_shape, self.c_out, self.stride))
    self.built = True

  def call(self, x, training=None):
    return self.block2(self.block1(x, training=training), training=training)

  def get_config(self):
    return {**super().get_config(),
            "c_out": self.c_out, "kernel_size": self.kernel_size, "stride": self.stride,
            "affine": self.affine}


@serializable
class InvertedResidual(keras.layers.Layer):
  """MobileNetV2's inverted residual block without its skip (in a cell, the node's sum over its
  edges is the residual; skip_connect is a candidate of its own): ReLU -> 1x1 conv to `expanded`
  channels -> BN -> ReLU -> k x k depthwise at `stride` -> BN -> ReLU -> 1x1 conv to c_out -> BN
  (linear bottleneck: no ReLU after the projection). [B, H, W, C_in] -> [B, H/s, W/s, c_out].
  Costs search_space.irb_cost; TFLite folds each BN into its conv and fuses the inner ReLUs."""

  def __init__(self, expanded, c_out, kernel_size, stride=1, affine=True, **kwargs):
    super().__init__(**kwargs)
    self.expand = keras.layers.Conv2D(expanded, 1, use_bias=False, name="expand")
    self.bn_expand = batch_norm(affine, name="bn_expand")
    self.depthwise = keras.layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same",
                                                  use_bias=False, name="depthwise")
    self.bn_depthwise = batch_norm(affine, name="bn_depthwise")
    self.project = keras.layers.Conv2D(c_out, 1, use_bias=False, name="project")
    self.bn = batch_norm(affine, name="bn")
    self.expanded, self.c_out, self.stride = expanded, c_out, stride
    self.kernel_size, self.affine = kernel_size, affine

  def build(self, input_shape):
    self.expand.build(input_shape)
    wide = _shape(input_shape, self.expanded)
    self.bn_expand.build(wide)
    self.depthwise.build(wide)
    narrow = _shape(wide, stride=self.stride)
    self.bn_depthwise.build(narrow)
    self.project.build(narrow)
    self.bn.build(_shape(narrow, self.c_out))
    self.built = True

  def call(self, x, training=None):
    y = tf.nn.relu(self.bn_expand(self.expand(relu(x)), training=training))
    y = tf.nn.relu(self.bn_depthwise(self.depthwise(y), training=training))
    return self.bn(self.project(y), training=training)

  def get_config(self):
    return {**super().get_config(),
            "expanded": self.expanded, "c_out": self.c_out, "kernel_size": self.kernel_size,
            "stride": self.stride, "affine": self.affine}


@serializable
class FactorizedReduce(keras.layers.Layer):
  """ReLU -> two 1x1 stride-2 convs (the second shifted by one pixel) -> concat -> BN (per
  branch at inference, see the module docstring)."""

  def __init__(self, c_out, affine=True, **kwargs):
    super().__init__(**kwargs)
    if c_out % 2:
      raise ValueError(f"FactorizedReduce needs an even channel count, got {c_out}")
    self.conv1 = keras.layers.Conv2D(c_out // 2, 1, strides=2, use_bias=False, name="conv1")
    self.conv2 = keras.layers.Conv2D(c_out // 2, 1, strides=2, use_bias=False, name="conv2")
    self.bn = batch_norm(affine, name="bn")
    self.c_out, self.affine = c_out, affine

  def build(self, input_shape):
    self.conv1.build(input_shape)
    self.conv2.build(input_shape)
    self.bn.build(_shape(input_shape, self.c_out, 2))
    self.built = True

  def call(self, x, training=None):
    x = relu(x)
    shifted = tf.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
    branches = [self.conv1(x), self.conv2(shifted)]
    if training:
      return self.bn(tf.concat(branches, axis=-1), training=training)
    return _bn_per_branch(self.bn, branches)

  def get_config(self):
    return {**super().get_config(), "c_out": self.c_out, "affine": self.affine}


@serializable
class Pool(keras.layers.Layer):
  """3x3 max or average pooling ('same'; average excludes padding), BN after it in the search."""

  def __init__(self, kind, stride=1, bn=False, **kwargs):
    super().__init__(**kwargs)
    cls = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
    self.pool = cls(3, strides=stride, padding="same", name="pool")
    self.bn = batch_norm(False, name="bn") if bn else None
    self.kind, self.stride = kind, stride

  def build(self, input_shape):
    if self.bn is not None:
      self.bn.build(_shape(input_shape, stride=self.stride))
    self.built = True

  def call(self, x, training=None):
    x = self.pool(x)
    return self.bn(x, training=training) if self.bn is not None else x

  def get_config(self):
    return {**super().get_config(),
            "kind": self.kind, "stride": self.stride, "bn": self.bn is not None}


@serializable
class Identity(keras.layers.Layer):
  """The input unchanged (skip_connect at stride 1)."""

  def call(self, x, training=None):
    return x


@serializable
class Zero(keras.layers.Layer):
  """Outputs zeros of the (strided) input shape."""

  def __init__(self, stride=1, **kwargs):
    super().__init__(**kwargs)
    self.stride = stride

  def call(self, x, training=None):
    return tf.zeros_like(x[:, ::self.stride, ::self.stride, :])

  def get_config(self):
    return {**super().get_config(), "stride": self.stride}


def channel_shuffle(x, groups):
  """ShuffleNet channel shuffle: [.., g * n] -> [.., n * g] interleaved."""
  if groups == 1:
    return x
  shape = tf.shape(x)
  channels = x.shape[-1]
  x = tf.reshape(x, [shape[0], shape[1], shape[2], groups, channels // groups])
  x = tf.transpose(x, [0, 1, 2, 4, 3])
  return tf.reshape(x, [shape[0], shape[1], shape[2], channels])


@serializable
class GroupConv1x1(keras.layers.Layer):
  """ReLU -> 1x1 conv with `groups` groups (split -> per-group Conv2D -> concat) -> BN -> shuffle
  (BN per group at inference, see the module docstring)."""

  def __init__(self, c_out, groups=1, stride=1, affine=True, **kwargs):
    super().__init__(**kwargs)
    if c_out % groups:
      raise ValueError(f"a 1x1 conv with {groups} groups needs output channels divisible by "
                       f"{groups}, got {c_out}")
    self.groups, self.stride, self.c_out, self.affine = groups, stride, c_out, affine
    self.convs = [keras.layers.Conv2D(c_out // groups, 1, strides=stride, use_bias=False,
                                      name=f"conv_g{g}") for g in range(groups)]
    self.bn = batch_norm(affine, name="bn")

  def build(self, input_shape):
    if input_shape[-1] % self.groups:
      raise ValueError(f"a 1x1 conv with {self.groups} groups needs input channels divisible by "
                       f"{self.groups}, got {input_shape[-1]}")
    for conv in self.convs:
      conv.build(_shape(input_shape, input_shape[-1] // self.groups))
    self.bn.build(_shape(input_shape, self.convs[0].filters * self.groups, self.stride))
    self.built = True

  def call(self, x, training=None):
    if self.groups == 1:
      return self.bn(self.convs[0](relu(x)), training=training)
    parts = _relu_groups(x, self.groups)
    branches = [conv(part) for conv, part in zip(self.convs, parts)]
    if training:
      y = self.bn(tf.concat(branches, axis=-1), training=training)
    else:
      y = _bn_per_branch(self.bn, branches)
    return channel_shuffle(y, self.groups)

  def get_config(self):
    return {**super().get_config(),
            "c_out": self.c_out, "groups": self.groups, "stride": self.stride,
            "affine": self.affine}


@dataclasses.dataclass(frozen=True)
class OpSpec:
  """One candidate: how to build it and what it costs.

  build(c_in, c_out, stride, affine) -> keras Layer
  cost(c_in, c_out, h, w, stride, affine) -> search_space.Cost (params, macs)
  """

  name: str
  build: Callable[..., keras.layers.Layer]
  cost: Callable[..., search_space.Cost]


def _skip(c_in, c_out, stride, affine):
  return Identity() if stride == 1 else FactorizedReduce(c_out, affine)


# The Keras builder of every op name of every search space: build(c_in, c_out, stride, affine).
# The names, their order (θ's columns), families and costs are search_space's.
BUILDERS: Dict[str, Callable[..., keras.layers.Layer]] = {
    "none": lambda c_in, c_out, s, a: Zero(s),
    "max_pool_3x3": lambda c_in, c_out, s, a: Pool("max", s, bn=not a),
    "avg_pool_3x3": lambda c_in, c_out, s, a: Pool("avg", s, bn=not a),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda c_in, c_out, s, a: SepConv(c_out, 3, s, a),
    "sep_conv_5x5": lambda c_in, c_out, s, a: SepConv(c_out, 5, s, a),
    "dil_conv_3x3": lambda c_in, c_out, s, a: DilConv(c_out, 3, s, 2, a),
    "dil_conv_5x5": lambda c_in, c_out, s, a: DilConv(c_out, 5, s, 2, a),
    "conv_1x1": lambda c_in, c_out, s, a: GroupConv1x1(c_out, 1, s, a),
    "group_conv_1x1_g2": lambda c_in, c_out, s, a: GroupConv1x1(c_out, 2, s, a),
    "group_conv_1x1_g4": lambda c_in, c_out, s, a: GroupConv1x1(c_out, 4, s, a),
    "irb_3x3_e3": lambda c_in, c_out, s, a: InvertedResidual(3 * c_in, c_out, 3, s, a),
    "irb_5x5_e3": lambda c_in, c_out, s, a: InvertedResidual(3 * c_in, c_out, 5, s, a),
}
_MISSING = sorted({name for space in search_space.SPACES.values()
                   for name in space.all_ops()} - set(BUILDERS))
if _MISSING:
  raise ImportError(f"ops.BUILDERS has no Keras builder for search-space ops {_MISSING}")

# The default space's ops (DARTS's), in θ's column order.
CELL_OPS: Dict[str, OpSpec] = {
    op.name: OpSpec(op.name, BUILDERS[op.name], op.cost)
    for op in search_space.DEFAULT.cell_ops}
CONNECTION_OPS: Dict[str, OpSpec] = {
    op.name: OpSpec(op.name, BUILDERS[op.name], op.cost)
    for op in search_space.DEFAULT.connection_ops}

# Every op of every search space, by name (what a derived network may be built from).
ALL_CELL_OPS: Dict[str, OpSpec] = {
    op.name: OpSpec(op.name, BUILDERS[op.name], op.cost)
    for space in search_space.SPACES.values() for op in space.cell_ops}
ALL_CONNECTION_OPS: Dict[str, OpSpec] = {
    op.name: OpSpec(op.name, BUILDERS[op.name], op.cost)
    for space in search_space.SPACES.values() for op in space.connection_ops}

# DARTS's order; θ columns follow it (search_space.DEFAULT).
PRIMITIVES = search_space.DEFAULT.primitives
CONNECTION_PRIMITIVES = search_space.DEFAULT.connection_primitives


def build_op(name, c_in, c_out, stride=1, affine=True, connection=False):
  """Build the registered op `name` (a cell op, or a connection op with connection=True).

  affine=True builds the op of a derived network; affine=False the search version (BN without
  gamma/beta, and a BN after each pool, as in DARTS's search).
  """
  search_space.find_op(name, connection)     # KeyError naming the known ops
  return BUILDERS[name](c_in, c_out, stride, affine)
