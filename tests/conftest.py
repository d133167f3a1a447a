"""Shared fixtures: generated ImageFolder trees (no downloads, no shared data), and the small
trained network the export tests share."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests import helpers  # noqa: E402


@pytest.fixture(scope="session")
def image_tree(tmp_path_factory):
  """4 classes x (30 train + 5 test) unique 32x32 PNG images."""
  root = tmp_path_factory.mktemp("imagefolder")
  helpers.make_image_tree(str(root), classes=4, train_per_class=30, test_per_class=5, size=32)
  return str(root)


@pytest.fixture(scope="session")
def tiny_tree_16(tmp_path_factory):
  """3 classes x (8 train + 2 test) unique 16x16 PNG images: the smallest tree a CLI search or
  retraining runs on."""
  root = tmp_path_factory.mktemp("tiny_tree_16")
  return helpers.make_image_tree(str(root), classes=3, train_per_class=8, test_per_class=2,
                                 size=16)


@pytest.fixture(scope="session")
def rng():
  return np.random.default_rng(0)


@pytest.fixture(scope="session")
def trained():
  """DARTS_V2, C = 8, 3 cells, 16x16, 4 classes, trained a few epochs on generated images; all
  four files written and measured by artifacts.export_all.

  Shared by tests/exporters/test_artifacts.py, tests/test_model_dir.py and
  tests/cli/test_export.py (trained once per session); imported here, not at the top, so that
  tests without TensorFlow start without it."""
  import keras

  from exporters import artifacts
  from rc_darts_tf import genotype as genotype_lib
  from rc_darts_tf import network
  from tests.trained_network import IMAGE_SIZE, NUM_CLASSES, _class_images, _expected
  keras.utils.set_random_seed(1)
  genotype = genotype_lib.resolve("DARTS_V2")
  model = network.build_network(genotype, 8, 3, "cifar", IMAGE_SIZE, NUM_CLASSES)
  x, y = _class_images(384, seed=1)
  model.compile(optimizer=keras.optimizers.Adam(3e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  model.fit(x, y, batch_size=32, epochs=4, verbose=0)
  px, py = _class_images(100, seed=2)
  images = artifacts.Images(px, x[:64], py, "generated class-separable images")
  expected = _expected(model, genotype, 8, 3, IMAGE_SIZE, NUM_CLASSES)
  return {"model": model, "genotype": genotype, "expected": expected, "images": images}
