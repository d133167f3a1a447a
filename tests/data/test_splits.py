"""rc_darts_tf/data/splits.py: the search halves (disjoint, complete, seeded) and their
batches, the retraining split, and splits a source cannot give."""

import numpy as np
import pytest
import tensorflow as tf

from rc_darts_tf import data
from rc_darts_tf.errors import DatasetError
from tests.helpers import make_image_tree


def _pixel_ids(encoded_ds):
  """The unique id each generated image carries in pixel (0, 0)."""
  ids = []
  for image, _ in encoded_ds.as_numpy_iterator():
    pixels = tf.io.decode_png(image).numpy()
    ids.append(int(pixels[0, 0, 0]) + 256 * int(pixels[0, 0, 1]))
  return ids


def test_search_split_batches_are_float_images_with_int_labels(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  split = data.search_split(source, batch_size=16, train_portion=0.5, seed=3)
  assert (split.num_train, split.num_val, split.steps_per_epoch) == (60, 60, 3)
  (x, y), (xv, yv) = next(iter(split.pairs()))
  assert x.shape == (16, 32, 32, 3) and x.dtype == tf.float32
  assert xv.shape == (16, 32, 32, 3) and yv.dtype == tf.int32
  assert y.dtype == tf.int32 and set(y.numpy()) <= set(range(4))
  # normalised with the source's statistics: the image pixels have roughly zero mean and unit
  # variance. The pad-and-crop border is black (0 before normalising, -mean/std after); it is left
  # out, since how much of it a batch holds depends on the shuffle and the crop offsets.
  xs = np.concatenate([b[0][0].numpy() for b in split.pairs()])
  pad = -np.asarray(source.mean, np.float32) / np.asarray(source.std, np.float32)
  border = np.all(np.isclose(xs, pad, atol=1e-4), axis=-1)
  assert 0 < border.mean() < 0.3  # the crop does pad
  pixels = xs[~border]
  assert abs(pixels.mean()) < 0.05 and 0.95 < pixels.std() < 1.05
  # static batch dimension, so a train step is traced once
  assert split.train.element_spec[0].shape == (16, 32, 32, 3)


def test_search_halves_are_disjoint_complete_and_seeded(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  w1, a1, mask1 = data.search_subsets(source, 0.5, seed=7)
  ids_w, ids_a = _pixel_ids(w1), _pixel_ids(a1)
  assert len(ids_w) == 60 and len(ids_a) == 60
  assert not set(ids_w) & set(ids_a)
  assert sorted(ids_w + ids_a) == list(range(120))  # train images carry ids 0..119
  w2, a2, mask2 = data.search_subsets(data.load_source(f"imagefolder:{image_tree}"), 0.5, seed=7)
  assert _pixel_ids(w2) == ids_w and _pixel_ids(a2) == ids_a
  assert np.array_equal(mask1, mask2)
  _, _, mask3 = data.search_subsets(source, 0.5, seed=8)
  assert not np.array_equal(mask1, mask3)
  _, _, mask4 = data.search_subsets(source, 0.25, seed=7)
  assert mask4.sum() == 30


def test_retrain_split_with_cutout(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  split = data.retrain_split(source, batch_size=32, cutout_length=8, eval_batch_size=7)
  assert split.steps_per_epoch == 3
  x, y = next(iter(split.train))
  assert x.shape == (32, 32, 32, 3)
  assert (x.numpy() == 0).all(axis=-1).sum() >= 32 * 16  # each image has a >= 4x4 zero patch
  sizes = [int(b[1].shape[0]) for b in split.test]
  assert sizes == [7, 7, 6] and sum(sizes) == 20  # evaluation keeps every test image


def test_no_test_split_is_an_error_only_for_retraining(tmp_path):
  root = make_image_tree(str(tmp_path / "t"), classes=2, train_per_class=8,
                         splits={"train": 8})
  source = data.load_source(f"imagefolder:{root}")
  assert source.num_test is None
  data.search_split(source, 4)
  with pytest.raises(DatasetError, match="no test split"):
    data.retrain_split(source, 4)


def test_too_small_for_a_batch(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  with pytest.raises(DatasetError, match="less than one batch of 64"):
    data.search_split(source, 64)

