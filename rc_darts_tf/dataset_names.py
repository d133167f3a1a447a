"""Dataset names accepted by `--dataset` (kept free of TensorFlow so flag parsing stays fast)."""

from typing import Optional, Tuple

TFDS_NAMES = ("cifar10", "cifar100", "imagenet2012")
SAMPLE = "sample"
IMAGEFOLDER_PREFIX = "imagefolder:"
TFDS_NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet2012": 1000}
TFDS_IMAGE_SIZE = {"cifar10": 32, "cifar100": 32, "imagenet2012": 224}   # the input side by default
MAX_IMAGE_SIZE = 1024   # the largest network input side: --image_size, or inferred from a tree


def parse(name: str) -> Tuple[str, str]:
  """Return (kind, argument): ('tfds', 'cifar10'), ('imagefolder', PATH) or ('sample', '')."""
  problem = dataset_name_problem(name)
  if problem:
    from rc_darts_tf.errors import DatasetError
    raise DatasetError(problem)
  if name in TFDS_NAMES:
    return "tfds", name
  if name == SAMPLE:
    return "sample", ""
  return "imagefolder", name[len(IMAGEFOLDER_PREFIX):]


def dataset_name_problem(name: Optional[str]) -> Optional[str]:
  """None when `name` is a valid dataset name, else a one-line explanation."""
  allowed = ", ".join(TFDS_NAMES + (SAMPLE,)) + " or imagefolder:PATH"
  if not name:
    return f"no dataset given: use one of {allowed}"
  if name in TFDS_NAMES or name == SAMPLE:
    return None
  if name.startswith(IMAGEFOLDER_PREFIX):
    if not name[len(IMAGEFOLDER_PREFIX):]:
      return f"dataset {name!r}: imagefolder needs a path, e.g. imagefolder:/data/my_images"
    return None
  return f"unknown dataset {name!r}: use one of {allowed}"
