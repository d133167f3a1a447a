"""Genotype: the architecture a search derives, with JSON I/O and DARTS-style strings.

A cell is 8 (op, input) pairs in DARTS order: pairs 2j and 2j+1 feed intermediate node j
(j = 0..3); inputs 0 and 1 are the cell's two inputs and 2.. the earlier nodes (node j is state
j + 2), so node j accepts inputs 0..j+1. A derived cell never uses 'none'. A genotype has one
normal cell per level (DARTS genotypes have one level), one reduce cell, the states each kind of
cell concatenates (a non-empty subset of 2..5), and a connection op (None = DARTS's fixed 1x1
ReLU-conv-BN preprocessing / factorized reduce).

Forms:
  JSON file     what the search writes (`save` / `load`): {"format_version": 1, "search_space":
                {"name": ..., "cell_ops": [...], "connection_ops": [...]}, "normal":
                [[[op, input], ...], ...], "reduce": [[op, input], ...], "normal_concat": [...],
                "reduce_concat": [...], "connection": op or null, "meta": {...}}; written
                atomically, so a reader never sees a partial file
  DARTS string  "Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=[...],
                reduce_concat=[2, 3, 4, 5])", DARTS's repr (concat may be range(2, 6)); parsed
                with `ast` (literals only), never evaluated. The same form holds every genotype
                (`to_string`): several normal levels as a list of cells, `normal=[[...], [...]]`,
                and the connection op as `connection='conv_1x1'`; it is DARTS's own repr exactly
                when the genotype is a DARTS one (one level, DARTS's fixed connection)
  name          a key of REGISTRY, e.g. DARTS_V2

`resolve(spec)` is what every `--genotype` flag accepts: any of the three. Every problem is a
GenotypeError whose one-line message names the bad value and what is allowed.
"""

import ast
import dataclasses
import difflib
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from rc_darts_tf import search_space as search_space_lib
from rc_darts_tf.errors import GenotypeError
from rc_darts_tf.io_utils import atomic_write_text

FORMAT_VERSION = 1
NUM_NODES = search_space_lib.NUM_NODES         # intermediate nodes per cell (re-exported)
PAIRS_PER_CELL = 2 * NUM_NODES                 # 2 incoming edges per node
STATES = tuple(range(search_space_lib.NUM_INPUTS, search_space_lib.NUM_INPUTS + NUM_NODES))  # 2..5
DEFAULT_CONCAT = STATES
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")  # DARTS's namedtuple order
EXTRA_FIELDS = ("connection",)                 # ours, by keyword only (not in DARTS's namedtuple)
JSON_KEYS = ("format_version", "search_space", "normal", "reduce", "normal_concat",
             "reduce_concat", "connection", "meta")
ACCEPTED_FORMS = ("a genotype JSON file (as the search writes), a DARTS-style 'Genotype(normal="
                  "[...], normal_concat=[...], reduce=[...], reduce_concat=[...])' string, or a "
                  "registered name")

# Published genotypes whose ops are all in our op set, verbatim (NASNet and AmoebaNet use ops we
# do not have, e.g. sep_conv_7x7 and conv_7x1_1x7).
#   DARTS_V1, DARTS_V2: DARTS (Liu et al., ICLR 2019), github.com/quark0/darts cnn/genotypes.py
#     (first and second order search; the repository's DARTS = DARTS_V2). DARTS_V1 is the
#     genotype of quark0/darts@8876e79 cnn/genotypes.py; both are as copied verbatim into
#     github.com/chenxin061/pdarts genotypes.py@b1575e1.
#   PDARTS: P-DARTS (Chen et al., ICCV 2019), github.com/chenxin061/pdarts genotypes.py@b1575e1.
REGISTRY: Dict[str, str] = {
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
    "PDARTS": (
        "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0),"
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3',0), "
        "('dil_conv_5x5', 4)], normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), "
        "('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2), ('max_pool_3x3', 0), "
        "('dil_conv_3x3', 1), ('dil_conv_3x3', 1), ('dil_conv_5x5', 3)], "
        "reduce_concat=range(2, 6))"),
}
REGISTRY["DARTS"] = REGISTRY["DARTS_V2"]     # as in DARTS's genotypes.py


def cell_ops(space: str = search_space_lib.DEFAULT.name) -> Tuple[str, ...]:
  """Op names a derived cell of search space `space` may use: its cell ops without 'none' (from
  search_space.py, free of TensorFlow: a genotype is checked before TensorFlow is imported)."""
  return tuple(op for op in search_space_lib.get(space).primitives if op != "none")


def connection_ops(space: str = search_space_lib.DEFAULT.name) -> Tuple[str, ...]:
  """Op names a genotype's connection may use in search space `space`."""
  return search_space_lib.get(space).connection_primitives


def infer_space(normal, reduce, connection) -> str:
  """The first search space (search_space.SPACES order: DARTS's first) holding every op of these
  cells and the connection op: the space of a genotype given without a record (a DARTS-style
  string, a hand-written file). DARTS's when none does (validation then names the unknown op)."""
  used = {pair[0] for cell in list(normal) + [reduce] for pair in cell
          if isinstance(pair, (list, tuple)) and len(pair) == 2}
  for name, space in search_space_lib.SPACES.items():
    if used <= set(space.primitives) and (connection is None or
                                           connection in space.connection_primitives):
      return name
  return search_space_lib.DEFAULT.name


def _short(value, limit=80) -> str:
  """repr(value), cut to `limit` characters (reprs of literals never hold a newline)."""
  text = repr(value)
  return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass
class Genotype:
  """A derived architecture: normal cells (one per level), the reduce cell, concat lists, the
  connection op (None = DARTS's fixed preprocessing) and free-form `meta` (search settings,
  budget, Φ, exact costs, warnings, ...; must be JSON-serialisable to be saved).

  Pairs given as lists and concat lists given as lists or ranges are normalised to tuples, so
  genotypes from JSON, from DARTS strings and from code compare equal. Construction does not
  check anything: call `validate()`.
  """

  normal: List[List[Tuple[str, int]]]
  reduce: List[Tuple[str, int]]
  normal_concat: Tuple[int, ...] = DEFAULT_CONCAT
  reduce_concat: Tuple[int, ...] = DEFAULT_CONCAT
  connection: Optional[str] = None
  meta: Dict[str, Any] = dataclasses.field(default_factory=dict)
  search_space: str = search_space_lib.DEFAULT.name

  def __post_init__(self):
    if isinstance(self.normal, (list, tuple)):
      self.normal = [_as_pairs(cell) for cell in self.normal]
    self.reduce = _as_pairs(self.reduce)
    for name in ("normal_concat", "reduce_concat"):
      value = getattr(self, name)
      if isinstance(value, (list, tuple, range)):
        setattr(self, name, tuple(value))

  @property
  def levels(self) -> int:
    """Number of normal levels (one normal cell each)."""
    return len(self.normal)

  def validate(self, source: str = "genotype") -> "Genotype":
    """Check cells, op names, node inputs, concat lists, the connection op and meta; returns
    self. Raises GenotypeError (one line, prefixed with `source`) naming the first bad value."""
    if not isinstance(self.normal, list) or not self.normal:
      raise GenotypeError(f"{source}: 'normal' must be a list of at least one normal cell (one "
                          f"per level, levels >= 1), got {_short(self.normal)}")
    if self.search_space not in search_space_lib.SPACES:
      raise GenotypeError(f"{source}: unknown search space {_short(self.search_space)}; known: "
                          f"{', '.join(search_space_lib.SPACES)}")
    for level, cell in enumerate(self.normal):
      _check_cell(cell, f"{source}: normal cell (level {level})", self.search_space)
    _check_cell(self.reduce, f"{source}: reduce cell", self.search_space)
    for name in ("normal_concat", "reduce_concat"):
      _check_concat(getattr(self, name), f"{source}: {name}")
    known = connection_ops(self.search_space)
    if self.connection is not None and self.connection not in known:
      raise GenotypeError(f"{source}: unknown connection op {_short(self.connection)}; known: "
                          f"{', '.join(known)} (or null for DARTS's fixed 1x1)")
    if not isinstance(self.meta, dict):
      raise GenotypeError(f"{source}: 'meta' must be a JSON object (dict), got "
                          f"{type(self.meta).__name__}")
    return self

  def to_json_dict(self) -> dict:
    """The JSON form (see the module docstring); `meta` is included as is."""
    return {
        "format_version": FORMAT_VERSION,
        "search_space": search_space_lib.get(self.search_space).record(),
        "normal": [[[op, i] for op, i in cell] for cell in self.normal],
        "reduce": [[op, i] for op, i in self.reduce],
        "normal_concat": list(self.normal_concat),
        "reduce_concat": list(self.reduce_concat),
        "connection": self.connection,
        "meta": self.meta,
    }

  @classmethod
  def from_json_dict(cls, d, source: str = "<dict>") -> "Genotype":
    """Build and validate a genotype from its JSON form. format_version, normal and reduce are
    required; the concat lists default to 2..5, connection to null and meta to {}."""
    if not isinstance(d, dict):
      raise GenotypeError(f"{source}: expected a JSON object with keys {', '.join(JSON_KEYS)}, "
                          f"got {type(d).__name__}")
    unknown = [k for k in d if k not in JSON_KEYS]
    if unknown:
      raise GenotypeError(f"{source}: unknown key(s) {', '.join(map(_short, unknown))}; known: "
                          f"{', '.join(JSON_KEYS)}")
    for key in ("format_version", "normal", "reduce"):
      if key not in d:
        raise GenotypeError(f"{source}: missing key {key!r}")
    version = d["format_version"]
    if not _is_int(version) or version != FORMAT_VERSION:
      raise GenotypeError(f"{source}: format_version {_short(version)} is not supported "
                          f"(this version reads {FORMAT_VERSION})")
    normal = d["normal"]
    if not isinstance(normal, list) or not normal:
      raise GenotypeError(f"{source}: 'normal' must be a non-empty list of cells (one per level), "
                          f"got {_short(normal)}")
    concats = {}
    for key in ("normal_concat", "reduce_concat"):
      value = d.get(key, list(DEFAULT_CONCAT))
      if not isinstance(value, list):
        raise GenotypeError(f"{source}: {key} must be a list of states 2..5, got {_short(value)}")
      concats[key] = value
    connection = d.get("connection")
    if connection is not None and not isinstance(connection, str):
      raise GenotypeError(f"{source}: connection must be an op name or null, got "
                          f"{_short(connection)}")
    meta = d.get("meta", {})
    if meta is None:
      meta = {}
    if not isinstance(meta, dict):
      raise GenotypeError(f"{source}: meta must be a JSON object, got {type(meta).__name__}")
    # The recorded space: its name picks the op names the cells are checked against (a file
    # written before spaces were recorded holds DARTS-space ops); then its op order must be this
    # version's.
    record = d.get("search_space")
    name = record.get("name") if isinstance(record, dict) else None
    genotype = cls(normal=[_pairs(cell, f"{source}: normal cell (level {level})")
                           for level, cell in enumerate(normal)],
                   reduce=_pairs(d["reduce"], f"{source}: reduce cell"),
                   connection=connection, meta=dict(meta), **concats)
    genotype.search_space = (name if name in search_space_lib.SPACES else
                             infer_space(genotype.normal, genotype.reduce, connection))
    genotype.validate(source)
    try:
      search_space_lib.check_record(record, source)
    except search_space_lib.SearchSpaceError as error:
      raise GenotypeError(str(error)) from None
    return genotype

  @property
  def is_darts(self) -> bool:
    """True when DARTS's Genotype can hold this network: one normal level and DARTS's fixed
    connection (no connection op)."""
    return self.levels == 1 and self.connection is None

  def to_string(self) -> str:
    """One line that `resolve` (every --genotype flag) reads back to this genotype (meta aside):
    DARTS's repr when `is_darts`, else the same form with the normal cells of every level
    (`normal=[[...], [...], ...]`) and `connection='op'`."""
    if self.is_darts:
      return self.to_darts_string(0)
    if self.levels == 1:
      normal = [tuple(p) for p in self.normal[0]]
    else:
      normal = [[tuple(p) for p in cell] for cell in self.normal]
    return (f"Genotype(normal={normal!r}, normal_concat={list(self.normal_concat)!r}, "
            f"reduce={[tuple(p) for p in self.reduce]!r}, "
            f"reduce_concat={list(self.reduce_concat)!r}, connection={self.connection!r})")

  def to_darts_string(self, level: int = 0) -> str:
    """DARTS's repr of this genotype with the normal cell of `level` (DARTS has one level; the
    connection op and meta are not part of the DARTS form)."""
    if not _is_int(level) or not 0 <= level < self.levels:
      raise GenotypeError(f"level {_short(level)} is out of range: this genotype has normal "
                          f"levels 0..{self.levels - 1}")
    return (f"Genotype(normal={[tuple(p) for p in self.normal[level]]!r}, "
            f"normal_concat={list(self.normal_concat)!r}, "
            f"reduce={[tuple(p) for p in self.reduce]!r}, "
            f"reduce_concat={list(self.reduce_concat)!r})")

  def __str__(self):
    lines = [f"  normal (level {level}): {_cell_str(cell)} -> concat {list(self.normal_concat)}"
             for level, cell in enumerate(self.normal)]
    lines.append(f"  reduce: {_cell_str(self.reduce)} -> concat {list(self.reduce_concat)}")
    lines.append(f"  connection: {self.connection or 'fixed 1x1 / factorized reduce (DARTS)'}")
    return "\n".join(lines)


def _cell_str(cell) -> str:
  """'node 0 = sep_conv_3x3(0) + sep_conv_3x3(1); node 1 = ...' (inputs are states)."""
  return "; ".join(f"node {k // 2} = " + " + ".join(f"{op}({i})" for op, i in cell[k:k + 2])
                   for k in range(0, len(cell), 2))


def _as_pairs(cell):
  """Lists of 2-element lists/tuples -> lists of tuples; anything else is left for validate()."""
  if not isinstance(cell, (list, tuple)):
    return cell
  return [tuple(p) if isinstance(p, (list, tuple)) and len(p) == 2 else p for p in cell]


def _pairs(cell, where):
  """A parsed cell (list of [op, input]) -> list of (op, input) tuples, or GenotypeError."""
  if not isinstance(cell, (list, tuple)):
    raise GenotypeError(f"{where}: expected a list of {PAIRS_PER_CELL} (op, input) pairs, got "
                        f"{_short(cell)}")
  for k, pair in enumerate(cell):
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
      raise GenotypeError(f"{where}: pair {k} {_short(pair)} is not an (op, input) pair")
  return [tuple(pair) for pair in cell]


def _check_cell(cell, where, space=search_space_lib.DEFAULT.name):
  if not isinstance(cell, (list, tuple)) or len(cell) != PAIRS_PER_CELL:
    count = len(cell) if isinstance(cell, (list, tuple)) else type(cell).__name__
    raise GenotypeError(f"{where}: has {count} (op, input) pairs, expected {PAIRS_PER_CELL} "
                        f"(2 per node, {NUM_NODES} nodes)")
  known = cell_ops(space)
  for k, pair in enumerate(cell):
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
      raise GenotypeError(f"{where}: pair {k} {_short(pair)} is not an (op, input) pair")
    op, i = pair
    node = k // 2
    if not isinstance(op, str) or op not in known:
      hint = " ('none' is never part of a derived cell)" if op == "none" else ""
      raise GenotypeError(f"{where}: unknown op {_short(op)} (pair {k}, node {node}){hint}; "
                          f"known: {', '.join(known)}")
    if not _is_int(i) or not 0 <= i <= node + 1:
      raise GenotypeError(f"{where}: input {_short(i)} of pair {k} is out of range: node {node} "
                          f"accepts inputs 0..{node + 1}")


def _check_concat(concat, where):
  values = list(concat) if isinstance(concat, (list, tuple, range)) else None
  if (not values or any(not _is_int(v) or v not in STATES for v in values)
      or len(set(values)) != len(values)):
    shown = values if values is not None else concat
    raise GenotypeError(f"{where}={_short(shown)} must be a non-empty list of distinct states "
                        f"{STATES[0]}..{STATES[-1]}")


# ---------------------------------------------------------------------------------------------
# DARTS strings


def from_darts_string(text: str, source: str = "<string>") -> Genotype:
  """Parse "Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)" (fields
  by keyword or in DARTS's positional order normal, normal_concat, reduce, reduce_concat; concat
  as a list or range(a, b)). Only literals are read (`ast`); nothing is executed. DARTS's form
  gives one normal level and connection=None; `Genotype.to_string`'s additions are read too:
  `normal` as a list of cells (one per level) and `connection='op'` (or None) by keyword. The
  result is validated."""
  if not isinstance(text, str):
    raise GenotypeError(f"{source}: expected a Genotype(...) string, got {type(text).__name__}")
  try:
    tree = ast.parse(text.strip(), mode="eval")
  except SyntaxError as error:
    at = f" at line {error.lineno} column {error.offset}" if error.lineno else ""
    raise GenotypeError(f"{source}: not a Genotype(...) string ({error.msg}{at})") from None
  except (ValueError, RecursionError, MemoryError) as error:
    raise GenotypeError(f"{source}: not a Genotype(...) string ({type(error).__name__})") from None
  call = tree.body
  if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
          and call.func.id == "Genotype"):
    raise GenotypeError(f"{source}: expected Genotype(normal=[...], normal_concat=[...], "
                        f"reduce=[...], reduce_concat=[...]), got {_short(_unparse(call))}")
  if len(call.args) > len(FIELDS):
    raise GenotypeError(f"{source}: Genotype(...) takes at most {len(FIELDS)} fields "
                        f"({', '.join(FIELDS)}), got {len(call.args)} positional arguments")
  named = list(zip(FIELDS, call.args)) + [(k.arg, k.value) for k in call.keywords]
  values = {}
  for name, node in named:
    if name not in FIELDS + EXTRA_FIELDS:
      shown = "**" + _unparse(node) if name is None else name
      raise GenotypeError(f"{source}: unknown Genotype field {_short(shown)}; fields: "
                          f"{', '.join(FIELDS + EXTRA_FIELDS)}")
    if name in values:
      raise GenotypeError(f"{source}: Genotype field {name!r} is given twice")
    values[name] = _literal(node, source, name)
  for name in ("normal", "reduce"):
    if name not in values:
      raise GenotypeError(f"{source}: missing {name}=[...]")
  concats = {}
  for name in ("normal_concat", "reduce_concat"):
    value = values.get(name, list(DEFAULT_CONCAT))
    if not isinstance(value, (list, tuple)):
      raise GenotypeError(f"{source}: {name}={_short(value)} must be a list of states 2..5 "
                          "(or range(2, 6))")
    concats[name] = value
  connection = values.get("connection")
  if connection is not None and not isinstance(connection, str):
    raise GenotypeError(f"{source}: connection={_short(connection)} must be a connection op "
                        f"name ({', '.join(connection_ops())}) or None")
  normal = values["normal"]
  if _is_cell_list(normal):       # to_string's form of several levels: a list of cells
    normal = [_pairs(cell, f"{source}: normal cell (level {level})")
              for level, cell in enumerate(normal)]
  else:
    normal = [_pairs(normal, f"{source}: normal cell")]
  reduce = _pairs(values["reduce"], f"{source}: reduce cell")
  genotype = Genotype(normal=normal, reduce=reduce, connection=connection,
                      search_space=infer_space(normal, reduce, connection), **concats)
  return genotype.validate(source)


def _is_cell_list(value) -> bool:
  """True for a non-empty list of cells ([[(op, input), ...], ...]), False for one cell (a list
  of (op, input) pairs, whose items start with an op name) and anything else."""
  return (isinstance(value, (list, tuple)) and bool(value) and
          all(isinstance(cell, (list, tuple)) and cell and isinstance(cell[0], (list, tuple))
              for cell in value))


def _unparse(node) -> str:
  try:
    return ast.unparse(node)
  except Exception:  # noqa: BLE001 - only used to show the offending text
    return type(node).__name__


def _literal(node, source, name):
  """The value of one field: a Python literal, or range(a, b[, step]) of small int literals."""
  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
    args = []
    for arg in node.args:
      try:
        args.append(ast.literal_eval(arg))
      except (ValueError, TypeError, SyntaxError, RecursionError):
        args.append(None)
    if (node.keywords or not 1 <= len(args) <= 3 or not all(map(_is_int, args))
        or (len(args) == 3 and args[2] == 0)):
      raise GenotypeError(f"{source}: {name}={_short(_unparse(node))} is not range(a, b) of ints")
    span = range(*args)
    if len(span) > len(STATES):
      raise GenotypeError(f"{source}: {name}={_short(_unparse(node))} must be a non-empty list of "
                          f"distinct states {STATES[0]}..{STATES[-1]}")
    return list(span)
  try:
    return ast.literal_eval(node)
  except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
    raise GenotypeError(f"{source}: {name}= must be a literal list (or range(a, b)), got "
                        f"{_short(_unparse(node))}") from None


# ---------------------------------------------------------------------------------------------
# Files


def _json_default(value):
  """numpy scalars and arrays (anything with .tolist()) become plain numbers and lists."""
  tolist = getattr(value, "tolist", None)
  if callable(tolist):
    return tolist()
  raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _unserialisable(value, where="meta"):
  """Where the first value JSON cannot store sits in `value` ('meta["a"][0]'), or None."""
  if isinstance(value, dict):
    for key, item in value.items():
      if not isinstance(key, (str, int, float, bool)) and key is not None:
        return f"{where} key {_short(key)}"
      found = _unserialisable(item, f"{where}[{key!r}]")
      if found:
        return found
    return None
  if isinstance(value, (list, tuple)):
    for k, item in enumerate(value):
      found = _unserialisable(item, f"{where}[{k}]")
      if found:
        return found
    return None
  if value is None or isinstance(value, (str, int, float, bool)):
    return None
  try:
    json.dumps(value, default=_json_default)
    return None
  except (TypeError, ValueError):
    return f"{where} ({type(value).__name__})"


def one_line_form(genotype: Genotype) -> List[str]:
  """[caption, line]: `genotype` as one line that `resolve` (and so --genotype) reads back to the
  same network (levels and connection op included), after a caption saying what it is. The line
  is DARTS's Genotype(...) repr only when DARTS's Genotype can hold the network (one level, the
  fixed connection)."""
  if genotype.is_darts:
    head = "as one line (DARTS's Genotype; --genotype reads it back):"
  else:
    head = (f"as one line (--genotype reads it back; not DARTS's form, which holds one normal cell "
            f"and the fixed 1x1 connection: this network has {genotype.levels} normal level(s) "
            f"and connection {genotype.connection or 'fixed'}):")
  return ["  " + head, genotype.to_string()]


def save(genotype: Genotype, path: str) -> None:
  """Validate `genotype` and write it to `path` as JSON (indent 2), atomically: a temp file in
  the same directory then os.replace, so a failed save leaves the previous file untouched and no
  temp file behind. numpy values in meta are written as numbers / lists."""
  genotype.validate(f"genotype to save to {path}")
  try:
    text = json.dumps(genotype.to_json_dict(), indent=2, default=_json_default)
  except (TypeError, ValueError, RecursionError) as error:
    where = _unserialisable(genotype.meta) or "meta"
    raise GenotypeError(f"cannot save genotype to {path}: {where} cannot be stored in JSON "
                        f"({error})") from None
  atomic_write_text(path, text + "\n")


def load(path: str) -> Genotype:
  """Read and validate a genotype JSON file; GenotypeError (one line: path + problem)."""
  where = f"genotype file {path}"
  if os.path.isdir(path):
    raise GenotypeError(f"{where} is a directory (pass the genotype .json file inside it)")
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
  except FileNotFoundError:
    raise GenotypeError(f"{where} does not exist") from None
  except OSError as error:
    raise GenotypeError(f"{where} cannot be read ({error.strerror or error})") from None
  except UnicodeDecodeError:
    raise GenotypeError(f"{where} is not valid JSON (not UTF-8 text)") from None
  if not text.strip():
    raise GenotypeError(f"{where} is empty (an interrupted write?)")
  try:
    d = json.loads(text)
  except json.JSONDecodeError as error:
    raise GenotypeError(f"{where} is not valid JSON (truncated or corrupt? {error.msg} at line "
                        f"{error.lineno} column {error.colno})") from None
  except RecursionError:
    raise GenotypeError(f"{where} is not valid JSON (nested too deeply)") from None
  return Genotype.from_json_dict(d, source=where)


def resolve(spec: str) -> Genotype:
  """What every `--genotype` flag accepts: a REGISTRY name (case-sensitive), a DARTS-style
  'Genotype(...)' string, or a path to a genotype JSON file. Anything else is a GenotypeError
  listing the accepted forms and the known names."""
  if not isinstance(spec, str):
    raise GenotypeError(f"genotype {_short(spec)}: expected {ACCEPTED_FORMS}; known names: "
                        f"{', '.join(sorted(REGISTRY))}")
  spec = spec.strip()
  if spec in REGISTRY:
    return from_darts_string(REGISTRY[spec], source=f"genotype {spec}")
  if spec and os.path.exists(spec):
    return load(spec)
  if spec.startswith("Genotype("):
    return from_darts_string(spec, source="genotype string")
  if spec.lower().endswith(".json") or os.sep in spec:
    return load(spec)                 # names a file: says it does not exist
  close = [n for n in REGISTRY if n.lower() == spec.lower()]
  close = close or difflib.get_close_matches(spec, sorted(REGISTRY), n=1)
  hint = f" (did you mean {close[0]}?)" if close else ""
  raise GenotypeError(f"genotype {_short(spec)} is not a file, a Genotype(...) string nor a known "
                      f"name{hint}; expected {ACCEPTED_FORMS}; known names: "
                      f"{', '.join(sorted(REGISTRY))}")


def random_genotype(seed: int, levels: int = 1, connection: Optional[str] = None) -> Genotype:
  """A random genotype of the search space (the baseline of random search): per node two distinct
  inputs and a random non-'none' op per edge, for every normal level and the reduce cell."""
  import numpy as np
  rng = np.random.default_rng(seed)
  names = cell_ops()

  def cell():
    pairs = []
    for j in range(NUM_NODES):
      for i in sorted(rng.choice(j + 2, 2, replace=False).tolist()):
        pairs.append((str(names[rng.integers(len(names))]), int(i)))
    return pairs

  return Genotype(normal=[cell() for _ in range(levels)], reduce=cell(), connection=connection,
                  meta={"random_seed": int(seed)}).validate(f"random genotype (seed {seed})")
