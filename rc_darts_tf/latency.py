"""Latency tables: the measured batch-1 latency (ms) of every part a derived network of one
geometry is made of, and the latency of a network predicted from them.

A network of `costs.network_plan` geometry runs, in order: the stem (pixel normalisation when the
file takes pixels, then the stem convs), per cell its two preprocessing ops (a connection op, or
DARTS's fixed ReLU-conv-BN / factorized reduce), its 8 edge ops, the node sums and the concat of
the 4 nodes, then global pooling and the classifier. Each part is an *entry* of the table, keyed
by what it is and the shapes it sees:

  stem/<stem>/c<C>/s<S>[/pixels]             the stem of `C` initial channels on S x S images
  cell/<op>/c<C>/s<S>/stride<k>             cell op `op`, C -> C channels, S x S input
  connection/<op>/c<Cin>-<Cout>/s<S>/stride<k>   connection op (a cell input's preprocessing)
  preprocess/<relu_conv_bn|factorized_reduce>/c<Cin>-<Cout>/s<S>/stride<k>   DARTS's fixed one
  nodes/c<C>/s<S>                           4 sums of 2 [S, S, C] tensors and their concat
  classifier/c<C>/s<S>/n<classes>           global average pool and the dense layer

`exporters/latency_table.py` measures the entries (one small TFLite file each); this module is
TensorFlow-free: table files, entries of a geometry, and the prediction

  latency(network) = slope · Σ entries(network) + intercept   (ms)

where slope and intercept are fitted on measured whole networks of the geometry (what the entries
cannot see: the interpreter's per-network work, fusions across parts, caches); without a fit
they are 1 and 0. The same sums, per edge and op, are the latency tables u of Φ
(`cost_arrays`), so Φ in ms is the expected prediction of the derived network.
"""

import dataclasses
import json
import math
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from rc_darts_tf import costs, io_utils, search_space
from rc_darts_tf.errors import RcDartsError

FORMAT_VERSION = 1
FORMATS = ("tflite_fp32", "tflite_int8")


class LatencyTableError(RcDartsError):
  """A latency table file is missing, malformed, of another geometry or format, or lacks an
  entry a network needs."""


@dataclasses.dataclass(frozen=True)
class Entry:
  """One measurable part: its key and what to build (exporters/latency_table.build_entry_model).

  kind       'stem', 'cell', 'connection', 'preprocess', 'nodes' or 'classifier'
  op         the op name (cell/connection op, 'relu_conv_bn', 'factorized_reduce', the stem's
             name) or '' for nodes and classifier
  c_in, c_out, size, stride   channels in/out (a stem's c_in is C, its input has 3), input
             side S, stride
  extra      num_classes for the classifier; 1 for a stem taking pixels; else 0
  """

  key: str
  kind: str
  op: str
  c_in: int
  c_out: int
  size: int
  stride: int = 1
  extra: int = 0


def cell_entry(op: str, c: int, size: int, stride: int) -> Entry:
  """The entry of cell op `op` on a C -> C edge with input side `size` at `stride`."""
  return Entry(f"cell/{op}/c{c}/s{size}/stride{stride}", "cell", op, c, c, size, stride)


def connection_entry(op: str, c_in: int, c_out: int, size: int, stride: int) -> Entry:
  """The entry of connection op `op` preprocessing a cell input [size, size, c_in] to c_out."""
  return Entry(f"connection/{op}/c{c_in}-{c_out}/s{size}/stride{stride}", "connection", op, c_in,
               c_out, size, stride)


def preprocess_entry(c_in: int, c_out: int, size: int, stride: int) -> Entry:
  """DARTS's fixed preprocessing of one cell input: ReLU-conv 1x1-BN, or factorized reduce at
  stride 2."""
  op = "factorized_reduce" if stride == 2 else "relu_conv_bn"
  return Entry(f"preprocess/{op}/c{c_in}-{c_out}/s{size}/stride{stride}", "preprocess", op, c_in,
               c_out, size, stride)


def nodes_entry(c: int, size: int) -> Entry:
  """The node sums (4 × add of two [size, size, c] tensors) and the concat to 4c channels."""
  return Entry(f"nodes/c{c}/s{size}", "nodes", "", c, costs.NUM_NODES * c, size)


def stem_entry(stem: str, init_channels: int, image_size: int, pixels: bool) -> Entry:
  """The stem (costs.stem_convs) on [image_size, image_size, 3]; `pixels`: raw pixels in, the
  normalisation (one Rescaling) first, as in an exported pixel model."""
  convs = costs.stem_convs(stem, init_channels)
  return Entry(f"stem/{stem}/c{init_channels}/s{image_size}" + ("/pixels" if pixels else ""),
               "stem", stem, init_channels, convs[-1].c_out, image_size, 1, int(pixels))


def classifier_entry(c: int, size: int, num_classes: int) -> Entry:
  """Global average pooling of [size, size, c] and the dense layer to `num_classes` logits."""
  return Entry(f"classifier/c{c}/s{size}/n{num_classes}", "classifier", "", c, num_classes, size,
               1, num_classes)


def _preprocess(cell: costs.CellPlan, connection: Optional[str]) -> Tuple[Entry, Entry]:
  """The entries of a cell's two input preprocessings (costs.preprocess_costs's geometry)."""
  stride0 = 2 if cell.reduction_prev else 1
  if connection is None:
    return (preprocess_entry(cell.c_prev_prev, cell.c, cell.size_prev_prev, stride0),
            preprocess_entry(cell.c_prev, cell.c, cell.size, 1))
  return (connection_entry(connection, cell.c_prev_prev, cell.c, cell.size_prev_prev, stride0),
          connection_entry(connection, cell.c_prev, cell.c, cell.size, 1))


def edge_entry(cell: costs.CellPlan, edge: int, op: str) -> Entry:
  """The entry of cell op `op` on edge `edge` of `cell` (costs.edge_input_size / edge_stride)."""
  return cell_entry(op, cell.c, costs.edge_input_size(cell, edge), costs.edge_stride(cell, edge))


def fixed_entries(plan: costs.NetworkPlan, pixels: bool) -> List[Entry]:
  """What every network of the geometry runs whatever its genotype: the stem, each cell's node
  sums and concat, the classifier."""
  last = plan.cells[-1]
  return ([stem_entry(plan.stem, plan.init_channels, plan.image_size, pixels)] +
          [nodes_entry(cell.c, cell.out_size) for cell in plan.cells] +
          [classifier_entry(last.out_channels, last.out_size, plan.num_classes)])


# Ops without weights: the same one on the same input of a cell is one operator in the file (the
# converter's common-subexpression elimination computes max_pool(s0) once for two nodes).
WEIGHTLESS_OPS = ("max_pool_3x3", "avg_pool_3x3")


def relu_entry(c: int, size: int) -> Entry:
  """The ReLU that starts an op, on [size, size, c] (ops.relu; its int8 form)."""
  return Entry(f"relu/c{c}/s{size}", "relu", "", c, c, size)


def starts_with_relu(entry: Entry) -> bool:
  """Whether the part begins with a ReLU of its input (ops.relu): every conv op, DARTS's
  preprocessing, factorized reduce (skip_connect at stride 2); not pooling or identity. Ops that
  read one tensor share that ReLU in the file (one RELU operator, the converter's
  common-subexpression elimination), which `network_terms` counts."""
  if entry.kind in ("connection", "preprocess"):
    return True
  if entry.kind != "cell":
    return False
  if entry.op in WEIGHTLESS_OPS + ("none",):
    return False
  return not (entry.op == "skip_connect" and entry.stride == 1)


def _tensor_sizes(plan: costs.NetworkPlan):
  """Cell inputs as tensors: (s0, s1) ids of each cell, id -> (channels, side). Cell m's output is
  id m; the stem's last output -1 and (the ImageNet stem) the one before it -2; the CIFAR stem
  gives one tensor to both inputs of the first cell."""
  convs = costs.stem_convs(plan.stem, plan.init_channels)
  shapes, size = {}, plan.image_size
  for k, conv in enumerate(convs):
    size = costs.out_size(size, conv.stride)
    shapes[k - len(convs)] = (conv.c_out, size)
  inputs = []
  for cell in plan.cells:
    m = cell.index
    s1 = m - 1
    s0 = m - 2 if (m >= 2 or len(convs) > 1) else -1
    inputs.append((s0, s1))
    shapes[m] = (cell.out_channels, cell.out_size)
  return inputs, shapes


def ends_with_conv(entry: Entry) -> bool:
  """Whether the part's output comes straight from a conv (BN folded into it): the stem, DARTS's
  ReLU-conv-BN, the connection ops conv_1x1 and dil_conv_3x3. A ReLU of such an output is fused
  into that conv when every reader starts with it (`network_terms`)."""
  return (entry.kind == "stem" or (entry.kind == "preprocess" and entry.op == "relu_conv_bn") or
          (entry.kind == "connection" and entry.op in ("conv_1x1", "dil_conv_3x3")))


def fuses_relu(fmt: str) -> bool:
  """Whether the converter fuses a ReLU into the conv before it in files of `fmt`: in float
  files yes; in int8 files the ReLU is ops.relu's int8 form (a 1x1 max pool with the ReLU),
  which stays an operator of its own (seen in the converted files)."""
  return fmt != "tflite_int8"


def network_terms(plan: costs.NetworkPlan, normal: Sequence[Sequence[Tuple[str, int]]],
                  reduce: Sequence[Tuple[str, int]], connection: Optional[str],
                  pixels: bool = True, shared: bool = True,
                  fuse_relu: bool = True) -> List[Tuple[Entry, int]]:
  """What the derived network's file runs, as (entry, count) terms whose Σ count · ms is its
  table sum (`normal` one cell per level, `reduce`, `connection` or None for DARTS's fixed
  preprocessing). Every part is an entry whose measured time includes the ReLU it starts with.
  With `shared`, what the converter makes of the whole graph is counted (seen in the operators
  of converted networks): the ops that start with a ReLU of one tensor share one RELU operator
  (−1 ReLU per such op, +1 per tensor), and none at all when that tensor comes straight from a
  conv, every reader starts with the ReLU and `fuse_relu` (fuses_relu of the file's format: the
  ReLU is fused into the conv); a weightless op repeated on one input of a cell runs once; in
  int8 files a grouped connection's ReLU is one per node tensor of the cell it reads (shared
  with the cell's own ops on that node). Without `shared`: every part alone (an upper
  estimate)."""
  fixed = fixed_entries(plan, pixels)
  terms = [(entry, 1) for entry in fixed]
  inputs, shapes = _tensor_sizes(plan)
  tensors = {}   # id -> [shape (c, size), from a conv, read by a ReLU op, read by another op]
  for t in shapes:
    tensors[t] = [shapes[t], t < 0, False, False]

  def read(entry, tensor):
    terms.append((entry, 1))
    if shared:
      record = tensors[tensor]
      if starts_with_relu(entry):
        terms.append((relu_entry(entry.c_in, entry.size), -1))
        record[2] = True
      else:
        record[3] = True

  for cell, (s0, s1) in zip(plan.cells, inputs):
    pairs = reduce if cell.reduction else normal[cell.group]
    pre = _preprocess(cell, connection)
    for k, (entry, tensor) in enumerate(zip(pre, (s0, s1))):
      read(entry, tensor)
      tensors[("state", cell.index, k)] = [(cell.c, cell.size), ends_with_conv(entry), False,
                                           False]
    for j in range(2, 2 + costs.NUM_NODES):
      tensors[("state", cell.index, j)] = [(cell.c, cell.out_size), False, False, False]
    seen = set()
    for k, (op, i) in enumerate(pairs):
      if shared and op in WEIGHTLESS_OPS:
        if (op, i) in seen:
          continue
        seen.add((op, i))
      read(edge_entry(cell, costs.NODE_EDGE_RANGES[k // 2][0] + i, op), ("state", cell.index, i))
  if shared and not fuse_relu and connection is not None and (
      search_space.find_op(connection, True).groups > 1):
    # int8 files: a grouped connection reads a cell's node tensors, each through its own ReLU
    # (ops._relu_groups), the same operator as the ReLU of a cell op reading that node
    for t in [t for t in tensors if isinstance(t, int) and t >= 0 and tensors[t][2]]:
      tensors[t][2] = False
      for j in range(2, 2 + costs.NUM_NODES):
        tensors[("state", t, j)][2] = True
  for shape, from_conv, relu_reader, other_reader in tensors.values():
    if relu_reader and not (fuse_relu and from_conv and not other_reader):
      terms.append((relu_entry(*shape), 1))
  return terms


def network_entries(plan: costs.NetworkPlan, normal, reduce, connection,
                    pixels: bool = True) -> List[Entry]:
  """Every part of the derived network, repeats included (no sharing counted): the entries
  `network_terms` draws on besides the ReLUs."""
  return [entry for entry, _ in network_terms(plan, normal, reduce, connection, pixels, False)]


def shared_relu_correction(plan: costs.NetworkPlan,
                           fuse_relu: bool = True) -> List[Tuple[Entry, int]]:
  """The ReLU sharing between cells, the same for every genotype (`network_terms`' rules): a
  cell's output is read by the preprocessing of the next two cells, both starting with a ReLU,
  and the file runs one; the stem's output, read by preprocessing only, has its ReLU fused into
  the stem's conv (`fuse_relu`). (entry, count) terms added to Φ's fixed part."""
  inputs, shapes = _tensor_sizes(plan)
  readers = {}
  for s0, s1 in inputs:
    for tensor in (s0, s1):
      readers[tensor] = readers.get(tensor, 0) + 1
  return [(relu_entry(*shapes[t]), -(n if t < 0 and fuse_relu else n - 1))
          for t, n in readers.items()]


def space_entries(plan: costs.NetworkPlan, space: search_space.SearchSpace,
                  learn_connection: bool, pixels: bool = True,
                  fixed_preprocess: bool = True) -> List[Entry]:
  """Every entry any derived network of `space` at `plan` can use, each once, in a stable order:
  the fixed parts, every cell op but 'none' on every edge geometry, the connection ops on every
  preprocessing geometry (learn_connection) and DARTS's fixed preprocessing (`fixed_preprocess`,
  so the table also predicts networks without a learned connection)."""
  entries = fixed_entries(plan, pixels)
  for cell in plan.cells:
    for e in range(costs.NUM_EDGES):
      entries.extend(edge_entry(cell, e, op) for op in space.primitives if op != "none")
    if learn_connection:
      for op in space.connection_primitives:
        entries.extend(_preprocess(cell, op))
    if fixed_preprocess or not learn_connection:
      entries.extend(_preprocess(cell, None))
  inputs, shapes = _tensor_sizes(plan)
  entries.extend(relu_entry(*shapes[t]) for pair in inputs for t in pair)
  for cell in plan.cells:
    entries.extend(relu_entry(cell.c, costs.edge_input_size(cell, e))
                   for e in range(costs.NUM_EDGES))
  unique = {}
  for entry in entries:
    unique.setdefault(entry.key, entry)
  return list(unique.values())


@dataclasses.dataclass
class Fit:
  """latency ≈ slope · Σ entries + intercept (ms) over `networks` measured whole networks;
  `mape` (%) and `max_ape` (%) the fit's errors on them."""

  slope: float = 1.0
  intercept: float = 0.0
  networks: int = 0
  mape: Optional[float] = None
  max_ape: Optional[float] = None

  def apply(self, total_ms: float) -> float:
    """The predicted latency (ms) of a network whose entries sum to `total_ms`."""
    return self.slope * total_ms + self.intercept


def fit_overhead(sums: Sequence[float], measured: Sequence[float]) -> Fit:
  """The slope of measured ≈ slope · sums over whole networks: the median of measured / sum
  (intercept 0). A line with an intercept was tried first: the networks of one geometry span a
  narrow range of sums, and with a few % of timing noise its least-squares slope swung between
  0.8 and 2.3 from one set of 6 networks to another, while the ratio stayed within a few %;
  what a network costs beyond its parts (the interpreter's per-invoke work, about 0.4 µs here)
  is too small to fit. ValueError for no pairs or a sum <= 0."""
  x, y = np.asarray(sums, np.float64), np.asarray(measured, np.float64)
  if x.size < 1 or x.size != y.size or np.any(x <= 0):
    raise ValueError(f"fitting needs >= 1 (sum > 0, measured) pair, got sums {x.tolist()}")
  slope = float(np.median(y / x))
  ape = np.abs(slope * x - y) / y * 100.0
  return Fit(slope, 0.0, int(x.size), float(ape.mean()), float(ape.max()))


@dataclasses.dataclass
class LatencyTable:
  """A measured table: `header` (format, threads, runs, warmup, runtime, device and the geometry:
  stem, init_channels, layers, image_size, num_classes, pixels), `entries` {key: median ms},
  `fit` (Fit; slope 1, intercept 0 when no whole network was measured)."""

  header: Dict[str, object]
  entries: Dict[str, float]
  fit: Fit = dataclasses.field(default_factory=Fit)

  @property
  def fuse_relu(self) -> bool:
    """fuses_relu of the table's format."""
    return fuses_relu(str(self.header.get("format")))

  @property
  def pixels(self) -> bool:
    """Whether the table's stem takes raw pixels (the exported files do)."""
    return bool(self.header.get("pixels", True))

  def lookup(self, entry: Entry) -> float:
    """The measured ms of `entry`; LatencyTableError naming the key when the table lacks it."""
    try:
      return self.entries[entry.key]
    except KeyError:
      where = " ".join(["latency table", str(self.header.get("path", ""))]).strip()
      raise LatencyTableError(
          f"{where}: no entry {entry.key!r} (measured for {describe_geometry(self.header)}; "
          "measure the geometry the network has with rc-darts-latency)") from None

  def total(self, entries: Iterable[Entry]) -> float:
    """Σ of the entries' measured ms (repeats counted)."""
    return float(sum(self.lookup(entry) for entry in entries))

  def terms_total(self, terms: Iterable[Tuple[Entry, int]]) -> float:
    """Σ count · ms over (entry, count) terms."""
    return float(sum(n * self.lookup(entry) for entry, n in terms))

  def network_sum(self, plan: costs.NetworkPlan, normal, reduce, connection) -> float:
    """The derived network's table sum (ms, `network_terms` with sharing), before the fit."""
    return self.terms_total(network_terms(plan, normal, reduce, connection, self.pixels,
                                          fuse_relu=self.fuse_relu))

  def linear_sum(self, plan: costs.NetworkPlan, normal, reduce, connection) -> float:
    """The sum Φ and the derivation price (ms, before the fit): every part alone but the ReLU
    sharing between cells (`shared_relu_correction`); >= network_sum."""
    return (self.terms_total(network_terms(plan, normal, reduce, connection, self.pixels,
                                           shared=False)) +
            self.terms_total(shared_relu_correction(plan, self.fuse_relu)))

  def predict(self, plan: costs.NetworkPlan, normal, reduce, connection) -> float:
    """Predicted batch-1 latency (ms) of the derived network: fit.apply(network_sum)."""
    return self.fit.apply(self.network_sum(plan, normal, reduce, connection))

  def predict_genotype(self, genotype, plan: Optional[costs.NetworkPlan] = None) -> float:
    """`predict` for a genotype.Genotype at the table's geometry (or `plan`)."""
    plan = plan or geometry_plan(self.header, genotype.levels)
    return self.predict(plan, genotype.normal, genotype.reduce, genotype.connection)

  def to_json(self) -> Dict[str, object]:
    """The file's content (see `save`)."""
    return {"format_version": FORMAT_VERSION, "header": dict(self.header),
            "fit": dataclasses.asdict(self.fit), "entries": dict(sorted(self.entries.items()))}


GEOMETRY_KEYS = ("stem", "init_channels", "layers", "image_size", "num_classes", "pixels")
MEASUREMENT_KEYS = ("format", "threads", "runs", "warmup")


def describe_geometry(header: Dict[str, object]) -> str:
  """'cifar stem, C = 16, 8 cells, 16x16, 10 classes, pixels in, tflite_int8, 1 thread'."""
  get = header.get
  threads = get("threads")
  return (f"{get('stem')} stem, C = {get('init_channels')}, {get('layers')} cells, "
          f"{get('image_size')}x{get('image_size')}, {get('num_classes')} classes, "
          f"{'pixels' if get('pixels', True) else 'normalised images'} in, {get('format')}, "
          f"{threads} thread{'s' if threads != 1 else ''}")


def geometry_plan(header: Dict[str, object], levels: int = 1) -> costs.NetworkPlan:
  """The costs.NetworkPlan of a table's geometry with `levels` normal-cell levels."""
  return costs.network_plan(int(header["init_channels"]), int(header["layers"]), levels,
                            str(header["stem"]), int(header["image_size"]),
                            int(header["num_classes"]))


def save(table: LatencyTable, path: str) -> None:
  """Write the table as JSON, atomically (a reader never sees half a file)."""
  header = {k: v for k, v in table.header.items() if k != "path"}
  data = {**table.to_json(), "header": header}
  io_utils.atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def load(path: str) -> LatencyTable:
  """Read and check a table file; LatencyTableError naming the file and the bad value."""
  if not os.path.isfile(path):
    raise LatencyTableError(f"--latency_table={path}: no such file (measure one with "
                            "rc-darts-latency)")
  try:
    with open(path) as f:
      data = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
    raise LatencyTableError(f"latency table {path}: not a JSON table ({error})") from None
  if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
    raise LatencyTableError(f"latency table {path}: format_version "
                            f"{data.get('format_version') if isinstance(data, dict) else None!r},"
                            f" expected {FORMAT_VERSION}")
  header, entries, fit = data.get("header"), data.get("entries"), data.get("fit") or {}
  if not isinstance(header, dict) or not isinstance(entries, dict):
    raise LatencyTableError(f"latency table {path}: needs a 'header' object and an 'entries' "
                            "object")
  missing = [k for k in GEOMETRY_KEYS + ("format",) if k not in header]
  if missing:
    raise LatencyTableError(f"latency table {path}: header lacks {', '.join(missing)}")
  if header["format"] not in FORMATS:
    raise LatencyTableError(f"latency table {path}: format {header['format']!r}; known: "
                            f"{', '.join(FORMATS)}")
  for key, value in entries.items():
    if not isinstance(value, (int, float)) or isinstance(value, bool) or \
        not math.isfinite(value) or value < 0:
      raise LatencyTableError(f"latency table {path}: entry {key!r} = {value!r} is not a "
                              "latency in ms (a finite number >= 0)")
  try:
    fit = Fit(**{k: fit[k] for k in ("slope", "intercept", "networks", "mape", "max_ape")
                 if k in fit})
  except TypeError as error:
    raise LatencyTableError(f"latency table {path}: bad 'fit' ({error})") from None
  if not (math.isfinite(fit.slope) and fit.slope > 0 and math.isfinite(fit.intercept)):
    raise LatencyTableError(f"latency table {path}: fit slope {fit.slope!r} / intercept "
                            f"{fit.intercept!r}: the slope must be > 0, both finite")
  return LatencyTable({**header, "path": path}, {k: float(v) for k, v in entries.items()}, fit)


def check_geometry(table: LatencyTable, plan: costs.NetworkPlan, fmt: Optional[str] = None,
                   what: str = "the budget network") -> None:
  """LatencyTableError unless `table` was measured for `plan`'s geometry (and `fmt`)."""
  want = {"stem": plan.stem, "init_channels": plan.init_channels, "layers": plan.layers,
          "image_size": plan.image_size, "num_classes": plan.num_classes}
  bad = [f"{k} {table.header.get(k)!r} (needs {v!r})" for k, v in want.items()
         if table.header.get(k) != v]
  if fmt is not None and table.header.get("format") != fmt:
    bad.append(f"format {table.header.get('format')!r} (needs {fmt!r})")
  if bad:
    raise LatencyTableError(
        f"latency table {table.header.get('path', '')}: measured for another geometry than "
        f"{what}: {'; '.join(bad)}; measure one with rc-darts-latency --init_channels="
        f"{plan.init_channels} --layers={plan.layers} --image_size={plan.image_size} "
        f"--num_classes={plan.num_classes} --stem={plan.stem}")


def cost_arrays(table: LatencyTable, plan: costs.NetworkPlan, space: search_space.SearchSpace,
                learn_connection: bool) -> Tuple[float, np.ndarray, np.ndarray]:
  """The latency tables u of Φ in ms, fit applied: fixed (stem, node sums, classifier, DARTS's
  fixed preprocessing without a learned connection, the ReLUs cells share between them
  (`shared_relu_correction`) and the fit's intercept), cells [G, E, O]
  (op o on edge e summed over the cells of group g; 'none' 0) and connection [K] (op k on both
  inputs of every cell; zeros without learn_connection). Φ_latency(one-hot θ of a genotype) is
  `LatencyTable.predict` of it but for the sharing inside a cell (a ReLU or a weightless op read
  by two edges from one input, counted twice here): an upper estimate by at most that.
  LatencyTableError for a missing entry."""
  primitives, connections = space.primitives, space.connection_primitives
  cells = np.zeros([plan.num_groups, costs.NUM_EDGES, len(primitives)], np.float64)
  connection = np.zeros([len(connections)], np.float64)
  fixed = (table.total(fixed_entries(plan, table.pixels)) +
           table.terms_total(shared_relu_correction(plan, table.fuse_relu)))
  for cell in plan.cells:
    for e in range(costs.NUM_EDGES):
      for o, op in enumerate(primitives):
        if op != "none":
          cells[cell.group, e, o] += table.lookup(edge_entry(cell, e, op))
    if learn_connection:
      for k, op in enumerate(connections):
        connection[k] += table.total(_preprocess(cell, op))
    else:
      fixed += table.total(_preprocess(cell, None))
  slope = table.fit.slope
  return slope * fixed + table.fit.intercept, slope * cells, slope * connection


@dataclasses.dataclass
class TableSet:
  """Latency tables of one network family at several widths and depths — what rc-darts-tune
  prices with, since it varies C and the number of cells and a table is of one geometry.

  `tables` {(init_channels, layers): LatencyTable}; every table shares `common` (stem, image
  size, classes, pixels, format, threads: COMMON_KEYS)."""

  tables: Dict[Tuple[int, int], LatencyTable]

  COMMON_KEYS = ("stem", "image_size", "num_classes", "pixels", "format", "threads")

  @property
  def common(self) -> Dict[str, object]:
    """The header values every table shares (COMMON_KEYS)."""
    first = next(iter(self.tables.values()))
    return {k: first.header.get(k) for k in self.COMMON_KEYS}

  def get(self, init_channels: int, layers: int) -> Optional[LatencyTable]:
    """The table of C = init_channels, `layers` cells, or None."""
    return self.tables.get((int(init_channels), int(layers)))

  def widths(self, layers: int) -> List[int]:
    """The C of every table of `layers` cells, ascending."""
    return sorted(c for c, n in self.tables if n == layers)

  def missing(self, configurations: Iterable[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """The (C, cells) of `configurations` that have no table, in their order."""
    return [(c, n) for c, n in configurations if (int(c), int(n)) not in self.tables]

  def check_network(self, stem: str, image_size: int, num_classes: int,
                    fmt: Optional[str] = None) -> None:
    """LatencyTableError unless the tables are of `stem` / `image_size` / `num_classes` (and
    `fmt`): the networks they are to price."""
    common = self.common
    want = {"stem": stem, "image_size": image_size, "num_classes": num_classes}
    if fmt is not None:
      want["format"] = fmt
    bad = [f"{k} {common[k]!r} (needs {v!r})" for k, v in want.items() if common[k] != v]
    if bad:
      path = next(iter(self.tables.values())).header.get("path", "")
      raise LatencyTableError(f"latency tables ({path} ...): measured for other networks than "
                              f"these: {'; '.join(bad)}")


def load_tables(spec: str) -> TableSet:
  """The TableSet of `spec`: comma-separated table files and directories (every *.json file of a
  directory, not its sub-directories, is read as a table). LatencyTableError naming the file for
  one that is missing or malformed, for two tables of one (C, cells), for tables that differ in a
  COMMON_KEYS value, and when `spec` names no table at all."""
  paths: List[str] = []
  for part in (p.strip() for p in (spec or "").split(",")):
    if not part:
      continue
    if os.path.isdir(part):
      found = sorted(os.path.join(part, name) for name in os.listdir(part)
                     if name.endswith(".json") and os.path.isfile(os.path.join(part, name)))
      if not found:
        raise LatencyTableError(f"--latency_table={spec}: directory {part} holds no *.json "
                                "table")
      paths.extend(found)
    else:
      paths.append(part)
  if not paths:
    raise LatencyTableError(f"--latency_table={spec!r}: names no table")
  tables: Dict[Tuple[int, int], LatencyTable] = {}
  for path in paths:
    table = load(path)
    key = (int(table.header["init_channels"]), int(table.header["layers"]))
    if key in tables:
      raise LatencyTableError(f"latency tables {tables[key].header['path']} and {path}: both are "
                              f"for C = {key[0]}, {key[1]} cells; give one")
    if tables:
      first = next(iter(tables.values()))
      for k in TableSet.COMMON_KEYS:
        if table.header.get(k) != first.header.get(k):
          raise LatencyTableError(
              f"latency tables {first.header['path']} and {path}: {k} "
              f"{first.header.get(k)!r} vs {table.header.get(k)!r}; the tables of one run must "
              "share stem, image size, classes, pixels, format and threads")
    tables[key] = table
  return TableSet(tables)
