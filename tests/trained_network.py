"""The small trained network the export tests share (tests/exporters/test_artifacts.py,
tests/test_model_dir.py, tests/cli/test_export.py): its size, class-separable generated images,
and the costs its files must measure. The network itself is the session fixture `trained`
(tests/conftest.py), trained once per session."""

import numpy as np

from exporters import artifacts
from rc_darts_tf import network

NUM_CLASSES = 4
IMAGE_SIZE = 16


def _expected(model, genotype, c, layers, image_size=32, num_classes=10):
  plan = network.plan_for(genotype, c, layers, "cifar", image_size, num_classes)
  return artifacts.expected_costs(model, plan, genotype)


def _class_images(count, seed):
  """Class-separable images: class k brightens one quadrant-channel pattern, plus noise."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, NUM_CLASSES, count)
  images = 0.7 * rng.standard_normal((count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
  half = IMAGE_SIZE // 2
  for i, k in enumerate(labels):
    r, c = divmod(int(k), 2)
    images[i, r * half:(r + 1) * half, c * half:(c + 1) * half, k % 3] += 2.0
  return images, labels.astype(np.int32)

