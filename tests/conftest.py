"""Shared fixtures: generated ImageFolder trees (no downloads, no shared data)."""

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
