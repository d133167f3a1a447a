"""The search, hold-out and retraining splits of a Source, as batched tf.data pipelines."""

from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from rc_darts_tf import dataset_check
from rc_darts_tf.errors import DatasetError
from rc_darts_tf.data.sources import RetrainData, SearchData, Source
from rc_darts_tf.data.pipelines import train_pipeline, eval_pipeline


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
      train=train_pipeline(train, source, num_w, batch_size, seed=seed, cutout_length=0,
                           cache=cache),
      val=train_pipeline(val, source, num_a, batch_size, seed=seed + 1, cutout_length=0,
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
      train=train_pipeline(train, source, num_w, batch_size, seed=seed,
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
  train = train_pipeline(source.train_encoded(), source, source.num_train, batch_size, seed=seed,
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
