"""Genotype: the architecture a search derives, with JSON I/O and DARTS-style strings.

A cell is 8 (op, input) pairs in DARTS order: pairs 2j and 2j+1 feed intermediate node j
(j = 0..3); input 0 and 1 are the cell's inputs, 2.. the earlier nodes, so node j accepts inputs
0..j+1. A genotype has one normal cell per level (DARTS genotypes have one), one reduce cell and a
connection op (None = DARTS's fixed 1x1 preprocessing / factorized reduce).

`resolve(spec)` is what every `--genotype` flag accepts: a JSON file written by the search, a
DARTS-style string "Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)",
or a name from REGISTRY. Every problem is a GenotypeError with one line naming the bad value.
"""

import ast
import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from rc_darts_tf.errors import GenotypeError
from rc_darts_tf.io_utils import atomic_write_text

FORMAT_VERSION = 1
NUM_NODES = 4
DEFAULT_CONCAT = (2, 3, 4, 5)

# DARTS (Liu et al., 2019), cnn/genotypes.py of github.com/quark0/darts, as published.
REGISTRY = {
    "DARTS_V1": (
        "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), "
        "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
        "('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
        "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], "
        "reduce_concat=[2, 3, 4, 5])"),
    "DARTS_V2": (
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
        "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
        "reduce_concat=[2, 3, 4, 5])"),
}
REGISTRY["DARTS"] = REGISTRY["DARTS_V2"]


def _cell_ops():
  from rc_darts_tf import ops
  return tuple(op for op in ops.PRIMITIVES if op != "none")


def _connection_ops():
  from rc_darts_tf import ops
  return ops.CONNECTION_PRIMITIVES


@dataclasses.dataclass
class Genotype:
  normal: List[List[Tuple[str, int]]]
  reduce: List[Tuple[str, int]]
  normal_concat: Tuple[int, ...] = DEFAULT_CONCAT
  reduce_concat: Tuple[int, ...] = DEFAULT_CONCAT
  connection: Optional[str] = None
  meta: Dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def levels(self) -> int:
    return len(self.normal)

  def validate(self, source: str = "genotype") -> "Genotype":
    if not isinstance(self.normal, list) or not self.normal:
      raise GenotypeError(f"{source}: 'normal' must hold at least one cell (one per level)")
    for level, cell in enumerate(self.normal):
      _check_cell(cell, f"{source}: normal cell (level {level})")
    _check_cell(self.reduce, f"{source}: reduce cell")
    for name, concat in (("normal_concat", self.normal_concat),
                         ("reduce_concat", self.reduce_concat)):
      values = list(concat)
      if not values or any(not isinstance(v, int) or isinstance(v, bool) or not 2 <= v <= 5
                           for v in values):
        raise GenotypeError(f"{source}: {name}={values} must be a non-empty list of nodes 2..5")
    if self.connection is not None and self.connection not in _connection_ops():
      raise GenotypeError(f"{source}: unknown connection op {self.connection!r}; known: "
                          f"{', '.join(_connection_ops())} (or null for DARTS's fixed 1x1)")
    return self

  def to_json_dict(self) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "normal": [[[op, i] for op, i in cell] for cell in self.normal],
        "reduce": [[op, i] for op, i in self.reduce],
        "normal_concat": list(self.normal_concat),
        "reduce_concat": list(self.reduce_concat),
        "connection": self.connection,
        "meta": self.meta,
    }

  @classmethod
  def from_json_dict(cls, d, source="<dict>") -> "Genotype":
    if not isinstance(d, dict):
      raise GenotypeError(f"{source}: expected a JSON object, got {type(d).__name__}")
    version = d.get("format_version")
    if version != FORMAT_VERSION:
      raise GenotypeError(f"{source}: format_version {version!r} is not supported (expected "
                          f"{FORMAT_VERSION})")
    for key in ("normal", "reduce"):
      if key not in d:
        raise GenotypeError(f"{source}: missing key {key!r}")
    normal = d["normal"]
    if not isinstance(normal, list) or not normal:
      raise GenotypeError(f"{source}: 'normal' must be a non-empty list of cells")
    try:
      genotype = cls(normal=[_pairs(cell, f"{source}: normal cell {k}")
                             for k, cell in enumerate(normal)],
                     reduce=_pairs(d["reduce"], f"{source}: reduce cell"),
                     normal_concat=tuple(d.get("normal_concat", DEFAULT_CONCAT)),
                     reduce_concat=tuple(d.get("reduce_concat", DEFAULT_CONCAT)),
                     connection=d.get("connection"), meta=dict(d.get("meta") or {}))
    except TypeError as error:
      raise GenotypeError(f"{source}: malformed genotype ({error})") from None
    return genotype.validate(source)

  def to_darts_string(self, level: int = 0) -> str:
    return (f"Genotype(normal={list(map(tuple, self.normal[level]))!r}, "
            f"normal_concat={list(self.normal_concat)!r}, reduce={list(map(tuple, self.reduce))!r}, "
            f"reduce_concat={list(self.reduce_concat)!r})")

  def __str__(self):
    lines = []
    for level, cell in enumerate(self.normal):
      lines.append(f"  normal (level {level}): " + _cell_str(cell))
    lines.append("  reduce: " + _cell_str(self.reduce))
    lines.append(f"  connection: {self.connection or 'fixed 1x1 (DARTS)'}")
    return "\n".join(lines)


def _cell_str(cell):
  return "; ".join(f"node{k // 2 + 2} <- " + ", ".join(f"{op}({i})" for op, i in cell[k:k + 2])
                   for k in range(0, len(cell), 2))


def _pairs(cell, where):
  if not isinstance(cell, (list, tuple)):
    raise GenotypeError(f"{where}: expected a list of (op, input) pairs, got {cell!r}")
  pairs = []
  for pair in cell:
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
      raise GenotypeError(f"{where}: {pair!r} is not an (op, input) pair")
    pairs.append((pair[0], pair[1]))
  return pairs


def _check_cell(cell, where):
  if not isinstance(cell, (list, tuple)) or len(cell) != 2 * NUM_NODES:
    count = len(cell) if isinstance(cell, (list, tuple)) else type(cell).__name__
    raise GenotypeError(f"{where}: has {count} (op, input) pairs, expected {2 * NUM_NODES} "
                        f"(2 per node, {NUM_NODES} nodes)")
  known = _cell_ops()
  for k, pair in enumerate(cell):
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
      raise GenotypeError(f"{where}: pair {k} {pair!r} is not an (op, input) pair")
    op, i = pair
    node = k // 2
    if op not in known:
      raise GenotypeError(f"{where}: unknown op {op!r} (pair {k}); known: {', '.join(known)}")
    if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i <= node + 1:
      raise GenotypeError(f"{where}: input {i!r} of pair {k} is out of range: node {node} "
                          f"accepts inputs 0..{node + 1}")


def from_darts_string(text: str, source="<string>") -> Genotype:
  """Parse "Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)" with
  `ast` (literals and range(a, b) only; nothing is executed)."""
  try:
    tree = ast.parse(text.strip(), mode="eval")
  except SyntaxError as error:
    raise GenotypeError(f"{source}: not a Genotype(...) string ({error.msg})") from None
  call = tree.body
  if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
          and call.func.id == "Genotype"):
    raise GenotypeError(f"{source}: expected Genotype(normal=[...], normal_concat=..., "
                        "reduce=[...], reduce_concat=...)")
  fields = ("normal", "normal_concat", "reduce", "reduce_concat")
  values = {}
  for name, node in list(zip(fields, call.args)) + [(k.arg, k.value) for k in call.keywords]:
    if name not in fields:
      raise GenotypeError(f"{source}: unknown Genotype field {name!r}; fields: {', '.join(fields)}")
    values[name] = _literal(node, source, name)
  for name in ("normal", "reduce"):
    if name not in values:
      raise GenotypeError(f"{source}: missing {name}=[...]")
  genotype = Genotype(normal=[_pairs(values["normal"], f"{source}: normal cell")],
                      reduce=_pairs(values["reduce"], f"{source}: reduce cell"),
                      normal_concat=tuple(values.get("normal_concat", DEFAULT_CONCAT)),
                      reduce_concat=tuple(values.get("reduce_concat", DEFAULT_CONCAT)))
  return genotype.validate(source)


def _literal(node, source, name):
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
      and not node.keywords):
    try:
      args = [ast.literal_eval(a) for a in node.args]
      return list(range(*args))
    except (ValueError, TypeError):
      pass
  try:
    return ast.literal_eval(node)
  except (ValueError, TypeError, SyntaxError):
    raise GenotypeError(f"{source}: {name}= must be a literal list (or range(a, b)), got "
                        f"{ast.unparse(node)[:80]!r}") from None


def save(genotype: Genotype, path: str) -> None:
  """Write the genotype as JSON, atomically (a failed save leaves the old file untouched)."""
  text = json.dumps(genotype.to_json_dict(), indent=2)
  atomic_write_text(path, text + "\n")


def load(path: str) -> Genotype:
  if not os.path.exists(path):
    raise GenotypeError(f"genotype file {path} does not exist")
  try:
    with open(path) as f:
      text = f.read()
  except OSError as error:
    raise GenotypeError(f"genotype file {path} cannot be read ({error.strerror})") from None
  try:
    d = json.loads(text)
  except json.JSONDecodeError as error:
    raise GenotypeError(f"genotype file {path} is not valid JSON (truncated or corrupt? "
                        f"{error.msg} at line {error.lineno} column {error.colno})") from None
  return Genotype.from_json_dict(d, source=f"genotype file {path}")


def resolve(spec: str) -> Genotype:
  """A JSON file, a DARTS-style 'Genotype(...)' string, or a REGISTRY name."""
  spec = (spec or "").strip()
  if spec in REGISTRY:
    return from_darts_string(REGISTRY[spec], source=f"genotype {spec}")
  if spec.startswith("Genotype("):
    return from_darts_string(spec, source="genotype string")
  if os.path.exists(spec) or spec.endswith(".json"):
    return load(spec)
  raise GenotypeError(f"genotype {spec!r} is neither a file, a Genotype(...) string nor a known "
                      f"name; known names: {', '.join(sorted(REGISTRY))}")
