"""Every cost: params and MACs of every op (the formulas are search_space.py's), cell and
network, and the expected cost Φ(θ) of the search (RC-DARTS Eq. 6).

Units (see docs/DESIGN.md):
  params  trainable weights of the inference network without the auxiliary head, BN γ/β included,
          BN moving statistics not (the published DARTS convention);
  MACs    multiply-accumulates of Conv2D, DepthwiseConv2D and Dense at batch 1 (pooling, BN,
          ReLU, additions and concatenations are free).
Spatial sizes follow 'same' padding: an op at stride s on H x W gives ceil(H/s) x ceil(W/s).

Every function of a geometry here is plain Python; `CostModel` turns the per-edge tables into
TensorFlow tensors so Φ(θ) is differentiable and runs in graph.
"""

import dataclasses
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rc_darts_tf import resources, search_space
# The cell topology and the cost formulas of layers and ops live in search_space (TensorFlow-free,
# the search space as data); they are re-exported here, where every cost is computed.
from rc_darts_tf.search_space import (  # noqa: F401
    EDGES, NODE_EDGE_RANGES, NUM_EDGES, NUM_INPUTS, NUM_NODES, Cost, bn_cost, conv_cost,
    dense_cost, depthwise_cost, dil_conv_block_cost, dil_conv_cost, group_conv_cost, out_size,
    pool_cost, relu_conv_bn_cost, sep_conv_cost, skip_cost, zero_cost)


def count_weights(variables) -> int:
  """Elements of `variables` (Keras / TensorFlow variables or arrays with a static .shape): the
  one weight counter behind network.count_params, training.param_count,
  SearchNetwork.count_weight_params and the exporters' BN count."""
  return int(sum(math.prod(int(d) for d in v.shape) for v in variables))

# Φ's rows, in the order of the registry (rc_darts_tf/resources.py): params, MACs, latency (ms)
RESOURCES = resources.NAMES
FORMULA_RESOURCES = tuple(r.name for r in resources.REGISTRY if r.table == "formula")

# The default space's ops by name, in θ's column order, with their cost formulas.
CELL_OP_COSTS = {op.name: op.cost for op in search_space.DEFAULT.cell_ops}
CONNECTION_OP_COSTS = {op.name: op.cost for op in search_space.DEFAULT.connection_ops}
PRIMITIVES = search_space.DEFAULT.primitives                        # = ops.PRIMITIVES
CONNECTION_PRIMITIVES = search_space.DEFAULT.connection_primitives  # = ops.CONNECTION_PRIMITIVES


def op_cost(name, c_in, c_out, h, w, stride=1, affine=True, connection=False) -> Cost:
  """Cost of op `name` of any search space (search_space.find_op) at this geometry; KeyError for
  an unknown name."""
  return search_space.find_op(name, connection).cost(c_in, c_out, h, w, stride, affine)


# ---------------------------------------------------------------------------------------------
# Network geometry


@dataclasses.dataclass(frozen=True)
class CellPlan:
  """Where a cell sits and the shapes it sees."""

  index: int
  reduction: bool
  reduction_prev: bool
  c_prev_prev: int      # channels of input s0
  c_prev: int           # channels of input s1
  c: int                # channels of every node
  size: int             # spatial side of s1 (and of s0 after preprocessing)
  size_prev_prev: int   # spatial side of s0 before preprocessing
  group: int            # θ group: 0..levels-1 normal levels, `levels` = reduce

  @property
  def out_channels(self):
    """Channels of the cell's output: the concatenated NUM_NODES (4) nodes, 4 · c."""
    return NUM_NODES * self.c

  @property
  def out_size(self):
    """Spatial side of the cell's output: ceil(size / 2) for a reduction cell, else size."""
    return out_size(self.size, 2) if self.reduction else self.size


@dataclasses.dataclass(frozen=True)
class NetworkPlan:
  """Geometry of a DARTS-style network: stem, cells, global pool, classifier."""

  init_channels: int
  layers: int
  levels: int
  stem: str             # 'cifar' (3x3 conv to 3C) or 'imagenet' (two strided stems)
  image_size: int
  num_classes: int
  cells: Tuple[CellPlan, ...]
  stem_cost: Cost
  classifier_cost: Cost

  @property
  def num_groups(self):
    """G = levels + 1 θ groups: one per normal-cell level, then the reduce cells'."""
    return self.levels + 1


def reduction_indices(layers: int) -> Tuple[int, int]:
  """Indices of the two reduction cells of `layers` cells: layers // 3 and 2 · layers // 3
  (DARTS cnn/model_search.py)."""
  return (layers // 3, 2 * layers // 3)


def level_of_normal_cells(layers: int, levels: int) -> Dict[int, int]:
  """Normal cell index -> level: normal cells split evenly by depth into `levels` groups."""
  reductions = reduction_indices(layers)
  normal = [i for i in range(layers) if i not in reductions]
  if levels > len(normal):
    raise ValueError(f"{levels} levels need at least {levels} normal cells; {layers} cells have "
                     f"{len(normal)}")
  groups = np.array_split(np.array(normal), levels)
  return {int(i): level for level, group in enumerate(groups) for i in group}


STEMS = ("cifar", "imagenet")
STEM_MULTIPLIER = 3          # DARTS's CIFAR stem: one 3x3 conv to 3C channels


@dataclasses.dataclass(frozen=True)
class StemConv:
  """One layer of a stem: [ReLU `relu` ->] 3x3 conv `name` (no bias, 'same', `stride`) c_in ->
  c_out -> BN `bn`. The names are the Keras layer names of network.build_network."""

  name: str
  bn: str
  c_in: int
  c_out: int
  stride: int
  relu: Optional[str] = None


def stem_convs(stem: str, init_channels: int,
               stem_multiplier: int = STEM_MULTIPLIER) -> Tuple[StemConv, ...]:
  """DARTS's stems as data (DARTS cnn/model.py): 'cifar' -> one conv 3 -> 3C (s0 = s1 = its
  output); 'imagenet' -> stem0 = conv 3 -> C/2 stride 2, BN, ReLU, conv C/2 -> C stride 2, BN
  (s0), stem1 = ReLU, conv C -> C stride 2, BN (s1). The last layer's output is the first cell's
  s1, the one before it (if any) its s0. The one description network_plan costs and
  build_network and SearchNetwork build. ValueError for another stem."""
  c = init_channels
  if stem == "cifar":
    return (StemConv("stem_conv", "stem_bn", 3, stem_multiplier * c, 1),)
  if stem == "imagenet":
    return (StemConv("stem0_conv1", "stem0_bn1", 3, c // 2, 2),
            StemConv("stem0_conv2", "stem0_bn2", c // 2, c, 2, relu="stem0_relu"),
            StemConv("stem1_conv", "stem1_bn", c, c, 2, relu="stem1_relu"))
  raise ValueError(f"unknown stem {stem!r}: {' or '.join(STEMS)}")


def network_plan(init_channels=16, layers=8, levels=1, stem="cifar", image_size=32,
                 num_classes=10, stem_multiplier=STEM_MULTIPLIER) -> NetworkPlan:
  """Geometry of the search network (or any DARTS-style network of that shape): the stem
  (stem_convs), `layers` cells with reductions at 1/3 and 2/3 depth (C doubles there), normal
  cells split into `levels` depth groups, global pool and classifier. ValueError for fewer than
  3 cells, more levels than normal cells or an unknown stem."""
  if layers < 3:
    raise ValueError(f"a network needs at least 3 cells (2 reductions), got {layers}")
  c = init_channels
  levels_of = level_of_normal_cells(layers, levels)
  stem_cost, size, sizes, channels = Cost(0, 0), image_size, [], []
  convs = stem_convs(stem, c, stem_multiplier)
  for conv in convs:
    stem_cost = (stem_cost + conv_cost(conv.c_in, conv.c_out, size, size, 3, conv.stride) +
                 bn_cost(conv.c_out))
    size = out_size(size, conv.stride)
    sizes.append(size)
    channels.append(conv.c_out)
  c_pp, c_p = channels[-2:] if len(channels) > 1 else channels * 2
  size_pp, size = sizes[-2:] if len(sizes) > 1 else sizes * 2
  reduction_prev = len(convs) > 1 and convs[-1].stride > 1   # s1 is s0 strided: reduce s0
  cells = []
  reductions = reduction_indices(layers)
  for i in range(layers):
    reduction = i in reductions
    if reduction:
      c *= 2
    plan = CellPlan(i, reduction, reduction_prev, c_pp, c_p, c, size, size_pp,
                    levels if reduction else levels_of[i])
    cells.append(plan)
    reduction_prev = reduction
    c_pp, c_p = c_p, plan.out_channels
    size_pp, size = size, plan.out_size
  return NetworkPlan(init_channels, layers, levels, stem, image_size, num_classes, tuple(cells),
                     stem_cost, dense_cost(c_p, num_classes))


def plan_for(genotype, init_channels: int, layers: int, stem: str = "cifar",
             image_size: int = 32, num_classes: int = 10) -> NetworkPlan:
  """Geometry of the network `network.build_network` makes for these arguments, without
  TensorFlow (GenotypeError when the genotype cannot be laid out in it: a concat other than the
  four intermediate nodes, more levels than normal cells; ValueError for an unknown stem)."""
  from rc_darts_tf.errors import GenotypeError
  from rc_darts_tf.genotype import DEFAULT_CONCAT
  for name in ("normal_concat", "reduce_concat"):
    if tuple(getattr(genotype, name)) != DEFAULT_CONCAT:
      raise GenotypeError(f"{name}={list(getattr(genotype, name))}: derived networks "
                          f"concatenate all four intermediate nodes {list(DEFAULT_CONCAT)}")
  if stem not in STEMS:
    raise ValueError(f"unknown stem {stem!r}: {' or '.join(STEMS)}")
  try:
    return network_plan(init_channels, layers, genotype.levels, stem, image_size, num_classes)
  except ValueError as error:
    raise GenotypeError(f"genotype with {genotype.levels} normal level(s) in {layers} cells: "
                        f"{error}") from None


def edge_stride(cell: CellPlan, edge: int) -> int:
  """Stride of edge `edge` (0..E-1): 2 on the edges from the cell inputs (i < 2) of a
  reduction cell, else 1."""
  _, i = EDGES[edge]
  return 2 if cell.reduction and i < 2 else 1


def edge_input_size(cell: CellPlan, edge: int) -> int:
  """Spatial side of an edge's input: the cell inputs are at `size`; the intermediate nodes of a
  reduction cell are already reduced."""
  _, i = EDGES[edge]
  return cell.size if i < 2 or not cell.reduction else out_size(cell.size, 2)


def edge_op_cost(cell: CellPlan, edge: int, op: str, affine=True) -> Cost:
  """Cost (params, MACs) of op `op` on edge `edge` of `cell`: c -> c channels at the edge's
  input size and stride. KeyError for an unknown op."""
  size = edge_input_size(cell, edge)
  return op_cost(op, cell.c, cell.c, size, size, edge_stride(cell, edge), affine)


def preprocess_costs(cell: CellPlan, connection: Optional[str], affine=True) -> Cost:
  """Both inputs' preprocessing: a connection op, or DARTS's fixed 1x1 / factorized reduce."""
  stride0 = 2 if cell.reduction_prev else 1
  if connection is None:
    if cell.reduction_prev:
      pre0 = skip_cost(cell.c_prev_prev, cell.c, cell.size_prev_prev, cell.size_prev_prev, 2,
                       affine)
    else:
      pre0 = relu_conv_bn_cost(cell.c_prev_prev, cell.c, cell.size_prev_prev,
                               cell.size_prev_prev, 1, affine)
    pre1 = relu_conv_bn_cost(cell.c_prev, cell.c, cell.size, cell.size, 1, affine)
    return pre0 + pre1
  pre0 = op_cost(connection, cell.c_prev_prev, cell.c, cell.size_prev_prev, cell.size_prev_prev,
                 stride0, affine, connection=True)
  pre1 = op_cost(connection, cell.c_prev, cell.c, cell.size, cell.size, 1, affine,
                 connection=True)
  return pre0 + pre1


# ---------------------------------------------------------------------------------------------
# Cost tables u and the expected cost Φ(θ)


@dataclasses.dataclass
class CostTables:
  """Per-resource tables: Φ_m(θ) = fixed[m] + Σ_g,e σ_ge u[m][g,e]·softmax(θ_g[e]) + u_conn[m]·p_c.

  R = len(RESOURCES) = 3 (params, MACs, latency in ms), float64: fixed [R] (stem, classifier
  and, when the connection is not learned, DARTS's fixed preprocessing), cells [R, G, E, O] (cost
  of op o on edge e summed over the cells of group g), connection [R, K] (the connection op's
  cost summed over every cell; zeros when not learned). The latency rows come from
  `latency_table` (latency.cost_arrays) and are zeros without one.
  """

  plan: NetworkPlan
  learn_connection: bool
  fixed: np.ndarray            # [R]
  cells: np.ndarray            # [R, G, E, O]   (G = levels + 1, last = reduce; O cell ops)
  connection: np.ndarray       # [R, K] (K connection ops; zeros when not learned)
  space: search_space.SearchSpace = search_space.DEFAULT   # whose ops the O and K columns are
  latency_table: Optional[object] = None   # latency.LatencyTable of the latency rows, or None

  @property
  def priced(self) -> Tuple[str, ...]:
    """The resources these tables price: every formula resource, latency with a table."""
    return tuple(r.name for r in resources.REGISTRY
                 if r.table == "formula" or self.latency_table is not None)


def cost_tables(plan: NetworkPlan, learn_connection: bool,
                space: search_space.SearchSpace = search_space.DEFAULT,
                latency_table=None) -> CostTables:
  """The tables u of Φ (RC-DARTS Eq. 6) for `plan`, R = resources (params, MACs, latency ms):
  cells [R, G, E, O] (O = the space's cell ops, θ's columns), connection [R, K] (K = its
  connection ops; zeros without learn_connection, whose fixed preprocessing goes to `fixed`) and
  the fixed part [R]. The latency rows are `latency_table`'s (a latency.LatencyTable measured
  for `plan`'s geometry; latency.cost_arrays), zeros when None."""
  primitives = space.primitives
  connections = space.connection_primitives
  m = len(RESOURCES)
  cells = np.zeros([m, plan.num_groups, NUM_EDGES, len(primitives)], np.float64)
  connection = np.zeros([m, len(connections)], np.float64)
  fixed = plan.stem_cost + plan.classifier_cost
  for cell in plan.cells:
    for e in range(NUM_EDGES):
      for o, op in enumerate(primitives):
        cost = edge_op_cost(cell, e, op)
        for resource in FORMULA_RESOURCES:
          cells[RESOURCES.index(resource), cell.group, e, o] += cost.get(resource)
    if learn_connection:
      for k, op in enumerate(connections):
        cost = preprocess_costs(cell, op)
        for resource in FORMULA_RESOURCES:
          connection[RESOURCES.index(resource), k] += cost.get(resource)
    else:
      fixed = fixed + preprocess_costs(cell, None)
  fixed = np.array([fixed.get(r) if r in FORMULA_RESOURCES else 0.0 for r in RESOURCES],
                   np.float64)
  if latency_table is not None:
    from rc_darts_tf import latency
    k = RESOURCES.index("latency_ms")
    fixed[k], cells[k], connection[k] = latency.cost_arrays(latency_table, plan, space,
                                                            learn_connection)
  return CostTables(plan, learn_connection, fixed, cells, connection, space, latency_table)


def edge_strength(probs: np.ndarray, none_index: int = 0) -> np.ndarray:
  """Strength of each edge: its largest softmax weight over the non-'none' ops.
  [..., E, O] -> [..., E]."""
  keep = np.ones(probs.shape[-1], bool)
  keep[none_index] = False
  return probs[..., keep].max(-1)


def edge_log_strength(thetas, temperature=1.0, none_index: int = 0,
                      theta_edges=None) -> np.ndarray:
  """log of each edge's strength (its largest non-'none' weight of softmax(θ / τ)), [..., E],
  computed as −log(1 + Σ_{o ≠ best} exp((θ_o − θ_best) / τ)) so that sharp θ / τ, where the
  strengths round to 1.0 (and their log to 0.0), still order the edges (no false ties).
  theta_edges: [..., E] β of a partial-channel search (`edge_log_weights` is added) or None."""
  z = np.asarray(thetas, np.float64) / temperature
  keep = np.ones(z.shape[-1], bool)
  keep[none_index] = False
  best = np.where(keep, z, -np.inf).argmax(-1)
  top = np.take_along_axis(z, best[..., None], -1)
  others = np.where(np.arange(z.shape[-1]) == best[..., None], -np.inf, z - top)
  peak = others.max(-1, keepdims=True)
  rest = peak[..., 0] + np.log(np.exp(others - peak).sum(-1))
  strength = -np.logaddexp(0.0, rest)
  return strength if theta_edges is None else strength + edge_log_weights(theta_edges)


def edge_log_weights(theta_edges) -> np.ndarray:
  """log β̂: PC-DARTS's edge normalisation, log softmax of β over each node's incoming edges.

  theta_edges: [..., E] β (the edges of node j are NODE_EDGE_RANGES[j]) or None -> [..., E]
  (zeros [E] for None: no edge normalisation). Added to an edge's log strength, it makes the
  strength β̂_e · max_{o ≠ none} softmax(θ_e / τ)[o], the edge score of PC-DARTS's derivation
  (Xu et al. 2020, Sec. 3.3)."""
  if theta_edges is None:
    return np.zeros(NUM_EDGES, np.float64)
  beta = np.asarray(theta_edges, np.float64)
  return np.concatenate([log_softmax(beta[..., start:end]) for start, end in NODE_EDGE_RANGES],
                        axis=-1)


def top2_mask(strength: np.ndarray) -> np.ndarray:
  """σ(i ∈ A_j): 1 for the 2 strongest incoming edges of every node (ties: lower input first)."""
  mask = np.zeros(strength.shape, np.float64)
  for start, end in NODE_EDGE_RANGES:
    part = strength[..., start:end]
    order = np.argsort(-part, axis=-1, kind="stable")[..., :2]
    np.put_along_axis(mask[..., start:end], order, 1.0, axis=-1)
  return mask


def softmax(x, axis=-1):
  """NumPy softmax of `x` along `axis` (max-shifted), same shape as `x`."""
  z = np.exp(x - x.max(axis=axis, keepdims=True))
  return z / z.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
  """log softmax(x): the same order as softmax, without its saturation at 1.0 for sharp θ / τ
  (edge strengths are compared in log space, so no two edges tie at 1.0)."""
  x = np.asarray(x, np.float64)
  shifted = x - x.max(axis=axis, keepdims=True)
  return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def derivable_weights(thetas, temperature=1.0):
  """The kept edge's op weights as derivation sees them: softmax(θ / τ) over the non-'none' ops
  (index 0 is 'none', weight 0). [..., O] -> [..., O]."""
  thetas = np.asarray(thetas, np.float64)
  weights = np.zeros_like(thetas)
  weights[..., 1:] = softmax(thetas[..., 1:] / temperature)
  return weights


def expected_cost_numpy(tables: CostTables, thetas: np.ndarray,
                        theta_connection: Optional[np.ndarray] = None,
                        temperature: float = 1.0, derivable_only: bool = True,
                        theta_edges: Optional[np.ndarray] = None) -> np.ndarray:
  """Φ per resource [R] in NumPy (the reference for `CostModel.expected`, which documents it).

  thetas: [G, E, O]; theta_connection: [K] or None; weights softmax(θ / temperature);
  theta_edges: [G, E] β of a partial-channel search or None (it moves σ only)."""
  probs = softmax(np.asarray(thetas, np.float64) / temperature)
  mask = top2_mask(edge_log_strength(thetas, temperature, theta_edges=theta_edges))
  weights = derivable_weights(thetas, temperature) if derivable_only else probs
  phi = tables.fixed + np.einsum("ge,mgeo,geo->m", mask, tables.cells, weights)
  if tables.learn_connection:
    phi = phi + tables.connection @ softmax(np.asarray(theta_connection, np.float64) / temperature)
  return phi


def eq1_cost_numpy(tables: CostTables, thetas: np.ndarray,
                   theta_connection: Optional[np.ndarray] = None,
                   temperature: float = 1.0,
                   theta_edges: Optional[np.ndarray] = None) -> np.ndarray:
  """Exact cost [R] of the Eq. 1 network of θ (top-2 edges by softmax(θ / temperature) and β,
  argmax non-'none' op, argmax connection op): Φ with one-hot weights. Equals `genotype_cost` of
  `derive.derive(thetas, theta_connection, temperature=temperature, theta_edges=theta_edges)`
  (tests hold them equal)."""
  probs = softmax(np.asarray(thetas, np.float64) / temperature)
  mask = top2_mask(edge_log_strength(thetas, temperature, theta_edges=theta_edges))
  choice = np.argmax(probs[..., 1:], axis=-1) + 1
  onehot = np.eye(probs.shape[-1])[choice]
  cost = tables.fixed + np.einsum("ge,mgeo,geo->m", mask, tables.cells, onehot)
  if tables.learn_connection:
    cost = cost + tables.connection[:, int(np.argmax(theta_connection))]
  return cost


def achievable_range(tables: CostTables) -> np.ndarray:
  """[R, 2]: the infimum and supremum of Φ over all θ (weights concentrated on one op per edge).

  Φ can come arbitrarily close to these, never beyond: bounds outside them cannot be met.
  """
  lows, highs = [], []
  for r in range(len(RESOURCES)):
    low = high = tables.fixed[r]
    best_edge = tables.cells[r].max(-1)     # [G, E]: the dearest op of each edge
    cheapest = tables.cells[r][..., 1:].min(-1)   # the ops derivation can pick (not 'none')
    for start, end in NODE_EDGE_RANGES:
      high += np.sort(best_edge[:, start:end], axis=-1)[:, -2:].sum()
      low += np.sort(cheapest[:, start:end], axis=-1)[:, :2].sum()
    if tables.learn_connection:
      low += tables.connection[r].min()
      high += tables.connection[r].max()
    lows.append(low)
    highs.append(high)
  return np.stack([lows, highs], axis=-1)


class CostModel:
  """Φ(θ) in TensorFlow: expected params and MACs, differentiable in θ, graph-friendly.

  Holds the CostTables as constants (float32 and float64): fixed [R], cells [R, G, E, O],
  connection [R, K]. ValueError unless op 0 of the cell ops is 'none'.
  """

  def __init__(self, tables: CostTables):
    import tensorflow as tf
    if tables.space.primitives[0] != "none":   # every SearchSpace ensures it; tables built by hand
      raise ValueError("CostModel expects 'none' as op 0 (σ and Φ skip it)")
    self.tables = tables
    self.fixed = tf.constant(tables.fixed, tf.float32)
    self.cells = tf.constant(tables.cells, tf.float32)
    self.connection = tf.constant(tables.connection, tf.float32)
    self._float64 = tuple(tf.constant(a, tf.float64) for a in
                          (tables.fixed, tables.cells, tables.connection))
    index = np.full([NUM_NODES, NUM_NODES + 1], NUM_EDGES, np.int32)  # padded with a dummy edge
    for j, (start, end) in enumerate(NODE_EDGE_RANGES):
      index[j, :end - start] = np.arange(start, end)
    self._node_edges = tf.constant(index)

  def top2_mask(self, probs=None, strength=None):
    """σ as a [G, E] float tensor (no gradient), same rule as derive.py and `top2_mask`.

    probs: [G, E, O] softmax weights, or strength: [G, E] edge strengths in any monotone form
    (`log_strength`: no false ties when θ / τ is sharp)."""
    import tensorflow as tf
    if strength is None:
      strength = tf.reduce_max(probs[..., 1:], axis=-1)                     # [G, E]
    padded = tf.concat([strength, tf.fill([tf.shape(strength)[0], 1],
                                          tf.constant(strength.dtype.min, strength.dtype))],
                       axis=-1)
    per_node = tf.gather(padded, self._node_edges, axis=1)                  # [G, 4, 5]
    _, top = tf.math.top_k(per_node, k=2)                                   # [G, 4, 2]
    node_edges = tf.broadcast_to(self._node_edges, tf.shape(per_node))
    edges = tf.gather(node_edges, top, batch_dims=2)                        # [G, 4, 2]
    mask = tf.reduce_sum(tf.one_hot(edges, NUM_EDGES + 1, dtype=strength.dtype),
                         axis=[1, 2])[:, :NUM_EDGES]
    return tf.stop_gradient(mask)

  def log_strength(self, thetas, temperature=1.0, theta_edges=None):
    """`edge_log_strength` in TensorFlow: [G, E, O] (and β [G, E] or None) -> [G, E] float64
    (no gradient). float64 whatever θ's dtype: at sharp θ / τ (τ = 0.03 and a lead of 3 in θ)
    −softplus(rest) is below float32's smallest number, and float32 strengths of 0.0 would tie
    edges that derivation (NumPy, float64) tells apart, so Φ would price another network."""
    import tensorflow as tf
    z = (tf.cast(tf.stop_gradient(thetas), tf.float64) /
         tf.cast(temperature, tf.float64))
    best = tf.argmax(z[..., 1:], axis=-1, output_type=tf.int32) + 1
    is_best = tf.one_hot(best, tf.shape(z)[-1], on_value=True, off_value=False)
    top = tf.reduce_max(tf.where(is_best, z, z.dtype.min), axis=-1, keepdims=True)
    rest = tf.reduce_logsumexp(tf.where(is_best, tf.constant(-np.inf, z.dtype), z - top), axis=-1)
    strength = -tf.nn.softplus(rest)
    if theta_edges is None:
      return strength
    return strength + tf.stop_gradient(edge_log_weights_tf(tf.cast(theta_edges, tf.float64)))

  def expected(self, thetas, theta_connection=None, temperature=1.0, derivable_only=True,
               theta_edges=None):
    """Φ per resource [R] (RC-DARTS Eq. 6), differentiable in θ, in θ's dtype.

    thetas: [G, E, O]; theta_connection: [K] or None; the op weights are softmax(θ / τ) with τ
    = temperature, as in the search's mixed ops; σ(i ∈ A_j) keeps the top-2 edges per node by
    those weights (`top2_mask`). derivable_only (default): on a kept edge the op weights are
    renormalised over the ops derivation can pick, softmax(θ_{o≠none} / τ) — Eq. 1 never derives
    'none', so Φ is the expected cost of the network derivation gives, even on an edge where
    'none' holds most of the weight. derivable_only=False is Eq. 6 literally ('none' weighs in
    at zero cost). theta_edges: [G, E] β of a partial-channel search (PC-DARTS's edge
    normalisation) or None; it enters the edge strength that selects σ, as in derivation, and
    nothing else (the cost tables are of the derived network at full width).
    """
    import tensorflow as tf
    fixed, cells, connection = self._constants(thetas.dtype)
    tau = tf.cast(temperature, thetas.dtype)
    probs = tf.nn.softmax(thetas / tau, axis=-1)
    mask = tf.cast(self.top2_mask(strength=self.log_strength(thetas, tau, theta_edges)),
                   thetas.dtype)
    if derivable_only:
      weights = tf.concat([tf.zeros_like(probs[..., :1]),
                           tf.nn.softmax(thetas[..., 1:] / tau, axis=-1)], axis=-1)
    else:
      weights = probs
    phi = fixed + tf.einsum("ge,mgeo,geo->m", mask, cells, weights)
    if self.tables.learn_connection:
      phi = phi + tf.linalg.matvec(
          connection, tf.nn.softmax(theta_connection / tf.cast(temperature, thetas.dtype)))
    return phi

  def _constants(self, dtype):
    """The tables as tensors of `dtype` (float32, or float64 for the projection's solver)."""
    import tensorflow as tf
    if dtype == tf.float64:
      return self._float64
    return self.fixed, self.cells, self.connection

  def eq1(self, thetas, theta_connection=None, temperature=1.0, theta_edges=None):
    """Exact cost [R] (in θ's dtype) of the network Eq. 1 derives from θ now: the top-2 edges
    of every node by softmax(θ / temperature) and β (the same σ as Φ), the argmax non-'none' op
    of each, the argmax connection op. Not differentiable; logged next to Φ at every step."""
    import tensorflow as tf
    fixed, cells, connection = self._constants(thetas.dtype)
    mask = tf.cast(self.top2_mask(strength=self.log_strength(thetas, temperature, theta_edges)),
                   thetas.dtype)
    choice = tf.argmax(thetas[..., 1:], axis=-1, output_type=tf.int32) + 1
    onehot = tf.one_hot(choice, tf.shape(thetas)[-1], dtype=thetas.dtype)
    cost = fixed + tf.einsum("ge,mgeo,geo->m", mask, cells, onehot)
    if self.tables.learn_connection:
      cost = cost + tf.gather(connection, tf.argmax(theta_connection), axis=1)
    return tf.stop_gradient(cost)


def edge_log_weights_tf(theta_edges):
  """`edge_log_weights` in TensorFlow: β [..., E] -> log β̂ [..., E] (differentiable)."""
  import tensorflow as tf
  return tf.concat([tf.nn.log_softmax(theta_edges[..., start:end], axis=-1)
                    for start, end in NODE_EDGE_RANGES], axis=-1)


def genotype_cost(plan: NetworkPlan, normal: Sequence[Sequence[Tuple[str, int]]],
                  reduce: Sequence[Tuple[str, int]], connection: Optional[str],
                  affine=True, latency_table=None) -> Cost:
  """Exact cost of the discrete network: `normal` holds one cell (8 (op, input) pairs, 2 per
  node, DARTS order) per level; `reduce` one cell; `connection` an op or None (DARTS's fixed).
  With a `latency_table` (latency.LatencyTable of `plan`'s geometry) latency_ms is the table's
  latency of it as Φ prices it (LatencyTable.linear_sum, fit applied: what the bound holds on),
  else 0."""
  total = plan.stem_cost + plan.classifier_cost
  for cell in plan.cells:
    pairs = reduce if cell.reduction else normal[cell.group]
    total = total + preprocess_costs(cell, connection, affine)
    for k, (op, i) in enumerate(pairs):
      j = k // 2
      edge = NODE_EDGE_RANGES[j][0] + i
      total = total + edge_op_cost(cell, edge, op, affine)
  if latency_table is not None:
    total = dataclasses.replace(total, latency_ms=latency_table.fit.apply(
        latency_table.linear_sum(plan, normal, reduce, connection)))
  return total


def cell_edge_list(pairs: Sequence[Tuple[str, int]]) -> List[Tuple[int, int, str]]:
  """DARTS pairs -> (node, input, op) triples."""
  return [(k // 2, i, op) for k, (op, i) in enumerate(pairs)]


def fmt_count(value: float) -> str:
  """1234567 -> '1.23M' (resources.fmt_count; for people, files keep exact integers)."""
  return resources.fmt_count(value)
