"""The search's input, reproducible from (seed, epoch): what makes resuming exact.

`data.search_split` shuffles each half anew on every pass over one dataset object, so the order
of epoch e depends on how many passes this process has made. Here every epoch gets its own
pipeline whose shuffle and augmentation seeds are derived from (seed, epoch): a resumed run
rebuilds epoch e's pipeline and skips the steps already done, and sees exactly the batches an
uninterrupted run sees. Decoded images are cached once (in memory, when they fit, as in
data/pipelines.py) and shared by the epochs' pipelines.

An epoch is `steps_per_epoch` steps, each a pair of GLOBAL batches ((x_w, y_w), (x_θ, y_θ));
both halves are reshuffled every epoch.
"""

import tensorflow as tf

from rc_darts_tf import data

AUTOTUNE = tf.data.AUTOTUNE
_EPOCH_STRIDE = 1_000_003   # epochs' seeds never collide for any --seed below it


def epoch_seed(seed: int, epoch: int, half: int) -> int:
  """Shuffle seed of `half` (0: the weights' half, 1: θ's) in `epoch` (0-based) of a search
  with --seed `seed`: 2 · seed + half + 1_000_003 · (epoch + 1); the half's crop and
  augmentation streams use this + 1 and + 2."""
  return int(seed) * 2 + half + _EPOCH_STRIDE * (int(epoch) + 1)


class SearchInput:
  """Per-epoch datasets of the two halves of the search split."""

  def __init__(self, source: data.Source, batch_size: int, train_portion: float, seed: int,
               cache=None):
    split = data.search_split(source, batch_size, train_portion, seed, cache=cache)  # checks
    self.source = source
    self.batch_size = batch_size
    self.seed = int(seed)
    self.num_train, self.num_val = split.num_train, split.num_val
    self.steps_per_epoch = split.steps_per_epoch
    train, val, _ = data.search_subsets(source, train_portion, seed)
    self._halves = [self._decoded(train, self.num_train, cache),
                    self._decoded(val, self.num_val, cache)]

  def _decoded(self, encoded, count, cache):
    if self.source.style == "imagenet":
      return encoded
    size = self.source.image_size
    ds = encoded.map(lambda image, label: (data.decode(image, size), tf.cast(label, tf.int32)),
                     num_parallel_calls=AUTOTUNE)
    if data.should_cache(self.source, count, cache):
      ds = ds.cache()
    return ds

  def _half(self, k: int, epoch: int) -> tf.data.Dataset:
    source, size = self.source, self.source.image_size
    count = self.num_train if k == 0 else self.num_val
    seed = epoch_seed(self.seed, epoch, k)
    ds = self._halves[k].shuffle(min(count, 50_000), seed=seed, reshuffle_each_iteration=False)
    if source.style == "imagenet":
      crops = tf.data.Dataset.random(seed=seed + 1).batch(2)
      ds = tf.data.Dataset.zip((ds, crops)).map(
          lambda example, s: (data.random_resized_crop(example[0], size, s),
                              tf.cast(example[1], tf.int32)), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(self.batch_size, drop_remainder=True).take(self.steps_per_epoch)
    augment = tf.data.Dataset.random(seed=seed + 2).batch(2)
    crop = source.style != "imagenet"
    return tf.data.Dataset.zip((ds, augment)).map(
        lambda batch, s: (data.finish_batch(batch[0], source, s, 0, crop=crop), batch[1]),
        num_parallel_calls=AUTOTUNE)

  def epoch(self, epoch: int, skip_steps: int = 0) -> tf.data.Dataset:
    """Epoch `epoch` (0-based) as ((x_w, y_w), (x_θ, y_θ)) pairs, without its first
    `skip_steps` steps (already done before a restart)."""
    pairs = tf.data.Dataset.zip((self._half(0, epoch), self._half(1, epoch)))
    if skip_steps:
      pairs = pairs.skip(skip_steps)
    return pairs.prefetch(AUTOTUNE)
