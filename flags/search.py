"""Search flags: architecture optimizer, multi-level cells, connection cells, projection schedule.

Defaults are rc_darts_tf/search/hparams.py's: the RC-DARTS paper's CIFAR-10 search settings (see
../shared/DESIGN.md) where the paper gives one.
"""

from absl import flags as absl_flags

from flags._define import already_defined
from rc_darts_tf.search import hparams   # TensorFlow-free: the defaults' one source


def define_search_flags(flag_values=absl_flags.FLAGS, *, arch_learning_rate=None,
                        arch_weight_decay=hparams.ARCH_WEIGHT_DECAY, levels=hparams.LEVELS,
                        learn_connection=hparams.LEARN_CONNECTION,
                        projection_interval=hparams.PROJECTION_INTERVAL,
                        projection_iters=hparams.PROJECTION_ITERS, projection_lr=None,
                        warmup_steps=hparams.WARMUP_STEPS, lambda_init=hparams.LAMBDA_INIT,
                        lambda_decay=hparams.LAMBDA_DECAY,
                        temperature_init=hparams.TEMPERATURE_INIT,
                        temperature_final=hparams.TEMPERATURE_FINAL,
                        projection_method=hparams.PROJECTION_METHOD):
  """The search's flags (epochs, rates, levels, projection, temperature, ...) on `flag_values`,
  defaults from search/hparams.py unless given here; a second call is a no-op."""
  if already_defined(flag_values, "arch_learning_rate"):
    return
  absl_flags.DEFINE_float(
      "arch_learning_rate", arch_learning_rate,
      "Adam learning rate of the architecture parameters θ. Default: the paper's 3e-4 scaled by "
      "19,550 / S for a search of S steps (epochs × steps per epoch), so θ can travel as far "
      "(≈ 5.9) as in the paper's 50-epoch CIFAR-10 search; 3e-4 at the paper's length.",
      lower_bound=0.0, flag_values=flag_values)
  absl_flags.DEFINE_float("arch_weight_decay", arch_weight_decay, "Weight decay of θ.",
                          lower_bound=0.0, flag_values=flag_values)
  absl_flags.DEFINE_integer(
      "levels", levels,
      "Depth groups of normal cells with their own θ (1 = DARTS: all normal cells share θ).",
      lower_bound=1, flag_values=flag_values)
  absl_flags.DEFINE_boolean(
      "learn_connection", learn_connection,
      "Learn the connection cell between cells (dil_conv_3x3 / 1x1 group conv g=1,2,4); "
      "--nolearn_connection uses DARTS's fixed 1x1 convolution.", flag_values=flag_values)
  absl_flags.DEFINE_integer("projection_interval", projection_interval,
                            "e_u: phase-I steps between two projections.", lower_bound=1,
                            flag_values=flag_values)
  absl_flags.DEFINE_integer("projection_iters", projection_iters,
                            "e_p: maximum iterations of one projection.", lower_bound=1,
                            flag_values=flag_values)
  absl_flags.DEFINE_float(
      "projection_lr", projection_lr,
      "Adam learning rate of the Eq. 8 projection (--projection_method=penalty). Default: 3e-4 "
      "scaled by 19,550 / S like --arch_learning_rate.", lower_bound=0.0,
      flag_values=flag_values)
  absl_flags.DEFINE_enum(
      "projection_method", projection_method, ["newton", "penalty"],
      "newton: solve Eq. 7 (the nearest θ with Φ inside the bounds) by sequential linearisation "
      "of the active constraints; ends feasible in a few iterations. penalty: the paper's Eq. 8, "
      "Adam on ½‖θ − θ_p‖² + λ·hinge violations (--projection_lr, --lambda_init, "
      "--lambda_decay).", flag_values=flag_values)
  absl_flags.DEFINE_float(
      "temperature_init", temperature_init,
      "Softmax temperature τ of the mixed ops, Φ and derivation at the first step: weights are "
      "softmax(θ / τ).", lower_bound=1e-3, flag_values=flag_values)
  absl_flags.DEFINE_float(
      "temperature_final", temperature_final,
      "τ at the last step; τ is annealed exponentially from --temperature_init, so the mixed ops "
      "and Φ end concentrated on the ops Eq. 1 derives (Φ ≈ the derived network's exact cost). "
      "Equal to --temperature_init: no annealing (1.0 and 1.0: the paper's softmax).",
      lower_bound=1e-3, flag_values=flag_values)
  absl_flags.DEFINE_float(
      "lambda_init", lambda_init,
      "λ of the first projection (weight of the scaled constraint violation against "
      "½‖θ − θ_p‖²).", lower_bound=0.0, flag_values=flag_values)
  absl_flags.DEFINE_float("lambda_decay", lambda_decay,
                          "λ is multiplied by this after every projection (exponential decay).",
                          lower_bound=0.0, upper_bound=1.0, flag_values=flag_values)
  absl_flags.DEFINE_enum(
      "derive", "budget", ["budget", "eq1"],
      "eq1: the paper's derivation (top-2 edges, argmax op). budget: the same, then, if its exact "
      "cost is outside the budget, the genotype of highest θ log-probability whose exact cost "
      "is inside every bound (a mixed-integer program, scipy.optimize.milp); both genotypes, "
      "their costs and the changes are recorded.", flag_values=flag_values)
  absl_flags.DEFINE_integer(
      "checkpoint_steps", 200,
      "Write a search checkpoint every this many steps (and at every epoch end); a run started "
      "again with the same --output_dir resumes from the newest one. 0 = at epoch ends only.",
      lower_bound=0, flag_values=flag_values)
  from rc_darts_tf import search_space   # TensorFlow-free: the spaces as data
  absl_flags.DEFINE_enum(
      "search_space", search_space.DEFAULT.name, list(search_space.SPACES),
      "The candidate ops: " + "; ".join(
          f"{name} ({space.description}: "
          f"{', '.join(op for op in space.primitives if op != 'none')})"
          for name, space in search_space.SPACES.items())
      + ". θ has one column per op; the space is recorded in every file the search writes.",
      flag_values=flag_values)
  absl_flags.DEFINE_integer(
      "partial_channels", 1,
      "K of partial-channel search (PC-DARTS, Xu et al. 2020): 1/K of every edge's channels go "
      "through the mixed op, the rest bypass it, channels are shuffled, and edges are weighted "
      "by their normalised β, which also enters the edge strength of derivation and of Φ's "
      "σ. Cuts the mixed ops' work about K-fold (measured at K = 4, paper size: the whole step "
      "1.5-1.7x faster, peak memory 1.9-2.2x lower); the cost "
      "tables and Φ stay those of the derived (full-width) network. Must divide "
      "--init_channels. 1 = DARTS (off).", lower_bound=1, flag_values=flag_values)
  absl_flags.DEFINE_integer(
      "warmup_steps", warmup_steps,
      "Length of the first phase I (warm start) in steps; 0 = one epoch.", lower_bound=0,
      flag_values=flag_values)
