"""rc-darts-tune: size and tune a genotype's network inside a hard budget (keras-tuner).

  rc-darts-tune --genotype=runs/search/genotype.json --budget_params=:2.0e5 --budget_macs=:3.3e7
  rc-darts-tune --genotype=DARTS_V2 --budget_params=:3.4e6 --fit_budget --layers=20

Tuned: initial channels C, number of cells, learning rate, drop-path probability; objective:
accuracy on a held-out part of the training split (--train_portion; the test split is never
looked at). A configuration whose exact params/MACs (costs.py) fall outside the budget is
rejected before any network is built (milliseconds) and never trained; rejections are counted in
the summary. --tuner=hyperband (default) or bayesian.

--fit_budget trains nothing: it returns the widest network (largest C, in steps the genotype
allows) of --layers cells that fits the budget, and shows that one step wider does not.

Latency: --budget_latency_ms=LOW:HIGH with --latency_table=TABLES, where TABLES is comma-separated
table files and/or directories of them (rc-darts-latency, one per C and number of cells: a table
is of one geometry). Every configuration of the tuning space (--channels x --layer_choices; with
--fit_budget, the tables' widths of --layers cells) is priced by its own table, as a search
prices its bound; a space with a configuration that has no table is refused before any work.

Writes into --output_dir: trials.json (every trial: values, exact cost, status, accuracy,
seconds), best.json (the best configuration, ready for rc-darts-train flags), fit_budget.json
(with --fit_budget), tuner/ (keras-tuner's own state: re-running resumes it).
"""

from rc_darts_tf import cli  # first: quiets TensorFlow before it is imported

import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from absl import flags as absl_flags  # noqa: E402

from flags._define import check  # noqa: E402
from rc_darts_tf import budget as budget_lib  # noqa: E402  (no TensorFlow)
from flags.budget import define_bound_flags  # noqa: E402
from flags.data import define_data_flags  # noqa: E402
from flags.output import define_output_flags  # noqa: E402
from flags.retrain import define_genotype_flag  # noqa: E402
from flags.train import define_train_flags  # noqa: E402

define_data_flags(train_portion=0.8)
define_train_flags(batch_size=64, epochs=3, init_channels=16, layers=8, learning_rate_min=0.0)
define_genotype_flag(default="DARTS_V2")
define_bound_flags()
define_output_flags(output_dir="runs/tune")
absl_flags.DEFINE_enum("tuner", "hyperband", ["hyperband", "bayesian"],
                       "Search algorithm: hyperband (max epochs = --epochs) or bayesian "
                       "(--max_trials trials of --epochs epochs).")
absl_flags.DEFINE_integer("hyperband_iterations", 1, "Hyperband iterations (each runs every "
                          "bracket once).", lower_bound=1)
absl_flags.DEFINE_integer("max_trials", 10, "Trials of the Bayesian tuner (rejected ones count).",
                          lower_bound=1)
absl_flags.DEFINE_string("channels", "8:48:4", "Range of initial channels C: MIN:MAX:STEP.")
absl_flags.DEFINE_list("layer_choices", ["5", "8"], "Cell counts to try (each >= 3).")
absl_flags.DEFINE_string("lr_range", "0.01:0.1", "Learning-rate range MIN:MAX (log scale).")
absl_flags.DEFINE_float("max_drop_path", 0.3, "Drop-path probabilities tried: 0 .. this, step 0.1.",
                        lower_bound=0.0, upper_bound=0.9)
absl_flags.DEFINE_integer("max_steps_per_epoch", 0, "Cap on steps per epoch (0 = all).",
                          lower_bound=0)
absl_flags.DEFINE_enum("stem", "cifar", ["cifar", "imagenet"], "Network stem.")
absl_flags.DEFINE_boolean("fit_budget", False, "Only find the widest network of --layers cells "
                          "inside the budget (no training).")
FLAGS = absl_flags.FLAGS


def _triple(text):
  parts = text.split(":")
  if len(parts) != 3:
    raise ValueError("expected MIN:MAX:STEP")
  low, high, step = (int(p) for p in parts)
  if not 1 <= low <= high or step < 1:
    raise ValueError("expected 1 <= MIN <= MAX and STEP >= 1")
  return low, high, step


def _range(text):
  low, high = (float(p) for p in text.split(":"))
  if not 0 < low <= high:
    raise ValueError("expected 0 < MIN <= MAX")
  return low, high


def _ok(parse):
  def predicate(value):
    try:
      parse(value)
      return True
    except (TypeError, ValueError):
      return False
  return predicate


check(FLAGS, "channels", _ok(_triple), "expected MIN:MAX:STEP with 1 <= MIN <= MAX, STEP >= 1, "
      "e.g. 8:48:4")
check(FLAGS, "lr_range", _ok(_range), "expected MIN:MAX with 0 < MIN <= MAX, e.g. 0.01:0.1")
check(FLAGS, "layer_choices", lambda v: bool(v) and all(p.isdigit() and int(p) >= 3 for p in v),
      "expected a comma-separated list of cell counts >= 3, e.g. 5,8")


def budget_of():
  """The hard budget of --budget_params / --budget_macs / --budget_latency_ms; BudgetError when
  none is given."""
  from rc_darts_tf.budget import parse_budget
  return parse_budget(FLAGS.budget_params, FLAGS.budget_macs,
                      "a hard budget is required: --budget_params=LOW:HIGH, --budget_macs="
                      "LOW:HIGH and/or --budget_latency_ms=LOW:HIGH with --latency_table "
                      "(either end may be empty, e.g. :2.0e5)", FLAGS.budget_latency_ms)


def _measure_hint(configurations, image_size, num_classes, fmt="tflite_int8"):
  """The rc-darts-latency command (a shell loop for several) that measures the tables of
  `configurations` [(C, cells)]."""
  common = (f"--image_size={image_size} --num_classes={num_classes} --stem={FLAGS.stem} "
            f"--format={fmt}")
  if len(configurations) == 1:
    (c, n), = configurations
    return (f"rc-darts-latency --init_channels={c} --layers={n} {common} "
            f"--output=runs/latency/c{c}_l{n}.json")
  return ("for g in " + " ".join(f"{c}:{n}" for c, n in configurations) +
          "; do rc-darts-latency --init_channels=${g%:*} --layers=${g#*:} " + common +
          " --output=runs/latency/c${g%:*}_l${g#*:}.json; done")


def latency_tables_of(bounds, facts, configurations):
  """The latency.TableSet of --latency_table (None without it), checked before TensorFlow
  against the dataset's image size and classes, --stem, and the configurations [(C, cells)] to
  be priced; BudgetError for a latency bound without tables or a configuration without a
  table, LatencyTableError for a bad table."""
  from rc_darts_tf import latency
  from rc_darts_tf.errors import BudgetError
  if not FLAGS.latency_table:
    if bounds.get("latency_ms") is not None:
      raise BudgetError(
          f"--budget_latency_ms={FLAGS.budget_latency_ms} needs --latency_table: a table per C "
          "and number of cells tuned, measured with "
          + _measure_hint(configurations[:1], facts.image_size, facts.num_classes))
    return None
  tables = latency.load_tables(FLAGS.latency_table)
  tables.check_network(FLAGS.stem, facts.image_size, facts.num_classes)
  missing = tables.missing(configurations)
  if missing:
    shown = ", ".join(f"C={c} with {n} cells" for c, n in missing[:4])
    more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
    raise BudgetError(
        f"--latency_table={FLAGS.latency_table}: no table for {len(missing)} of the "
        f"{len(configurations)} configurations tuned ({shown}{more}); narrow --channels / "
        "--layer_choices to the tables' (C, cells) or measure them: "
        + _measure_hint(missing, facts.image_size, facts.num_classes,
                        tables.common["format"]))
  return tables


def tuning_space(genotype):
  """(C_low, C_high, C_step, layer choices) of --channels and --layer_choices, with C in steps
  the genotype allows (cli.fail when no such C is in the range)."""
  c_low, c_high, c_step = _triple(FLAGS.channels)
  from rc_darts_tf import search_space   # tuning.channel_step without keras-tuner's import
  step = search_space.DEFAULT.channel_step(genotype.connection)
  c_step = math.lcm(c_step, step)
  c_low = -(-c_low // step) * step
  if c_low > c_high:
    cli.fail("rc-darts-tune", f"flag --channels={FLAGS.channels}: this genotype needs C to be a "
             f"multiple of {step}; no such C in the range")
  return c_low, c_high, c_step, sorted({int(v) for v in FLAGS.layer_choices})



def run_fit_budget(genotype, source_classes, image_size, bounds, out, latency_tables=None):
  """--fit_budget: the widest C of --layers cells inside `bounds` (with `latency_tables`, among
  the widths of its tables of --layers cells); writes fit_budget.json."""
  from rc_darts_tf import io_utils
  from rc_darts_tf.errors import BudgetError
  from rc_darts_tf import tuning
  try:
    c, cost, wider, step = tuning.widest_in_budget(genotype, FLAGS.layers, FLAGS.stem,
                                                   image_size, source_classes, bounds,
                                                   latency_tables=latency_tables)
  except ValueError as error:
    raise BudgetError(f"--latency_table={FLAGS.latency_table}: {error}") from None
  if c is None:
    (c0, narrow), (c1, wide) = cost, wider
    costs_text = f"C={c0} costs {budget_lib.describe(narrow, bounds)}" + (
        f"; C={c1} costs {budget_lib.describe(wide, bounds)}" if c1 != c0 else "")
    raise BudgetError(f"no width of {FLAGS.layers} cells fits the budget: {costs_text}; change "
                      "--layers or the budget")
  scanned = ("every multiple of the channel step" if latency_tables is None else
             "the widths of the latency tables: " +
             ", ".join(str(w) for w in latency_tables.widths(FLAGS.layers)))
  result = {"layers": FLAGS.layers, "init_channels": c, "channel_step": step,
            "stem": FLAGS.stem, "image_size": image_size, "num_classes": source_classes,
            "cost": cost.as_dict(), "widths_scanned": scanned,
            "one_step_wider": None if wider is None else {
                "init_channels": wider[0], "cost": wider[1].as_dict(),
                "inside": budget_lib.within(wider[1], bounds)},
            "budget": {r: str(b) if b else None for r, b in bounds.items()}}
  os.makedirs(out, exist_ok=True)
  io_utils.atomic_write_text(os.path.join(out, "fit_budget.json"), json.dumps(result, indent=1))
  print(f"widest network of {FLAGS.layers} cells inside the budget: C={c} "
        f"({budget_lib.describe(cost, bounds)})")
  if latency_tables is not None:
    print(f"  widths scanned: {scanned}")
  if wider is None:
    print(f"  no wider table of {FLAGS.layers} cells to compare with")
  else:
    print(f"  one step wider, C={wider[0]}: {budget_lib.describe(wider[1], bounds)}")
  # the geometry the cost was priced at: --image_size and --stem as well (train's defaults are
  # the dataset's size and the CIFAR stem)
  print(f"  rc-darts-train --genotype={FLAGS.genotype} --layers={FLAGS.layers} --init_channels={c} "
        f"--image_size={image_size}" + (f" --stem={FLAGS.stem}" if FLAGS.stem != "cifar" else ""))
  print(f"  wrote {out}/fit_budget.json")
  return 0


def main(argv):
  """absl main of rc-darts-tune: flags already parsed, `argv` the leftover arguments (refused);
  returns the exit code (bad input: cli.fail, exit 2)."""
  if len(argv) > 1:
    cli.fail("rc-darts-tune", f"unexpected arguments {' '.join(argv[1:])!r}: all options are flags")
  from rc_darts_tf import genotype as genotype_lib
  from rc_darts_tf import io_utils
  genotype = genotype_lib.resolve(FLAGS.genotype)
  bounds = budget_of()
  space = None if FLAGS.fit_budget else tuning_space(genotype)
  marker = "fit_budget.json" if FLAGS.fit_budget else "trials.json"
  out = io_utils.prepare_output_dir(FLAGS.output_dir, (marker,), FLAGS.overwrite)

  from rc_darts_tf import dataset_check   # the dataset and every image, before TensorFlow
  facts = dataset_check.dataset_facts(FLAGS.dataset, data_dir=FLAGS.data_dir,
                                      manual_dir=FLAGS.manual_dir, download=FLAGS.download,
                                      image_size=FLAGS.image_size)
  if FLAGS.fit_budget:   # with tables: the widths of the tables of --layers cells are scanned
    configurations = [] if FLAGS.latency_table else [(FLAGS.init_channels, FLAGS.layers)]
  else:
    c_low, c_high, c_step, layer_choices = space
    configurations = [(c, n) for n in layer_choices for c in range(c_low, c_high + 1, c_step)]
  latency_tables = latency_tables_of(bounds, facts, configurations)
  if FLAGS.fit_budget and latency_tables is not None and not latency_tables.widths(FLAGS.layers):
    from rc_darts_tf.errors import BudgetError
    raise BudgetError(f"--latency_table={FLAGS.latency_table}: no table of --layers="
                      f"{FLAGS.layers} cells (tables for "
                      + ", ".join(f"C={c} with {n} cells" for c, n in
                                  sorted(latency_tables.tables)) + ")")
  dataset_check.verify_images(facts)
  from rc_darts_tf import data
  source = data.load_source(FLAGS.dataset, data_dir=FLAGS.data_dir, manual_dir=FLAGS.manual_dir,
                            download=FLAGS.download, image_size=FLAGS.image_size, facts=facts)
  from rc_darts_tf import network
  for layers in [FLAGS.layers] + [int(v) for v in FLAGS.layer_choices]:
    network.plan_for(genotype, 8, layers, FLAGS.stem, source.image_size, source.num_classes)
  if FLAGS.fit_budget:
    return run_fit_budget(genotype, source.num_classes, source.image_size, bounds, out,
                          latency_tables)
  return run_tuner(genotype, source, bounds, out, space, latency_tables)


def run_tuner(genotype, source, bounds, out, space, latency_tables=None):
  """keras-tuner search over width, depth, learning rate and drop path inside `bounds` (`space`:
  tuning_space's C range and layer choices; latency priced by `latency_tables`); an over-budget
  configuration is never trained."""
  import keras_tuner as kt
  from rc_darts_tf import data, io_utils, tuning

  c_low, c_high, c_step, layer_choices = space
  lr_low, lr_high = _range(FLAGS.lr_range)
  split = data.holdout_split(source, FLAGS.batch_size, FLAGS.train_portion, FLAGS.seed)
  steps = split.steps_per_epoch
  if FLAGS.max_steps_per_epoch:
    steps = min(steps, FLAGS.max_steps_per_epoch)
  records = {}
  hypermodel = tuning.BudgetHyperModel(
      genotype, source, bounds,
      tuning.HyperSpace(c_low, c_high, c_step, layer_choices, lr_low, lr_high,
                        FLAGS.max_drop_path),
      FLAGS.epochs, steps, FLAGS.stem, FLAGS.seed, FLAGS.learning_rate_min, FLAGS.momentum,
      FLAGS.weight_decay, FLAGS.grad_clip, latency_tables)
  objective = kt.Objective("val_accuracy", direction="max")
  common = dict(objective=objective, seed=FLAGS.seed, directory=out, project_name="tuner",
                overwrite=FLAGS.overwrite, max_consecutive_failed_trials=10_000)
  if FLAGS.tuner == "hyperband":
    tuner = kt.Hyperband(hypermodel, max_epochs=FLAGS.epochs, factor=3,
                         hyperband_iterations=FLAGS.hyperband_iterations, **common)
  else:
    tuner = kt.BayesianOptimization(hypermodel, max_trials=FLAGS.max_trials, **common)

  # keras-tuner prints every failed trial's traceback while its DEBUG is on (the default); a
  # configuration rejected over budget gets our one line below instead, and a trial that really
  # failed gets its traceback on stderr from on_trial_end.
  from keras_tuner.src import config as kt_config
  kt_config.DEBUG = False
  original_end = tuner.on_trial_end

  def on_trial_end(trial):
    current = getattr(hypermodel, "current", {})
    if current.get("status") == "rejected" and trial.message:
      trial.message = None   # our own one-line report below, not a traceback
    original_end(trial)
    record = {"trial": trial.trial_id, **current}
    record["status"] = current.get("status") or "failed"
    if record["status"] == "failed":
      record["message"] = (trial.message or "").strip().splitlines()[-1:] or None
      if trial.message:
        print(trial.message.rstrip(), file=sys.stderr, flush=True)
    if record["status"] == "trained":
      record["val_accuracy"] = trial.score
    records[trial.trial_id] = record
    hypermodel.current = {}
    io_utils.atomic_write_text(os.path.join(out, "trials.json"),
                               json.dumps(list(records.values()), indent=1))
    values = current.get("values", {})
    cost = current.get("cost", {})
    acc = (f"val acc {100 * trial.score:.2f}%" if record["status"] == "trained"
           else record["status"])
    print(f"trial {trial.trial_id}: C={values.get('init_channels')} cells={values.get('layers')} "
          f"lr={values.get('learning_rate', 0):.3g} drop={values.get('drop_path_prob', 0):.1f} "
          f"{cost.get('params', 0):,} params {cost.get('macs', 0):,} MACs"
          + (f" {cost.get('latency_ms', 0):.3f} ms" if latency_tables is not None else "")
          + f": {acc}", flush=True)

  tuner.on_trial_end = on_trial_end
  os.makedirs(out, exist_ok=True)
  io_utils.atomic_write_text(os.path.join(out, "flags.txt"), FLAGS.flags_into_string())
  print(f"tune: {source.name}, {split.num_train} train / {split.num_test} held-out images, "
        f"{steps} steps/epoch, {FLAGS.tuner} (max {FLAGS.epochs} epochs per trial), budget "
        + ", ".join(f"{r} {b}" for r, b in bounds.items() if b is not None))
  print(f"  space: C {c_low}..{c_high} step {c_step}, cells {layer_choices}, lr {lr_low:g}.."
        f"{lr_high:g} (log), drop path 0..{FLAGS.max_drop_path:g}")
  sys.stdout.flush()
  started = time.perf_counter()
  tuner.search(split.train.repeat(), steps_per_epoch=steps, epochs=FLAGS.epochs,
               validation_data=split.test, validation_steps=-(-split.num_test // FLAGS.batch_size),
               shuffle=False, verbose=0)

  trained = [r for r in records.values() if r["status"] == "trained"]
  rejected = [r for r in records.values() if r["status"] == "rejected"]
  failed = [r for r in records.values() if r["status"] not in ("trained", "rejected")]
  summary = {"trials": len(records), "trained": len(trained), "rejected_over_budget":
             len(rejected), "failed": len(failed),
             "seconds": round(time.perf_counter() - started, 1),
             "budget": {r: str(b) if b else None for r, b in bounds.items()}}
  print(f"\n{len(records)} trials: {len(trained)} trained, {len(rejected)} rejected over budget "
        f"(never built), {len(failed)} failed; {summary['seconds']:.0f} s")
  if not trained:
    io_utils.atomic_write_text(os.path.join(out, "best.json"),
                               json.dumps({"summary": summary, "best": None}, indent=1))
    cli.fail("rc-darts-tune", "no configuration inside the budget was trained: widen --channels "
             "/ --layer_choices or the budget (rc-darts-tune --fit_budget finds the widest fit)")
  best = max(trained, key=lambda r: r["val_accuracy"])
  ms = latency_tables is not None
  header = (f"{'trial':>6} {'C':>4} {'cells':>5} {'lr':>8} {'drop':>4} {'params':>10} "
            f"{'MACs':>13}" + (f" {'ms':>7}" if ms else "") + f" {'val acc':>8}")
  print(header)
  for r in sorted(trained, key=lambda r: -r["val_accuracy"]):
    v = r["values"]
    print(f"{r['trial']:>6} {v['init_channels']:>4} {v['layers']:>5} {v['learning_rate']:>8.3g} "
          f"{v['drop_path_prob']:>4.1f} {r['cost']['params']:>10,} {r['cost']['macs']:>13,}"
          + (f" {r['cost']['latency_ms']:>7.3f}" if ms else "") +
          f" {100 * r['val_accuracy']:>7.2f}%")
  v = best["values"]
  best_out = {"summary": summary, "best": best, "train_flags": [
      f"--genotype={FLAGS.genotype}", f"--init_channels={v['init_channels']}",
      f"--layers={v['layers']}", f"--learning_rate={v['learning_rate']:.6g}",
      f"--drop_path_prob={v['drop_path_prob']:.2g}", f"--stem={FLAGS.stem}"]}
  io_utils.atomic_write_text(os.path.join(out, "best.json"), json.dumps(best_out, indent=1))
  print(f"best: trial {best['trial']}: rc-darts-train {' '.join(best_out['train_flags'])}")
  print(f"  wrote {out}/trials.json, best.json")
  return 0


def run():
  """The `rc-darts-tune` console script (cli.run: bad input is one line on stderr and exit 2)."""
  cli.run(main)


if __name__ == "__main__":
  run()
