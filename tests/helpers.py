"""Test helpers: generated data and running entry points as a user would."""

import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Lines TensorFlow's C++ runtime prints on import whatever the log level; not ours.
_TF_NOISE_PREFIXES = ("WARNING: All log messages before absl::InitializeLog()",)


def make_image_tree(root, classes=4, train_per_class=30, test_per_class=5, size=32,
                    splits=None, fmt="png"):
  """Write root/<split>/class_k/<i>.<fmt>. Every image is unique: its index is in pixel (0, 0)."""
  from PIL import Image
  splits = splits or {"train": train_per_class, "test": test_per_class}
  rng = np.random.default_rng(123)
  index = 0
  for split, count in splits.items():
    for k in range(classes):
      folder = os.path.join(root, split, f"class_{k}")
      os.makedirs(folder, exist_ok=True)
      for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        pixels[..., k % 3] = np.clip(pixels[..., k % 3].astype(int) // 2 + 128, 0, 255)
        pixels[0, 0] = (index % 256, index // 256, 7)
        Image.fromarray(pixels).save(os.path.join(folder, f"{i:04d}.{fmt}"))
        index += 1
  return root


def child_env(**extra):
  """os.environ for a child Python that imports this checkout (PYTHONPATH = the repo first) with
  TensorFlow's C++ INFO lines off, plus `extra`."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  env.update(extra)
  return env


def irb_genotype():
  """A darts_irb genotype with every IRB op on every kind of edge: from the cell inputs and
  between nodes, stride 1 and (reduce cell) stride 2; group_conv_1x1_g2 connection."""
  from rc_darts_tf import genotype as genotype_lib
  return genotype_lib.Genotype(
      normal=[[("irb_3x3_e3", 0), ("irb_5x5_e3", 1), ("sep_conv_3x3", 2), ("irb_5x5_e3", 0),
               ("irb_3x3_e3", 3), ("skip_connect", 0), ("avg_pool_3x3", 4), ("irb_3x3_e3", 2)]],
      reduce=[("irb_5x5_e3", 0), ("irb_3x3_e3", 1), ("irb_5x5_e3", 2), ("max_pool_3x3", 1),
              ("irb_3x3_e3", 3), ("skip_connect", 0), ("dil_conv_3x3", 4), ("irb_5x5_e3", 1)],
      connection="group_conv_1x1_g2", search_space="darts_irb")


def reordered_space():
  """The DEFAULT space's record with two cell ops swapped (θ columns 4 and 5): what a file of
  another op order records."""
  from rc_darts_tf import search_space
  record = search_space.DEFAULT.record()
  ops = list(record["cell_ops"])
  ops[4], ops[5] = ops[5], ops[4]
  return {**record, "cell_ops": ops}


def run_entry(module, *args, env=None, timeout=300):
  """Run `python -m module args...` from the repo root; returns CompletedProcess (text)."""
  full_env = dict(os.environ)
  full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  full_env["PYTHONPATH"] = REPO + os.pathsep + full_env.get("PYTHONPATH", "")
  full_env.update(env or {})
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=full_env,
                        capture_output=True, text=True, timeout=timeout)


def error_lines(stderr):
  """stderr lines that are not TensorFlow's unconditional C++ start-up messages."""
  lines = []
  for line in stderr.splitlines():
    if not line.strip() or line.startswith(_TF_NOISE_PREFIXES):
      continue
    if len(line) > 5 and line[0] in "IWE" and line[1:5].isdigit() and " port.cc:" in line:
      continue  # I0000 ... port.cc: oneDNN notice
    if " util.cc:" in line and "oneDNN supports DT_HALF only on platforms with" in line:
      continue  # TensorFlow's notice on CPUs without AVX-512 FP16 (float16 ops): error level
    lines.append(line)
  return lines


def tiny_search_network(**kwargs):
  """A compiled SearchNetwork for step tests: 3 classes, C = 8, 3 cells, one level, learned
  connection cells, 16 x 16, a params bound no θ reaches, seed 1; SGD 0.05 (momentum 0.9) on the
  weights, Adam 3e-2 (β 0.5, 0.999) on θ. kwargs override SearchNetwork's arguments."""
  import keras
  from rc_darts_tf.budget import Bounds
  from rc_darts_tf.search.supernet import SearchNetwork
  args = dict(num_classes=3, init_channels=8, layers=3, levels=1, learn_connection=True,
              image_size=16, bounds={"params": Bounds(None, 1e9)}, seed=1)
  net = SearchNetwork(**{**args, **kwargs})
  net.compile(keras.optimizers.SGD(0.05, momentum=0.9),
              keras.optimizers.Adam(3e-2, beta_1=0.5, beta_2=0.999))
  net.build_optimizers()
  return net


def search_batch(rng, batch=6, size=16, classes=3):
  """One random search step's data: ((x_train, y_train), (x_val, y_val)), x [batch, size, size, 3]
  float32, y [batch] int32 in [0, classes)."""
  def half():
    return (rng.standard_normal((batch, size, size, 3)).astype(np.float32),
            rng.integers(0, classes, batch).astype(np.int32))
  return half(), half()


def fake_latency_table(plan, space=None, fmt="tflite_int8", fit=None):
  """A latency.LatencyTable for `plan`'s geometry whose every entry of `space` (default DARTS's)
  has a distinct made-up ms in [0.001, 0.1) (seeded), so that a miscounted part shows."""
  from rc_darts_tf import latency, search_space
  entries = latency.space_entries(plan, space or search_space.DARTS, True)
  rng = np.random.default_rng(0)
  values = {e.key: float(v) for e, v in zip(entries, rng.uniform(0.001, 0.1, len(entries)))}
  header = {"stem": plan.stem, "init_channels": plan.init_channels, "layers": plan.layers,
            "image_size": plan.image_size, "num_classes": plan.num_classes, "pixels": True,
            "format": fmt, "threads": 1, "runs": 10, "warmup": 1}
  return latency.LatencyTable(header, values, fit or latency.Fit())


def growing_latency_table(plan, space=None, fmt="tflite_int8"):
  """A latency.LatencyTable for `plan`'s geometry whose entries grow with the shapes they see
  (1e-7 · max(C_in, C_out) · S² · (1 + k mod 3) ms for the k-th entry), so that a wider network
  is slower, as measured ones are (fake_latency_table's values are shape-blind)."""
  from rc_darts_tf import latency, search_space
  entries = latency.space_entries(plan, space or search_space.DARTS, True)
  values = {e.key: 1e-7 * max(e.c_in, e.c_out) * e.size ** 2 * (1 + k % 3)
            for k, e in enumerate(entries)}
  header = {"stem": plan.stem, "init_channels": plan.init_channels, "layers": plan.layers,
            "image_size": plan.image_size, "num_classes": plan.num_classes, "pixels": True,
            "format": fmt, "threads": 1, "runs": 10, "warmup": 1}
  return latency.LatencyTable(header, values, latency.Fit())
