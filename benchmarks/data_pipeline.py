"""Throughput of the search input pipeline (both halves, paired per step) after the first epoch.

  python benchmarks/data_pipeline.py --dataset=imagefolder:../shared/data/cifar10-jpeg

Prints one JSON line: images/s of epochs 2..N (decoded images cached, augmentation and
normalisation on the fly, both halves counted), the first epoch (which decodes and caches), and
the setting. Runs on the CPU.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import json  # noqa: E402
import time  # noqa: E402

from absl import app  # noqa: E402
from absl import flags as absl_flags  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                            "data", "cifar10-jpeg")
absl_flags.DEFINE_string("dataset", "imagefolder:" + os.path.normpath(DEFAULT_DATA),
                         "Dataset (as --dataset of the entry points).")
absl_flags.DEFINE_integer("batch_size", 64, "Batch size of each half.")
absl_flags.DEFINE_integer("epochs", 4, "Epochs to run; the first one is reported separately.")
absl_flags.DEFINE_integer("seed", 2, "Seed.")
FLAGS = absl_flags.FLAGS


def main(argv):
  del argv
  import tensorflow as tf
  from rc_darts_tf import data

  source = data.load_source(FLAGS.dataset)
  split = data.search_split(source, FLAGS.batch_size, 0.5, FLAGS.seed)
  pairs = split.pairs()
  times, counts = [], []
  for _ in range(FLAGS.epochs):
    tick = time.perf_counter()
    n = 0
    for (x, _), (xv, _) in pairs:
      n += int(x.shape[0]) + int(xv.shape[0])
    times.append(time.perf_counter() - tick)
    counts.append(n)
  steady = sum(counts[1:]) / sum(times[1:])
  print(json.dumps({
      "benchmark": "data_pipeline",
      "dataset": source.name, "num_train": source.num_train,
      "halves": [split.num_train, split.num_val], "batch_size": FLAGS.batch_size,
      "images_per_s": round(steady, 1),
      "first_epoch_images_per_s": round(counts[0] / times[0], 1),
      "epochs": FLAGS.epochs, "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
  }))


if __name__ == "__main__":
  app.run(main)
