"""Retraining flags: the genotype, the paper's recipes as presets, and the recipe's extras."""

from absl import flags as absl_flags

from flags._define import already_defined

# DARTS's evaluation recipes (train.py / train_imagenet.py). A preset sets every flag below that
# the command line does not set itself.
PRESETS = {
    "cifar10": dict(layers=20, init_channels=36, epochs=600, batch_size=96, learning_rate=0.025,
                    learning_rate_min=0.0, momentum=0.9, weight_decay=3e-4, grad_clip=5.0,
                    cutout=True, cutout_length=16, drop_path_prob=0.3, auxiliary=True,
                    auxiliary_weight=0.4, lr_schedule="cosine", label_smoothing=0.0,
                    stem="cifar"),
    "imagenet": dict(layers=14, init_channels=48, epochs=250, batch_size=128, learning_rate=0.1,
                     momentum=0.9, weight_decay=3e-5, grad_clip=5.0, cutout=False,
                     drop_path_prob=0.0, auxiliary=True, auxiliary_weight=0.4,
                     lr_schedule="exponential", lr_decay_rate=0.97, label_smoothing=0.1,
                     stem="imagenet"),
}


def define_genotype_flag(flag_values=absl_flags.FLAGS, default=None):
  """--genotype (default `default`) on `flag_values`; a second call is a no-op."""
  if already_defined(flag_values, "genotype"):
    return
  absl_flags.DEFINE_string(
      "genotype", default,
      "Architecture: a genotype JSON file (e.g. a search's genotype.json), a DARTS-style "
      "'Genotype(normal=[...], ...)' string, or a registered name (DARTS_V1, DARTS_V2, DARTS, "
      "PDARTS).", flag_values=flag_values)


def define_retrain_flags(flag_values=absl_flags.FLAGS, *, preset="cifar10"):
  """--genotype (default DARTS_V2) and rc-darts-train's recipe flags (--preset, --stem,
  --lr_schedule, --lr_decay_rate, --label_smoothing, --eval_every, --max_steps_per_epoch) on
  `flag_values`; a second call is a no-op."""
  define_genotype_flag(flag_values, "DARTS_V2")
  if already_defined(flag_values, "preset"):
    return
  absl_flags.DEFINE_enum(
      "preset", preset, ["none"] + list(PRESETS),
      "Recipe: cifar10 (20 cells, C=36, 600 epochs, batch 96, cosine lr 0.025, wd 3e-4, cutout 16, "
      "drop path 0.3, auxiliary 0.4) or imagenet (14 cells, C=48, 250 epochs, batch 128, lr 0.1 "
      "x0.97 per epoch, wd 3e-5, label smoothing 0.1, auxiliary 0.4); every value can be "
      "overridden by its own flag; none = the flags' own defaults.", flag_values=flag_values)
  absl_flags.DEFINE_enum("stem", "cifar", ["cifar", "imagenet"],
                         "Network stem: cifar (3x3 conv, 3C) or imagenet (two strided stems, /8).",
                         flag_values=flag_values)
  absl_flags.DEFINE_enum("lr_schedule", "cosine", ["cosine", "exponential"],
                         "cosine (to --learning_rate_min) or exponential (x --lr_decay_rate per "
                         "epoch).", flag_values=flag_values)
  absl_flags.DEFINE_float("lr_decay_rate", 0.97, "Per-epoch factor of the exponential schedule.",
                          lower_bound=0.0, upper_bound=1.0, flag_values=flag_values)
  absl_flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing of the cross-entropy.",
                          lower_bound=0.0, upper_bound=0.5, flag_values=flag_values)
  absl_flags.DEFINE_integer("eval_every", 1, "Evaluate on the test split every N epochs (and at "
                            "the end).", lower_bound=1, flag_values=flag_values)
  absl_flags.DEFINE_integer("max_steps_per_epoch", 0, "Cap on steps per epoch (0 = the whole "
                            "training split; for quick runs).", lower_bound=0,
                            flag_values=flag_values)


def define_evaluate_flag(flag_values=absl_flags.FLAGS):
  """--evaluate=MODEL_DIR (evaluate a trained model instead of training) on `flag_values`; a
  second call is a no-op."""
  if already_defined(flag_values, "evaluate"):
    return
  absl_flags.DEFINE_string(
      "evaluate", None,
      "Evaluate a trained model instead of training: DIR written by rc-darts-train (model.keras "
      "+ model_info.json), on --dataset's test split, with the model's own preprocessing (its "
      "training set's mean/std, not the dataset's). Prints top-1 accuracy and loss; writes "
      "nothing.", flag_values=flag_values)


def apply_preset(flag_values=absl_flags.FLAGS):
  """Give every flag of the chosen preset its preset value unless the command line set it.
  Returns the names that were set."""
  name = flag_values["preset"].value
  if name == "none":
    return []
  changed = []
  for key, value in PRESETS[name].items():
    if key in flag_values and not flag_values[key].present:
      setattr(flag_values, key, value)
      changed.append(key)
  return changed
