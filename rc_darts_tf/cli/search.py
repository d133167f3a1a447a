"""rc-darts-search: resource-constrained differentiable architecture search (RC-DARTS).

  rc-darts-search --dataset=imagefolder:../shared/data/cifar10-jpeg \
      --budget_params=1.8e5:2.0e5 --budget_macs=2.8e7:3.3e7 --output_dir=runs/search

Phase I alternates an SGD step on the weights (training half) and an Adam step on θ (validation
half); every --projection_interval steps after the warm start, phase II projects θ back inside the
budget. --budget_latency_ms=LOW:HIGH with --latency_table (rc-darts-latency's table for the budget
network) bounds the exported TFLite file's latency in ms the same way. --constraints=none runs
plain first-order DARTS. Re-running with the same --output_dir
resumes from the newest checkpoint (other settings: refused unless --overwrite). --strategy picks
the tf.distribute strategy; --batch_size is global. Writes into --output_dir:
  flags.txt                    the flags of the run (reusable with --flagfile)
  run.json                     the settings a restart must share to resume (run_record.py)
  checkpoints/                 search checkpoints (every --checkpoint_steps steps and each epoch)
  genotype_epoch_NNN.json      the genotype derived after every epoch
  genotype.json                the final genotype, with budget, Φ and exact cost
  theta.npz                    the final θ (theta_cells, theta_connection; theta_edges = β with
                               --partial_channels > 1)
  search_history.npz           Φ per step, θ-softmax per epoch, projections (for plots)
  tensorboard/                 losses, accuracies, Φ vs bounds, λ, projection iterations,
                               θ-softmax histograms
"""

from rc_darts_tf import cli  # first: quiets TensorFlow before it is imported

import dataclasses  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from absl import flags as absl_flags  # noqa: E402

from flags.budget import define_budget_flags  # noqa: E402
from flags.data import define_data_flags  # noqa: E402
from flags.distribution import define_distribution_flags  # noqa: E402
from flags.output import define_output_flags  # noqa: E402
from flags.search import define_search_flags  # noqa: E402
from flags.train import define_accelerator_flags, define_train_flags  # noqa: E402
from rc_darts_tf.errors import RcDartsError  # noqa: E402

define_data_flags()
define_train_flags()            # DARTS's search recipe: batch 64, lr 0.025 cosine, 50 epochs, C=16
define_search_flags()
define_accelerator_flags()
define_budget_flags()
define_distribution_flags()
define_output_flags(output_dir="runs/search")
FLAGS = absl_flags.FLAGS

RUN_MARKERS = ("flags.txt", "genotype.json")
# The settings a resumed run must share with the run it continues (--strategy, --checkpoint_steps,
# --deterministic, --report_freq and paths may change between restarts).
SETTINGS = ("dataset", "batch_size", "seed", "learning_rate", "learning_rate_min", "momentum",
            "weight_decay", "epochs", "init_channels", "layers", "grad_clip", "train_portion",
            "arch_learning_rate", "arch_weight_decay", "levels", "learn_connection",
            "projection_interval", "projection_iters", "projection_lr", "lambda_init",
            "lambda_decay", "warmup_steps", "derive", "constraints", "budget_params", "budget_macs",
            "budget_latency_ms", "latency_table",
            "budget_layers", "budget_channels", "budget_stem", "image_size", "temperature_init",
            "temperature_final", "projection_method", "partial_channels", "mixed_precision",
            "search_space")


def budget_bounds():
  """{resource: Bounds or None} from the flags (validated by the flag validators already)."""
  from rc_darts_tf import resources
  from rc_darts_tf.budget import parse_texts
  if FLAGS.constraints == "none":
    return {name: None for name in resources.NAMES}
  return parse_texts({r.name: FLAGS[r.flag].value for r in resources.REGISTRY},
                     "--constraints=rc needs a budget: --budget_params=LOW:HIGH, "
                     "--budget_macs=LOW:HIGH and/or --budget_latency_ms=LOW:HIGH (e.g. "
                     "1.8e5:2.0e5), or --constraints=none for plain DARTS")


def output_plan(out, settings, chief=True):
  """'fresh' or 'resume' for --output_dir (run_record.plan: a search with the same settings and
  search space resumes; other settings, another space or another kind of run are refused unless
  --overwrite, which starts afresh)."""
  from rc_darts_tf import run_record, search_space

  def same_space(record):     # a checkpoint's θ columns follow the op order of its space
    search_space.check_record(record.get("search_space"),
                              f"--output_dir={out} ({record['file']})")

  return run_record.plan(out, "search", settings, {name: FLAGS[name].default for name in settings},
                         FLAGS.overwrite, RUN_MARKERS + (run_record.CHECKPOINT_DIR,),
                         chief=chief, check=same_space)


def main(argv):
  """absl main of rc-darts-search: flags already parsed, `argv` the leftover arguments (refused);
  returns the exit code (bad input: cli.fail, exit 2)."""
  if len(argv) > 1:
    cli.fail("rc-darts-search", f"unexpected arguments {' '.join(argv[1:])!r}: all options are "
             "flags")
  from rc_darts_tf import distribute as dist
  from rc_darts_tf import io_utils
  from rc_darts_tf.search import run as search_run
  config = search_run.SearchConfig(**{field.name: FLAGS[field.name].value
                                      for field in dataclasses.fields(search_run.SearchConfig)})
  try:
    config.check(name=lambda setting: "--" + setting)
  except RcDartsError as error:
    cli.fail("rc-darts-search", f"flag {error}")
  out = io_utils.prepare_output_dir(FLAGS.output_dir, (), FLAGS.overwrite)
  bounds = budget_bounds()
  settings = {name: FLAGS[name].value for name in SETTINGS}
  dist.check_strategy(FLAGS.strategy, FLAGS.tpu)   # TF_CONFIG, TPU presence: before TensorFlow
  # resume / afresh / refused: before reading a single image
  mode = output_plan(out, settings, chief=FLAGS.strategy != "multi_worker" or
                     dist.config_is_chief(dist.parse_tf_config()))
  # The dataset's classes and input size, then the budget at that geometry, then every image:
  # all without TensorFlow, so a bad dataset or budget is refused within a second or two.
  from rc_darts_tf import dataset_check
  facts = dataset_check.dataset_facts(FLAGS.dataset, data_dir=FLAGS.data_dir,
                                      manual_dir=FLAGS.manual_dir, download=FLAGS.download,
                                      image_size=FLAGS.image_size)
  plan = search_run.budget_plan(config, facts.num_classes, facts.image_size, FLAGS.budget_layers,
                                FLAGS.budget_channels, FLAGS.budget_stem)
  latency_table = search_run.load_latency_table(FLAGS.latency_table, plan, bounds)
  search_run.check_achievable(plan, bounds, config, latency_table)
  if facts.tree is not None:        # (tfds datasets: checked by SearchInput)
    dataset_check.check_halves(facts.name, len(facts.tree.train), FLAGS.batch_size,
                               FLAGS.train_portion)
  dataset_check.verify_images(facts)

  import tensorflow as tf
  if FLAGS.deterministic:
    tf.config.experimental.enable_op_determinism()
  strategy = dist.make_strategy(FLAGS.strategy, FLAGS.tpu)  # before any op (multi_worker)
  dist.check_global_batch(FLAGS.batch_size, strategy)
  chief = dist.is_chief(strategy)

  import keras
  from rc_darts_tf import costs, data, latency, resources
  from rc_darts_tf.search import checkpoint as ckpt
  from rc_darts_tf.search import step_sizes
  from rc_darts_tf.search.loop import NonFiniteError

  started = time.perf_counter()
  keras.utils.set_random_seed(FLAGS.seed)
  source = data.load_source(FLAGS.dataset, data_dir=FLAGS.data_dir, manual_dir=FLAGS.manual_dir,
                            download=FLAGS.download, image_size=FLAGS.image_size, facts=facts)
  search = search_run.build(config, source, plan, bounds, strategy, latency_table)
  model, inputs = search.model, search.inputs
  steps, total_steps = inputs.steps_per_epoch, search.total_steps
  arch_lr, projection_lr, warmup = search.arch_lr, search.projection_lr, search.warmup_steps
  space = search.space

  # Every worker writes into its own directory; the chief's is --output_dir. All restore the
  # chief's checkpoints.
  own = out if chief else os.path.join(out, "workers", f"worker-{dist.worker_index(strategy)}")
  chief_checkpoints = os.path.join(out, ckpt.CHECKPOINT_DIR)
  checkpoint = ckpt.SearchCheckpoint(os.path.join(own, ckpt.CHECKPOINT_DIR), model,
                                     restore_directory=chief_checkpoints)
  loop, monitor, projection = search_run.attach(search, own, settings, checkpoint=checkpoint,
                                                checkpoint_steps=FLAGS.checkpoint_steps,
                                                chief=chief)
  resumed = mode == "resume" and loop.restore()   # a bad checkpoint stops here, nothing written

  # every check has passed: now the run may write
  if mode == "fresh" and FLAGS.overwrite and chief:
    import shutil
    shutil.rmtree(chief_checkpoints, ignore_errors=True)
  os.makedirs(own, exist_ok=True)
  if chief:
    io_utils.atomic_write_text(os.path.join(out, "flags.txt"), FLAGS.flags_into_string())
    from rc_darts_tf import run_record
    run_record.write(out, "search", settings, search_space=space.record())
  writer = tf.summary.create_file_writer(os.path.join(own, "tensorboard", "search"))
  monitor.writer = projection.writer = writer
  loop.writer = tf.summary.create_file_writer(os.path.join(own, "tensorboard", "train"))

  say = print if chief else (lambda *a, **k: None)
  phi0 = model.phi().numpy()
  say(f"search: {source.name}, {inputs.num_train} + {inputs.num_val} images, {steps} steps/epoch "
      f"x {FLAGS.epochs} epochs, {FLAGS.layers} cells, C={FLAGS.init_channels}, "
      f"{FLAGS.levels} level(s), connection {'learned' if FLAGS.learn_connection else 'fixed'}, "
      f"{model.count_weight_params():,} weights"
      + (f", partial channels 1/{FLAGS.partial_channels} with edge normalisation (PC-DARTS)"
         if FLAGS.partial_channels > 1 else ""))
  say(f"  strategy {FLAGS.strategy}: {strategy.num_replicas_in_sync} replica(s), global batch "
      f"{FLAGS.batch_size} ({FLAGS.batch_size // strategy.num_replicas_in_sync} per replica)"
      + (", deterministic" if FLAGS.deterministic else "")
      + (", mixed_float16 with loss scaling" if FLAGS.mixed_precision else "")
      + (", XLA (jit_compile)" if FLAGS.jit_compile else ""))
  ranges = costs.achievable_range(model.cost_tables)
  for k, resource in enumerate(costs.RESOURCES):
    if resource not in model.cost_tables.priced:
      continue
    b = bounds.get(resource)
    short = resources.get(resource).short
    loose = b is not None and (b.low is None or b.low <= ranges[k, 0]) and (
        b.high is None or b.high >= ranges[k, 1])
    say(f"  Φ_{resource} {'now' if resumed else 'at start'} {short(phi0[k])}"
        + (f", budget {b}" if b is not None else ", unconstrained")
        + (f" (every network of the space is inside: {short(ranges[k, 0])} – "
           f"{short(ranges[k, 1])}; the bound does not constrain)" if loose else ""))
  if latency_table is not None:
    say(f"  latency priced by {FLAGS.latency_table} "
        f"({latency.describe_geometry(latency_table.header)}; fit slope "
        f"{latency_table.fit.slope:.3f} over {latency_table.fit.networks} networks)")
  rule = lambda given: "given" if given is not None else "rule 3e-4 x 19,550 / S"  # noqa: E731
  say(f"  θ: Adam lr {arch_lr:.3g} ({rule(FLAGS.arch_learning_rate)}, S = {total_steps} steps; "
      f"θ can travel ≈ {step_sizes.travel(arch_lr, total_steps):.2g}), softmax temperature τ "
      f"{FLAGS.temperature_init:g} -> {FLAGS.temperature_final:g}")
  if any(b is not None for b in bounds.values()):
    method = ("Eq. 7 by sequential linearisation" if FLAGS.projection_method == "newton" else
              f"Eq. 8 penalty, Adam lr {projection_lr:.3g} ({rule(FLAGS.projection_lr)}), "
              f"λ {FLAGS.lambda_init} x {FLAGS.lambda_decay} per projection")
    say(f"  projection every {FLAGS.projection_interval} steps after a warm start of {warmup} "
        f"steps and after the last step, at most {FLAGS.projection_iters} iterations, {method}")
  if resumed:
    say(f"  resuming from {loop.last_checkpoint}: step {loop.global_step}, "
        f"{loop.epochs_done} epoch(s) done")
  say(f"  checkpoints every {FLAGS.checkpoint_steps or 'epoch'}"
      f"{' steps and every epoch' if FLAGS.checkpoint_steps else ''} in {chief_checkpoints}")
  say(f"  output: {out}")
  sys.stdout.flush()

  try:
    loop.run()
  except NonFiniteError as error:
    sys.stderr.write(f"rc-darts-search: error: {error}\n")
    sys.stderr.flush()
    return 1

  genotype = search_run.save_results(search, monitor, projection, own, started, FLAGS.strategy)
  if not chief:
    return 0

  exact = genotype.meta["exact_cost"]
  print("\nderived genotype:")
  print(genotype)
  from rc_darts_tf.genotype import one_line_form
  for line in one_line_form(genotype):
    print(line)
  eq1_meta = genotype.meta.get("eq1")
  eq1_cost = eq1_meta["exact_cost"] if eq1_meta else exact
  print(f"  {'resource':<10} {'budget':>16} {'Φ at the end':>14} {'Eq. 1 network':>15} "
        f"{'derived':>13}")
  for resource in model.cost_tables.priced:
    b = bounds.get(resource)
    fmt = resources.get(resource).format
    verdict = "" if b is None else ("  inside" if b.contains(exact[resource]) else "  OUTSIDE")
    print(f"  {resource:<10} {str(b) if b is not None else '-':>16} "
          f"{fmt(genotype.meta['phi'][resource]):>14} {fmt(eq1_cost[resource]):>15} "
          f"{fmt(exact[resource]):>13}{verdict}")
  d = genotype.meta.get("decisiveness", {})
  if d:
    print(f"  θ decisiveness: the chosen op's weight averages {d['chosen_op_weight']:.2f} over the "
          f"kept edges (uniform {d['uniform']:.3f}), τ = {genotype.meta['temperature']:.3g}")
  if genotype.meta.get("budget_changes"):
    changes = genotype.meta["budget_changes"]
    print(f"  Eq. 1's genotype is outside the budget; the exact-budget derivation (MILP, "
          f"{genotype.meta['milp_seconds'] * 1000:.0f} ms) changed {len(changes)} node(s) "
          "(--derive=eq1 keeps Eq. 1's genotype):")
    for change in changes:
      print(f"    {change}")
  for warning in genotype.meta["warnings"]:
    print(f"  warning: {warning}")
  if loop.checkpoints_written:
    print(f"  checkpoints: {loop.checkpoints_written} written, {loop.checkpoint_seconds:.2f} s")
  print(f"  search time {genotype.meta['search_seconds']:.0f} s; wrote {out}/genotype.json")
  return 0


def run():
  """The `rc-darts-search` console script (cli.run: bad input is one line on stderr and exit 2)."""
  cli.run(main)


if __name__ == "__main__":
  run()
