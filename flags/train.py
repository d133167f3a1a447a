"""Training flags (DARTS names), shared by the search and retraining with different defaults."""

from absl import flags as absl_flags

from flags._define import already_defined, check


def define_batch_flags(flag_values=absl_flags.FLAGS, *, batch_size=64, seed=2):
  """--batch_size (global, summed over replicas) and --seed."""
  if already_defined(flag_values, "batch_size"):
    return
  absl_flags.DEFINE_integer(
      "batch_size", batch_size,
      "Global batch size (summed over all replicas under a distribution strategy).",
      lower_bound=1, flag_values=flag_values)
  absl_flags.DEFINE_integer("seed", seed, "Random seed (data split, shuffling, augmentation, init).",
                            lower_bound=0, flag_values=flag_values)
  define_deterministic_flag(flag_values)


def define_deterministic_flag(flag_values=absl_flags.FLAGS):
  """--deterministic: seeded everything plus TensorFlow's op determinism."""
  if already_defined(flag_values, "deterministic"):
    return
  absl_flags.DEFINE_boolean(
      "deterministic", False,
      "Reproducible to the bit: seeds every generator from --seed and turns on "
      "tf.config.experimental.enable_op_determinism (slower on GPUs). A run killed at any "
      "point and resumed then ends with the same result as an uninterrupted one.",
      flag_values=flag_values)


def define_train_flags(flag_values=absl_flags.FLAGS, *, batch_size=64, seed=2,
                       learning_rate=0.025, learning_rate_min=0.001, momentum=0.9,
                       weight_decay=3e-4, epochs=50, init_channels=16, layers=8,
                       drop_path_prob=0.0, auxiliary=False, auxiliary_weight=0.4, grad_clip=5.0,
                       report_freq=50):
  """Optimizer and network-size flags. Defaults are DARTS's search recipe."""
  define_batch_flags(flag_values, batch_size=batch_size, seed=seed)
  if already_defined(flag_values, "learning_rate"):
    return
  absl_flags.DEFINE_float("learning_rate", learning_rate,
                          "Initial learning rate of the weights (SGD, cosine schedule).",
                          flag_values=flag_values)
  check(flag_values, "learning_rate", lambda v: v > 0, "must be > 0")
  absl_flags.DEFINE_float("learning_rate_min", learning_rate_min,
                          "Final learning rate of the cosine schedule.", lower_bound=0.0,
                          flag_values=flag_values)
  absl_flags.DEFINE_float("momentum", momentum, "SGD momentum.", lower_bound=0.0,
                          upper_bound=1.0, flag_values=flag_values)
  absl_flags.DEFINE_float("weight_decay", weight_decay, "L2 weight decay of the weights.",
                          lower_bound=0.0, flag_values=flag_values)
  absl_flags.DEFINE_integer("epochs", epochs, "Number of epochs.", lower_bound=1,
                            flag_values=flag_values)
  absl_flags.DEFINE_integer("init_channels", init_channels, "Channels C of the first cell.",
                            lower_bound=1, flag_values=flag_values)
  absl_flags.DEFINE_integer("layers", layers,
                            "Number of cells (reduction cells at 1/3 and 2/3 depth).",
                            lower_bound=3, flag_values=flag_values)
  absl_flags.DEFINE_float("drop_path_prob", drop_path_prob,
                          "Drop-path probability, ramped linearly over training.",
                          lower_bound=0.0, upper_bound=1.0, flag_values=flag_values)
  check(flag_values, "drop_path_prob", lambda v: v < 1.0, "must be in [0, 1)")
  absl_flags.DEFINE_boolean("auxiliary", auxiliary, "Use the auxiliary head at 2/3 depth.",
                            flag_values=flag_values)
  absl_flags.DEFINE_float("auxiliary_weight", auxiliary_weight, "Weight of the auxiliary loss.",
                          lower_bound=0.0, flag_values=flag_values)
  absl_flags.DEFINE_float("grad_clip", grad_clip, "Global gradient-norm clip; 0 disables it.",
                          lower_bound=0.0, flag_values=flag_values)
  absl_flags.DEFINE_integer("report_freq", report_freq, "Log every this many steps.",
                            lower_bound=1, flag_values=flag_values)


def define_accelerator_flags(flag_values=absl_flags.FLAGS):
  """--jit_compile (XLA) and --mixed_precision (mixed_float16 with loss scaling)."""
  if already_defined(flag_values, "jit_compile"):
    return
  absl_flags.DEFINE_boolean(
      "jit_compile", False,
      "Compile the training step with XLA (tf.function(jit_compile=True)). Worth it on a GPU; on "
      "a CPU the first step takes much longer to compile. Off by default (Keras's own 'auto' "
      "would turn it on for GPUs).", flag_values=flag_values)
  absl_flags.DEFINE_boolean(
      "mixed_precision", False,
      "Compute in float16 with float32 variables (Keras's mixed_float16 policy) and dynamic loss "
      "scaling; θ, Φ, the projection and the saved network stay float32. For GPUs with tensor "
      "cores; on a CPU float16 is slower.", flag_values=flag_values)
