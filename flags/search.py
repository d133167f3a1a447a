"""Search flags: architecture optimizer, multi-level cells, connection cells, projection schedule.

Defaults are the RC-DARTS paper's CIFAR-10 search settings (see ../shared/DESIGN.md).
"""

from absl import flags as absl_flags

from flags._define import already_defined


def define_search_flags(flag_values=absl_flags.FLAGS, *, arch_learning_rate=3e-4,
                        arch_weight_decay=1e-3, levels=3, learn_connection=True,
                        projection_interval=150, projection_iters=500, projection_lr=3e-4,
                        warmup_steps=0, lambda_init=10.0, lambda_decay=0.97):
  if already_defined(flag_values, "arch_learning_rate"):
    return
  absl_flags.DEFINE_float("arch_learning_rate", arch_learning_rate,
                          "Adam learning rate of the architecture parameters θ.",
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
  absl_flags.DEFINE_float("projection_lr", projection_lr, "Adam learning rate of the projection.",
                          lower_bound=0.0, flag_values=flag_values)
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
      "cost is outside the budget, the fewest op changes (by θ's preference) that bring it "
      "inside; both genotypes and costs are recorded.", flag_values=flag_values)
  absl_flags.DEFINE_integer(
      "checkpoint_steps", 200,
      "Write a search checkpoint every this many steps (and at every epoch end); a run started "
      "again with the same --output_dir resumes from the newest one. 0 = at epoch ends only.",
      lower_bound=0, flag_values=flag_values)
  absl_flags.DEFINE_integer(
      "warmup_steps", warmup_steps,
      "Length of the first phase I (warm start) in steps; 0 = one epoch.", lower_bound=0,
      flag_values=flag_values)
