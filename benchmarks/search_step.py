"""Speed and memory of one search step (w update + θ update) and of one projection.

  python benchmarks/search_step.py --mode=darts   # the PyTorch reference's exact network
  python benchmarks/search_step.py --mode=rc      # RC-DARTS: 3 levels, connection cells, budget

Paper configuration by default: batch 64 (per half), C = 16, 8 cells, 32x32, random data. The step
runs through Keras's own train function (what `fit` calls). Prints one JSON line:
ms_per_step (median after warm-up), images_per_s (batch / step, the reference's definition; both
halves are also given), first_step_s (model build + trace + first step, timed from after the
imports, as the reference does), peak_rss_mb, weight_params, and
projection_ms (one 500-iteration projection, traced beforehand) with its share of a 150-step
phase I. Compare with ../shared/bench/darts_torch_step.py in the same run (see README).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

from absl import app  # noqa: E402
from absl import flags as absl_flags  # noqa: E402

absl_flags.DEFINE_enum("mode", "darts", ["darts", "rc"],
                       "darts: --levels=1 --nolearn_connection --constraints=none; "
                       "rc: --levels=3 --learn_connection with the paper's budget.")
absl_flags.DEFINE_integer("batch_size", 64, "Batch of each half.")
absl_flags.DEFINE_integer("init_channels", 16, "C.")
absl_flags.DEFINE_integer("layers", 8, "Cells.")
absl_flags.DEFINE_integer("image_size", 32, "Input side.")
absl_flags.DEFINE_integer("steps", 5, "Timed steps.")
absl_flags.DEFINE_integer("warmup", 2, "Untimed steps after the first.")
absl_flags.DEFINE_integer("threads", 0, "intra/inter-op threads (0 = TensorFlow's default).")
absl_flags.DEFINE_integer("projection_iters", 500, "e_p for the projection timing.")
FLAGS = absl_flags.FLAGS


def main(argv):
  del argv
  import tensorflow as tf
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  import keras
  import numpy as np
  from rc_darts_tf.budget import Bounds
  from rc_darts_tf.search.supernet import SearchNetwork

  start = time.perf_counter()
  rc = FLAGS.mode == "rc"
  bounds = {"params": Bounds(1.8e5, 2.0e5), "macs": Bounds(2.8e7, 3.3e7)} if rc else None
  model = SearchNetwork(10, FLAGS.init_channels, FLAGS.layers, 3 if rc else 1, rc,
                        FLAGS.image_size, bounds=bounds, seed=0)
  model.compile(keras.optimizers.SGD(0.025, momentum=0.9),
                keras.optimizers.Adam(3e-4, beta_1=0.5, beta_2=0.999))
  b, s = FLAGS.batch_size, FLAGS.image_size
  rng = np.random.default_rng(0)
  batch = ((rng.standard_normal((b, s, s, 3), np.float32), rng.integers(0, 10, b, np.int32)),
           (rng.standard_normal((b, s, s, 3), np.float32), rng.integers(0, 10, b, np.int32)))
  data = tf.data.Dataset.from_tensors(batch).repeat()
  model.build_optimizers()
  model.make_train_function()
  train_function = model.train_function
  iterator = iter(data)
  logs = train_function(iterator)
  _ = float(logs["loss"])
  first = time.perf_counter() - start
  for _ in range(FLAGS.warmup):
    float(train_function(iterator)["loss"])
  times = []
  for _ in range(FLAGS.steps):
    tick = time.perf_counter()
    float(train_function(iterator)["loss"])
    times.append(time.perf_counter() - tick)
  step = float(np.median(times))

  # Projection: bounds no θ can meet quickly, so all e_p iterations run.
  from rc_darts_tf import costs
  from rc_darts_tf.search.projection import Projection
  tables = model.cost_tables
  low, _ = costs.achievable_range(tables)[0]
  projection = Projection(model.cost_model, {"params": Bounds(None, low * 1.0001)},
                          max_iters=FLAGS.projection_iters)
  theta = tf.Variable(tf.convert_to_tensor(model.theta_cells))
  conn = tf.Variable(tf.convert_to_tensor(model.theta_connection)) if rc else None
  projection.bind(theta, conn)
  projection()  # trace
  tick = time.perf_counter()
  iters, _, _ = projection()
  projection_s = time.perf_counter() - tick
  print(json.dumps({
      "benchmark": "search_step", "impl": "rc-darts-tf", "mode": FLAGS.mode,
      "tensorflow": tf.__version__, "batch": b, "channels": FLAGS.init_channels,
      "cells": FLAGS.layers, "levels": model.levels, "learn_connection": rc,
      "weight_params": model.count_weight_params(),
      "first_step_s": round(first, 2), "ms_per_step": round(1000 * step, 1),
      "images_per_s": round(b / step, 1),   # as the reference counts: one batch per step
      "images_per_s_both_halves": round(2 * b / step, 1),
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
      "projection_iters": int(iters), "projection_ms": round(1000 * projection_s, 1),
      "projection_share_of_150_steps": round(projection_s / (150 * step), 5),
      "threads": FLAGS.threads or "default", "cpu_count": os.cpu_count(),
  }))


if __name__ == "__main__":
  app.run(main)
