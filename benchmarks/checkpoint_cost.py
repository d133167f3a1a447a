"""Cost of search checkpoints: time to write and to restore one, and their share of search time.

  python benchmarks/checkpoint_cost.py            # paper configuration, RC-DARTS mode

Paper configuration by default: C = 16, 8 cells, 3 levels, learned connection, batch 64 (per
half), 32x32, random data. Builds the supernet and both optimizers, runs real search steps
through the search loop's step function (SearchLoop, one device) to time a step, then writes
`--writes` checkpoints with the search's SearchCheckpoint (weights, θ, both optimizers' states,
projection state, counters, histories) and restores the newest one `--restores` times. The share
is that of the default schedule: a checkpoint every --checkpoint_steps steps and at every epoch
end, on the CIFAR-10 search (25,000 images per half, 390 steps per epoch):

    share = (checkpoints per epoch x write time) / (steps per epoch x step time)

Prints one JSON line: write_ms, restore_ms (median), checkpoint_mb, ms_per_step,
share_of_search_time (goal < 0.02) and share_at_100ms_per_step (the same schedule at a GPU-class
step time).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from absl import app  # noqa: E402
from absl import flags as absl_flags  # noqa: E402

absl_flags.DEFINE_integer("batch_size", 64, "Batch of each half.")
absl_flags.DEFINE_integer("init_channels", 16, "C.")
absl_flags.DEFINE_integer("layers", 8, "Cells.")
absl_flags.DEFINE_integer("image_size", 32, "Input side.")
absl_flags.DEFINE_integer("steps", 3, "Timed search steps (after a traced first one).")
absl_flags.DEFINE_integer("writes", 5, "Checkpoints written (timed).")
absl_flags.DEFINE_integer("restores", 3, "Restores of the newest checkpoint (timed).")
absl_flags.DEFINE_integer("checkpoint_steps", 200, "The search's default --checkpoint_steps.")
absl_flags.DEFINE_integer("steps_per_epoch", 390, "CIFAR-10 search: 25,000 images / 64.")
absl_flags.DEFINE_string("dir", None, "Where to write the checkpoints (default: a temp dir).")
FLAGS = absl_flags.FLAGS


class _RandomInput:
  """SearchInput's interface over one repeated random batch pair."""

  def __init__(self, tf, np, batch, size, steps):
    rng = np.random.default_rng(0)
    pair = ((rng.standard_normal((batch, size, size, 3), np.float32),
             rng.integers(0, 10, batch, np.int32)),
            (rng.standard_normal((batch, size, size, 3), np.float32),
             rng.integers(0, 10, batch, np.int32)))
    self._data = tf.data.Dataset.from_tensors(pair).cache()
    self.steps_per_epoch = steps

  def epoch(self, epoch, skip_steps=0):
    return self._data.repeat(self.steps_per_epoch - skip_steps)


def main(argv):
  del argv
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.ERROR)   # TensorFlow's saver logs INFO lines per save
  import numpy as np
  import tensorflow as tf
  import keras
  from rc_darts_tf.budget import Bounds
  from rc_darts_tf.search import callbacks as cb
  from rc_darts_tf.search.checkpoint import SearchCheckpoint
  from rc_darts_tf.search.loop import SearchLoop
  from rc_darts_tf.search.supernet import SearchNetwork

  bounds = {"params": Bounds(1.8e5, 2.0e5), "macs": Bounds(2.8e7, 3.3e7)}
  model = SearchNetwork(10, FLAGS.init_channels, FLAGS.layers, 3, True, FLAGS.image_size,
                        bounds=bounds, seed=0)
  model.compile(keras.optimizers.SGD(0.025, momentum=0.9),
                keras.optimizers.Adam(3e-4, beta_1=0.5, beta_2=0.999))
  model.build_optimizers()
  strategy = tf.distribute.get_strategy()
  monitor = cb.SearchMonitor(tempfile.mkdtemp(), model.budget_plan, bounds, {},
                             every_n_steps=50)
  projection = cb.ProjectionSchedule(interval=10 ** 9, warmup=10 ** 9)
  timed = []

  def on_step(step, logs):
    timed.append(time.perf_counter())

  inputs = _RandomInput(tf, np, FLAGS.batch_size, FLAGS.image_size, FLAGS.steps + 1)
  loop = SearchLoop(model, strategy, inputs, epochs=1, projection=projection, monitor=monitor,
                    out=None)
  monitor.on_epoch_end = lambda epoch, logs=None: None   # no genotype file needed here
  started = time.perf_counter()
  loop.run(on_step=on_step)
  first_step_s = timed[0] - started
  step_s = float(np.median(np.diff(timed)))

  directory = FLAGS.dir or tempfile.mkdtemp(prefix="rc_darts_ckpt_")
  checkpoint = SearchCheckpoint(directory, model)
  # a realistic state: 50 epochs of θ histories and 390 steps x 50 epochs / 50 of Φ history
  monitor.theta_history = [(e, tf.nn.softmax(model.theta_cells).numpy()) for e in range(50)]
  monitor.phi_history = [(s, 1.9e5, 3.0e7) for s in range(0, 19500, 50)]
  writes = []
  for k in range(FLAGS.writes + 1):
    tick = time.perf_counter()
    path = checkpoint.save(k + 1, 0, loop.state())
    writes.append(time.perf_counter() - tick)
  write_s = float(np.median(writes[1:]))     # the first one also creates the directory
  size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory)
             if os.path.basename(path) in f)
  restores = []
  for _ in range(FLAGS.restores):
    tick = time.perf_counter()
    checkpoint.restore()
    restores.append(time.perf_counter() - tick)
  restore_s = float(np.median(restores))
  if FLAGS.dir is None:
    shutil.rmtree(directory, ignore_errors=True)

  per_epoch = FLAGS.steps_per_epoch
  checkpoints_per_epoch = per_epoch / FLAGS.checkpoint_steps + 1   # step ones + the epoch's
  share = checkpoints_per_epoch * write_s / (per_epoch * step_s)
  print(json.dumps({
      "benchmark": "checkpoint_cost", "tensorflow": tf.__version__,
      "batch": FLAGS.batch_size, "channels": FLAGS.init_channels, "cells": FLAGS.layers,
      "image_size": FLAGS.image_size, "levels": 3, "learn_connection": True,
      "weight_params": model.count_weight_params(),
      "checkpoint_mb": round(size / 2 ** 20, 2),
      "write_ms": round(1000 * write_s, 1), "restore_ms": round(1000 * restore_s, 1),
      "ms_per_step": round(1000 * step_s, 1), "first_step_s": round(first_step_s, 1),
      "checkpoint_steps": FLAGS.checkpoint_steps, "steps_per_epoch": per_epoch,
      "checkpoints_per_epoch": round(checkpoints_per_epoch, 2),
      # the same schedule at a GPU-class step time of 100 ms (the share scales as 1 / step time)
      "share_at_100ms_per_step": round(checkpoints_per_epoch * write_s / (per_epoch * 0.1), 5),
      "share_of_search_time": round(share, 5), "goal": 0.02,
      "cpu_count": os.cpu_count(),
  }))


if __name__ == "__main__":
  app.run(main)
