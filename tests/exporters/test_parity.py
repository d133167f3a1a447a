"""exporters/parity.py: the thresholds fail when they should; ties among the
disagreements are counted."""

import numpy as np

from exporters import parity


def test_parity_thresholds_fail_when_they_should():
  reference = np.array([[5.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
  assert parity.compare("tflite_fp32", reference, reference + 4e-4)["passed"]   # 4e-4 / 5
  assert not parity.compare("tflite_fp32", reference, reference + 6e-4)["passed"]
  assert not parity.compare("onnx", reference, reference + 6e-4)["passed"]
  assert parity.compare("tflite_fp16", reference, reference + 0.04)["passed"]
  swapped = reference.copy()
  swapped[1] = [0.0, 1.0, 2.0]
  record = parity.compare("tflite_int8", reference, swapped)
  assert record["top1_agreement"] == 0.5 and not record["passed"]
  small = np.array([[0.01, 0.02]])
  assert not parity.compare("tflite_fp32", small, small + 2e-4)["passed"]   # scale floor 1


def test_parity_counts_ties_among_the_disagreements():
  reference = np.array([[5.0, 1.0, 0.0], [0.0, 2.0, 1.9], [2.9, 0.0, 3.0], [0.0, 1.0, 4.0]])
  file = np.array([[5.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 0.0, 3.0], [1.0, 1.0, 4.0]])
  record = parity.compare("tflite_int8", reference, file)
  # image 1 ties and the lower index is the Keras class: agreement; image 2 ties: a miss
  assert record["top1_agreement"] == 0.75 and record["disagreements"] == 1
  assert record["top1_ties"] == 2 and record["disagreements_tied"] == 1
  assert parity.describe(record).endswith("FAIL, 1 of 1 misses tied")
  assert parity.compare("onnx", reference, reference)["top1_ties"] == 0

