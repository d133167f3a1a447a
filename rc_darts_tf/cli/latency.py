"""rc-darts-latency: measure a latency table for one network geometry on this machine.

  rc-darts-latency --init_channels=16 --layers=8 --image_size=32 --format=tflite_int8 \
      --output=runs/latency/c16_l8_s32_int8.json

Every part a derived network of the search space can be made of at this geometry (the stem with
the pixel normalisation, every cell op but 'none' on every edge shape, every connection op and
DARTS's fixed preprocessing on every cell-input shape, the ReLUs, the node sums and concat, the
classifier) is converted alone to a TFLite file as rc-darts-export converts networks and timed
on ai-edge-litert's interpreter (--threads; --warmup_runs, then --rounds rounds of --runs
invokes over all files of a chunk; the quietest block's median). Then --fit_networks random
genotypes are built whole, converted and timed, and the overhead the parts cannot see is fitted
(latency ≈ slope · Σ parts + intercept; rc_darts_tf/latency.py). The table is a JSON file with
the device, runtime, threads, format and geometry; it is written after every chunk, and a second
run with the same --output and settings measures only what is missing.

A table for another device (a phone, a board): write the files here, time them there with
scripts/time_tflite_models.py (NumPy and a TFLite interpreter, or benchmark_model's logs), and
import the times:

  rc-darts-latency --init_channels=16 --layers=8 --image_size=32 --write_models=runs/phone
  python scripts/time_tflite_models.py runs/phone --output=measured.json     # on the device
  rc-darts-latency --import=measured.json --output=runs/latency/phone.json
"""

from rc_darts_tf import cli  # first: sets up logging before TensorFlow is imported

import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from absl import flags as absl_flags  # noqa: E402

absl_flags.DEFINE_integer("init_channels", 16, "C of the network the table is for.",
                          lower_bound=1)
absl_flags.DEFINE_integer("layers", 8, "Cells of the network the table is for.", lower_bound=3)
absl_flags.DEFINE_integer("image_size", 32, "Input side S (pixels).", lower_bound=8)
absl_flags.DEFINE_integer("num_classes", 10, "Classes of the classifier.", lower_bound=2)
absl_flags.DEFINE_enum("stem", "cifar", ["cifar", "imagenet"], "Stem of the network.")
absl_flags.DEFINE_string("search_space", "darts", "Search space whose ops are measured.")
absl_flags.DEFINE_enum("format", "tflite_int8", ["tflite_fp32", "tflite_int8"],
                       "File format the latencies are for (int8 and fp32 differ per op).")
absl_flags.DEFINE_integer("threads", 1, "Interpreter threads.", lower_bound=1)
absl_flags.DEFINE_integer("runs", 100, "Timed invokes per block.", lower_bound=1)
absl_flags.DEFINE_integer("warmup_runs", 10, "Untimed invokes before timing.", lower_bound=0)
absl_flags.DEFINE_integer("rounds", 15, "Timing rounds (the quietest block counts).",
                          lower_bound=1)
absl_flags.DEFINE_integer("fit_networks", 8,
                          "Whole random networks measured to fit the slope (0: none; "
                          "the table's sums are then the prediction).", lower_bound=0)
absl_flags.DEFINE_integer("seed", 0, "Seed of the fit's random genotypes and all weights.")
absl_flags.DEFINE_string("output", None, "The table's JSON file (required, but with "
                         "--write_models).")
absl_flags.DEFINE_boolean("overwrite", False, "With --write_models: write into a directory that "
                          "holds a manifest already.")
absl_flags.DEFINE_string("write_models", None,
                         "Measure nothing: write every entry's TFLite file (and the fit's whole "
                         "networks) with manifest.json into this directory, to time them on "
                         "another device with scripts/time_tflite_models.py.")
absl_flags.DEFINE_string("import", None,
                         "Make the table (--output) from scripts/time_tflite_models.py's output "
                         "on another device: entries, invoke cost and the fit from its times.")
FLAGS = absl_flags.FLAGS


def main(argv):
  """absl main of rc-darts-latency: flags already parsed, `argv` the leftover arguments
  (refused); returns the exit code (bad input: cli.fail, exit 2)."""
  prog = "rc-darts-latency"
  if len(argv) > 1:
    cli.fail(prog, f"unexpected arguments {' '.join(argv[1:])!r}: all options are flags")
  if FLAGS.write_models and FLAGS["import"].value:
    cli.fail(prog, "give --write_models or --import, not both")
  if not FLAGS.output and not FLAGS.write_models:
    cli.fail(prog, "--output is required: the table's JSON file, e.g. "
                   "--output=runs/latency/table.json")
  if FLAGS["import"].value:
    return _import(prog)
  from rc_darts_tf import costs, latency, search_space
  from rc_darts_tf.errors import SearchSpaceError
  if FLAGS.search_space not in search_space.SPACES:
    raise SearchSpaceError(f"--search_space={FLAGS.search_space}: unknown; known: "
                           f"{', '.join(search_space.SPACES)}")
  space = search_space.SPACES[FLAGS.search_space]
  if FLAGS.init_channels % 4:
    cli.fail(prog, f"--init_channels={FLAGS.init_channels}: must be a multiple of 4 (the "
                   "connection ops' 4 groups and factorized reduce)")
  plan = costs.network_plan(FLAGS.init_channels, FLAGS.layers, 1, FLAGS.stem, FLAGS.image_size,
                            FLAGS.num_classes)
  if FLAGS.write_models:
    return _write_models(plan, space)
  output = os.path.abspath(FLAGS.output)
  if os.path.isdir(output):
    cli.fail(prog, f"--output={FLAGS.output} is a directory; give the table's file name")
  if os.path.exists(output):
    latency.load(output)      # a file that is not a table is refused before any work
  os.makedirs(os.path.dirname(output), exist_ok=True)

  from exporters import latency_table
  out = sys.stdout
  log = lambda text: print(text, file=out, flush=True)  # noqa: E731
  header = latency_table.table_header(plan, FLAGS.format, FLAGS.threads, FLAGS.runs,
                                      FLAGS.warmup_runs, FLAGS.rounds, True, space.name)
  entries = latency.space_entries(plan, space, True)
  log(f"latency table for {latency.describe_geometry(header)}, space {space.name}: "
      f"{len(entries)} entries on {header['device']} ({header['runtime']})")
  started = time.monotonic()
  table = latency_table.measure_table(entries, header, output, log=log)
  table_s = time.monotonic() - started
  log(f"entries: {len(table.entries)} in the table, {table_s:.0f} s this run (invoke cost "
      f"{table.header['invoke'] * 1000:.1f} µs subtracted)")
  if FLAGS.fit_networks and table.fit.networks == FLAGS.fit_networks:
    log(f"fit kept: latency ≈ {table.fit.slope:.3f} · Σ parts over {table.fit.networks} "
        f"networks ({table.fit.mape:.1f} % mean error)")
  if FLAGS.fit_networks and table.fit.networks != FLAGS.fit_networks:
    genotypes = _fit_genotypes(plan, space)
    plan_of = _plan_of(plan)
    log(f"fitting the overhead on {len(genotypes)} whole random networks (converted, then timed "
        "together)")
    tick = time.monotonic()

    def measure(gs):
      files = {}
      for n, g in enumerate(gs):
        files[n] = latency_table.network_file(g, plan_of(g), FLAGS.format, FLAGS.seed)
        log(f"  network {n + 1}/{len(gs)} converted ({time.monotonic() - tick:.0f} s)")
      timed = latency_table.time_files(files, FLAGS.threads, 20, FLAGS.warmup_runs,
                                       FLAGS.rounds, 1000.0)
      return [timed[n] for n in range(len(gs))]

    table.fit = latency_table.fit_networks(table, genotypes, plan_of, measure)
    latency.save(table, output)
    log(f"fit: latency ≈ {table.fit.slope:.3f} · Σ parts + {table.fit.intercept:.3f} ms over "
        f"{table.fit.networks} networks; fit error {table.fit.mape:.1f} % mean, "
        f"{table.fit.max_ape:.1f} % worst ({time.monotonic() - tick:.0f} s)")
  table.header["complete"] = True      # every entry and the fit asked for (the pipeline's mark)
  latency.save(table, output)
  log(f"wrote {output} ({time.monotonic() - started:.0f} s in all)")
  return 0


def _fit_genotypes(plan, space):
  """--fit_networks random genotypes of 1 and up to 3 levels, every connection op and DARTS's
  fixed preprocessing in turn (seeds --seed, --seed + 1, ...)."""
  from rc_darts_tf import genotype as genotype_lib
  connections = (None,) + space.connection_primitives
  most_levels = min(3, plan.layers - 2)     # levels <= normal cells
  return [genotype_lib.random_genotype(FLAGS.seed + k, 1 if k % 2 == 0 else most_levels,
                                       connections[k % len(connections)])
          for k in range(FLAGS.fit_networks)]


def _plan_of(plan):
  """genotype -> its NetworkPlan at `plan`'s geometry."""
  from rc_darts_tf import network

  def plan_of(g):
    return network.plan_for(g, plan.init_channels, plan.layers, plan.stem, plan.image_size,
                            plan.num_classes)
  return plan_of


def _write_models(plan, space):
  """--write_models: the files and manifest.json, nothing timed."""
  from exporters import latency_table
  from rc_darts_tf import latency
  directory = os.path.abspath(FLAGS.write_models)
  if os.path.exists(os.path.join(directory, "manifest.json")) and not FLAGS.overwrite:
    cli.fail("rc-darts-latency", f"--write_models={FLAGS.write_models} holds a manifest.json "
                                 "already; choose another directory (or --overwrite)")
  header = latency_table.table_header(plan, FLAGS.format, FLAGS.threads, FLAGS.runs,
                                      FLAGS.warmup_runs, FLAGS.rounds, True, space.name)
  entries = latency.space_entries(plan, space, True)
  started = time.monotonic()
  print(f"writing {len(entries) + 1} entry files and {FLAGS.fit_networks} whole networks for "
        f"{latency.describe_geometry(header)} into {directory}", flush=True)
  latency_table.write_models(directory, entries, header, _fit_genotypes(plan, space),
                             _plan_of(plan), log=lambda s: print(s, flush=True))
  print(f"wrote {directory}/manifest.json ({time.monotonic() - started:.0f} s); time the files "
        f"on the device: python scripts/time_tflite_models.py {directory} "
        "--output=measured.json, then rc-darts-latency --import=measured.json --output=TABLE")
  return 0


def _import(prog):
  """--import: the table of another device's times, written to --output (never over a file)."""
  import json
  from exporters import latency_table
  from rc_darts_tf import costs, latency
  from rc_darts_tf.latency import LatencyTableError
  path = FLAGS["import"].value
  try:
    with open(path) as f:
      measured = json.load(f)
  except (OSError, ValueError) as error:
    raise LatencyTableError(f"--import={path}: cannot be read as JSON ({error})") from None
  output = os.path.abspath(FLAGS.output)
  if os.path.exists(output):
    cli.fail(prog, f"--output={FLAGS.output} exists; choose another file (nothing was "
                   "overwritten)")
  try:
    header = measured["manifest"]["header"]
    plan = costs.network_plan(int(header["init_channels"]), int(header["layers"]), 1,
                              str(header["stem"]), int(header["image_size"]),
                              int(header["num_classes"]))
  except (KeyError, TypeError, ValueError) as error:
    raise LatencyTableError(f"--import={path}: no usable manifest header ({error})") from None
  try:
    table = latency_table.import_measured(measured, _plan_of(plan))
  except LatencyTableError as error:
    raise LatencyTableError(f"--import={path}: {error}") from None
  os.makedirs(os.path.dirname(output), exist_ok=True)
  latency.save(table, output)
  fit = table.fit
  print(f"imported {len(table.entries)} entries measured on {table.header['device']} "
        f"({table.header['runtime']}); fit slope {fit.slope:.3f} over {fit.networks} networks"
        + (f" ({fit.mape:.1f} % mean error)" if fit.networks else "") + f"; wrote {output}")
  return 0


def run():
  """The `rc-darts-latency` console script (cli.run: bad input is one line on stderr and exit
  2)."""
  cli.run(main)


if __name__ == "__main__":
  run()
