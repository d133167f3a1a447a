"""Speed and memory of one search step (w update + θ update) and of one projection.

  python benchmarks/search_step.py --mode=darts   # the PyTorch reference's exact network
  python benchmarks/search_step.py --mode=rc      # RC-DARTS: 3 levels, connection cells, budget
  python benchmarks/search_step.py --partial_channels=4   # PC-DARTS's partial channels (K = 4)
  python benchmarks/search_step.py --profile_dir=runs/profile   # + where the time goes, per op
  python benchmarks/search_step.py --mode=rc --search_space=darts_irb   # + inverted residuals

Paper configuration by default: batch 64 (per half), C = 16, 8 cells, 32x32, random data. The step
runs through Keras's own train function (what `fit` calls). Prints one JSON line:
ms_per_step (median after warm-up), images_per_s (batch / step, the reference's definition; both
halves are also given), first_step_s (model build + trace + first step, timed from after the
imports, as the reference does), peak_rss_mb, weight_params, and
projection_ms (one projection, traced beforehand, from the step's θ to a params bound just
above the space's cheapest network: until feasible or --projection_iters = e_p iterations;
projection_iters says how many ran) with its share of a 150-step phase I. Compare with
../shared/bench/darts_torch_step.py in the same run (see README).
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
absl_flags.DEFINE_enum("search_space", "darts", ["darts", "darts_irb"],
                       "The candidate ops (rc_darts_tf.search_space.SPACES).")
absl_flags.DEFINE_integer("batch_size", 64, "Batch of each half.")
absl_flags.DEFINE_integer("init_channels", 16, "C.")
absl_flags.DEFINE_integer("layers", 8, "Cells.")
absl_flags.DEFINE_integer("image_size", 32, "Input side.")
absl_flags.DEFINE_integer("steps", 5, "Timed steps.")
absl_flags.DEFINE_integer("warmup", 2, "Untimed steps after the first.")
absl_flags.DEFINE_integer("threads", 0, "intra/inter-op threads (0 = TensorFlow's default).")
absl_flags.DEFINE_integer("projection_iters", 500, "e_p for the projection timing.")
absl_flags.DEFINE_integer("partial_channels", 1, "K of partial-channel search (1 = off).",
                          lower_bound=1)
absl_flags.DEFINE_boolean("jit_compile", False, "XLA-compile the step (Keras's train function).")
absl_flags.DEFINE_boolean("mixed_precision", False, "mixed_float16 with loss scaling.")
absl_flags.DEFINE_string("profile_dir", None,
                         "After the timed steps, run --profile_steps more under the TensorFlow "
                         "profiler, write the trace here (TensorBoard's profile tab reads it) and "
                         "add the time per op type to the JSON line (`op_time`).")
absl_flags.DEFINE_integer("profile_steps", 2, "Steps traced with --profile_dir.", lower_bound=1)
FLAGS = absl_flags.FLAGS


def main(argv):
  del argv
  import tensorflow as tf
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  import keras
  import numpy as np
  from rc_darts_tf import precision, search_space
  from rc_darts_tf.budget import Bounds
  from rc_darts_tf.search.supernet import SearchNetwork

  start = time.perf_counter()
  rc = FLAGS.mode == "rc"
  bounds = {"params": Bounds(1.8e5, 2.0e5), "macs": Bounds(2.8e7, 3.3e7)} if rc else None
  with precision.policy(FLAGS.mixed_precision):
    model = SearchNetwork(10, FLAGS.init_channels, FLAGS.layers, 3 if rc else 1, rc,
                          FLAGS.image_size, bounds=bounds, seed=0,
                          partial_channels=FLAGS.partial_channels,
                          search_space=search_space.get(FLAGS.search_space))
    model.compile(keras.optimizers.SGD(0.025, momentum=0.9),
                  keras.optimizers.Adam(3e-4, beta_1=0.5, beta_2=0.999),
                  jit_compile=FLAGS.jit_compile)
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
  op_time = None
  if FLAGS.profile_dir:
    tf.profiler.experimental.start(FLAGS.profile_dir)
    for _ in range(FLAGS.profile_steps):
      float(train_function(iterator)["loss"])
    tf.profiler.experimental.stop()
    op_time = op_time_by_type(FLAGS.profile_dir, FLAGS.profile_steps)

  # Projection from the step's θ to a bound just above the cheapest network of the space: it runs
  # until feasible or e_p iterations (the default solver needs a few dozen); `projection_iters`
  # says how many ran. The trace call projects too (it writes θ back), so θ is reset before the
  # timed call, which then does the same work.
  from rc_darts_tf import costs
  from rc_darts_tf.search.projection import Projection
  tables = model.cost_tables
  low, _ = costs.achievable_range(tables)[0]
  projection = Projection(model.cost_model, {"params": Bounds(None, low * 1.0001)},
                          max_iters=FLAGS.projection_iters)
  theta = tf.Variable(tf.convert_to_tensor(model.theta_cells))
  conn = tf.Variable(tf.convert_to_tensor(model.theta_connection)) if rc else None
  projection.bind(theta, conn, model.theta_edges)
  start_theta = [tf.convert_to_tensor(v) for v in (theta, conn) if v is not None]
  projection()  # trace
  for variable, value in zip([v for v in (theta, conn) if v is not None], start_theta):
    variable.assign(value)
  tick = time.perf_counter()
  iters, _, _ = projection()
  projection_s = time.perf_counter() - tick
  print(json.dumps({
      "benchmark": "search_step", "impl": "rc-darts-tf", "mode": FLAGS.mode,
      "search_space": FLAGS.search_space,
      "tensorflow": tf.__version__, "batch": b, "channels": FLAGS.init_channels,
      "cells": FLAGS.layers, "levels": model.levels, "learn_connection": rc,
      "partial_channels": FLAGS.partial_channels, "jit_compile": FLAGS.jit_compile,
      "mixed_precision": FLAGS.mixed_precision,
      "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
      "weight_params": model.count_weight_params(),
      "first_step_s": round(first, 2), "ms_per_step": round(1000 * step, 1),
      "images_per_s": round(b / step, 1),   # as the reference counts: one batch per step
      "images_per_s_both_halves": round(2 * b / step, 1),
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
      "projection_iters": int(iters), "projection_ms": round(1000 * projection_s, 1),
      "projection_share_of_150_steps": round(projection_s / (150 * step), 5),
      "threads": FLAGS.threads or "default", "cpu_count": os.cpu_count(),
      **({"op_time": op_time} if op_time else {}),
  }))


# Op types grouped by what they do, first match wins (oneDNN's "_MklNative"/"_Mkl" prefixes are
# dropped first); the rest is "other". MatMul serves the 1x1 convolutions forward and backward.
OP_GROUPS = (
    ("depthwise conv (backward)", ("DepthwiseConv2dNativeBackprop",)),
    ("depthwise conv (forward)", ("DepthwiseConv2dNative",)),
    ("conv (backward)", ("Conv2DBackprop",)),
    ("conv (forward)", ("Conv2D",)),
    ("matmul (1x1 convs, forward and backward)", ("MatMul", "Einsum")),
    ("batch norm (forward and backward)", ("BatchNorm",)),
    ("pooling (forward and backward)", ("Pool",)),
    ("concat / split / slice / pad / transpose / gather / scatter", (
        "Concat", "Split", "Slice", "Pad", "Transpose", "Gather", "Scatter", "Tile", "Pack",
        "Unpack", "Reshape")),
    ("optimizer updates", ("ResourceApply", "AssignAdd", "AssignSub", "AssignVariable")),
    ("element-wise and reductions", (
        "Relu", "Mul", "Add", "Sub", "Div", "Neg", "Square", "Sum", "Cast", "Maximum",
        "Minimum", "Select", "Exp", "Log", "Softmax", "Mean", "Max", "Rsqrt", "Sqrt")),
)


def _op_type(name: str) -> str:
  for prefix in ("_MklNative", "_Mkl", "_"):
    if name.startswith(prefix):
      return name[len(prefix):]
  return name


def op_time_by_type(profile_dir: str, steps: int) -> dict:
  """Per op group and the 12 slowest op types: ms per step of kernel time summed over TensorFlow's
  compute threads (op kernels from the profiler's XPlane, host plane), and the share of it. With
  several threads kernel time exceeds wall time; the shares still say where the work goes."""
  import collections
  import glob
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  path = sorted(glob.glob(os.path.join(profile_dir, "**", "*.xplane.pb"), recursive=True),
                key=os.path.getmtime)[-1]
  space = xplane_pb2.XSpace()
  with open(path, "rb") as f:
    space.ParseFromString(f.read())
  per_type = collections.Counter()
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      if not line.name.startswith("tf_Compute"):
        continue
      for event in line.events:
        meta = plane.event_metadata[event.metadata_id]
        if ":" in meta.name and meta.display_name:      # "scope/name:OpType" kernels only
          per_type[_op_type(meta.display_name)] += event.duration_ps
  total = sum(per_type.values()) or 1
  groups = collections.Counter()
  for op, ps in per_type.items():
    group = next((g for g, keys in OP_GROUPS if any(k in op for k in keys)), "other")
    groups[group] += ps
  ms = lambda ps: round(ps / 1e9 / steps, 1)  # noqa: E731
  return {"kernel_ms_per_step": ms(total),
          "groups": {g: {"ms": ms(ps), "share": round(ps / total, 3)}
                     for g, ps in groups.most_common()},
          "top_ops": {op: {"ms": ms(ps), "share": round(ps / total, 3)}
                      for op, ps in per_type.most_common(12)},
          "trace": path}


if __name__ == "__main__":
  app.run(main)
