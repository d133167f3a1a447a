"""Input pipelines on tensorflow-datasets and tf.data.

Datasets (`--dataset`):
  cifar10, cifar100   `tfds.load` from `--data_dir` (downloaded and prepared once if missing and
                      the network is reachable)
  imagenet2012        tfds with the manually downloaded archives in `--manual_dir`
  imagefolder:PATH    a PATH/<split>/<label>/<image> tree with a `train` split and a `test` (or
                      `validation`, `val`) split, read as tfds.ImageFolder orders it; what is
                      read, skipped and refused: rc_darts_tf/image_tree.py (every image is
                      decoded once before a source is returned)
  sample              a small ImageFolder tree of real CIFAR-10 images bundled with the package
                      (400 train + 100 test, 10 classes, 32x32), so everything runs offline

Splits:
  search   the training split divided into two disjoint halves by a seeded permutation, as DARTS
           does: one trains the weights w, the other the architecture θ (`search_split`)
  retrain  the full training split vs. the test split (`retrain_split`)

Pipelines read encoded images (the files, or tfds `SkipDecoding`), keep only the examples of the
split, decode (and resize when the stored size differs from `image_size`), cache decoded uint8
images in memory when they fit, shuffle, batch, then augment and normalise whole batches at once:
random crop with 4-pixel (size/8) padding and horizontal flip for CIFAR-style inputs,
random-resized crop for ImageNet-style inputs (image_size >= 128), cutout when asked, per-channel
normalisation (the statistics a trained model records: preprocessing.py; `with_preprocessing`
evaluates a model on another dataset with the model's own). Random numbers come from stateless ops seeded by a seeded
`tf.data.Dataset.random`, so a pipeline is reproducible from its seed. Training batches have a
static batch size (drop_remainder) so that a train step is traced once.
"""

import dataclasses
from typing import Callable, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from rc_darts_tf import dataset_check, dataset_names, image_tree, preprocessing
from rc_darts_tf.dataset_check import DEFAULT_PROBE, PROBE_ENV, SAMPLE_DIR  # noqa: F401
from rc_darts_tf.errors import DatasetError
from rc_darts_tf.image_tree import TEST_SPLIT_NAMES  # noqa: F401

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


# --------------------------------------------------------------------------------------------
# Loading


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
      lambda img, label: _decode(img, image_size), num_parallel_calls=AUTOTUNE).batch(500)
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


# --------------------------------------------------------------------------------------------
# Splits


def search_split(source: Source, batch_size: int, train_portion: float = 0.5, seed: int = 2,
                 cache: Optional[bool] = None) -> SearchData:
  """DARTS's search split: the training split cut into two disjoint halves by a seeded permutation.

  Both halves get the training augmentation (as in DARTS, where both come from the training set
  with its transform). Batches are (float32 [B, S, S, 3] normalised images, int32 [B] labels).
  """
  train, val, in_w = search_subsets(source, train_portion, seed)
  num_w = int(in_w.sum())
  num_a = in_w.size - num_w
  dataset_check.check_halves(source.name, in_w.size, batch_size, train_portion)
  return SearchData(
      train=_train_pipeline(train, source, num_w, batch_size, seed=seed, cutout_length=0,
                            cache=cache),
      val=_train_pipeline(val, source, num_a, batch_size, seed=seed + 1, cutout_length=0,
                          cache=cache),
      num_train=num_w, num_val=num_a, batch_size=batch_size,
      train_indices=np.flatnonzero(in_w), val_indices=np.flatnonzero(~in_w))


def search_subsets(source: Source, train_portion: float = 0.5, seed: int = 2
                   ) -> Tuple[tf.data.Dataset, tf.data.Dataset, np.ndarray]:
  """The two halves as encoded (image, label) datasets, plus the boolean mask of the w half.

  floor(train_portion * N) examples, picked by a permutation seeded with `seed`, train the weights;
  the others train the architecture. The same seed gives the same halves on every run.
  """
  n = source.num_train
  num_w = int(np.floor(train_portion * n))
  permutation = np.random.default_rng(seed).permutation(n)
  in_w = np.zeros(n, dtype=bool)
  in_w[permutation[:num_w]] = True
  return (_subset(source.train_encoded(), in_w, keep=True),
          _subset(source.train_encoded(), in_w, keep=False), in_w)


def holdout_split(source: Source, batch_size: int, train_portion: float = 0.5, seed: int = 2,
                  cutout_length: int = 0, cache: Optional[bool] = None) -> RetrainData:
  """The training split cut in two (the search's halves, `search_subsets`): an augmented part to
  train on and a held-out part evaluated without augmentation (`test` here), for model selection
  that never looks at the test split (the tuner)."""
  train, val, in_w = search_subsets(source, train_portion, seed)
  num_w = int(in_w.sum())
  num_v = in_w.size - num_w
  dataset_check.check_halves(source.name, in_w.size, batch_size, train_portion)
  return RetrainData(
      train=_train_pipeline(train, source, num_w, batch_size, seed=seed,
                            cutout_length=cutout_length, cache=cache),
      test=eval_pipeline(val, source, num_v, batch_size, cache=cache),
      num_train=num_w, num_test=num_v, batch_size=batch_size)


def retrain_split(source: Source, batch_size: int, seed: int = 2, cutout_length: int = 0,
                  eval_batch_size: Optional[int] = None, cache: Optional[bool] = None
                  ) -> RetrainData:
  """The full training split (augmented, cutout if `cutout_length` > 0) and the test split."""
  if source.test_encoded is None:
    raise DatasetError(f"dataset {source.name}: no test split (expected a 'test', 'validation' or "
                       "'val' folder beside 'train')")
  if source.num_train < batch_size:
    raise DatasetError(f"dataset {source.name}: {source.num_train} training images give less "
                       f"than one batch of {batch_size}; lower --batch_size")
  train = _train_pipeline(source.train_encoded(), source, source.num_train, batch_size, seed=seed,
                          cutout_length=cutout_length, cache=cache)
  test = eval_pipeline(source.test_encoded(), source, source.num_test,
                       eval_batch_size or batch_size, cache=cache)
  return RetrainData(train=train, test=test, num_train=source.num_train,
                     num_test=source.num_test, batch_size=batch_size)


def _subset(encoded: tf.data.Dataset, mask: np.ndarray, keep: bool) -> tf.data.Dataset:
  table = tf.constant(mask if keep else ~mask)
  return (encoded.enumerate()
          .filter(lambda i, example: table[i])
          .map(lambda i, example: example))


# --------------------------------------------------------------------------------------------
# Pipelines


def _decode(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
  """Decode to uint8 [S, S, 3], resizing only when the stored size differs."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  shape = tf.shape(image)

  def resize():
    resized = tf.image.resize(image, [image_size, image_size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

  same = tf.logical_and(tf.equal(shape[0], image_size), tf.equal(shape[1], image_size))
  image = tf.cond(same, lambda: image, resize)
  return tf.ensure_shape(image, [image_size, image_size, 3])


def _should_cache(source: Source, count: int, cache: Optional[bool]) -> bool:
  if cache is not None:
    return cache
  return source.style == "cifar" and count * source.image_size ** 2 * 3 <= CACHE_LIMIT_BYTES


def _seeds(seed: int) -> tf.data.Dataset:
  """One stateless-RNG seed (int64 [2]) per element, different every epoch, reproducible."""
  return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def _normalise(images: tf.Tensor, source: Source) -> tf.Tensor:
  mean = tf.constant(source.mean, tf.float32) * 255.0
  std = tf.constant(source.std, tf.float32) * 255.0
  return (tf.cast(images, tf.float32) - mean) / std


def _train_pipeline(encoded: tf.data.Dataset, source: Source, count: int, batch_size: int,
                    seed: int, cutout_length: int, cache: Optional[bool]) -> tf.data.Dataset:
  size = source.image_size
  labels_int32 = lambda label: tf.cast(label, tf.int32)  # noqa: E731
  if source.style == "imagenet":
    ds = tf.data.Dataset.zip((encoded, _seeds(seed)))
    ds = ds.shuffle(min(count, 10_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda example, s: (_random_resized_crop(example[0], size, s),
                                    labels_int32(example[1])), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = tf.data.Dataset.zip((ds, _seeds(seed + 7919)))
    ds = ds.map(lambda batch, s: (_finish_batch(batch[0], source, s, cutout_length, crop=False),
                                  batch[1]), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
  ds = encoded.map(lambda image, label: (_decode(image, size), labels_int32(label)),
                   num_parallel_calls=AUTOTUNE)
  if _should_cache(source, count, cache):
    ds = ds.cache()
  ds = ds.shuffle(min(count, 50_000), seed=seed, reshuffle_each_iteration=True)
  ds = ds.batch(batch_size, drop_remainder=True)
  ds = tf.data.Dataset.zip((ds, _seeds(seed)))
  ds = ds.map(lambda batch, s: (_finish_batch(batch[0], source, s, cutout_length, crop=True),
                                batch[1]), num_parallel_calls=AUTOTUNE)
  return ds.prefetch(AUTOTUNE)


def with_preprocessing(source: Source, prep: preprocessing.Preprocessing) -> Source:
  """`source` normalised with a model's own statistics (preprocessing.Preprocessing) instead of
  its own: what evaluating, calibrating or checking a trained model on another dataset needs.
  Raises DatasetError when the image sizes differ."""
  if prep.image_size != source.image_size:
    raise DatasetError(f"{source.name} is read at {source.image_size}x{source.image_size}, the "
                       f"model takes {prep.image_size}x{prep.image_size}")
  return dataclasses.replace(source, mean=prep.mean, std=prep.std)


def eval_pipeline(encoded: tf.data.Dataset, source: Source, count: int, batch_size: int,
                  cache: Optional[bool] = None, normalise: bool = True) -> tf.data.Dataset:
  """Decode, resize (ImageNet style: shorter side to S/0.875, centre crop S), normalise, batch.
  With normalise=False the images stay raw pixels (float32 [B, S, S, 3] in [0, 255]), the input
  of preprocessing.pixel_model and of the exported files."""
  size = source.image_size
  if source.style == "imagenet":
    decode = lambda image: _center_crop(image, size)  # noqa: E731
  else:
    decode = lambda image: _decode(image, size)  # noqa: E731
  ds = encoded.map(lambda image, label: (decode(image), tf.cast(label, tf.int32)),
                   num_parallel_calls=AUTOTUNE)
  if _should_cache(source, count, cache):
    ds = ds.cache()
  ds = ds.batch(batch_size)
  if normalise:
    ds = ds.map(lambda images, labels: (_normalise(images, source), labels),
                num_parallel_calls=AUTOTUNE)
  else:
    ds = ds.map(lambda images, labels: (tf.cast(images, tf.float32), labels),
                num_parallel_calls=AUTOTUNE)
  return ds.prefetch(AUTOTUNE)


def _finish_batch(images: tf.Tensor, source: Source, seed: tf.Tensor, cutout_length: int,
                  crop: bool) -> tf.Tensor:
  """Augment a uint8 batch [B, S, S, 3] at once: pad-and-crop, flip, normalise, cutout."""
  batch = tf.shape(images)[0]
  size = source.image_size
  seeds = tf.random.experimental.stateless_split(seed, num=4)
  if crop:
    pad = max(size // 8, 1)
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([batch, 2], seeds[0], 0, 2 * pad + 1, dtype=tf.int32)
    grid = tf.range(size)
    rows = offsets[:, :1] + grid[None, :]
    cols = offsets[:, 1:] + grid[None, :]
    images = tf.gather(padded, rows, axis=1, batch_dims=1)
    images = tf.gather(images, cols, axis=2, batch_dims=1)
  flip = tf.random.stateless_uniform([batch], seeds[1]) < 0.5
  images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
  images = _normalise(images, source)
  if cutout_length > 0:
    images = _cutout(images, cutout_length, seeds[2])
  return images


def _cutout(images: tf.Tensor, length: int, seed: tf.Tensor) -> tf.Tensor:
  """DARTS cutout: zero one length x length square (clipped at the border) per image."""
  batch = tf.shape(images)[0]
  size = tf.shape(images)[1]
  centres = tf.random.stateless_uniform([batch, 2], seed, 0, size, dtype=tf.int32)
  grid = tf.range(size)[None, :]
  half = length // 2
  in_rows = (grid >= centres[:, :1] - half) & (grid < centres[:, :1] - half + length)
  in_cols = (grid >= centres[:, 1:] - half) & (grid < centres[:, 1:] - half + length)
  hole = in_rows[:, :, None] & in_cols[:, None, :]
  return images * tf.cast(~hole, images.dtype)[..., None]


def _random_resized_crop(encoded: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
  """Inception-style crop (area 8%-100%, aspect 3/4-4/3) resized to size x size, uint8."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
      min_object_covered=0.1, aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0),
      max_attempts=10, use_image_if_no_bounding_boxes=True)
  crop = tf.slice(image, begin, extent)
  resized = tf.image.resize(crop, [size, size])
  return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def _center_crop(encoded: tf.Tensor, size: int) -> tf.Tensor:
  """Resize the shorter side to size/0.875, then take the central size x size crop, uint8."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = (size / 0.875) / tf.reduce_min(shape)
  new = tf.cast(tf.round(shape * scale), tf.int32)
  resized = tf.image.resize(image, new)
  top = (new[0] - size) // 2
  left = (new[1] - size) // 2
  crop = tf.slice(resized, [top, left, 0], [size, size, 3])
  return tf.cast(tf.clip_by_value(tf.round(crop), 0, 255), tf.uint8)
