"""rc_darts_tf/data/pipelines.py: reproducible from the seed, reshuffled every epoch; crop,
flip and cutout keep the source's pixels."""

import numpy as np
import tensorflow as tf

from rc_darts_tf import data


def test_pipeline_is_reproducible_from_its_seed(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  first = [b[0].numpy() for b in data.search_split(source, 16, seed=4).train]
  again = [b[0].numpy() for b in data.search_split(source, 16, seed=4).train]
  other = [b[0].numpy() for b in data.search_split(source, 16, seed=5).train]
  assert all(np.array_equal(a, b) for a, b in zip(first, again))
  assert not np.array_equal(first[0], other[0])
  # a new epoch reshuffles and re-augments
  ds = data.search_split(source, 16, seed=4).train
  epoch1 = [b[0].numpy() for b in ds]
  epoch2 = [b[0].numpy() for b in ds]
  assert not np.array_equal(epoch1[0], epoch2[0])


def test_augmentation_crop_flip_keep_content(image_tree):
  """Pad-crop shifts by at most 4 px and flips; the un-normalised pixels come from the source."""
  source = data.load_source(f"imagefolder:{image_tree}")
  raw = np.stack([tf.io.decode_png(img).numpy() for img, _ in source.train_encoded().take(8)])
  images = tf.constant(raw)
  out = data.finish_batch(images, source, tf.constant([1, 2], tf.int64), 0, crop=True).numpy()
  restored = np.round(out * np.array(source.std) * 255 + np.array(source.mean) * 255)
  for original, augmented in zip(raw, restored):
    found = False
    for flip in (False, True):
      ref = original[:, ::-1] if flip else original
      padded = np.pad(ref, [(4, 4), (4, 4), (0, 0)])
      for dy in range(9):
        for dx in range(9):
          if np.array_equal(padded[dy:dy + 32, dx:dx + 32], augmented):
            found = True
    assert found


def test_cutout_zeroes_one_clipped_square():
  images = tf.ones([64, 32, 32, 3])
  out = data.cutout(images, 16, tf.constant([3, 4], tf.int64)).numpy()
  zeros = (out[..., 0] == 0).sum(axis=(1, 2))
  assert zeros.max() == 256 and zeros.min() >= 64  # full square, or clipped at a corner
  assert (out[..., 0] == out[..., 2]).all()  # all channels

