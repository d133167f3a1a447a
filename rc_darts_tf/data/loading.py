"""Loading a --dataset into a Source: tfds (cifar10, cifar100, imagenet2012) or an ImageFolder tree
(imagefolder:PATH, the bundled sample), each image checked once."""

from typing import Callable, Optional

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from rc_darts_tf import dataset_check, dataset_names, image_tree
from rc_darts_tf.errors import DatasetError
from rc_darts_tf.data.sources import (
    AUTOTUNE, CIFAR100_MEAN, CIFAR100_STD, CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD,
    IMAGENET_STYLE_MIN_SIZE, STATS_EXAMPLES, Source)
from rc_darts_tf.data.pipelines import decode


def load_source(dataset: str, data_dir: Optional[str] = None, manual_dir: Optional[str] = None,
                download: bool = True, image_size: int = 0,
                facts: Optional[dataset_check.DatasetFacts] = None) -> Source:
  """Open `dataset` (see module doc). Raises DatasetError, within seconds, when it is unavailable,
  and for an ImageFolder tree when an image cannot be decoded (every image is decoded once first,
  see image_tree). `facts`: what dataset_check.dataset_facts returned for the same arguments
  (entry points check the dataset before importing TensorFlow); None checks it here."""
  if facts is None:
    facts = dataset_check.dataset_facts(dataset, data_dir, manual_dir, download, image_size)
  dataset_check.verify_images(facts)
  if facts.tree is not None:
    stats = (CIFAR10_MEAN, CIFAR10_STD) if facts.kind == "sample" else None
    return _imagefolder_source(facts.tree, stats)
  return _tfds_source(dataset_names.parse(dataset)[1], facts)


def _imagefolder_source(tree: image_tree.Tree, stats) -> Source:
  """A Source reading the files of a scanned (and verified) tree, in the tree's order."""

  def encoded(items):
    paths = [path for path, _ in items]
    labels = np.array([label for _, label in items], np.int64)

    def make():
      ds = tf.data.Dataset.from_tensor_slices((paths, labels))
      return ds.map(lambda path, label: (tf.io.read_file(path), label),
                    num_parallel_calls=AUTOTUNE)
    return make

  train_encoded = encoded(tree.train)
  image_size = tree.image_size
  if stats is None:
    stats = (IMAGENET_MEAN, IMAGENET_STD) if image_size >= IMAGENET_STYLE_MIN_SIZE else \
        _estimate_stats(train_encoded(), image_size)
  return Source(
      name=tree.name, num_classes=tree.num_classes, class_names=list(tree.class_names),
      image_size=image_size, mean=tuple(stats[0]), std=tuple(stats[1]), num_train=len(tree.train),
      num_test=len(tree.test) if tree.test is not None else None, train_encoded=train_encoded,
      test_encoded=encoded(tree.test) if tree.test is not None else None)


def _estimate_stats(encoded: tf.data.Dataset, image_size: int):
  """Per-channel mean and std (in [0, 1] units) of the first STATS_EXAMPLES training images."""
  ds = encoded.take(STATS_EXAMPLES).map(
      lambda img, label: decode(img, image_size), num_parallel_calls=AUTOTUNE).batch(500)
  total = np.zeros(3)
  total_sq = np.zeros(3)
  count = 0
  for images in ds.as_numpy_iterator():
    pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
    total += pixels.sum(0)
    total_sq += (pixels ** 2).sum(0)
    count += pixels.shape[0]
  mean = total / count
  std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 1e-12))
  return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _tfds_source(name: str, facts: dataset_check.DatasetFacts) -> Source:
  builder = _prepared_builder(name, facts)
  info = builder.info
  stats = {"cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
           "imagenet2012": (IMAGENET_MEAN, IMAGENET_STD)}[name]
  test_split = "validation" if name == "imagenet2012" else "test"

  def encoded(split):
    def make():
      return builder.as_dataset(split=split, shuffle_files=False, as_supervised=True,
                                decoders={"image": tfds.decode.SkipDecoding()})
    return make

  class_names = list(info.features["label"].names)
  return Source(
      name=name, num_classes=len(class_names), class_names=class_names,
      image_size=facts.image_size, mean=stats[0], std=stats[1],
      num_train=_num_examples(info, "train", encoded("train")),
      num_test=_num_examples(info, test_split, encoded(test_split)),
      train_encoded=encoded("train"), test_encoded=encoded(test_split))


def _num_examples(info, split: str, make: Callable[[], tf.data.Dataset]) -> int:
  """The split size from the dataset's metadata, or counted when the metadata lacks it."""
  if split in info.splits:
    return int(info.splits[split].num_examples)
  ds = make()
  count = int(ds.cardinality())
  if count < 0:
    count = int(ds.reduce(np.int64(0), lambda total, _: total + 1))
  return count


def _prepared_builder(name, facts: dataset_check.DatasetFacts):
  """The tfds builder of `facts`, prepared now when dataset_check found it preparable."""
  builder = facts.builder
  if facts.prepare is None:
    return builder
  config = None
  if facts.prepare["manual_dir"]:
    config = tfds.download.DownloadConfig(manual_dir=facts.prepare["manual_dir"])
  try:
    builder.download_and_prepare(download_config=config)
  except Exception as error:
    raise DatasetError(f"dataset {name}: preparing it under {facts.prepare['root']} failed "
                       f"({type(error).__name__}: {' '.join(str(error).split())[:300]})") from None
  return builder
