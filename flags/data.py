"""Data flags: which dataset, where it lives, how it is split and augmented."""

from absl import flags as absl_flags

from flags._define import already_defined, check
from rc_darts_tf import dataset_names


def define_data_flags(flag_values=absl_flags.FLAGS, *, dataset="sample", image_size=0,
                      train_portion=0.5, cutout=False, cutout_length=16):
  """--dataset, --data_dir, --manual_dir, --download, --image_size, --train_portion, --cutout
  and --cutout_length on `flag_values` with these defaults; a second call is a no-op."""
  if already_defined(flag_values, "dataset"):
    return
  absl_flags.DEFINE_string(
      "dataset", dataset,
      "Dataset: " + ", ".join(dataset_names.TFDS_NAMES) + ", 'imagefolder:PATH' (a "
      "PATH/<split>/<label>/<image> tree with a 'train' split and a 'test' or 'validation' "
      "split), or 'sample' (a small set of real CIFAR-10 images bundled with the package).",
      flag_values=flag_values)

  def _validate(value):
    problem = dataset_names.dataset_name_problem(value)
    if problem:
      raise absl_flags.ValidationError(problem)
    return True

  absl_flags.register_validator("dataset", _validate, flag_values=flag_values)
  absl_flags.DEFINE_string(
      "data_dir", None,
      "tensorflow-datasets data directory (default: tfds's own, ~/tensorflow_datasets).",
      flag_values=flag_values)
  absl_flags.DEFINE_string(
      "manual_dir", None,
      "Directory holding manually downloaded archives (imagenet2012: ILSVRC2012_img_train.tar "
      "and ILSVRC2012_img_val.tar); prepared once into --data_dir.", flag_values=flag_values)
  absl_flags.DEFINE_boolean(
      "download", True,
      "Let tensorflow-datasets download and prepare a missing cifar10/cifar100. With --nodownload "
      "(or no network) a missing dataset is an error.", flag_values=flag_values)
  absl_flags.DEFINE_integer(
      "image_size", image_size,
      "Side of the square network input; 0 = the dataset's own (32 for CIFAR and the sample, "
      "224 for imagenet2012, the first image's size for imagefolder). Images of other sizes "
      "are resized. At most " + str(dataset_names.MAX_IMAGE_SIZE) + ", given or inferred (a tree "
      "whose first image is larger needs this flag).", lower_bound=0,
      upper_bound=dataset_names.MAX_IMAGE_SIZE, flag_values=flag_values)
  absl_flags.DEFINE_float(
      "train_portion", train_portion,
      "Search only: share of the training split used to train the weights; the rest (disjoint, "
      "chosen by a seeded permutation) trains the architecture.", flag_values=flag_values)
  check(flag_values, "train_portion", lambda v: 0.0 < v < 1.0,
        "must be strictly between 0 and 1")
  absl_flags.DEFINE_boolean("cutout", cutout, "Retraining only: use cutout augmentation.",
                            flag_values=flag_values)
  absl_flags.DEFINE_integer("cutout_length", cutout_length, "Side of the cutout square, pixels.",
                            lower_bound=1, flag_values=flag_values)
