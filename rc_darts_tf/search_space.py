"""The search space as data: the candidate ops (their names, whose order is the order of θ's
columns, their families, channel constraints and cost formulas) and the cell topology.

This module imports neither TensorFlow nor NumPy: genotype files, budgets and the records of
saved searches are checked against it before TensorFlow loads. `ops.py` only registers a Keras
builder for each name listed here (and checks at import that every name has one); costs.py
builds its tables from the formulas here; the pictures read families, line styles and captions
from here. The idea follows DARTS's `cnn/genotypes.py` (PRIMITIVES as a list of names) and
tunas's `schema.py` (the space as a value that can be stored and compared).

Cell topology (DARTS `model_search.py`): a cell has NUM_INPUTS = 2 inputs (states 0 and 1) and
NUM_NODES = 4 intermediate nodes; node j (state j + 2) sums one mixed op from each of its
2 + j predecessors, so the cell has E = NUM_EDGES = 14 edges, numbered node by node
(EDGES[e] = (j, i): edge e feeds node j from state i). The output concatenates the nodes.

Costs (units in docs/DESIGN.md): params are trainable weights (BN γ/β included, moving
statistics not); MACs are the multiply-accumulates of Conv2D, DepthwiseConv2D and Dense at
batch 1. Every formula takes the op's input geometry: cost(c_in, c_out, h, w, stride, affine)
-> Cost, with 'same' padding (an op at stride s on h x w gives ceil(h/s) x ceil(w/s)) and
affine=False for the search's BN without γ/β.

A search space is recorded in every genotype.json, theta.npz and search run it produced
(`SearchSpace.record()`: its name and both op orders); `check_record` refuses a record that
names an unknown space or lists other ops or another order than this version's space of that
name, so θ's columns are never read as other ops.
"""

import dataclasses
import json
from typing import Callable, Dict, Optional, Tuple

from rc_darts_tf.errors import SearchSpaceError  # noqa: F401  (raised here; re-exported)

# ---------------------------------------------------------------------------------------------
# Cell topology

NUM_INPUTS = 2                                  # a cell's inputs: the two previous cells
NUM_NODES = 4                                   # intermediate nodes per cell
NUM_EDGES = sum(NUM_INPUTS + j for j in range(NUM_NODES))  # E = 14
# edge e of node j comes from state i: EDGES[e] = (j, i); nodes' edges are contiguous
EDGES = tuple((j, i) for j in range(NUM_NODES) for i in range(NUM_INPUTS + j))
NODE_EDGE_RANGES = tuple((sum(NUM_INPUTS + k for k in range(j)),
                          sum(NUM_INPUTS + k for k in range(j + 1))) for j in range(NUM_NODES))


# ---------------------------------------------------------------------------------------------
# Cost formulas of the layers ops are made of


@dataclasses.dataclass(frozen=True)
class Cost:
  """Params (weights) and MACs (multiply-accumulates at batch 1) of a layer, op or network, and
  its latency in ms where a latency table priced it (costs.genotype_cost; 0 otherwise): one field
  per resource of rc_darts_tf/resources.py."""

  params: int = 0
  macs: int = 0
  latency_ms: float = 0.0

  def __add__(self, other):
    return Cost(self.params + other.params, self.macs + other.macs,
                self.latency_ms + other.latency_ms)

  def __mul__(self, k):
    return Cost(self.params * k, self.macs * k, self.latency_ms * k)

  def as_dict(self):
    """{"params": weights count, "macs": MACs} as ints, and "latency_ms" when priced."""
    counts = {"params": int(self.params), "macs": int(self.macs)}
    if self.latency_ms:
      counts["latency_ms"] = round(float(self.latency_ms), 6)
    return counts

  def get(self, resource):
    """The value of `resource` (a name of resources.NAMES); AttributeError for another name."""
    return getattr(self, resource)


def out_size(h: int, stride: int) -> int:
  """Spatial side after a 'same'-padded op at `stride`: ceil(h / stride)."""
  return -(-h // stride)


def conv_cost(c_in, c_out, h, w, kernel=1, stride=1, groups=1, bias=False) -> Cost:
  """Conv2D (k x k, groups) at stride s on an h x w input."""
  ho, wo = out_size(h, stride), out_size(w, stride)
  weights = kernel * kernel * (c_in // groups) * c_out
  return Cost(weights + (c_out if bias else 0), weights * ho * wo)


def depthwise_cost(c, h, w, kernel, stride=1) -> Cost:
  """DepthwiseConv2D (k x k, multiplier 1, no bias) at stride s on an h x w x c input."""
  ho, wo = out_size(h, stride), out_size(w, stride)
  return Cost(c * kernel * kernel, c * kernel * kernel * ho * wo)


def bn_cost(c, affine=True) -> Cost:
  """BatchNormalization over c channels: γ and β when affine, no MACs."""
  return Cost(2 * c if affine else 0, 0)


def dense_cost(c_in, c_out, bias=True) -> Cost:
  """Dense c_in -> c_out (the classifier)."""
  return Cost(c_in * c_out + (c_out if bias else 0), c_in * c_out)


# ---------------------------------------------------------------------------------------------
# Cost formulas of the candidate ops: cost(c_in, c_out, h, w, stride, affine) -> Cost


def zero_cost(c_in, c_out, h, w, stride=1, affine=True) -> Cost:
  """'none' (DARTS's Zero): no weights, no MACs."""
  return Cost()


def pool_cost(c_in, c_out, h, w, stride=1, affine=True) -> Cost:
  """3x3 max / average pooling: no weights, and pooling MACs are not counted."""
  return Cost()  # the search's BN after a pool has no γ/β; a derived pool has no BN


def skip_cost(c_in, c_out, h, w, stride=1, affine=True) -> Cost:
  """Identity at stride 1, FactorizedReduce (two 1x1 stride-2 convs to c_out/2 each, BN) at 2."""
  if stride == 1:
    return Cost()
  half = conv_cost(c_in, c_out // 2, h, w, 1, 2)
  return half * 2 + bn_cost(c_out, affine)


def dil_conv_block_cost(c_in, c_out, h, w, kernel, stride, affine) -> Cost:
  """ReLU -> depthwise k x k at stride s -> 1x1 to c_out -> BN (dilation does not change cost)."""
  ho, wo = out_size(h, stride), out_size(w, stride)
  return (depthwise_cost(c_in, h, w, kernel, stride) + conv_cost(c_in, c_out, ho, wo) +
          bn_cost(c_out, affine))


def sep_conv_cost(kernel):
  """Two stacked dil_conv blocks (undilated), the first at the op's stride."""
  def cost(c_in, c_out, h, w, stride=1, affine=True) -> Cost:
    ho, wo = out_size(h, stride), out_size(w, stride)
    return (dil_conv_block_cost(c_in, c_out, h, w, kernel, stride, affine) +
            dil_conv_block_cost(c_out, c_out, ho, wo, kernel, 1, affine))
  cost.__name__ = f"sep_conv_{kernel}x{kernel}_cost"
  return cost


def dil_conv_cost(kernel):
  """One dil_conv block (depthwise dilation 2)."""
  def cost(c_in, c_out, h, w, stride=1, affine=True) -> Cost:
    return dil_conv_block_cost(c_in, c_out, h, w, kernel, stride, affine)
  cost.__name__ = f"dil_conv_{kernel}x{kernel}_cost"
  return cost


def group_conv_cost(groups):
  """ReLU -> 1x1 conv with `groups` groups at the op's stride -> BN (shuffle is free)."""
  def cost(c_in, c_out, h, w, stride=1, affine=True) -> Cost:
    return conv_cost(c_in, c_out, h, w, 1, stride, groups) + bn_cost(c_out, affine)
  cost.__name__ = f"group_conv_1x1_g{groups}_cost"
  return cost


def irb_cost(kernel, expansion):
  """MobileNetV2's inverted residual without its skip: ReLU -> 1x1 conv to e·c_in -> BN -> ReLU ->
  k x k depthwise at the op's stride -> BN -> ReLU -> 1x1 conv to c_out -> BN."""
  def cost(c_in, c_out, h, w, stride=1, affine=True) -> Cost:
    mid = expansion * c_in
    ho, wo = out_size(h, stride), out_size(w, stride)
    return (conv_cost(c_in, mid, h, w) + bn_cost(mid, affine) +
            depthwise_cost(mid, h, w, kernel, stride) + bn_cost(mid, affine) +
            conv_cost(mid, c_out, ho, wo) + bn_cost(c_out, affine))
  cost.__name__ = f"irb_{kernel}x{kernel}_e{expansion}_cost"
  return cost


def relu_conv_bn_cost(c_in, c_out, h, w, stride=1, affine=True) -> Cost:
  """DARTS's fixed 1x1 preprocessing."""
  return conv_cost(c_in, c_out, h, w, 1, stride) + bn_cost(c_out, affine)


# ---------------------------------------------------------------------------------------------
# Ops and spaces

# Op families and their colour in every picture (Okabe-Ito palette, colour-blind safe); line
# style (Op.linestyle) tells the ops of one family apart.
FAMILY_COLORS: Dict[str, str] = {
    "none": "#A0A0A0", "pool": "#009E73", "skip": "#505050", "sep_conv": "#0072B2",
    "dil_conv": "#D55E00", "conv": "#CC79A7", "irb": "#E69F00"}
FAMILIES = tuple(FAMILY_COLORS)


@dataclasses.dataclass(frozen=True)
class Op:
  """One candidate op.

  name       its name in genotypes and θ's column labels (DARTS's names where DARTS has one)
  family     one of FAMILIES: how the search batches it (search/mixed.py) and its colour in
             pictures; ops of one family differ by kernel, dilation or groups
  cost       cost(c_in, c_out, h, w, stride=1, affine=True) -> Cost
  text       what it computes, one line (picture captions, docs)
  linestyle  a matplotlib line style telling it apart from its family's other ops
  groups     channel groups: its input and output channels must be divisible by it
  """

  name: str
  family: str
  cost: Callable[..., Cost]
  text: str
  linestyle: str = "-"
  groups: int = 1

  def __post_init__(self):
    if self.family not in FAMILIES:
      raise ValueError(f"op {self.name!r}: unknown family {self.family!r}; known: {FAMILIES}")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """A named pair of candidate lists: O cell ops (θ_cells [G, E, O] follows their order; op 0 is
  'none', which σ, Φ and derivation skip) and K connection ops (θ_connection [K])."""

  name: str
  cell_ops: Tuple[Op, ...]
  connection_ops: Tuple[Op, ...]
  description: str = ""            # one line for --search_space's help

  def __post_init__(self):
    if not self.cell_ops or self.cell_ops[0].name != "none":
      raise ValueError(f"search space {self.name!r}: op 0 must be 'none' (σ and Φ skip it)")
    for ops in (self.cell_ops, self.connection_ops):
      names = [op.name for op in ops]
      if len(set(names)) != len(names):
        raise ValueError(f"search space {self.name!r}: op names repeat: {names}")

  @property
  def primitives(self) -> Tuple[str, ...]:
    """Cell op names in θ's column order (DARTS's PRIMITIVES)."""
    return tuple(op.name for op in self.cell_ops)

  @property
  def connection_primitives(self) -> Tuple[str, ...]:
    """Connection op names in θ_connection's order."""
    return tuple(op.name for op in self.connection_ops)

  def op(self, name: str, connection: bool = False) -> Op:
    """The cell op (or connection op) `name`; KeyError naming the known ones otherwise."""
    table = self.connection_ops if connection else self.cell_ops
    for op in table:
      if op.name == name:
        return op
    kind = "connection op" if connection else "op"
    raise KeyError(f"unknown {kind} {name!r} in search space {self.name!r}; known: "
                   f"{', '.join(o.name for o in table)}")

  def all_ops(self) -> Dict[str, Op]:
    """Every op of the space by name (a name in both lists is the same op)."""
    return {op.name: op for op in self.cell_ops + self.connection_ops}

  def channel_step(self, connection: Optional[str]) -> int:
    """The step C must move by to keep every layer valid with this connection op (None = DARTS's
    fixed preprocessing): even (factorized reduce, the ImageNet stem's C/2) and divisible by the
    connection op's groups."""
    groups = 1 if connection is None else self.op(connection, connection=True).groups
    return max(2, groups)

  def record(self) -> dict:
    """What genotype.json, theta.npz and a search run store: the name and both op orders."""
    return {"name": self.name, "cell_ops": list(self.primitives),
            "connection_ops": list(self.connection_primitives)}


DARTS = SearchSpace(
    name="darts",
    description="DARTS's cell ops, Liu et al. 2019",
    cell_ops=(
        Op("none", "none", zero_cost, "zero (no edge)", ":"),
        Op("max_pool_3x3", "pool", pool_cost, "3×3 max pool", "-"),
        Op("avg_pool_3x3", "pool", pool_cost, "3×3 average pool", "--"),
        Op("skip_connect", "skip", skip_cost,
           "identity (factorized reduce at stride 2)", "-"),
        Op("sep_conv_3x3", "sep_conv", sep_conv_cost(3),
           "2 × (ReLU → 3×3 depthwise conv → 1×1 conv → BN)", "-"),
        Op("sep_conv_5x5", "sep_conv", sep_conv_cost(5),
           "2 × (ReLU → 5×5 depthwise conv → 1×1 conv → BN)", "--"),
        Op("dil_conv_3x3", "dil_conv", dil_conv_cost(3),
           "ReLU → 3×3 depthwise conv (dilation 2) → 1×1 conv → BN", "-"),
        Op("dil_conv_5x5", "dil_conv", dil_conv_cost(5),
           "ReLU → 5×5 depthwise conv (dilation 2) → 1×1 conv → BN", "--"),
    ),
    connection_ops=(
        Op("dil_conv_3x3", "dil_conv", dil_conv_cost(3),
           "ReLU → 3×3 depthwise conv (dilation 2) → 1×1 conv → BN", "-"),
        Op("conv_1x1", "conv", group_conv_cost(1), "ReLU → 1×1 conv → BN", "-"),
        Op("group_conv_1x1_g2", "conv", group_conv_cost(2),
           "ReLU → 1×1 conv, 2 groups → BN → channel shuffle", "--", groups=2),
        Op("group_conv_1x1_g4", "conv", group_conv_cost(4),
           "ReLU → 1×1 conv, 4 groups → BN → channel shuffle", ":", groups=4),
    ))

# DARTS's space plus MobileNetV2's inverted residual blocks (RC-DARTS names them as the next
# candidates; ProxylessNAS and FBNet search over them): 3x3 and 5x5 depthwise kernels, expansion
# 3. At expansion 3 an IRB costs 2.1-2.5x a sep_conv of the same kernel on a C -> C edge (C = 16,
# 8 x 8, stride 1: 2,192 / 2,960 weights and 126k / 175k MACs against 864 / 1,376 and 51k / 84k
# for sep_conv_3x3 / 5x5), a trade-off a budget can weigh; expansion 6 would double that again.
IRB_OPS = (
    Op("irb_3x3_e3", "irb", irb_cost(3, 3),
       "ReLU → 1×1 conv to 3C → BN → ReLU → 3×3 depthwise conv → BN → ReLU → 1×1 conv → BN", "-"),
    Op("irb_5x5_e3", "irb", irb_cost(5, 3),
       "ReLU → 1×1 conv to 3C → BN → ReLU → 5×5 depthwise conv → BN → ReLU → 1×1 conv → BN", "--"),
)
DARTS_IRB = SearchSpace(
    name="darts_irb", cell_ops=DARTS.cell_ops + IRB_OPS, connection_ops=DARTS.connection_ops,
    description="DARTS's plus MobileNetV2 inverted residual blocks, expansion 3")

SPACES: Dict[str, SearchSpace] = {space.name: space for space in [DARTS, DARTS_IRB]}
DEFAULT = DARTS


def find_op(name: str, connection: bool = False) -> Op:
  """The cell op (or connection op) `name` of whichever space defines it (a name means one op in
  every space); KeyError naming the known ones otherwise. What builds and costs a derived
  network: its genotype names its ops."""
  for space in SPACES.values():
    table = space.connection_ops if connection else space.cell_ops
    for op in table:
      if op.name == name:
        return op
  known = sorted({op.name for space in SPACES.values()
                  for op in (space.connection_ops if connection else space.cell_ops)})
  kind = "connection op" if connection else "op"
  raise KeyError(f"unknown {kind} {name!r}; known: {', '.join(known)}")


def get(name: str) -> SearchSpace:
  """The search space called `name`; SearchSpaceError naming the known ones otherwise."""
  if name not in SPACES:
    raise SearchSpaceError(f"unknown search space {name!r}; known: {', '.join(SPACES)}")
  return SPACES[name]


def check_record(record, source: str) -> SearchSpace:
  """The space a stored record (`SearchSpace.record()`) describes, after checking that this
  version defines a space of that name with the same ops in the same order. `source` names the
  file in the one-line SearchSpaceError raised otherwise. None (a file written before spaces
  were recorded) is the DARTS space, the only one such files can hold."""
  if record is None:
    return DARTS
  if (not isinstance(record, dict) or not isinstance(record.get("name"), str)
      or not isinstance(record.get("cell_ops"), list)
      or not isinstance(record.get("connection_ops"), list)):
    raise SearchSpaceError(f"{source}: malformed search-space record {_short(record)}: expected "
                           "{'name': ..., 'cell_ops': [...], 'connection_ops': [...]}")
  if record["name"] not in SPACES:
    raise SearchSpaceError(f"{source}: written for search space {record['name']!r}, which this "
                           f"version does not define (known: {', '.join(SPACES)})")
  space = SPACES[record["name"]]
  for key, names in (("cell_ops", space.primitives),
                     ("connection_ops", space.connection_primitives)):
    if [str(n) for n in record[key]] != list(names):
      raise SearchSpaceError(
          f"{source}: search space {space.name!r} recorded with {key} {record[key]}, but this "
          f"version's {space.name!r} has {list(names)}: θ's columns would name other ops")
  return space


def record_text(space: SearchSpace) -> str:
  """`space.record()` as one line of JSON: the form stored inside .npz files (a string array)."""
  return json.dumps(space.record(), separators=(",", ":"))


def check_record_text(text: Optional[str], source: str) -> SearchSpace:
  """`check_record` of a record stored as `record_text` (None: written before spaces were
  recorded, the DARTS space). SearchSpaceError (one line) when it is not JSON or does not match."""
  if text is None:
    return DARTS
  try:
    record = json.loads(text)
  except (TypeError, ValueError, RecursionError):
    raise SearchSpaceError(f"{source}: the search-space record {_short(text)} is not JSON") \
        from None
  return check_record(record, source)


def _short(value, limit=80) -> str:
  text = repr(value)
  return text if len(text) <= limit else text[:limit - 3] + "..."
