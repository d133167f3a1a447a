"""Derived networks: Keras models built from a Genotype (DARTS's NetworkCIFAR / NetworkImageNet).

  model = build_network(genotype, init_channels=36, layers=20, stem="cifar", auxiliary=True)
  infer = inference_model(model)          # logits only, what the exporters and evaluation use

Layout (DARTS's evaluation networks, extended to RC-DARTS genotypes):
  stem      cifar: 3x3 conv to 3C channels + BN; imagenet: two strided stems (3x3/2 conv to C/2,
            BN, ReLU, 3x3/2 conv to C, BN; then ReLU, 3x3/2 conv, BN), input side / 8
  cells     `layers` cells; reduction cells (stride 2, channels x2) at layers//3 and 2*layers//3;
            normal cells split evenly by depth into the genotype's levels (one normal cell per
            level; DARTS genotypes have one); every cell preprocesses its two inputs with the
            genotype's connection op, or, without one (imported DARTS genotypes), with DARTS's
            fixed ReLU-conv1x1-BN / factorized reduce, so published DARTS cells are reproduced
            exactly
  auxiliary DARTS's auxiliary head on the output of the cell at 2*layers//3, a second output
            "aux" (training only: `inference_model` drops it)
  head      global average pool + Dense to num_classes (logits)

Drop path (DARTS's scheduled drop path): every op output except identities is dropped per
sample with probability `drop_path_prob` during training only; `set_drop_path(model, p)` changes
it (rc-darts-train ramps it linearly over the epochs, as DARTS does).

The exact cost of `inference_model(model)` is `costs.genotype_cost(plan_for(...), ...)`: the
same geometry (`costs.network_plan`) drives both. Layers are registered Keras serializables, so
a saved `.keras` file loads after `import rc_darts_tf.network`.
"""

from typing import Optional, Sequence, Tuple

import keras
import tensorflow as tf

from rc_darts_tf import costs, ops
from rc_darts_tf.genotype import Genotype

PACKAGE = ops.PACKAGE
STEMS = costs.STEMS


# the geometry of a genotype's network, TensorFlow-free (checked before TensorFlow is imported)
plan_for = costs.plan_for


def _shape(shape, channels, stride=1):
  b, h, w, _ = shape
  return (b, None if h is None else -(-h // stride), None if w is None else -(-w // stride),
          channels)


@keras.saving.register_keras_serializable(PACKAGE)
class Cell(keras.layers.Layer):
  """One derived cell: preprocess s0/s1, 4 nodes of 2 ops each, concat of the 4 nodes.

  pairs: 8 (op, input) pairs in DARTS order; input 0/1 = s0/s1, k >= 2 = node k-2.
  """

  def __init__(self, pairs: Sequence[Tuple[str, int]], c: int, reduction: bool,
               reduction_prev: bool, connection: Optional[str] = None, seed=None, **kwargs):
    super().__init__(**kwargs)
    self.pairs = [(str(op), int(i)) for op, i in pairs]
    self.c, self.reduction, self.reduction_prev = c, reduction, reduction_prev
    self.connection = connection
    self.seed = seed
    if connection is None:
      self.pre0 = (ops.FactorizedReduce(c, True, name="pre0") if reduction_prev else
                   ops.ReLUConvBN(c, 1, 1, True, name="pre0"))
      self.pre1 = ops.ReLUConvBN(c, 1, 1, True, name="pre1")
    else:
      self.pre0 = ops.build_op(connection, None, c, 2 if reduction_prev else 1, True,
                               connection=True)
      self.pre1 = ops.build_op(connection, None, c, 1, True, connection=True)
    self.edge_ops = []
    for k, (op, i) in enumerate(self.pairs):
      stride = 2 if reduction and i < 2 else 1
      self.edge_ops.append(ops.build_op(op, c, c, stride, True))
    self.drop_prob = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                     name="drop_path_prob")
    self.seed_generator = keras.random.SeedGenerator(seed)

  def build(self, input_shape):
    s0, s1 = input_shape
    self.pre0.build(s0)
    self.pre1.build(s1)
    size = s1 if not self.reduction_prev else _shape(s0, s0[-1], 2)
    node = _shape(size, self.c)
    for (_, i), layer in zip(self.pairs, self.edge_ops):
      layer.build(node)
    self.built = True

  def compute_output_shape(self, input_shape):
    return _shape(input_shape[1], costs.NUM_NODES * self.c, 2 if self.reduction else 1)

  def _drop_path(self, x):
    keep = 1.0 - self.drop_prob
    noise = keras.random.uniform((tf.shape(x)[0], 1, 1, 1), seed=self.seed_generator,
                                 dtype=x.dtype)
    return x / keep * tf.floor(keep + noise)

  def call(self, inputs, training=None):
    s0, s1 = inputs
    states = [self.pre0(s0, training=training), self.pre1(s1, training=training)]
    for j in range(costs.NUM_NODES):
      total = None
      for k in (2 * j, 2 * j + 1):
        _, i = self.pairs[k]
        layer = self.edge_ops[k]
        h = layer(states[i], training=training)
        if training and not isinstance(layer, ops.Identity):
          h = self._drop_path(h)
        total = h if total is None else total + h
      states.append(total)
    return tf.concat(states[2:], axis=-1)

  def get_config(self):
    config = super().get_config()
    config.update(pairs=[list(p) for p in self.pairs], c=self.c, reduction=self.reduction,
                  reduction_prev=self.reduction_prev, connection=self.connection, seed=self.seed)
    return config


@keras.saving.register_keras_serializable(PACKAGE)
class AuxiliaryHead(keras.layers.Layer):
  """DARTS's auxiliary classifier: ReLU, 5x5 avg pool (stride 3 for CIFAR's 8x8, 2 for
  ImageNet's 7x7; no padding), 1x1 conv 128 + BN + ReLU, 2x2 conv 768 (+ BN for CIFAR) + ReLU,
  Dense. On smaller inputs the pool and conv shrink to fit (global pooling at the end)."""

  def __init__(self, num_classes, stride=3, batch_norm=True, **kwargs):
    super().__init__(**kwargs)
    self.num_classes, self.stride, self.batch_norm = num_classes, stride, batch_norm
    self.conv1 = keras.layers.Conv2D(128, 1, use_bias=False, name="conv1")
    self.bn1 = ops.batch_norm(True, name="bn1")
    self.conv2 = None
    self.bn2 = ops.batch_norm(True, name="bn2") if batch_norm else None
    self.classifier = keras.layers.Dense(num_classes, name="classifier")

  def build(self, input_shape):
    size = int(input_shape[1])
    self.pool_size = min(5, size)
    pooled = (size - self.pool_size) // self.stride + 1
    self.conv2 = keras.layers.Conv2D(768, min(2, pooled), use_bias=False, name="conv2")
    self.conv1.build(input_shape)
    shape = (input_shape[0], pooled, pooled, 128)
    self.bn1.build(shape)
    self.conv2.build(shape)
    out = pooled - min(2, pooled) + 1
    if self.bn2 is not None:
      self.bn2.build((input_shape[0], out, out, 768))
    self.classifier.build((input_shape[0], 768))
    self.built = True

  def call(self, x, training=None):
    x = tf.nn.relu(x)
    x = tf.nn.avg_pool2d(x, self.pool_size, self.stride, "VALID")
    x = tf.nn.relu(self.bn1(self.conv1(x), training=training))
    x = self.conv2(x)
    if self.bn2 is not None:
      x = self.bn2(x, training=training)
    x = tf.reduce_mean(tf.nn.relu(x), axis=[1, 2])
    return self.classifier(x)

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes, stride=self.stride, batch_norm=self.batch_norm)
    return config


def build_network(genotype: Genotype, init_channels: int = 36, layers: int = 20,
                  stem: str = "cifar", image_size: int = 32, num_classes: int = 10,
                  auxiliary: bool = False, drop_path_prob: float = 0.0, seed=None,
                  name: Optional[str] = None) -> keras.Model:
  """A functional Keras model of `genotype`: input [B, image_size, image_size, 3] (normalised
  images), output the logits, or {"logits", "aux"} with `auxiliary` (the auxiliary head's logits
  on the cell at 2/3 depth)."""
  genotype.validate()
  plan = plan_for(genotype, init_channels, layers, stem, image_size, num_classes)
  inputs = keras.Input((image_size, image_size, 3), name="images")
  x, outputs = inputs, []
  for conv in costs.stem_convs(stem, init_channels):
    if conv.relu:
      x = keras.layers.ReLU(name=conv.relu)(x)
    x = keras.layers.Conv2D(conv.c_out, 3, conv.stride, padding="same", use_bias=False,
                            name=conv.name)(x)
    x = ops.batch_norm(True, name=conv.bn)(x)
    outputs.append(x)
  s0, s1 = outputs[-2:] if len(outputs) > 1 else outputs * 2
  aux_logits = None
  aux_at = 2 * layers // 3
  for cell in plan.cells:
    pairs = genotype.reduce if cell.reduction else genotype.normal[cell.group]
    layer = Cell(pairs, cell.c, cell.reduction, cell.reduction_prev, genotype.connection,
                 seed=None if seed is None else seed + cell.index, name=f"cell{cell.index}")
    s0, s1 = s1, layer([s0, s1])
    if auxiliary and cell.index == aux_at:
      aux_logits = AuxiliaryHead(num_classes, 3 if stem == "cifar" else 2,
                                 batch_norm=stem == "cifar", name="auxiliary_head")(s1)
  x = keras.layers.GlobalAveragePooling2D(name="global_pool")(s1)
  logits = keras.layers.Dense(num_classes, name="classifier")(x)
  outputs = {"logits": logits, "aux": aux_logits} if auxiliary else logits
  model = keras.Model(inputs, outputs, name=name or f"network_{stem}")
  if drop_path_prob:
    set_drop_path(model, drop_path_prob)
  return model


def inference_model(model: keras.Model) -> keras.Model:
  """The logits-only model (shares weights with `model`; drops the auxiliary head)."""
  if isinstance(model.output, dict):
    return keras.Model(model.input, model.output["logits"], name=model.name + "_inference")
  return model


def cells(model: keras.Model):
  """The Cell layers among `model`'s top-level layers, in layer order."""
  return [layer for layer in model.layers if isinstance(layer, Cell)]


def set_drop_path(model: keras.Model, prob: float) -> None:
  """Set every cell's drop-path probability (effective in training only)."""
  if not 0.0 <= prob < 1.0:
    raise ValueError(f"drop path probability must be in [0, 1), got {prob}")
  for cell in cells(model):
    cell.drop_prob.assign(prob)


def count_params(model: keras.Model) -> int:
  """Trainable weights of the inference network (DARTS's convention: BN γ/β in, moving
  statistics, drop-path state and the auxiliary head out)."""
  return costs.count_weights(inference_model(model).trainable_weights)
