"""Measure a latency table (rc_darts_tf/latency.py): every entry as its own small TFLite file,
converted exactly as rc-darts-export converts a network (exporters/tflite.py: static batch 1,
builtin operators, the TFLite export form of the ops; int8 calibrated on generated tensors),
timed on ai-edge-litert's interpreter with `threads` threads: `warmup` untimed invokes, then
the median of `runs` timed ones.

An entry's file holds its part alone: input(s) of the part's shapes -> the part -> output. The
interpreter's fixed cost of an invoke is measured once as the `invoke` entry (a file whose one
operator adds two 1-element tensors) and subtracted from every entry (clipped at 0), so a table's
sum over a network counts it once, not once per part. The rest of what the parts do not see is
the fit's business (latency.fit_overhead on measured whole networks, `measure_networks`).

`measure_table` writes the table after every entry (atomically), so an interrupted run resumes
where it stopped: entries already in the file are kept when its header (geometry, format,
threads, runs, warm-up) is the same, and a different header is refused.
"""

import json
import math
import os
import platform
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from rc_darts_tf import latency as latency_lib
from rc_darts_tf.latency import Entry, LatencyTable, LatencyTableError

INVOKE_KEY = "invoke"
CALIBRATION_SAMPLES = 8


def device_name() -> str:
  """The CPU model (from /proc/cpuinfo on Linux, else platform.processor()) and core count."""
  model = ""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def runtime_name() -> str:
  """'ai-edge-litert <version> interpreter (XNNPACK)'."""
  import ai_edge_litert
  return f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')} interpreter (XNNPACK)"


def build_entry_model(entry: Entry):
  """A Keras model of one entry (the same layers network.build_network uses): inputs of the
  part's shapes at batch 1, its output. The nodes entry takes 8 inputs [S, S, C] (two per node);
  every other entry one. ValueError for an unknown kind."""
  import keras
  from rc_darts_tf import costs, ops, preprocessing
  s, c_in = entry.size, entry.c_in
  if entry.kind == INVOKE_KEY:
    a, b = keras.Input((1, 1, 1)), keras.Input((1, 1, 1))
    return keras.Model([a, b], keras.layers.Add()([a, b]))
  if entry.kind == "relu":
    x = keras.Input((s, s, c_in))
    return keras.Model(x, keras.layers.Lambda(ops.relu)(x))
  if entry.kind == "nodes":
    inputs = [keras.Input((s, s, c_in), name=f"h{k}") for k in range(2 * costs.NUM_NODES)]
    nodes = [inputs[2 * j] + inputs[2 * j + 1] for j in range(costs.NUM_NODES)]
    return keras.Model(inputs, keras.layers.Concatenate(axis=-1)(nodes))
  if entry.kind == "stem":
    x = inputs = keras.Input((s, s, 3), name="pixels" if entry.extra else "images")
    if entry.extra:
      prep = preprocessing.Preprocessing(s, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
      x = preprocessing.normalisation_layer(prep)(x)
    for conv in costs.stem_convs(entry.op, c_in):
      if conv.relu:
        x = keras.layers.ReLU()(x)
      x = keras.layers.Conv2D(conv.c_out, 3, conv.stride, padding="same", use_bias=False)(x)
      x = ops.batch_norm(True)(x)
    return keras.Model(inputs, x)
  inputs = keras.Input((s, s, c_in))
  if entry.kind == "cell":
    layer = ops.build_op(entry.op, c_in, entry.c_out, entry.stride, True)
  elif entry.kind == "connection":
    layer = ops.build_op(entry.op, c_in, entry.c_out, entry.stride, True, connection=True)
  elif entry.kind == "preprocess":
    layer = (ops.FactorizedReduce(entry.c_out, True) if entry.op == "factorized_reduce" else
             ops.ReLUConvBN(entry.c_out, 1, 1, True))
  elif entry.kind == "classifier":
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(entry.c_out)(x))
  else:
    raise ValueError(f"unknown entry kind {entry.kind!r}")
  return keras.Model(inputs, layer(inputs, training=False))


def invoke_entry() -> Entry:
  """The interpreter's fixed cost of one invoke (see the module doc)."""
  return Entry(INVOKE_KEY, INVOKE_KEY, "", 1, 1, 1)


def _representative(model, seed: int) -> List[np.ndarray]:
  """Calibration tensors for the int8 conversion, one array [N, ...] per input: pixels in
  [0, 255] for a pixel input, else standard normal."""
  rng = np.random.default_rng(seed)
  arrays = []
  for inp in model.inputs:
    shape = (CALIBRATION_SAMPLES,) + tuple(int(d) for d in inp.shape[1:])
    if inp.name.startswith("pixels"):
      arrays.append(rng.uniform(0, 255, shape).astype(np.float32))
    else:
      arrays.append(rng.standard_normal(shape).astype(np.float32))
  return arrays


def convert_model(model, fmt: str, seed: int = 0, pixel_input: bool = False) -> bytes:
  """The model's TFLite file in `fmt` (latency.FORMATS) as rc-darts-export converts it."""
  from exporters import tflite
  representative = None
  if fmt == "tflite_int8":
    arrays = _representative(model, seed)
    representative = arrays[0] if len(arrays) == 1 else arrays
  return tflite.convert(model, fmt, representative, pixel_input=pixel_input)


class _Timed:
  """One file on an interpreter with `threads` threads, every input zeros, warmed up."""

  def __init__(self, data: bytes, threads: int, warmup: int):
    from exporters.measure.runtime import _interpreter
    self.interpreter = _interpreter(data, threads)
    for detail in self.interpreter.get_input_details():
      self.interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    for _ in range(warmup):
      self.interpreter.invoke()

  def block(self, runs: int) -> float:
    """Median ms of `runs` timed invokes."""
    from exporters.measure.latency import time_calls
    return time_calls(self.interpreter.invoke, runs, 0, None, "").median_ms


def time_files(files: Dict[str, bytes], threads: int, runs: int, warmup: int, rounds: int = 5,
               min_ms: float = 0.0) -> Dict[str, float]:
  """Latency (ms) of each TFLite file: `warmup` untimed invokes, then `rounds` rounds that time a
  block of `runs` invokes of every file in turn (more runs when a block would last under
  min_ms / rounds), and per file the smallest block median. On a shared machine a busy spell
  slows everything timed during it, for up to seconds (seen here: one file's medians 0.85-1.23
  ms in six successive timings); rounds spread each file's blocks over the whole measurement and
  the quietest block is what the file needs when the machine is its own."""
  timed = {key: _Timed(data, threads, warmup) for key, data in files.items()}
  counts = {}
  for key, t in timed.items():
    counts[key] = runs
    if min_ms > 0:
      estimate = t.block(3)
      counts[key] = max(runs, int(math.ceil(min_ms / rounds / max(estimate, 1e-3))))
  best = {key: math.inf for key in files}
  for _ in range(rounds):
    for key, t in timed.items():
      best[key] = min(best[key], t.block(counts[key]))
  return best


def time_file(data: bytes, threads: int, runs: int, warmup: int, min_ms: float = 0.0,
              rounds: int = 5) -> float:
  """`time_files` of one file."""
  return time_files({"file": data}, threads, runs, warmup, rounds, min_ms)["file"]


def entry_file(entry: Entry, fmt: str, seed: int = 0) -> bytes:
  """The entry's own TFLite file in `fmt`."""
  import keras
  keras.utils.set_random_seed(seed)
  model = build_entry_model(entry)
  return convert_model(model, fmt, seed, pixel_input=entry.kind == "stem" and bool(entry.extra))


def measure_entries(entries: Sequence[Entry], fmt: str, threads: int = 1, runs: int = 100,
                    warmup: int = 10, rounds: int = 5, seed: int = 0) -> Dict[str, float]:
  """{key: ms} of the entries' own files, timed together (time_files), before the invoke cost
  is subtracted."""
  files = {entry.key: entry_file(entry, fmt, seed) for entry in entries}
  return time_files(files, threads, runs, warmup, rounds)


def table_header(plan, fmt: str, threads: int, runs: int, warmup: int, rounds: int = 5,
                 pixels: bool = True, space: str = "darts") -> Dict[str, object]:
  """The header of a table measured here for `plan`'s geometry."""
  return {"stem": plan.stem, "init_channels": plan.init_channels, "layers": plan.layers,
          "image_size": plan.image_size, "num_classes": plan.num_classes, "pixels": pixels,
          "search_space": space, "format": fmt, "threads": threads, "runs": runs,
          "warmup": warmup, "rounds": rounds, "device": device_name(),
          "runtime": runtime_name(), "batch": 1}


SAME_HEADER = latency_lib.GEOMETRY_KEYS + latency_lib.MEASUREMENT_KEYS + ("rounds",)


def open_table(path: str, header: Dict[str, object]) -> LatencyTable:
  """The table to continue at `path`: the file's (header the same: geometry, format, threads,
  runs, warm-up, rounds) or a new empty one. LatencyTableError naming the first difference."""
  if not os.path.exists(path):
    return LatencyTable(dict(header), {})
  table = latency_lib.load(path)
  for key in SAME_HEADER:
    if table.header.get(key) != header.get(key):
      raise LatencyTableError(
          f"{path} holds a table with {key} {table.header.get(key)!r}, this run has "
          f"{header.get(key)!r}: choose another --output (nothing was overwritten)")
  return table


def measure_table(entries: Sequence[Entry], header: Dict[str, object], path: str,
                  measure: Optional[Callable[[Sequence[Entry]], Dict[str, float]]] = None,
                  log: Callable[[str], None] = lambda s: None,
                  clock: Callable[[], float] = time.monotonic, chunk: int = 16) -> LatencyTable:
  """Measure every entry not yet in the table at `path` (open_table), `chunk` entries at a time
  (converted, then timed together: measure_entries), writing the file after each chunk; the
  invoke cost first (raw, header 'invoke'), then each entry minus it, at >= 0.
  `measure(entries) -> {key: ms}` defaults to measure_entries with the header's format, threads,
  runs, warm-up and rounds (tests pass a fake). Progress to `log`: one line per chunk with the
  count, the time so far and the time left at this rate."""
  if measure is None:
    def measure(part):
      return measure_entries(part, header["format"], int(header["threads"]),
                             int(header["runs"]), int(header["warmup"]),
                             int(header.get("rounds", 5)))
  table = open_table(path, header)
  todo = [e for e in entries if e.key not in table.entries]
  done = len(entries) - len(todo)
  if done:
    log(f"{path}: {done} of {len(entries)} entries already measured" +
        (f"; measuring the other {len(todo)}" if todo else ""))
  started = clock()
  if INVOKE_KEY not in table.header:
    table.header[INVOKE_KEY] = float(measure([invoke_entry()])[INVOKE_KEY])
    latency_lib.save(table, path)
  invoke = float(table.header[INVOKE_KEY])
  for first in range(0, len(todo), chunk):
    part = todo[first:first + chunk]
    times = measure(part)
    for entry in part:
      table.entries[entry.key] = max(float(times[entry.key]) - invoke, 0.0)
    latency_lib.save(table, path)
    n = first + len(part)
    elapsed = clock() - started
    log(f"[{done + n}/{len(entries)}] measured up to {part[-1].key} ({elapsed:.0f} s, "
        f"~{elapsed / n * (len(todo) - n):.0f} s left)")
  return table


def file_name(key: str) -> str:
  """The file name of an entry's TFLite file in a --write_models directory."""
  return key.replace("/", "__") + ".tflite"


def write_models(directory: str, entries: Sequence[Entry], header: Dict[str, object],
                 genotypes: Sequence, plan_of: Callable, log: Callable[[str], None] = print):
  """Write every entry's TFLite file (and the invoke file, and the whole networks of `genotypes`
  for the fit) into `directory` with manifest.json, for timing on another device
  (scripts/time_tflite_models.py). Returns the manifest."""
  from rc_darts_tf import io_utils
  os.makedirs(directory, exist_ok=True)
  fmt = str(header["format"])
  files, fit = {}, {}
  for n, entry in enumerate([invoke_entry()] + list(entries), 1):
    name = file_name(entry.key)
    io_utils.atomic_write_bytes(os.path.join(directory, name), entry_file(entry, fmt))
    files[entry.key] = name
    if n % 16 == 0:
      log(f"[{n}/{len(entries) + 1}] files written")
  for k, genotype in enumerate(genotypes):
    name = f"fit_network_{k}.tflite"
    io_utils.atomic_write_bytes(os.path.join(directory, name),
                                network_file(genotype, plan_of(genotype), fmt))
    fit[name] = {key: value for key, value in genotype.to_json_dict().items() if key != "meta"}
    log(f"fit network {k + 1}/{len(genotypes)} written")
  keep = latency_lib.GEOMETRY_KEYS + ("format", "search_space", "batch")
  manifest = {"format_version": latency_lib.FORMAT_VERSION,
              "header": {k: header[k] for k in keep if k in header},
              "files": {**files, **{name: name for name in fit}}, "fit_networks": fit}
  io_utils.atomic_write_text(os.path.join(directory, "manifest.json"),
                             json.dumps(manifest, indent=1) + "\n")
  return manifest


def import_measured(measured: Dict[str, object], plan_of: Callable) -> LatencyTable:
  """The table of scripts/time_tflite_models.py's output: entries minus the invoke cost (>= 0),
  the header of the manifest with the device's words, and the fit over its whole networks.
  LatencyTableError naming what is missing."""
  from rc_darts_tf import genotype as genotype_lib
  try:
    manifest, times = measured["manifest"], measured["measured_ms"]
    files, header = manifest["files"], dict(manifest["header"])
  except (KeyError, TypeError) as error:
    raise LatencyTableError(f"not an output of scripts/time_tflite_models.py (no {error})") from None
  missing = sorted(name for name in files.values() if name not in times)
  if missing:
    raise LatencyTableError(f"no time for {len(missing)} file(s) of the manifest, e.g. "
                            f"{missing[0]}")
  invoke = float(times[files[INVOKE_KEY]])
  header.update(device=measured.get("device", ""), runtime=measured.get("runtime", ""),
                threads=measured.get("threads"), runs=measured.get("runs"),
                warmup=measured.get("warmup"), rounds=measured.get("rounds"), invoke=invoke)
  entries = {key: max(float(times[name]) - invoke, 0.0) for key, name in files.items()
             if key != INVOKE_KEY and key not in manifest.get("fit_networks", {})}
  table = LatencyTable(header, entries)
  genotypes = [genotype_lib.Genotype.from_json_dict(g, name)
               for name, g in manifest.get("fit_networks", {}).items()]
  if genotypes:
    names = list(manifest["fit_networks"])
    table.fit = fit_networks(table, genotypes, plan_of,
                             lambda gs: [float(times[name]) for name in names])
  return table


def network_file(genotype, plan, fmt: str, seed: int = 0, pixels: bool = True) -> bytes:
  """The derived network's TFLite file (network.build_network at `plan`'s geometry, random
  weights of `seed`; a pixel model as rc-darts-export writes it when `pixels`)."""
  import keras
  from exporters import tflite
  from rc_darts_tf import network, preprocessing
  keras.utils.set_random_seed(seed)
  model = network.build_network(genotype, plan.init_channels, plan.layers, plan.stem,
                                plan.image_size, plan.num_classes)
  if pixels:
    prep = preprocessing.Preprocessing(plan.image_size, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
    model = preprocessing.pixel_model(model, prep)
  calibration = _representative(model, seed)[0]
  return tflite.convert(model, fmt, calibration if fmt == "tflite_int8" else None,
                        pixel_input=pixels)


def fit_networks(table: LatencyTable, genotypes: Sequence, plan_of: Callable,
                 measure: Callable[[Sequence], Sequence[float]]) -> latency_lib.Fit:
  """Fit slope and intercept (latency.fit_overhead) of the table's sums to measured whole
  networks. plan_of(genotype) -> its NetworkPlan; measure(genotypes) -> their ms."""
  sums = [table.network_sum(plan_of(g), g.normal, g.reduce, g.connection) for g in genotypes]
  return latency_lib.fit_overhead(sums, [float(v) for v in measure(genotypes)])
