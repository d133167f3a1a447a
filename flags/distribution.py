"""Distribution flags: which tf.distribute strategy runs the search / training."""

from absl import flags as absl_flags

from flags._define import already_defined

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def define_distribution_flags(flag_values=absl_flags.FLAGS):
  """--strategy (default, mirrored, multi_worker, tpu) and --tpu on `flag_values`; a second call
  is a no-op."""
  if already_defined(flag_values, "strategy"):
    return
  absl_flags.DEFINE_enum(
      "strategy", "default", list(STRATEGIES),
      "tf.distribute strategy: default (one device), mirrored (all local GPUs), multi_worker "
      "(reads TF_CONFIG), tpu (see --tpu). Batch sizes are global.", flag_values=flag_values)
  absl_flags.DEFINE_string("tpu", None, "TPU name or address for --strategy=tpu.",
                           flag_values=flag_values)
