"""What a dataset is once loaded (Source: encoded splits, classes, geometry, normalisation) and the
two pipelines' holders (SearchData, RetrainData); the datasets' statistics."""

import dataclasses
from typing import Callable, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from rc_darts_tf import preprocessing


AUTOTUNE = tf.data.AUTOTUNE

CIFAR10_MEAN = (0.49139968, 0.48215827, 0.44653124)
CIFAR10_STD = (0.24703233, 0.24348505, 0.26158768)
CIFAR100_MEAN = (0.5070751, 0.48654887, 0.44091785)
CIFAR100_STD = (0.26733428, 0.25643846, 0.27615047)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

IMAGENET_STYLE_MIN_SIZE = preprocessing.IMAGENET_STYLE_MIN_SIZE   # ImageNet-style from this side
CACHE_LIMIT_BYTES = 4 << 30       # decoded images are cached in memory below this size
STATS_EXAMPLES = 2000             # images used to estimate mean/std of an ImageFolder tree


@dataclasses.dataclass
class Source:
  """A dataset before splitting: encoded images with integer labels, in a deterministic order."""

  name: str
  num_classes: int
  class_names: List[str]
  image_size: int                 # side of the square network input
  mean: Tuple[float, float, float]
  std: Tuple[float, float, float]
  num_train: int
  num_test: Optional[int]         # None when the dataset has no test split
  train_encoded: Callable[[], tf.data.Dataset]            # yields (encoded image, int64 label)
  test_encoded: Optional[Callable[[], tf.data.Dataset]]

  @property
  def style(self) -> str:
    """'imagenet' (random-resized crop, resize + centre crop) or 'cifar' (pad + crop)."""
    return "imagenet" if self.image_size >= IMAGENET_STYLE_MIN_SIZE else "cifar"

  @property
  def input_shape(self) -> Tuple[int, int, int]:
    """One image's shape (H, W, 3) with H = W = image_size."""
    return (self.image_size, self.image_size, 3)


@dataclasses.dataclass
class SearchData:
  """The two disjoint halves of the training split used by the search, batched and augmented."""

  train: tf.data.Dataset          # trains the weights w
  val: tf.data.Dataset            # trains the architecture θ
  num_train: int
  num_val: int
  batch_size: int
  train_indices: np.ndarray       # positions (in the source's order) of the w half
  val_indices: np.ndarray         # positions of the θ half

  @property
  def steps_per_epoch(self) -> int:
    """Full batches of the smaller half: min(num_train, num_val) // batch_size."""
    return min(self.num_train, self.num_val) // self.batch_size

  def pairs(self) -> tf.data.Dataset:
    """((x_train, y_train), (x_val, y_val)) per step, as the search's train_step expects."""
    return tf.data.Dataset.zip((self.train, self.val))


@dataclasses.dataclass
class RetrainData:
  """A training set and an evaluation set (`test`: the test split, or the held-out half of
  holdout_split), batched; num_train, num_test count examples."""

  train: tf.data.Dataset
  test: tf.data.Dataset
  num_train: int
  num_test: int
  batch_size: int

  @property
  def steps_per_epoch(self) -> int:
    """Full training batches per epoch: num_train // batch_size."""
    return self.num_train // self.batch_size
