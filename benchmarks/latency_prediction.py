"""How well a latency table predicts whole networks: predicted vs measured batch-1 latency of
TFLite files (ai-edge-litert, XNNPACK) for many genotypes, per geometry and format. One JSON line.

  python benchmarks/latency_prediction.py            # both geometries, fp32 and int8 (~1 h)
  python benchmarks/latency_prediction.py --geometries=32:16:8 --formats=tflite_fp32 --networks=8

Per geometry (S:C:cells, CIFAR stem, 10 classes, pixel input as rc-darts-export writes files) and
format: the table of every entry of the DARTS space (rc-darts-latency's measurement, cached in
--cache_dir), the overhead fit (slope, intercept) on --fit_networks random genotypes of their own
seeds, then the evaluated networks — --networks random genotypes (1 and 3 normal-cell levels,
each connection op or DARTS's fixed preprocessing), DARTS_V1, DARTS_V2, PDARTS and the genotypes
given by --genotypes — each built with random weights, converted as rc-darts-export converts,
timed together in --rounds rounds (time_files: the smallest block median over >= --min_ms of invokes) and predicted with the fitted table. Reports the mean
and worst absolute percentage error and Spearman's rank correlation (scipy.stats.spearmanr).
Run it on an otherwise idle machine: anything else running moves the measured side.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def evaluated_genotypes(count: int, seed: int, extra):
  """(name, genotype) of the evaluated networks: random ones, the published ones, `extra`."""
  from rc_darts_tf import genotype as genotype_lib, search_space
  connections = (None,) + search_space.DARTS.connection_primitives
  nets = []
  for k in range(count):
    levels = 1 if k % 2 == 0 else 3
    connection = connections[k % len(connections)]
    nets.append((f"random_{seed + k}_L{levels}_{connection}",
                 genotype_lib.random_genotype(seed + k, levels, connection)))
  for name in ("DARTS_V1", "DARTS_V2", "PDARTS"):
    nets.append((name, genotype_lib.resolve(name)))
  for spec in extra:
    # a file is named by its folder and stem (runs/x/search_s1/genotype.json ->
    # search_s1_genotype): derived genotypes are all called genotype.json, and the name keys
    # the cached .tflite files
    if os.path.isfile(spec):
      folder = os.path.basename(os.path.dirname(os.path.abspath(spec)))
      name = f"{folder}_{os.path.splitext(os.path.basename(spec))[0]}"
    else:
      name = spec
    nets.append((name, genotype_lib.resolve(spec)))
  names = [name for name, _ in nets]
  repeated = sorted({n for n in names if names.count(n) > 1})
  if repeated:
    raise ValueError(f"--genotypes: two evaluated networks would share the name {repeated[0]!r}")
  return nets


def _errors(predicted, measured):
  """{"mape_percent", "max_ape_percent", "spearman"} of predicted vs measured ms."""
  import numpy as np
  from scipy import stats
  ape = np.abs(predicted - measured) / measured * 100
  return {"mape_percent": round(float(ape.mean()), 2),
          "max_ape_percent": round(float(ape.max()), 2),
          "spearman": round(float(stats.spearmanr(predicted, measured).statistic), 4)}


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--geometries", default="32:16:8,32:36:20",
                 help="S:C:cells, comma-separated")
  p.add_argument("--formats", default="tflite_fp32,tflite_int8")
  p.add_argument("--networks", type=int, default=32, help="random evaluated genotypes")
  p.add_argument("--fit_networks", type=int, default=8, help="random genotypes for the fit")
  p.add_argument("--genotypes", default="", help="more evaluated genotypes (files, names)")
  p.add_argument("--threads", type=int, default=1)
  p.add_argument("--min_ms", type=float, default=1000.0,
                 help="time each whole network for at least this long (over all rounds)")
  p.add_argument("--rounds", type=int, default=15,
                 help="timing rounds over all files (the quietest block counts; 5 rounds let "
                      "busy spells of this shared machine through: C = 16 fp32 once 12 %% mean "
                      "error, 3-4 %% with 15)")
  p.add_argument("--cache_dir", default="runs/latency_tables",
                 help="tables, and every converted file under files/ (reused by a later run)")
  p.add_argument("--phase", default="all", choices=["all", "convert"],
                 help="convert: only write the files (converting needs no quiet machine); all: "
                      "convert what is missing, then time (on an idle machine)")
  p.add_argument("--seed", type=int, default=1000)
  args = p.parse_args()

  import numpy as np
  from absl import logging
  from scipy import stats
  logging.set_verbosity(logging.ERROR)
  from exporters import latency_table
  from rc_darts_tf import costs, latency, network, search_space

  extra = [s for s in args.genotypes.split(",") if s]
  try:
    evaluated = evaluated_genotypes(args.networks, args.seed, extra)
  except ValueError as e:
    print(f"{p.prog}: error: {e}", file=sys.stderr)
    sys.exit(2)
  fitting = evaluated_genotypes(args.fit_networks, args.seed + 10_000, [])[:args.fit_networks]
  results, started = [], time.perf_counter()
  os.makedirs(args.cache_dir, exist_ok=True)
  for geometry in args.geometries.split(","):
    size, channels, layers = (int(v) for v in geometry.split(":"))
    plan1 = costs.network_plan(channels, layers, 1, "cifar", size, 10)
    for fmt in args.formats.split(","):
      tag = f"s{size}_c{channels}_l{layers}_{fmt}"
      files_dir = os.path.join(args.cache_dir, "files", tag)
      os.makedirs(files_dir, exist_ok=True)

      def cached(name, make):
        """The file `name` of files_dir, converted by make() the first time."""
        file_path = os.path.join(files_dir, name)
        if not os.path.exists(file_path):
          from rc_darts_tf import io_utils
          io_utils.atomic_write_bytes(file_path, make())
        with open(file_path, "rb") as f:
          return f.read()

      def plan_of(genotype):
        return network.plan_for(genotype, channels, layers, "cifar", size, 10)

      # every file converted first (cached), then timed together in rounds (time_files)
      t0 = time.perf_counter()
      entries = latency.space_entries(plan1, search_space.DARTS, True)
      entry_files = {e.key: cached(latency_table.file_name(e.key),
                                   lambda e=e: latency_table.entry_file(e, fmt))
                     for e in entries + [latency_table.invoke_entry()]}
      nets = [(f"fit_{name}", g) for name, g in fitting] + evaluated
      files = {name: cached(f"{name}.tflite",
                            lambda g=g: latency_table.network_file(g, plan_of(g), fmt))
               for name, g in nets}
      convert_s = time.perf_counter() - t0
      print(f"{tag}: {len(entry_files)} entry files and {len(files)} networks converted "
            f"({convert_s:.0f} s)", file=sys.stderr, flush=True)
      if args.phase == "convert":
        continue
      t0 = time.perf_counter()
      header = latency_table.table_header(plan1, fmt, args.threads, 100, 10, args.rounds)
      path = os.path.join(args.cache_dir, f"{tag}.json")
      if os.path.exists(path):
        os.remove(path)      # a fresh table of this run's timings
      table = latency_table.measure_table(
          entries, header, path, chunk=len(entries),
          measure=lambda part: latency_table.time_files({e.key: entry_files[e.key] for e in part},
                                                        args.threads, 100, 10, args.rounds))
      table_s = time.perf_counter() - t0
      t0 = time.perf_counter()
      timed = latency_table.time_files(files, args.threads, 20, 5, args.rounds, args.min_ms)
      time_s = time.perf_counter() - t0
      table.fit = latency_table.fit_networks(
          table, [g for _, g in fitting], plan_of,
          lambda gs: [timed[f"fit_{name}"] for name, _ in fitting])
      latency.save(table, path)
      predicted, measured, names = [], [], []
      for name, genotype in evaluated:
        predicted.append(table.predict(plan_of(genotype), genotype.normal, genotype.reduce,
                                       genotype.connection))
        measured.append(timed[name])
        names.append(name)
        print(f"{geometry} {fmt} {name}: predicted {predicted[-1]:.3f} ms, measured "
              f"{measured[-1]:.3f} ms", file=sys.stderr, flush=True)
      # the same networks without the fit, and with Φ's linear sum (no sharing inside cells)
      raw = [table.network_sum(plan_of(g), g.normal, g.reduce, g.connection)
             for _, g in evaluated]
      linear = [table.fit.apply(table.linear_sum(plan_of(g), g.normal, g.reduce, g.connection))
                for _, g in evaluated]
      pred, meas = np.array(predicted), np.array(measured)
      ape = np.abs(pred - meas) / meas * 100
      worst = int(ape.argmax())
      results.append({
          "geometry": {"image_size": size, "init_channels": channels, "layers": layers},
          "format": fmt, "networks": len(evaluated), "entries": len(table.entries),
          "table_time_s": round(table_s, 1), "fit": {"slope": round(table.fit.slope, 4),
                                                "intercept_ms": round(table.fit.intercept, 4),
                                                "networks": table.fit.networks},
          "convert_s": round(convert_s, 1), "time_s": round(time_s, 1),
          "fit_mape_percent": round(table.fit.mape, 2),
          "mape_percent": round(float(ape.mean()), 2),
          "max_ape_percent": round(float(ape.max()), 2), "worst": names[worst],
          "spearman": round(float(stats.spearmanr(pred, meas).statistic), 4),
          "measured_ms": {"min": round(float(meas.min()), 3), "max": round(float(meas.max()), 3)},
          "without_fit": _errors(np.array(raw), meas),
          "linear_sum": _errors(np.array(linear), meas),
          "fit_pairs": [[name, round(timed[f"fit_{name}"], 4)] for name, _ in fitting],
          "pairs": [[n, round(a, 4), round(b, 4)] for n, a, b in zip(names, predicted, measured)]})
  if args.phase == "convert":
    print(json.dumps({"benchmark": "latency_prediction", "phase": "convert",
                      "seconds": round(time.perf_counter() - started, 1)}))
    return
  print(json.dumps({"benchmark": "latency_prediction", "threads": args.threads,
                    "device": latency_table.device_name(),
                    "runtime": latency_table.runtime_name(),
                    "mape_percent_max": max(r["mape_percent"] for r in results),
                    "spearman_min": min(r["spearman"] for r in results),
                    "seconds": round(time.perf_counter() - started, 1), "results": results}))


if __name__ == "__main__":
  main()
