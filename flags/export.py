"""Export flags: what to export (a trained model directory or a genotype with random weights),
which artifacts to write and how to measure them."""

from absl import flags as absl_flags

from flags._define import already_defined

FORMATS = ("tflite_fp32", "tflite_fp16", "tflite_int8", "onnx")


def define_export_flags(flag_values=absl_flags.FLAGS):
  """--formats, --opset, --threads, --parity_images, --latency_runs, --warmup_runs,
  --latency_rounds, --calibration_images, --require_parity on `flag_values`; a second call is a
  no-op."""
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
  absl_flags.DEFINE_integer(
      "latency_rounds", 10,
      "The timed runs are split into this many blocks 0.25 s apart (at most one block per run); "
      "besides the median and p90 of all runs the report gives the median of the quietest "
      "block, the statistic latency tables are measured with (a predicted latency is compared "
      "with it).", lower_bound=1,
      flag_values=flag_values)
  absl_flags.DEFINE_integer("calibration_images", 200,
                            "Representative images for full-integer int8 calibration (training "
                            "split of --dataset, or generated).", lower_bound=1,
                            flag_values=flag_values)
  absl_flags.DEFINE_boolean("require_parity", False,
                            "Exit 1 (after writing everything) when a file fails its parity "
                            "check.", flag_values=flag_values)


def define_export_source_flags(flag_values=absl_flags.FLAGS):
  """--model_dir, or --genotype plus the geometry of a random-weight network. Geometry flags
  other entry points already define (--init_channels, --layers, --stem) are reused."""
  if not already_defined(flag_values, "model_dir"):
    absl_flags.DEFINE_string(
        "model_dir", None,
        "A trained model directory written by rc-darts-train (model.keras, model_info.json). "
        "Give this or --genotype.", flag_values=flag_values)
  if not already_defined(flag_values, "genotype"):
    absl_flags.DEFINE_string(
        "genotype", None,
        "Export this genotype with random weights (cost-only studies): a genotype JSON file, a "
        "DARTS-style 'Genotype(normal=[...], ...)' string, or a registered name (DARTS_V1, "
        "DARTS_V2, DARTS, PDARTS). Give this or --model_dir.", flag_values=flag_values)
  if not already_defined(flag_values, "init_channels"):
    absl_flags.DEFINE_integer("init_channels", 36, "With --genotype: channels C of the first "
                              "cell.", lower_bound=2, flag_values=flag_values)
  if not already_defined(flag_values, "layers"):
    absl_flags.DEFINE_integer("layers", 20, "With --genotype: number of cells.", lower_bound=3,
                              flag_values=flag_values)
  if not already_defined(flag_values, "stem"):
    absl_flags.DEFINE_enum("stem", "cifar", ["cifar", "imagenet"],
                           "With --genotype: network stem (cifar: 3x3 conv, 3C; imagenet: two "
                           "strided stems, /8).", flag_values=flag_values)
  if not already_defined(flag_values, "num_classes"):
    absl_flags.DEFINE_integer("num_classes", 10, "With --genotype: classes of the classifier "
                              "(the dataset's when --dataset is given).", lower_bound=1,
                              flag_values=flag_values)
