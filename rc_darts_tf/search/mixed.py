"""Search-time building blocks: MixedOp, SearchConnection, SearchCell.

MixedOp computes  Σ_i Σ_o softmax(θ_i)[o] · op_o(x_i)  for the k incoming edges i of one node
(k = 1 is DARTS's MixedOp of one edge). The ops of all k edges run as ONE batched op per
candidate: the k inputs are concatenated along channels, depthwise convolutions and pooling act
per channel anyway, 1x1 convolutions become one k-group convolution (`grouped_pointwise`), and
batch normalisation (search BN: batch statistics, no γ/β, as DARTS's affine=False) is per
channel. Each candidate's weight softmax(θ_i)[o] is the γ of the candidate's closing BN, so the
weighting costs no kernel of its own in either pass, and one relu(x) serves every candidate.
The result is the same function with the same weights as k separate edges of separate ops (tests
hold them equal, values and gradients), but
the graph is ~10x smaller, so tracing takes seconds instead of minutes and the kernels are bigger.
Inverted residual blocks (search space darts_irb) batch the same way: the expansion and the
projection are k-group 1x1 convs, the depthwise conv and the BNs act per channel. On CPU the
depthwise convs' kernel gradient is computed in width-3 column blocks
(`depthwise_filter_gradient`: oneDNN's kernel is 2-3x slower at width 5).

An op of the registry without a batched form here still works: MixedOp then builds the registry
layer once per edge (search version, affine=False) and sums them.

Partial channels (PC-DARTS, Xu et al. 2020, `partial_channels` = K > 1): on every edge only the
first C/K channels go through the candidate ops; the other C − C/K bypass them (max-pooled 2x2 at
stride 2), the two parts are concatenated and the channels shuffled with K groups
(`channel_shuffle`), so the next edge sees other channels. Each edge's output is weighted by its
normalised edge weight β̂ (edge normalisation, given to `call` as `edge_weights`). The mixed op's
kernels are then those of ops C/K wide; cost tables and Φ stay those of the derived network.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from rc_darts_tf import ops

BATCHED = {"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
           "dil_conv_3x3", "dil_conv_5x5", "irb_3x3_e3", "irb_5x5_e3"}


def _irb_shape(op):
  """(kernel, expansion) of an inverted residual op name 'irb_{k}x{k}_e{e}'."""
  kernel, expansion = op[len("irb_"):].split("_e")
  return int(kernel.split("x")[0]), int(expansion)
BN_EPSILON = ops.BN_EPSILON


def search_bn(x, scale=None):
  """Batch normalisation with batch statistics and no learnt γ/β (one fused op, gradient
  included): [B, H, W, C] -> [B, H, W, C].

  `scale` [C] (float32) multiplies the normalised output as the fused kernel's γ, or None (ones,
  DARTS's affine=False). The mixed op passes each candidate's softmax(θ) weight per channel here,
  so  w_o · BN(z_o)  is one kernel forward and one backward (whose γ-gradient is the weight's
  gradient), not a BN plus a Mul and a Mul-gradient reduction, and BN(z_o) is not kept for the
  backward pass.

  Under a tf.distribute strategy with several replicas the statistics are those of the global
  batch (sums all-reduced across replicas, "sync BN"), so a step on N replicas equals a step on
  one device with the same global batch.
  """
  ctx = tf.distribute.get_replica_context()
  if ctx is not None and ctx.num_replicas_in_sync > 1:
    y = _sync_search_bn(x, ctx)
    return y if scale is None else y * tf.cast(scale, y.dtype)
  channels = x.shape[-1]
  if scale is None:
    scale = tf.ones([channels], tf.float32)
  # scale and offset are float32 for a float16 x too (the fused kernel's statistics are float32)
  y, _, _ = tf.compat.v1.nn.fused_batch_norm(
      x, scale=tf.cast(scale, tf.float32), offset=tf.zeros([channels], tf.float32),
      epsilon=BN_EPSILON, is_training=True)
  return y


def _sync_search_bn(x, ctx):
  """search_bn with the mean and variance of the global batch (all-reduced sums)."""
  axes = [0, 1, 2]
  count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
  x32 = tf.cast(x, tf.float32)
  total, total_sq, count = ctx.all_reduce(
      tf.distribute.ReduceOp.SUM,
      [tf.reduce_sum(x32, axes), tf.reduce_sum(tf.square(x32), axes), count])
  mean = total / count
  variance = tf.maximum(total_sq / count - tf.square(mean), 0.0)
  return tf.cast((x32 - mean) * tf.math.rsqrt(variance + BN_EPSILON), x.dtype)


def _dims(x):
  """(H, W) as Python ints when static, else tensors; keeps the traced graph small."""
  h, w = x.shape[1], x.shape[2]
  if h is None or w is None:
    shape = tf.shape(x)
    return shape[1], shape[2]
  return h, w


def block_diagonal(kernel):
  """[g, Ci, Co] -> the block-diagonal [g*Ci, g*Co] matrix (one scatter; gradient: one gather)."""
  g, ci, co = kernel.shape
  if g == 1:
    return kernel[0]
  rows = np.arange(g)[:, None, None] * ci + np.arange(ci)[None, :, None]
  cols = np.arange(g)[:, None, None] * co + np.arange(co)[None, None, :]
  index = np.stack(np.broadcast_arrays(rows, cols), axis=-1).reshape(-1, 2).astype(np.int32)
  return tf.scatter_nd(tf.constant(index), tf.reshape(kernel, [-1]), [g * ci, g * co])


def _current_device() -> str:
  """The current default device's full name, '/job:.../device:CPU:0' (inside a trace too)."""
  with tf.init_scope():
    return tf.zeros([]).device


def _device_type() -> str:
  """'CPU', 'GPU', ... of the current default device (inside a trace too)."""
  return _current_device().split(":")[-2]


_AGREES = {}   # (kernel name, device type, dtype) -> whether the fast form agrees there


def _agrees(name, dtype, fast, reference, shapes, out_shape) -> bool:
  """Whether fast(*inputs) and its gradients w.r.t. every input equal reference's on the current
  default device for `dtype` (random inputs of `shapes`, upstream gradient of `out_shape`);
  answered once per name, device type and dtype by a tiny probe (a graph of its own, run in a
  session on that device). An error (a kernel or a gradient the device lacks) counts as no."""
  with tf.init_scope():
    full_device = _current_device()
    key = (name, _device_type(), tf.as_dtype(dtype).name)
    if key not in _AGREES:
      rng = np.random.default_rng(0)
      # tf.gradients in a graph of its own (init_scope pauses gradient tapes; a tf.function per
      # probe would trace once per candidate and set off TensorFlow's retracing warning)
      graph = tf.Graph()
      with graph.as_default(), tf.device(full_device):
        inputs = [tf.constant(rng.uniform(-1, 1, shape), dtype) for shape in shapes]
        upstream = tf.constant(rng.uniform(-1, 1, out_shape), dtype)

        def probe(fn):
          out = fn(*inputs)
          return [out] + tf.gradients(tf.reduce_sum(tf.cast(out * upstream, tf.float32)), inputs)
        fetches = [probe(fast), probe(reference)]
      try:
        with tf.compat.v1.Session(graph=graph) as session:
          results = session.run(fetches)
        tol = 1e-2 if tf.as_dtype(dtype).size < 4 else 1e-4
        _AGREES[key] = all(
            np.allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), atol=tol)
            for a, b in zip(*results))
      except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError,
              tf.errors.NotFoundError):
        _AGREES[key] = False
    return _AGREES[key]


def _grouped_conv(x, kernel):
  g, ci, co = kernel.shape
  return tf.nn.conv2d(x, tf.reshape(tf.transpose(kernel, [1, 0, 2]), [1, 1, ci, g * co]), 1,
                      "VALID")


def _block_diagonal_matmul(x, kernel):
  g, ci, co = kernel.shape
  h, w = _dims(x)
  y = tf.matmul(tf.reshape(x, [-1, g * ci]), block_diagonal(kernel))
  return tf.reshape(y, [-1, h, w, g * co])


def grouped_conv_supported(dtype=tf.float32) -> bool:
  """Whether a grouped 1x1 Conv2D and both its gradients run on the current default device for
  `dtype` and equal the block-diagonal matmul's (`_agrees`). TensorFlow's CPU kernels have the
  gradients only with oneDNN (`TF_ENABLE_ONEDNN_OPTS`, on by default on x86; without it they
  raise, or at 1x1 images return a wrong result without an error); GPUs (cuDNN) and XLA have
  them."""
  return _agrees("grouped_conv", dtype, _grouped_conv, _block_diagonal_matmul,
                 [(2, 3, 3, 6), (3, 2, 4)], (2, 3, 3, 12))


def grouped_pointwise(x, kernel):
  """1x1 conv of g independent channel groups: [B,H,W,g*Ci] x [g,Ci,Co] -> [B,H,W,g*Co].

  A grouped Conv2D (filter [1, 1, Ci, g·Co]) where the device has its gradients
  (`grouped_conv_supported`): it does no work on the zero blocks, 1.3-2.5x faster than the
  block-diagonal matmul at k·C = 80-320 channels (forward + backward, CPU, oneDNN). Elsewhere one
  matmul with the block-diagonal kernel (no transposes of the activations; the gradient reaches
  only the blocks).
  """
  if kernel.shape[0] > 1 and grouped_conv_supported(x.dtype):
    return _grouped_conv(x, kernel)
  return _block_diagonal_matmul(x, kernel)




def _same_pads(size, k, stride):
  """TensorFlow's SAME padding (before, after) of one spatial dimension."""
  out = -(-size // stride)
  total = max((out - 1) * stride + k - size, 0)
  return total // 2, total - total // 2


def depthwise_filter_gradient(x, upstream, kernel_shape, stride):
  """The gradient of a SAME depthwise conv at `stride` w.r.t. its kernel [kh, kw, C, 1]: x
  [B, H, W, C], upstream [B, H', W', C]. Kernels wider than 3 are computed as width-3 column
  blocks of the zero-padded input (VALID; the blocks overlap by a column, which is taken once),
  on CPU: oneDNN's filter-gradient kernel takes 2-3x longer at width 5 than two width-3 calls
  (64 x 32 x 32 x 48: 13-17 vs 6.2-6.6 ms; 5x3 runs at 20 GMAC/s, 5x5 at 5). The padded copy is
  made once the upstream gradient exists, so it is not held through the forward pass (made as
  soon as x exists, the step's peak RSS grew by 2.4 GB). H and W must be static for kw > 3."""
  kh, kw = int(kernel_shape[0]), int(kernel_shape[1])
  strides = [1, stride, stride, 1]
  if kw <= 3 or _device_type() != "CPU":
    return tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
        input=x, filter_sizes=[int(d) for d in kernel_shape], out_backprop=upstream,
        strides=strides, padding="SAME")
  h, w = _dims(x)
  out_w = -(-w // stride)
  with tf.control_dependencies([upstream]):   # not before the backward pass reaches this op
    x = tf.pad(x, [[0, 0], _same_pads(h, kh, stride), _same_pads(w, kw, stride), [0, 0]])
  span = (out_w - 1) * stride
  blocks, first = [], 0
  while first < kw:
    start = min(first, kw - 3)             # the last block ends at the kernel's last column
    block = tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
        input=x[:, :, start:start + span + 3], filter_sizes=[kh, 3, int(kernel_shape[2]), 1],
        out_backprop=upstream, strides=strides, padding="VALID")
    blocks.append(block[:, first - start:])
    first = start + 3
  return tf.concat(blocks, axis=1)


@tf.autograph.experimental.do_not_convert
def _depthwise_with_gradient(x, kernel, stride):
  """tf.nn.depthwise_conv2d(x, kernel, stride, "SAME") with its gradient written out: the
  kernel's by `depthwise_filter_gradient`, the input's by TensorFlow's
  DepthwiseConv2dNativeBackpropInput (as TensorFlow's own gradient)."""
  strides = [1, stride, stride, 1]

  @tf.custom_gradient
  def conv(x, kernel):
    y = tf.raw_ops.DepthwiseConv2dNative(input=x, filter=kernel, strides=strides, padding="SAME")

    def grad(upstream):
      dx = tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
          input_sizes=tf.shape(x), filter=kernel, out_backprop=upstream, strides=strides,
          padding="SAME")
      return dx, depthwise_filter_gradient(x, upstream, kernel.shape, stride)
    return y, grad
  return conv(x, kernel)


def depthwise(x, kernel, stride=1):
  """tf.nn.depthwise_conv2d(x, kernel, [1, s, s, 1], "SAME"): [B, H, W, C] x [k, k, C, 1] ->
  [B, ⌈H/s⌉, ⌈W/s⌉, C]. On CPU, where the written-out gradient agrees with TensorFlow's
  (`_agrees`) and H, W are static, `_depthwise_with_gradient` (the 5x5 kernel's gradient 2-3x
  faster); elsewhere (GPUs: cuDNN's kernels) TensorFlow's op and gradient."""
  h, w = x.shape[1], x.shape[2]
  k = kernel.shape[0]
  strides = [1, stride, stride, 1]
  reference = lambda a, b: tf.nn.depthwise_conv2d(a, b, strides, "SAME")  # noqa: E731
  size = 5 if stride == 1 else 8           # at stride 2 SAME pads unevenly (k = 5: 1 and 2)
  out = -(-size // stride)
  if (isinstance(h, int) and isinstance(w, int) and _device_type() == "CPU"
      and _agrees(f"depthwise_{k}_{stride}", x.dtype,
                  lambda a, b: _depthwise_with_gradient(a, b, stride), reference,
                  [(2, size, size, 3), (k, k, 3, 1)], (2, out, out, 3))):
    return _depthwise_with_gradient(x, kernel, stride)
  return reference(x, kernel)


@tf.autograph.experimental.do_not_convert
def _native_dilated_depthwise(x, kernel, dilation):
  """Stride-1 SAME depthwise conv with `dilation`, as ONE DepthwiseConv2dNative forward (no
  SpaceToBatch / BatchToSpace around it) with its gradient written out, because TensorFlow's CPU
  gradient kernels of that op ignore the dilation (and without oneDNN its forward kernel refuses
  dilations: `dilated_depthwise` then keeps TensorFlow's lowering): the input's gradient is the
  same dilated conv of the upstream gradient with the kernel flipped (SAME padding is symmetric at
  stride 1), the kernel's is the undilated filter gradient over the d·d phase sub-images
  (SpaceToBatch of the input and of the upstream gradient). H and W must be multiples of
  `dilation`."""
  strides, dilations = [1, 1, 1, 1], [1, dilation, dilation, 1]
  block = [dilation, dilation]

  @tf.custom_gradient
  def conv(x, kernel):
    y = tf.raw_ops.DepthwiseConv2dNative(input=x, filter=kernel, strides=strides,
                                         padding="SAME", dilations=dilations)

    def grad(upstream):
      dx = tf.raw_ops.DepthwiseConv2dNative(input=upstream, filter=kernel[::-1, ::-1],
                                            strides=strides, padding="SAME",
                                            dilations=dilations)
      none = [[0, 0], [0, 0]]
      dk = depthwise_filter_gradient(tf.space_to_batch(x, block, none),
                                     tf.space_to_batch(upstream, block, none), kernel.shape, 1)
      return dx, dk
    return y, grad
  return conv(x, kernel)


def dilated_depthwise(x, kernel, dilation):
  """tf.nn.depthwise_conv2d(x, kernel, stride 1, "SAME", dilations=[d, d]): [B, H, W, C] x
  [k, k, C, 1] -> [B, H, W, C]. Where the device's native dilated kernel agrees with TensorFlow's
  SpaceToBatch lowering (forward and both gradients, `_agrees`) and H, W are static multiples of
  d: `_native_dilated_depthwise` (forward 2.6x faster on CPU, and no SpaceToBatch/BatchToSpace
  pair in either pass); otherwise TensorFlow's lowering."""
  h, w = x.shape[1], x.shape[2]
  lowering = lambda a, b: tf.nn.depthwise_conv2d(  # noqa: E731
      a, b, [1, 1, 1, 1], "SAME", dilations=[dilation, dilation])
  if (isinstance(h, int) and isinstance(w, int) and h % dilation == 0 and w % dilation == 0
      and _agrees(f"dilated_depthwise_{dilation}", x.dtype,
                  lambda a, b: _native_dilated_depthwise(a, b, dilation), lowering,
                  [(2, 4 * dilation, 4 * dilation, 3), (3, 3, 3, 1)],
                  (2, 4 * dilation, 4 * dilation, 3))):
    return _native_dilated_depthwise(x, kernel, dilation)
  return lowering(x, kernel)


def channel_shuffle(x, groups):
  """PC-DARTS's channel shuffle in NHWC: [..., C] -> [..., C], channel g·(C/groups) + i moves to
  i·groups + g (a permutation; the identity for groups = 1). C must be divisible by groups."""
  if groups == 1:
    return x
  c = x.shape[-1]
  shape = tf.shape(x)
  y = tf.reshape(x, tf.concat([shape[:-1], [groups, c // groups]], 0))
  rank = len(x.shape)
  y = tf.transpose(y, list(range(rank - 1)) + [rank, rank - 1])
  return tf.reshape(y, shape)


def subsample(x, stride):
  """x[:, ::stride, ::stride, :] as a max pool with a 1x1 window (the same values and shape for
  any H, W): its gradient (MaxPoolGrad) takes about a third of StridedSliceGrad's time on CPU
  (64 x 32 x 32 x 80, forward + backward: 5.8 vs 16.4 ms)."""
  return tf.nn.max_pool2d(x, 1, stride, "VALID")


def odd_pixels(x):
  """x[:, 1::2, 1::2, :] zero-padded to ceil(H/2) x ceil(W/2) (the second path of DARTS's
  FactorizedReduce, conv_2(x[:, :, 1:, 1:]) at stride 2). For even H and W one roll by a pixel
  and a 1x1 max pool at stride 2 (both gradients are copies; the slice-and-pad form's
  StridedSliceGrad took 200 ms of a paper-size step on CPU), else slice and pad."""
  h, w = x.shape[1], x.shape[2]
  if isinstance(h, int) and isinstance(w, int) and h % 2 == 0 and w % 2 == 0:
    return subsample(tf.roll(x, [-1, -1], [1, 2]), 2)
  return subsample(tf.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]]), 2)


def _uniform(fan_in):
  """PyTorch's default conv init (kaiming_uniform with a=sqrt(5)): U(-1/sqrt(fan_in), +)."""
  bound = 1.0 / math.sqrt(fan_in)
  return keras.initializers.RandomUniform(-bound, bound)


class MixedOp(keras.layers.Layer):
  """The mixed op of `num_inputs` edges into one node, all at the same stride.

  call(inputs, probs, edge_weights=None): inputs is a list of num_inputs tensors [B, H, W, C];
  probs is [num_inputs, len(primitives)] (softmax of each edge's θ); edge_weights [num_inputs]
  (β̂ of the edges, partial-channel search) or None (every edge weighs 1).
  Returns [B, H/stride, W/stride, C]. partial_channels = K: 1/K of the channels go through the
  ops (module docstring); K must divide C. Raises ValueError otherwise.
  """

  def __init__(self, channels, stride=1, num_inputs=1, primitives=ops.PRIMITIVES,
               partial_channels=1, **kwargs):
    super().__init__(**kwargs)
    if partial_channels < 1 or channels % partial_channels:
      raise ValueError(f"partial_channels={partial_channels} must be >= 1 and divide the "
                       f"{channels} channels of {self.name}")
    self.channels = channels
    self.partial_channels = int(partial_channels)
    self.op_channels = channels // self.partial_channels   # C/K: the width the ops see
    self.stride = stride
    self.num_inputs = num_inputs
    self.primitives = tuple(primitives)
    self.pieces = []
    self.flat = None
    self.fallback = {}

  def build(self, input_shape):
    k, c = self.num_inputs, self.op_channels
    pieces = []   # (key, shape, fan_in)
    for op in self.primitives:
      if op.startswith(("sep_conv_", "dil_conv_")) and op in BATCHED:
        size = int(op[-1])
        names = ("dw1", "pw1", "dw2", "pw2") if op.startswith("sep") else ("dw1", "pw1")
        for name in names:
          if name.startswith("dw"):
            pieces.append((f"{op}/{name}", (size, size, k * c, 1), size * size))
          else:
            pieces.append((f"{op}/{name}", (k, c, c), c))
      elif op.startswith("irb_") and op in BATCHED:
        size, expansion = _irb_shape(op)
        pieces += [(f"{op}/expand", (k, c, expansion * c), c),
                   (f"{op}/dw", (size, size, k * expansion * c, 1), size * size),
                   (f"{op}/project", (k, expansion * c, c), expansion * c)]
      elif op == "skip_connect" and self.stride > 1:
        for name in ("fr1", "fr2"):
          pieces.append((f"{op}/{name}", (k, c, c // 2), c))
      elif op not in BATCHED:
        self.fallback[op] = [ops.build_op(op, c, c, self.stride, affine=False)
                             for _ in range(k)]
        for layer in self.fallback[op]:
          layer.build((None, None, None, c))
    # All kernels of the node live in ONE variable (sliced in call): a few variables instead of a
    # dozen per node keeps the optimizer's part of the traced step small.
    self.pieces = [(key, shape, int(np.prod(shape))) for key, shape, _ in pieces]
    bounds = [1.0 / math.sqrt(fan_in) for _, _, fan_in in pieces]
    sizes = [size for _, _, size in self.pieces]

    def init(shape, dtype=None):
      parts = [keras.random.uniform((n,), -b, b, dtype=dtype) for n, b in zip(sizes, bounds)]
      return keras.ops.concatenate(parts) if parts else keras.ops.zeros(shape, dtype)

    self.flat = self.add_weight(shape=(sum(sizes),), initializer=init, name="kernels") \
        if sizes else None
    self.built = True

  @property
  def kernels(self):
    """{'op/piece': kernel tensor} unpacked from the node's single variable."""
    if self.flat is None:
      return {}
    parts = tf.split(tf.convert_to_tensor(self.flat), [n for _, _, n in self.pieces])
    return {key: tf.reshape(part, shape) for (key, shape, _), part in zip(self.pieces, parts)}

  def _dil_block(self, kernels, relu_x, op, dw, pw, stride, dilation, scale=None):
    """dw k×k (dilated) -> 1×1 -> BN of an input already through ReLU (the mixed op's one
    relu(x) serves every candidate's first stage, so its gradient is one ReluGrad)."""
    x = relu_x
    if stride > 1 and dilation > 1:  # DARTS's strided dilated conv reads the even pixels only
      x = subsample(x, stride)
      stride, dilation = 1, 1
    kernel = kernels[f"{op}/{dw}"]
    if dilation > 1:
      x = dilated_depthwise(x, kernel, dilation)
    else:
      x = depthwise(x, kernel, stride)
    return search_bn(grouped_pointwise(x, kernels[f"{op}/{pw}"]), scale)

  def _op(self, kernels, op, x, relu_x, scale):
    """scale · op(x) for a batched candidate: x [B, H, W, k·C/K] (edges side by side), relu_x =
    relu(x), scale [k·C/K] float32 (the op's softmax(θ) weight of each channel's edge), folded
    into the op's closing BN as its γ."""
    s = self.stride
    if op == "max_pool_3x3":
      return search_bn(tf.nn.max_pool2d(x, 3, s, "SAME"), scale)
    if op == "avg_pool_3x3":
      return search_bn(tf.nn.avg_pool2d(x, 3, s, "SAME"), scale)
    if op == "skip_connect":
      if s == 1:
        return x * tf.cast(scale, x.dtype)
      even = subsample(relu_x, 2)
      odd = odd_pixels(relu_x)
      # Edge i's output is [conv1_i(even), conv2_i(odd)]: one kernel [k, C, C] whose output
      # columns are conv1's then conv2's, applied to the edge's even and odd pixels.
      k, c = self.num_inputs, self.op_channels
      h, w = _dims(even)
      both = tf.concat([tf.reshape(even, [-1, h, w, k, 1, c]),
                        tf.reshape(odd, [-1, h, w, k, 1, c])], axis=4)     # [B,h,w,k,2,C]
      kernel = tf.reshape(tf.stack([kernels[f"{op}/fr1"], kernels[f"{op}/fr2"]],
                                   axis=1), [2 * k, c, c // 2])     # group 2i+t: edge i, half t
      return search_bn(grouped_pointwise(tf.reshape(both, [-1, h, w, 2 * k * c]), kernel),
                       scale)
    if op.startswith("sep_conv_"):
      y = self._dil_block(kernels, relu_x, op, "dw1", "pw1", s, 1)
      return self._dil_block(kernels, tf.nn.relu(y), op, "dw2", "pw2", 1, 1, scale)
    if op.startswith("dil_conv_"):
      return self._dil_block(kernels, relu_x, op, "dw1", "pw1", s, 2, scale)
    if op.startswith("irb_"):     # ops.InvertedResidual, k edges side by side
      y = tf.nn.relu(search_bn(grouped_pointwise(relu_x, kernels[f"{op}/expand"])))
      y = depthwise(y, kernels[f"{op}/dw"], s)
      y = tf.nn.relu(search_bn(y))
      return search_bn(grouped_pointwise(y, kernels[f"{op}/project"]), scale)
    raise KeyError(op)

  def call(self, inputs, probs, edge_weights=None):
    k, c = self.num_inputs, self.op_channels
    inputs = list(inputs)
    bypass = None
    if self.partial_channels > 1:
      bypass = [x[..., c:] for x in inputs]
      inputs = [x[..., :c] for x in inputs]
    x = inputs[0] if k == 1 else tf.concat(inputs, axis=-1)
    relu_x = tf.nn.relu(x)
    # [kC, n] float32: each channel's edge's weights (a BN's γ is float32 under mixed precision)
    per_channel = tf.gather(tf.cast(probs, tf.float32), np.repeat(np.arange(k), c), axis=0)
    kernels = self.kernels
    terms = []
    extra = []
    for o, op in enumerate(self.primitives):
      if op == "none":
        continue  # zero times anything: no output and no gradient, as in DARTS
      if op in self.fallback:
        for i, layer in enumerate(self.fallback[op]):
          extra.append((i, probs[i, o] * layer(inputs[i])))
        continue
      terms.append(self._op(kernels, op, x, relu_x, per_channel[:, o]))
    total = (terms[0] if len(terms) == 1 else tf.add_n(terms)) if terms else None
    if bypass is None and edge_weights is None:
      h, w = _dims(total)
      out = tf.reduce_sum(tf.reshape(total, [-1, h, w, k, c]), axis=3) if k > 1 else total
      return out + tf.add_n([t for _, t in extra]) if extra else out
    return self._partial_output(total, extra, bypass, edge_weights)

  def _partial_output(self, total, extra, bypass, edge_weights):
    """Σ_i β̂_i · shuffle(concat(mixed_i, bypass_i)): [B, H', W', k·C/K] ops' outputs (edges
    side by side) -> [B, H', W', C]. The shuffle is applied once, after the sum (it is linear)."""
    k, c = self.num_inputs, self.op_channels
    h, w = _dims(total)
    per_edge = tf.reshape(total, [-1, h, w, k, c])
    for i, term in extra:
      per_edge = per_edge + tf.one_hot(i, k, dtype=term.dtype)[:, None] * term[..., None, :]
    if bypass is not None:
      if self.stride > 1:
        bypass = [tf.nn.max_pool2d(b, 2, 2, "SAME") for b in bypass]
      rest = self.channels - c
      skipped = tf.reshape(bypass[0] if k == 1 else tf.concat(bypass, axis=-1),
                           [-1, h, w, k, rest])
      per_edge = tf.concat([per_edge, skipped], axis=-1)              # [B, H', W', k, C]
    if edge_weights is not None:
      per_edge = per_edge * tf.cast(edge_weights, per_edge.dtype)[:, None]
    return channel_shuffle(tf.reduce_sum(per_edge, axis=3), self.partial_channels)

  def edge_weights(self, edge, op):
    """Weights of edge `edge`'s op `op`, shaped as the registry layer's (ops.build_op(...,
    affine=False)) trainable weights, in that layer's order."""
    c = self.op_channels
    kernels = self.kernels
    get = lambda name: kernels[f"{op}/{name}"]  # noqa: E731
    if op.startswith("sep_conv_"):
      return [get("dw1")[..., edge * c:(edge + 1) * c, :], get("pw1")[edge][None, None],
              get("dw2")[..., edge * c:(edge + 1) * c, :], get("pw2")[edge][None, None]]
    if op.startswith("dil_conv_"):
      return [get("dw1")[..., edge * c:(edge + 1) * c, :], get("pw1")[edge][None, None]]
    if op == "skip_connect" and self.stride > 1:
      return [get("fr1")[edge][None, None], get("fr2")[edge][None, None]]
    if op.startswith("irb_") and op in BATCHED:
      wide = _irb_shape(op)[1] * c
      return [get("expand")[edge][None, None], get("dw")[..., edge * wide:(edge + 1) * wide, :],
              get("project")[edge][None, None]]
    if op in self.fallback:
      return [w.value for w in self.fallback[op][edge].trainable_weights]
    return []


class SearchConnection(keras.layers.Layer):
  """The learned connection cell: one input, one mixed edge over the connection candidates
  (dil_conv_3x3, 1x1 conv with 1, 2, 4 groups), replacing DARTS's fixed 1x1 preprocessing; at
  stride 2 where the spatial sizes differ. call(x, probs): probs = softmax(θ_connection)."""

  def __init__(self, c_out, stride=1, primitives=ops.CONNECTION_PRIMITIVES, **kwargs):
    super().__init__(**kwargs)
    self.primitives = tuple(primitives)
    self.candidates = [ops.build_op(op, None, c_out, stride, affine=False, connection=True)
                       for op in self.primitives]

  def build(self, input_shape):
    for layer in self.candidates:
      layer.build(input_shape)
    self.built = True

  def call(self, x, probs, training=None):
    out = None
    for o, layer in enumerate(self.candidates):
      term = probs[o] * layer(x, training=training)
      out = term if out is None else out + term
    return out


class SearchCell(keras.layers.Layer):
  """N = 7 nodes: 2 inputs (preprocessed), 4 intermediate nodes, output = concat of the 4.

  Node j sums mixed ops over all its predecessors; in a reduction cell the edges from the two
  inputs are strided. call(s0, s1, probs, connection_probs): probs is this cell's group's
  softmax(θ) [E, O] (O = the cell ops of `space`, a search_space.SearchSpace, default DARTS's);
  connection_probs softmax(θ_connection) or None (fixed preprocessing);
  edge_weights [E] β̂ of the group's edges (partial-channel search) or None. partial_channels:
  K of the mixed ops (MixedOp).
  """

  def __init__(self, plan, learn_connection, partial_channels=1, space=None, **kwargs):
    super().__init__(**kwargs)
    from rc_darts_tf import costs, search_space
    space = space or search_space.DEFAULT       # whose ops the mixed ops mix (θ's columns)
    self.plan = plan
    self.ranges = costs.NODE_EDGE_RANGES
    c = plan.c
    if learn_connection:
      self.pre0 = SearchConnection(c, 2 if plan.reduction_prev else 1,
                                   space.connection_primitives, name="pre0")
      self.pre1 = SearchConnection(c, 1, space.connection_primitives, name="pre1")
    else:
      self.pre0 = (ops.FactorizedReduce(c, affine=False, name="pre0") if plan.reduction_prev
                   else ops.ReLUConvBN(c, 1, 1, affine=False, name="pre0"))
      self.pre1 = ops.ReLUConvBN(c, 1, 1, affine=False, name="pre1")
    self.learn_connection = learn_connection
    self.nodes = []
    pc = dict(partial_channels=partial_channels, primitives=space.primitives)
    for j in range(costs.NUM_NODES):
      if plan.reduction:
        strided = MixedOp(c, 2, 2, name=f"node{j}_inputs", **pc)
        plain = MixedOp(c, 1, j, name=f"node{j}_nodes", **pc) if j else None
        self.nodes.append((strided, plain))
      else:
        self.nodes.append((MixedOp(c, 1, j + 2, name=f"node{j}", **pc), None))

  def build_from_plan(self, batch=None):
    """Create every variable from the plan's shapes (no symbolic call of the cell)."""
    p = self.plan
    self.pre0.build((batch, p.size_prev_prev, p.size_prev_prev, p.c_prev_prev))
    self.pre1.build((batch, p.size, p.size, p.c_prev))
    for first, rest in self.nodes:
      first.build(None)
      if rest is not None:
        rest.build(None)
    self.built = True

  def call(self, s0, s1, probs, connection_probs=None, training=None, edge_weights=None):
    if self.learn_connection:
      s0 = self.pre0(s0, connection_probs, training=training)
      s1 = self.pre1(s1, connection_probs, training=training)
    else:
      s0 = self.pre0(s0, training=training)
      s1 = self.pre1(s1, training=training)
    states = [s0, s1]
    for j, (first, rest) in enumerate(self.nodes):
      start, end = self.ranges[j]
      weights = (lambda a, b: None) if edge_weights is None else (  # noqa: E731
          lambda a, b: edge_weights[a:b])
      if rest is None:
        node = first(states, probs[start:end], weights(start, end))
      else:
        node = first(states[:2], probs[start:start + 2], weights(start, start + 2))
        if j:
          node = node + rest(states[2:], probs[start + 2:end], weights(start + 2, end))
      states.append(node)
    return tf.concat(states[2:], axis=-1)
