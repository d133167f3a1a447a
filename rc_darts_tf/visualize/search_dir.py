"""A search output directory read (`read_search_dir`: genotype.json, search_history.npz,
projections.json, theta.npz, each checked) and drawn (`plot_search_dir`)."""

import dataclasses
import json
import os
from typing import Dict, List, Optional

import numpy as np

from rc_darts_tf import costs, io_utils, search_space
from rc_darts_tf.errors import RcDartsError
from rc_darts_tf.visualize.style import CONNECTION_PRIMITIVES, save_figure
from rc_darts_tf.visualize.cells import _group_file, write_genotype_pictures
from rc_darts_tf.visualize.curves import phi_figure, theta_figure


@dataclasses.dataclass
class SearchRecord:
  """What plot_search_dir reads from a search output directory."""

  genotype: object                 # genotype.Genotype
  phi: np.ndarray                  # [n, 6]: step, Φ_params, Φ_macs, Eq. 1 params, MACs, τ
  theta_epochs: np.ndarray         # [N]: the N epochs recorded
  theta_softmax: np.ndarray        # [N, G, E, O] (G = levels + 1)
  projections: List[dict]
  bounds: Dict[str, object]        # {resource: Bounds or None}
  connection_probs: Optional[np.ndarray] = None
  space: search_space.SearchSpace = search_space.DEFAULT   # θ_softmax's columns are its ops


def _history(path: str):
  """(phi, theta_epochs, theta_softmax, space) of search_history.npz, or RcDartsError; space is
  the search space its record names (files without one: DARTS's), whose ops θ's columns are."""
  import zipfile
  where = f"search history {path}"
  if not os.path.isfile(path):
    raise RcDartsError(f"{where} does not exist (the search writes it when it ends)")
  try:
    with np.load(path, allow_pickle=False) as z:
      missing = [k for k in ("phi", "theta_epochs", "theta_softmax") if k not in z.files]
      if missing:
        raise RcDartsError(f"{where} lacks {', '.join(missing)} (not written by rc-darts-search?)")
      phi, epochs, probs = z["phi"], z["theta_epochs"], z["theta_softmax"]
      # θ's columns are the recorded space's ops (older files: DARTS's)
      space = search_space.check_record_text(
          str(z["search_space"]) if "search_space" in z.files else None, where)
  except RcDartsError:
    raise
  except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
    raise RcDartsError(f"{where} cannot be read (truncated or corrupt? "
                       f"{type(error).__name__}: {error})") from None
  m = len(costs.RESOURCES)
  # older searches: step and Φ (no Eq. 1 cost, no τ), and params and MACs only (no latency)
  columns = (1 + m, 2 + 2 * m, 3, 6)
  if phi.size == 0:
    phi = np.zeros((0, columns[1]))
  if phi.ndim != 2 or phi.shape[1] not in columns or not np.issubdtype(phi.dtype, np.number):
    raise RcDartsError(f"{where}: 'phi' has shape {phi.shape}, expected [steps, {columns[1]}] "
                       "(step, " + ", ".join(f"Φ_{r}" for r in costs.RESOURCES) + ", "
                       + ", ".join(f"Eq. 1 {r}" for r in costs.RESOURCES) + ", τ)")
  if probs.size == 0:
    probs = np.zeros((0, 1, costs.NUM_EDGES, len(space.primitives)))
    epochs = np.zeros((0,), np.int32)
  if (probs.ndim != 4 or probs.shape[2:] != (costs.NUM_EDGES, len(space.primitives))
      or epochs.shape != probs.shape[:1]):
    raise RcDartsError(f"{where}: 'theta_softmax' has shape {probs.shape} and 'theta_epochs' "
                       f"{epochs.shape}, expected [epochs, groups, {costs.NUM_EDGES}, "
                       f"{len(space.primitives)}] and [epochs]")
  if not (np.all(np.isfinite(phi)) and np.all(np.isfinite(probs))):
    raise RcDartsError(f"{where} holds non-finite values")
  return phi.astype(np.float64), epochs, probs.astype(np.float64), space


def _projections(path: str, fallback):
  if not os.path.exists(path):
    return list(fallback or [])
  try:
    with open(path, encoding="utf-8") as f:
      records = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
    raise RcDartsError(f"projections file {path} cannot be read (truncated or corrupt? "
                       f"{error})") from None
  if not isinstance(records, list) or not all(
      isinstance(r, dict) and isinstance(r.get("step"), (int, float)) for r in records):
    raise RcDartsError(f"projections file {path}: expected a JSON list of projection records "
                       "with a numeric 'step' each")
  return records


def _bounds_from_meta(meta) -> Dict[str, object]:
  from rc_darts_tf.budget import parse_bounds
  from rc_darts_tf.errors import BudgetError
  budget = meta.get("budget") or {}
  bounds = {}
  for resource in costs.RESOURCES:
    text = budget.get(resource) if isinstance(budget, dict) else None
    try:
      bounds[resource] = parse_bounds(str(text), resource) if text else None
    except BudgetError as error:
      raise RcDartsError(f"genotype.json meta.budget: {error}") from None
  return bounds


def read_search_dir(search_dir: str) -> SearchRecord:
  """Read and check genotype.json, search_history.npz, projections.json (optional; else the
  genotype's meta.projections) and theta.npz (optional: the connection's final softmax) of a
  search output directory. Raises RcDartsError (one line) on anything missing or corrupt."""
  from rc_darts_tf import genotype as genotype_lib
  if not os.path.isdir(search_dir):
    raise RcDartsError(f"search directory {search_dir} does not exist or is not a directory")
  genotype_path = os.path.join(search_dir, "genotype.json")
  if not os.path.isfile(genotype_path):
    raise RcDartsError(f"search directory {search_dir} has no genotype.json (not a finished "
                       "rc-darts-search run?)")
  phi, epochs, probs, space = _history(os.path.join(search_dir, "search_history.npz"))
  # checked before genotype.load: that validates op names, which imports TensorFlow (seconds)
  genotype = genotype_lib.load(genotype_path)
  if probs.shape[0] and probs.shape[1] != genotype.levels + 1:
    raise RcDartsError(f"search history in {search_dir} has {probs.shape[1]} θ groups but "
                       f"genotype.json has {genotype.levels} normal level(s) + reduce")
  projections = _projections(os.path.join(search_dir, "projections.json"),
                             genotype.meta.get("projections"))
  bounds = _bounds_from_meta(genotype.meta)
  connection_probs = None
  theta_path = os.path.join(search_dir, "theta.npz")
  if genotype.connection is not None and os.path.isfile(theta_path):
    try:
      with np.load(theta_path, allow_pickle=False) as z:
        conn = np.asarray(z["theta_connection"], np.float64).reshape(-1)
        search_space.check_record_text(
            str(z["search_space"]) if "search_space" in z.files else None, theta_path)
      if conn.shape == (len(CONNECTION_PRIMITIVES),) and np.all(np.isfinite(conn)):
        connection_probs = np.exp(conn - conn.max()) / np.exp(conn - conn.max()).sum()
    except search_space.SearchSpaceError:
      raise                # θ of another op order: refused, not drawn as these ops
    except Exception:  # noqa: BLE001 - the bars are optional; a bad theta.npz only drops them
      connection_probs = None
  return SearchRecord(genotype, phi, epochs, probs, projections, bounds, connection_probs, space)


def write_search_pictures(record: SearchRecord, out_dir: str) -> List[str]:
  """Every picture of a search (cells, connection, Φ, θ-softmax per group) into `out_dir`."""
  genotype = record.genotype
  note = None
  probs = record.connection_probs
  if probs is not None and CONNECTION_PRIMITIVES[int(np.argmax(probs))] != genotype.connection:
    note = (f"(θ's argmax is {CONNECTION_PRIMITIVES[int(np.argmax(probs))]}; "
            f"{genotype.connection} was chosen by the budget repair)")
  paths = write_genotype_pictures(genotype, out_dir, probs, note)
  meta = genotype.meta
  exact = meta.get("exact_cost") if isinstance(meta.get("exact_cost"), dict) else None
  eq1 = meta.get("eq1", {}).get("exact_cost") if isinstance(meta.get("eq1"), dict) else None
  if len(record.phi) or record.projections:
    paths += save_figure(phi_figure(record.phi, record.bounds, record.projections, exact,
                                    eq1 if meta.get("budget_changes") else None),
                         os.path.join(out_dir, "phi"))
  if record.theta_softmax.shape[0]:
    levels = record.theta_softmax.shape[1] - 1
    for g in range(levels + 1):
      kept = genotype.reduce if g == levels else genotype.normal[g]
      title = ("softmax(θ) per edge over the search: "
               + ("reduction cells" if g == levels else "normal cells" if levels == 1 else
                  f"normal cells of level {g} (of {levels})"))
      paths += save_figure(theta_figure(record.theta_epochs, record.theta_softmax[:, g], title,
                                        kept, record.space.primitives),
                           os.path.join(out_dir, f"theta_{_group_file(g, levels)}"))
  return paths


def plot_search_dir(search_dir: str, out_dir: Optional[str] = None) -> List[str]:
  """Read a search output directory (read_search_dir) and write all its pictures, PNG + SVG,
  into `out_dir` (default search_dir/pictures). Everything is checked before anything is
  written; pictures are drawn into a temp folder next to `out_dir` and then moved in with
  os.replace, so a reader never sees a partial file. Returns the written paths."""
  record = read_search_dir(search_dir)
  out_dir = os.path.abspath(out_dir or os.path.join(search_dir, "pictures"))
  return io_utils.write_files_atomically(out_dir, lambda tmp: write_search_pictures(record, tmp))


def plot_genotype(genotype, out_dir: str) -> List[str]:
  """write_genotype_pictures into `out_dir`, each file moved in only once fully written."""
  out_dir = os.path.abspath(out_dir)
  return io_utils.write_files_atomically(out_dir,
                                         lambda tmp: write_genotype_pictures(genotype, tmp))
