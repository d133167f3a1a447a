"""rc_darts_tf/data/loading.py: a --dataset into a Source, on generated ImageFolder trees,
the bundled sample and tfds mock data (no downloads)."""

import os
import socket

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from rc_darts_tf import data
from rc_darts_tf.errors import DatasetError
from tests.helpers import make_image_tree


def test_imagefolder_source(image_tree):
  source = data.load_source(f"imagefolder:{image_tree}")
  assert source.num_classes == 4 and source.class_names == [f"class_{k}" for k in range(4)]
  assert source.num_train == 120 and source.num_test == 20
  assert source.image_size == 32 and source.style == "cifar"
  assert all(0.0 < m < 1.0 for m in source.mean) and all(0.0 < s < 1.0 for s in source.std)


def test_images_of_another_size_are_resized(tmp_path):
  root = make_image_tree(str(tmp_path / "big"), classes=2, train_per_class=10,
                         test_per_class=2, size=40, fmt="jpg")
  native = data.load_source(f"imagefolder:{root}")
  assert native.image_size == 40
  source = data.load_source(f"imagefolder:{root}", image_size=32)
  x, _ = next(iter(data.search_split(source, 4, seed=0).train))
  assert x.shape == (4, 32, 32, 3)


def test_imagenet_style_pipeline(tmp_path):
  root = make_image_tree(str(tmp_path / "inet"), classes=2, train_per_class=6,
                         test_per_class=3, size=150, fmt="jpg")
  source = data.load_source(f"imagefolder:{root}", image_size=128)
  assert source.style == "imagenet" and source.mean == data.IMAGENET_MEAN
  split = data.retrain_split(source, batch_size=4, eval_batch_size=3)
  x, _ = next(iter(split.train))
  xt, _ = next(iter(split.test))
  assert x.shape == (4, 128, 128, 3) and xt.shape == (3, 128, 128, 3)


def test_sample_dataset_is_bundled_and_small():
  source = data.load_source("sample")
  assert (source.num_train, source.num_test, source.num_classes) == (400, 100, 10)
  assert source.class_names[0] == "airplane" and source.image_size == 32
  total = 0
  for folder, _, files in os.walk(data.SAMPLE_DIR):
    total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
  assert total <= 2 * 1024 * 1024


@pytest.mark.parametrize("make_tree, fragment", [
    (lambda root: None, "does not exist"),
    (lambda root: os.makedirs(os.path.join(root, "test", "a")), "no 'train' split"),
    (lambda root: os.makedirs(os.path.join(root, "train", "a")), "holds no images"),
])
def test_bad_imagefolder_trees(tmp_path, make_tree, fragment):
  root = str(tmp_path / "tree")
  make_tree(root)
  with pytest.raises(DatasetError) as info:
    data.load_source(f"imagefolder:{root}")
  assert fragment in str(info.value) and root in str(info.value)


def test_unknown_dataset_name():
  with pytest.raises(DatasetError, match="unknown dataset 'mnist'"):
    data.load_source("mnist")


def test_cifar10_without_data_and_nodownload(tmp_path):
  with pytest.raises(DatasetError, match="not prepared .* --nodownload"):
    data.load_source("cifar10", data_dir=str(tmp_path / "tfds"), download=False)
  assert not os.path.exists(tmp_path / "tfds")  # nothing written


def test_cifar10_through_tfds_mock_data(tmp_path, monkeypatch):
  """The tfds path end to end on tfds's mock data (download_and_prepare is mocked)."""
  listener = socket.socket()
  listener.bind(("127.0.0.1", 0))
  listener.listen(1)
  monkeypatch.setenv(data.PROBE_ENV, f"127.0.0.1:{listener.getsockname()[1]}")
  try:
    with tfds.testing.mock_data(num_examples=48):
      source = data.load_source("cifar10", data_dir=str(tmp_path / "tfds"))
      assert source.num_classes == 10 and source.image_size == 32
      assert (source.num_train, source.num_test) == (48, 48)
      split = data.search_split(source, 8, seed=1)
      (x, y), _ = next(iter(split.pairs()))
      assert x.shape == (8, 32, 32, 3) and y.dtype == tf.int32
  finally:
    listener.close()

