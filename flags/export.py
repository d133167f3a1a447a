"""Export flags: which artifacts to write and how to measure them."""

from absl import flags as absl_flags

from flags._define import already_defined

FORMATS = ("tflite_fp32", "tflite_fp16", "tflite_int8", "onnx")


def define_export_flags(flag_values=absl_flags.FLAGS):
  if already_defined(flag_values, "formats"):
    return
  absl_flags.DEFINE_multi_enum(
      "formats", list(FORMATS), list(FORMATS),
      "Artifacts to write (repeat the flag or pass a comma-free list): " + ", ".join(FORMATS),
      flag_values=flag_values)
  absl_flags.DEFINE_integer("opset", 17, "ONNX opset (>= 17).", lower_bound=17,
                            flag_values=flag_values)
  absl_flags.DEFINE_integer("threads", 1, "Interpreter / runtime threads for latency.",
                            lower_bound=1, flag_values=flag_values)
  absl_flags.DEFINE_integer("parity_images", 64, "Images compared between Keras and artifacts.",
                            lower_bound=1, flag_values=flag_values)
  absl_flags.DEFINE_integer("latency_runs", 50, "Timed runs at batch 1.", lower_bound=1,
                            flag_values=flag_values)
  absl_flags.DEFINE_integer("warmup_runs", 5, "Untimed warm-up runs before timing.",
                            lower_bound=0, flag_values=flag_values)
