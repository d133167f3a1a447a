"""Decoding, caching, augmentation (crop and flip, random-resized crop, cutout) and normalisation of
batches: the pieces every split's pipeline (and the search input) is made of."""

import dataclasses
from typing import Optional

import tensorflow as tf

from rc_darts_tf import preprocessing
from rc_darts_tf.errors import DatasetError
from rc_darts_tf.data.sources import AUTOTUNE, CACHE_LIMIT_BYTES, Source


def decode(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
  """Decode to uint8 [S, S, 3], resizing only when the stored size differs."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  shape = tf.shape(image)

  def resize():
    resized = tf.image.resize(image, [image_size, image_size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

  same = tf.logical_and(tf.equal(shape[0], image_size), tf.equal(shape[1], image_size))
  image = tf.cond(same, lambda: image, resize)
  return tf.ensure_shape(image, [image_size, image_size, 3])


def should_cache(source: Source, count: int, cache: Optional[bool]) -> bool:
  """Whether to cache `count` decoded images in memory: `cache` when given, else for CIFAR-style
  sources whose decoded uint8 images fit in CACHE_LIMIT_BYTES (4 GiB)."""
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


def train_pipeline(encoded: tf.data.Dataset, source: Source, count: int, batch_size: int,
                   seed: int, cutout_length: int, cache: Optional[bool]) -> tf.data.Dataset:
  """Augmented, normalised training batches ([B, S, S, 3] float32, labels [B] int32; B =
  batch_size, drop_remainder) of `count` encoded examples, reshuffled every epoch from `seed`:
  random-resized crop for ImageNet-style sources, pad-and-crop + flip for CIFAR-style ones
  (decoded images cached when `should_cache`), cutout of `cutout_length` when > 0."""
  size = source.image_size
  labels_int32 = lambda label: tf.cast(label, tf.int32)  # noqa: E731
  if source.style == "imagenet":
    ds = tf.data.Dataset.zip((encoded, _seeds(seed)))
    ds = ds.shuffle(min(count, 10_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda example, s: (random_resized_crop(example[0], size, s),
                                    labels_int32(example[1])), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = tf.data.Dataset.zip((ds, _seeds(seed + 7919)))
    ds = ds.map(lambda batch, s: (finish_batch(batch[0], source, s, cutout_length, crop=False),
                                  batch[1]), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
  ds = encoded.map(lambda image, label: (decode(image, size), labels_int32(label)),
                   num_parallel_calls=AUTOTUNE)
  if should_cache(source, count, cache):
    ds = ds.cache()
  ds = ds.shuffle(min(count, 50_000), seed=seed, reshuffle_each_iteration=True)
  ds = ds.batch(batch_size, drop_remainder=True)
  ds = tf.data.Dataset.zip((ds, _seeds(seed)))
  ds = ds.map(lambda batch, s: (finish_batch(batch[0], source, s, cutout_length, crop=True),
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
    decode_one = lambda image: _center_crop(image, size)  # noqa: E731
  else:
    decode_one = lambda image: decode(image, size)  # noqa: E731
  ds = encoded.map(lambda image, label: (decode_one(image), tf.cast(label, tf.int32)),
                   num_parallel_calls=AUTOTUNE)
  if should_cache(source, count, cache):
    ds = ds.cache()
  ds = ds.batch(batch_size)
  if normalise:
    ds = ds.map(lambda images, labels: (_normalise(images, source), labels),
                num_parallel_calls=AUTOTUNE)
  else:
    ds = ds.map(lambda images, labels: (tf.cast(images, tf.float32), labels),
                num_parallel_calls=AUTOTUNE)
  return ds.prefetch(AUTOTUNE)


def finish_batch(images: tf.Tensor, source: Source, seed: tf.Tensor, cutout_length: int,
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
    images = cutout(images, cutout_length, seeds[2])
  return images


def cutout(images: tf.Tensor, length: int, seed: tf.Tensor) -> tf.Tensor:
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


def random_resized_crop(encoded: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
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
