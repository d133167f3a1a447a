"""rc-darts-pipeline: data -> search -> derive -> retrain -> export -> report, in one directory.

  rc-darts-pipeline                                   # bundled sample, quick settings (minutes)
  rc-darts-pipeline --dataset=imagefolder:../shared/data/cifar10-jpeg \
      --budget_params=1.2e5:1.8e5 --budget_macs=1.5e7:3.0e7 --search.epochs=10 \
      --train.epochs=30 --output_dir=runs/pipeline

Stages run one after the other, each as its own entry point (rc-darts-latency, rc-darts-search,
rc-darts-train, rc-darts-export) in a subdirectory of --output_dir:
  latency/   with --budget_latency_ms and no --latency_table: the latency table of the network
             the budget is stated for (rc-darts-latency, --latency_format), measured once
  search/    the search and its derived genotype.json (Eq. 1 + budget repair), pictures/
  train/     the retrained network (model.keras, saved_model/, checkpoints/, history.json)
  export/    TFLite fp32/fp16/int8 + ONNX files and report.json (measured on the files)
  summary.json, summary.md   the table printed at the end
A stage whose results exist is not run again; a stage that was interrupted resumes from its own
checkpoint (re-run the same command). Every stage flag is reachable: prefix it with the stage
(--search.layers=8, --train.epochs=50, --export.threads=4) or give a flagfile per stage
(--search_flagfile=FILE, ...). Prefixed flags win over the pipeline's quick defaults.
"""

import os
import sys

from rc_darts_tf import cli  # first: quiets TensorFlow before it is imported

import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from absl import flags as absl_flags  # noqa: E402

from flags.budget import define_bound_flags  # noqa: E402
from flags.data import define_data_flags  # noqa: E402
from flags.output import define_output_flags  # noqa: E402
from flags.train import define_batch_flags  # noqa: E402

STAGES = ("latency", "search", "train", "export")
define_data_flags()
define_batch_flags(batch_size=32)
define_bound_flags(budget_params="1.2e5:1.8e5", budget_macs="1.5e7:3.0e7")
define_output_flags(output_dir="runs/pipeline")
absl_flags.DEFINE_integer("layers", 8, "Cells of the network that is retrained and exported (the "
                          "budget is stated for it).", lower_bound=3)
absl_flags.DEFINE_integer("init_channels", 16, "Initial channels C of that network.",
                          lower_bound=2)
absl_flags.DEFINE_enum("latency_format", "tflite_int8", ["tflite_int8", "tflite_fp32"],
                       "With --budget_latency_ms and no --latency_table: the file format the "
                       "latency table (and so the bound) is measured for.")
absl_flags.DEFINE_string("genotype", None, "Skip the search and use this genotype (a JSON file, a "
                         "DARTS Genotype(...) string or a registered name).")
for _stage in STAGES:
  absl_flags.DEFINE_string(f"{_stage}_flagfile", None,
                           f"A flagfile of extra rc-darts-{_stage} flags (before --{_stage}.* "
                           "flags).")
FLAGS = absl_flags.FLAGS

# Quick defaults: the whole pipeline on the bundled sample (500 images) in minutes on 2 cores.
QUICK = {
    "latency": [],
    "search": ["--layers=5", "--init_channels=8", "--levels=2", "--epochs=4",
               "--projection_interval=3", "--warmup_steps=6", "--report_freq=5"],
    "train": ["--preset=none", "--epochs=6", "--learning_rate=0.05", "--noauxiliary",
              "--drop_path_prob=0", "--cutout", "--eval_every=2"],
    "export": ["--latency_runs=20", "--warmup_runs=3", "--parity_images=100"],
}
DONE = {"latency": "table.json", "search": "genotype.json", "train": "model_info.json", "export": "report.json"}
_PASSTHROUGH = {stage: [] for stage in STAGES}
# Lines TensorFlow's and LiteRT's C++ code print whatever the log level (kept in pipeline.log).
NATIVE_NOISE = ("oneDNN custom operations", "absl::InitializeLog", "XNNPACK delegate for CPU",
                "fully_quantize: 0, inference_type")


def split_stage_args(argv):
  """Take --STAGE.name[=value] arguments out of argv; returns (rest, {stage: [--name=value]})."""
  rest, staged = [], {stage: [] for stage in STAGES}
  for arg in argv:
    head = arg.lstrip("-")
    stage, dot, flag = head.partition(".")
    if arg.startswith("-") and dot and stage in STAGES and flag:
      staged[stage].append("--" + flag)
    else:
      rest.append(arg)
  return rest, staged


def _die_with_parent():
  """Child processes get SIGKILL when the pipeline dies (even by SIGKILL), so an interrupted
  pipeline never leaves a stage writing into its directory."""
  try:
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    pass


def run_stage(stage, module, args, log_path):
  """Run one entry point, streaming its output to the terminal and to a log file."""
  command = [sys.executable, "-m", module, *args]
  print(f"\n=== {stage}: rc-darts-{stage} {' '.join(args)}", flush=True)
  started = time.perf_counter()
  with open(log_path, "a") as log:
    log.write(f"\n$ {' '.join(command)}\n")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, preexec_fn=_die_with_parent)
    last = []
    for line in proc.stdout:
      log.write(line)
      if any(noise in line for noise in NATIVE_NOISE):
        continue
      sys.stdout.write("  " + line if line.strip() else "\n")   # no indented blank lines
      sys.stdout.flush()
      last = (last + [line.rstrip()])[-5:]
    code = proc.wait()
  seconds = time.perf_counter() - started
  if code != 0:
    reason = next((l for l in reversed(last) if "error" in l.lower()), last[-1] if last else "")
    cli.fail("rc-darts-pipeline", f"stage {stage} failed (exit {code}) after {seconds:.0f} s: "
             f"{reason.strip()} (full log: {log_path}); fix it and re-run the same command to "
             "continue")
  return seconds


def stage_args(stage, common):
  """Arguments of `stage`: its quick settings, the common ones, its --<stage>_flagfile, then the
  --<stage>.NAME=VALUE arguments of the command line (later ones win)."""
  args = list(QUICK[stage]) + common
  flagfile = FLAGS[f"{stage}_flagfile"].value
  if flagfile:
    args.append(f"--flagfile={flagfile}")
  return args + _PASSTHROUGH[stage]


def main(argv):
  """absl main of rc-darts-pipeline: flags already parsed, `argv` the leftover arguments
  (refused); returns the exit code (bad input: cli.fail, exit 2)."""
  if len(argv) > 1:
    cli.fail("rc-darts-pipeline", f"unexpected arguments {' '.join(argv[1:])!r}: all options are "
             "flags (stage flags as --search.NAME=VALUE, --train.NAME=VALUE, --export.NAME=VALUE)")
  from rc_darts_tf import io_utils
  from rc_darts_tf.errors import RcDartsError
  for stage in STAGES:
    path = FLAGS[f"{stage}_flagfile"].value
    if path and not os.path.isfile(path):
      raise RcDartsError(f"--{stage}_flagfile={path} does not exist")
  out = io_utils.prepare_output_dir(FLAGS.output_dir, (), True)
  if FLAGS.overwrite and os.path.isdir(out):
    import shutil
    for stage in STAGES:
      shutil.rmtree(os.path.join(out, stage), ignore_errors=True)
  if FLAGS.genotype:
    from rc_darts_tf import genotype as genotype_lib
    genotype_lib.resolve(FLAGS.genotype)          # bad genotype: one line, before any work
  os.makedirs(out, exist_ok=True)
  log_path = os.path.join(out, "pipeline.log")
  data_args = [f"--dataset={FLAGS.dataset}", f"--seed={FLAGS.seed}"]
  for name in ("data_dir", "manual_dir"):
    if FLAGS[name].value:
      data_args.append(f"--{name}={FLAGS[name].value}")
  if FLAGS.image_size:
    data_args.append(f"--image_size={FLAGS.image_size}")
  dirs = {stage: os.path.join(out, stage) for stage in STAGES}
  seconds = {}
  started = time.perf_counter()

  # 0. the latency table the bound is priced with (rc-darts-latency resumes and keeps a finished
  # table: run again, it measures nothing)
  latency_table = os.path.abspath(FLAGS.latency_table) if FLAGS.latency_table else None
  if FLAGS.budget_latency_ms and latency_table is None and FLAGS.genotype is None:
    from rc_darts_tf import dataset_check
    facts = dataset_check.dataset_facts(FLAGS.dataset, data_dir=FLAGS.data_dir,
                                        manual_dir=FLAGS.manual_dir, download=FLAGS.download,
                                        image_size=FLAGS.image_size)
    latency_table = os.path.join(dirs["latency"], DONE["latency"])
  if latency_table and os.path.exists(latency_table) and not FLAGS.latency_table and \
      _complete_table(latency_table):
    print(f"=== latency: done earlier ({latency_table}), not repeated")
  elif latency_table and not FLAGS.latency_table:
    common = [f"--init_channels={FLAGS.init_channels}", f"--layers={FLAGS.layers}",
              f"--image_size={facts.image_size}", f"--num_classes={facts.num_classes}",
              f"--format={FLAGS.latency_format}", f"--output={latency_table}"]
    seconds["latency"] = run_stage("latency", "rc_darts_tf.cli.latency",
                                   stage_args("latency", common), log_path)

  # 1. search (+ derivation and pictures)
  genotype_spec = FLAGS.genotype
  if genotype_spec is None:
    done = os.path.join(dirs["search"], DONE["search"])
    if os.path.exists(done):
      print(f"=== search: done earlier ({done}), not repeated")
    else:
      from rc_darts_tf import resources
      budget = [f"--{r.flag}={FLAGS[r.flag].value}" for r in resources.REGISTRY
                if FLAGS[r.flag].value]
      if latency_table:
        budget.append(f"--latency_table={latency_table}")
      common = data_args + [f"--batch_size={FLAGS.batch_size}", f"--budget_layers={FLAGS.layers}",
                            f"--budget_channels={FLAGS.init_channels}", *budget,
                            f"--output_dir={dirs['search']}"]
      seconds["search"] = run_stage("search", "rc_darts_tf.cli.search",
                                    stage_args("search", common), log_path)
    genotype_spec = os.path.join(dirs["search"], "genotype.json")
    from rc_darts_tf import visualize
    pictures = visualize.plot_search_dir(dirs["search"])
    print(f"  pictures: {len(pictures)} files in {os.path.dirname(pictures[0])}")

  # 2. retrain
  done = os.path.join(dirs["train"], DONE["train"])
  if os.path.exists(done):
    print(f"=== train: done earlier ({done}), not repeated")
  else:
    common = data_args + [f"--genotype={genotype_spec}", f"--layers={FLAGS.layers}",
                          f"--init_channels={FLAGS.init_channels}",
                          f"--batch_size={FLAGS.batch_size}", f"--output_dir={dirs['train']}"]
    seconds["train"] = run_stage("train", "rc_darts_tf.cli.train", stage_args("train", common),
                                 log_path)

  # 3. export (+ measurement on the files)
  done = os.path.join(dirs["export"], DONE["export"])
  if os.path.exists(done):
    print(f"=== export: done earlier ({done}), not repeated")
  else:
    common = data_args + [f"--model_dir={dirs['train']}", f"--output_dir={dirs['export']}"]
    if latency_table:
      common.append(f"--latency_table={latency_table}")
    seconds["export"] = run_stage("export", "rc_darts_tf.cli.export",
                                  stage_args("export", common), log_path)

  # 4. report
  summary = build_summary(out, dirs, genotype_spec, seconds, time.perf_counter() - started,
                          latency_table)
  io_utils.atomic_write_text(os.path.join(out, "summary.json"), json.dumps(summary, indent=1))
  table = summary_markdown(summary)
  io_utils.atomic_write_text(os.path.join(out, "summary.md"), table)
  print("\n" + table)
  return 0


def _complete_table(path):
  """Whether rc-darts-latency finished the table at `path` (its header's 'complete')."""
  try:
    return bool(_load(path)["header"].get("complete"))
  except (OSError, ValueError, KeyError, TypeError):
    return False


def _load(path):
  with open(path) as f:
    return json.load(f)


def build_summary(out, dirs, genotype_spec, seconds, total_seconds, latency_table=None):
  """summary.json's content from the stages' own files (model_info.json, report.json, ...);
  with a latency budget, the bound, the table's prediction and the measured latency of the file
  of the table's format ("latency")."""
  info = _load(os.path.join(dirs["train"], "model_info.json"))
  report = _load(os.path.join(dirs["export"], "report.json"))
  genotype_meta = info["genotype"].get("meta", {})
  search_genotype = os.path.join(dirs["search"], "genotype.json")
  if os.path.exists(search_genotype):
    genotype_meta = _load(search_genotype).get("meta", genotype_meta)
  pictures_dir = os.path.join(dirs["search"], "pictures")
  pictures = sorted(os.path.join(pictures_dir, p) for p in os.listdir(pictures_dir)
                    ) if os.path.isdir(pictures_dir) else []
  exact_cost = dict(info["exact_cost"])
  latency_summary = None
  if "latency_ms" in (genotype_meta.get("exact_cost") or {}):
    exact_cost["latency_ms"] = genotype_meta["exact_cost"]["latency_ms"]
    record = next((a for a in report.get("artifacts", []) if "latency_predicted" in a), None)
    bound = (genotype_meta.get("budget") or {}).get("latency_ms")
    latency_summary = {"table": latency_table, "bound": bound,
                       "budgeted_ms": exact_cost["latency_ms"]}
    if record is not None:
      from rc_darts_tf.budget import parse_bounds
      measured = record["latency_predicted"]["measured_ms"]
      latency_summary.update(
          file=record["file"], predicted_ms=record["latency_predicted"]["predicted_ms"],
          measured_ms=measured,
          measured_inside=parse_bounds(bound).contains(measured) if bound else None)
  return {
      "output_dir": out,
      "genotype": genotype_spec,
      "latency": latency_summary,
      "budget": genotype_meta.get("budget"),
      "phi_at_end": genotype_meta.get("phi"),
      "eq1_cost": (genotype_meta.get("eq1") or {}).get("exact_cost")
                  or genotype_meta.get("exact_cost"),
      "derivation": genotype_meta.get("derivation"),
      "budget_changes": genotype_meta.get("budget_changes", []),
      "decisiveness": (genotype_meta.get("decisiveness") or {}).get("chosen_op_weight"),
      "exact_cost": exact_cost,
      "test_accuracy": info["test_accuracy"],
      "best_test_accuracy": info["best_test_accuracy"],
      "test_images": info["test_images"],
      "network": {k: info[k] for k in ("layers", "init_channels", "stem", "image_size",
                                       "num_classes", "dataset")},
      "artifacts": report.get("artifacts", []),
      "stage_seconds": {k: round(v, 1) for k, v in seconds.items()},
      "total_seconds_this_run": round(total_seconds, 1),
      "files": {
          "genotype": genotype_spec,
          "model": os.path.join(dirs["train"], "model.keras"),
          "saved_model": os.path.join(dirs["train"], "saved_model"),
          "report": os.path.join(dirs["export"], "report.json"),
          "labels": os.path.join(dirs["export"], "labels.txt"),
          "artifacts": [a.get("path") for a in report.get("artifacts", [])],
          "pictures": pictures,
      },
  }


def _fmt(value, unit=""):
  if value is None:
    return "–"
  if isinstance(value, float):
    return f"{value:.4g}{unit}"
  return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def summary_markdown(s):
  """summary.md: the summary `s` (build_summary) as Markdown tables."""
  from rc_darts_tf import resources
  lines = ["# rc-darts pipeline summary", ""]
  budget = s.get("budget") or {}
  phi = s.get("phi_at_end") or {}
  eq1 = s.get("eq1_cost") or {}
  lines.append("| resource | budget | Φ at the end of the search | Eq. 1 network (exact) | "
               "derived network (exact) |")
  lines.append("| --- | --- | --- | --- | --- |")
  for resource in [r for r in resources.REGISTRY if r.name in s["exact_cost"]]:
    name = resource.name
    eq1_text = resource.format(eq1[name]) if name in eq1 else "–"
    lines.append(f"| {name} | {budget.get(name) or 'none'} | "
                 f"{resource.short(phi[name]) if name in phi else '–'} | {eq1_text} | "
                 f"{resource.format(s['exact_cost'][name])} |")
  changes = s.get("budget_changes") or []
  lines += ["", ("The derived network is Eq. 1's genotype." if not changes else
                 f"Eq. 1's genotype was outside the budget; the exact-budget derivation changed "
                 f"{len(changes)} node(s) of it.")
            + (f" θ's decisiveness: the chosen op's weight averages {s['decisiveness']:.2f} over "
               "the kept edges (uniform 0.125)." if s.get("decisiveness") is not None else "")]
  lat = s.get("latency")
  if lat and lat.get("file"):
    verdict = {True: "inside", False: "OUTSIDE", None: ""}[lat.get("measured_inside")]
    lines += ["", f"Latency: bound {lat['bound'] or 'none'} ms (table {lat['table']}); the "
              f"search priced the derived network at {lat['budgeted_ms']:.3f} ms (Φ's sum, an "
              f"upper estimate), the table predicts {lat['predicted_ms']:.3f} ms for "
              f"{lat['file']}; measured {lat['measured_ms']:.3f} ms (median of its quietest "
              f"timed block) {verdict}."]
  net = s["network"]
  lines += ["", f"Network: {net['layers']} cells, C={net['init_channels']}, {net['stem']} stem, "
            f"{net['image_size']}x{net['image_size']} input, trained on {net['dataset']}: test "
            f"accuracy {100 * s['test_accuracy']:.2f}% on {s['test_images']} images (best "
            f"epoch {100 * s['best_test_accuracy']:.2f}%).", ""]
  lines.append("| artifact | size | params (file) | MACs (file) | latency median / p90 | parity |")
  lines.append("| --- | --- | --- | --- | --- | --- |")
  for a in s["artifacts"]:
    latency = a.get("latency_ms") or {}
    parity = a.get("parity") or {}
    verdict = {True: " ok", False: " FAIL"}.get(parity.get("passed"), "")
    if parity.get("kind") == "top1":
      par = f"top-1 agreement {100 * parity['top1_agreement']:.1f}%{verdict}"
      if parity.get("disagreements_tied"):
        par += (f" ({parity['disagreements_tied']} of {parity['disagreements']} misses are "
                "ties of the int8 output)")
    elif "relative_diff" in parity:
      par = f"max Δlogit / logit scale {parity['relative_diff']:.1e}{verdict}"
    else:
      par = "–"
    size = a.get("size_bytes")
    lines.append(f"| {a.get('format')} | {size / 1e6:.3f} MB | {_fmt(a.get('params'))} | "
                 f"{_fmt(a.get('macs'))} | "
                 f"{_fmt(latency.get('median'))} / {_fmt(latency.get('p90'))} ms | {par} |"
                 if size is not None else f"| {a.get('format')} | – | – | – | – | {par} |")
  if any(a.get("parity") and a["parity"].get("kind") == "top1" and not a["parity"]["passed"]
         for a in s["artifacts"]):
    lines += ["", "int8 top-1 agreement below 98%: expected for a network trained this briefly "
              "(int8 rounding flips the images whose two best classes are close, and very large "
              "logits make the int8 output grid coarse: see report.json's logit_scale); a "
              "network trained longer agrees on more (README, Parity)."]
  times = ", ".join(f"{k} {v:.0f} s" for k, v in s["stage_seconds"].items())
  lines += ["", f"Stages run this time: {times or 'none (all done earlier)'}; total "
            f"{s['total_seconds_this_run']:.0f} s.", "", "Files:"]
  for key, value in s["files"].items():
    if isinstance(value, list):
      lines.append(f"- {key}: {len(value)} files" + (f" ({os.path.dirname(value[0])})"
                                                     if value else ""))
    else:
      lines.append(f"- {key}: {value}")
  return "\n".join(lines) + "\n"


def run():
  """The `rc-darts-pipeline` console script: per-stage arguments split off sys.argv, then the
  stages (search, train, export) run as the separate commands would."""
  rest, staged = split_stage_args(sys.argv)
  sys.argv[:] = rest
  for stage in STAGES:
    _PASSTHROUGH[stage][:] = staged[stage]
  cli.run(main)


if __name__ == "__main__":
  run()
