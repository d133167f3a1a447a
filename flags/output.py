"""Output flags: where a run writes and whether it may replace an earlier run."""

from absl import flags as absl_flags

from flags._define import already_defined


def define_output_flags(flag_values=absl_flags.FLAGS, *, output_dir="runs/default"):
  """--output_dir (default `output_dir`) and --overwrite on `flag_values`; a second call is a
  no-op."""
  if already_defined(flag_values, "output_dir"):
    return
  absl_flags.DEFINE_string(
      "output_dir", output_dir,
      "Directory for everything the run writes (flags, checkpoints, TensorBoard events, results). "
      "Re-running with the same directory resumes.", flag_values=flag_values)
  absl_flags.DEFINE_boolean(
      "overwrite", False,
      "Allow a run with different settings to replace what --output_dir holds.",
      flag_values=flag_values)
