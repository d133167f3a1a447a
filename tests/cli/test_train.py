"""rc-darts-train (rc_darts_tf/cli/train.py) run as a user runs it: retraining,
checkpoints, resume after a kill, bad input, and --mixed_precision writing a float32 model."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from rc_darts_tf import costs, network
from rc_darts_tf import genotype as genotype_lib
from tests.helpers import REPO, error_lines, run_entry

TINY = ["--layers=3", "--init_channels=4", "--batch_size=16", "--nocutout", "--noauxiliary",
        "--drop_path_prob=0.2"]


def _dataset(tree):
  return f"--dataset=imagefolder:{tree}"


def test_train_writes_model_checkpoints_and_report(image_tree, tmp_path):
  out = str(tmp_path / "run")
  result = run_entry("rc_darts_tf.cli.train", _dataset(image_tree), *TINY, "--epochs=2",
                     "--auxiliary", f"--output_dir={out}", "--genotype=DARTS_V1")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "epoch 2/2" in result.stdout and "final test accuracy" in result.stdout
  for name in ("model.keras", "best.keras", "history.json", "model_info.json", "flags.txt",
               "run.json", "saved_model/saved_model.pb", "checkpoints/checkpoint"):
    assert os.path.exists(os.path.join(out, name)), name
  info = json.load(open(os.path.join(out, "model_info.json")))
  genotype = genotype_lib.Genotype.from_json_dict(info["genotype"])
  assert genotype.normal == genotype_lib.resolve("DARTS_V1").normal
  plan = network.plan_for(genotype, 4, 3, "cifar", 32, 4)
  assert info["exact_cost"] == costs.genotype_cost(plan, genotype.normal, genotype.reduce,
                                                   None).as_dict()
  assert info["params_counted"] == info["exact_cost"]["params"]
  assert 0.0 <= info["test_accuracy"] <= 1.0 and info["test_images"] == 20
  history = json.load(open(os.path.join(out, "history.json")))
  assert [r["epoch"] for r in history] == [1, 2]
  assert all(np.isfinite(r["train_loss"]) and "test_accuracy" in r for r in history)
  # the last epoch's test loss is the final evaluation's (20 test images in batches of 16 + 4:
  # a per-batch mean would weigh the 4 like the 16)
  assert history[-1]["test_loss"] == pytest.approx(info["test_loss"], rel=1e-4)

  # The saved files are the inference network and agree with each other.
  import keras
  import tensorflow as tf
  model = keras.saving.load_model(os.path.join(out, "model.keras"))
  x = np.random.default_rng(0).standard_normal((3, 32, 32, 3)).astype(np.float32)
  served = tf.saved_model.load(os.path.join(out, "saved_model"))
  np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(), model(x).numpy(), atol=1e-5)
  assert model.output_shape == (None, 4)

  # Same command again: a finished run is not redone or overwritten.
  before = open(os.path.join(out, "model_info.json")).read()
  again = run_entry("rc_darts_tf.cli.train", _dataset(image_tree), *TINY, "--epochs=2",
                    "--auxiliary", f"--output_dir={out}", "--genotype=DARTS_V1")
  assert again.returncode == 2
  assert len(error_lines(again.stderr)) == 1 and "finished" in again.stderr
  assert open(os.path.join(out, "model_info.json")).read() == before


def test_killed_training_resumes_from_the_last_checkpoint(image_tree, tmp_path):
  out = str(tmp_path / "run")
  args = [_dataset(image_tree), *TINY, "--epochs=8", f"--output_dir={out}", "--seed=5"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  proc = subprocess.Popen([sys.executable, "-m", "rc_darts_tf.cli.train", *args], cwd=REPO,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  marker = os.path.join(out, "checkpoints", "checkpoint")
  deadline = time.time() + 240
  while not os.path.exists(marker) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  assert os.path.exists(marker), "no checkpoint was written before the deadline"
  assert not os.path.exists(os.path.join(out, "model_info.json")), "finished before the kill"
  done = json.load(open(os.path.join(out, "history.json")))
  assert 1 <= len(done) < 8

  # Different settings are refused, one line, nothing touched.
  files = {name: os.path.getmtime(os.path.join(out, name)) for name in os.listdir(out)}
  other = run_entry("rc_darts_tf.cli.train", *args[:-1], "--seed=6")
  assert other.returncode == 2, other.stderr[-2000:]
  assert error_lines(other.stderr) == [line for line in error_lines(other.stderr)
                                       if "--seed=6" in line and "other settings" in line]
  assert {name: os.path.getmtime(os.path.join(out, name)) for name in os.listdir(out)} == files

  resumed = run_entry("rc_darts_tf.cli.train", *args, timeout=400)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  match = re.search(r"resuming from .*: epoch (\d+) done", resumed.stdout)
  assert match, resumed.stdout[-2000:]
  first = int(match.group(1)) + 1
  assert len(done) in (first - 1, first)   # history.json may be one epoch past the checkpoint
  assert f"epoch {first}/8" in resumed.stdout and f"epoch {first - 1}/8" not in resumed.stdout
  history = json.load(open(os.path.join(out, "history.json")))
  assert [r["epoch"] for r in history] == list(range(1, 9))
  # The learning-rate schedule continued: cosine to 0 over exactly 8 epochs of 7 steps.
  lrs = [r["learning_rate"] for r in history]
  steps = 120 // 16
  expected = [0.025 * 0.5 * (1 + np.cos(np.pi * e * steps / (8 * steps))) for e in range(1, 9)]
  np.testing.assert_allclose(lrs, expected, atol=1e-6)
  import tensorflow as tf
  reader = tf.train.load_checkpoint(os.path.join(out, "checkpoints"))
  iterations = [k for k in reader.get_variable_to_shape_map() if "iteration" in k]
  assert iterations and int(reader.get_tensor(iterations[0])) == 8 * steps


@pytest.mark.parametrize("args, needle", [
    (["--genotype=nope.json"], "nope.json"),
    (["--genotype=DARTS_V3"], "DARTS_V3"),
    (["--preset=mnist"], "--preset"),
    (["--lr_schedule=step"], "--lr_schedule"),
])
def test_train_bad_input_is_one_line_and_exit_2(image_tree, tmp_path, args, needle):
  out = tmp_path / "run"
  result = run_entry("rc_darts_tf.cli.train", _dataset(image_tree), *TINY, *args,
                     f"--output_dir={out}", timeout=120)
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and needle in lines[0], lines
  assert not out.exists()


def test_train_main_mixed_precision_writes_a_float32_model(tmp_path, tiny_tree_16):
  out = tmp_path / "train"
  result = run_entry("rc_darts_tf.cli.train", f"--dataset=imagefolder:{tiny_tree_16}",
                     "--genotype=DARTS_V2", "--preset=none", "--layers=3", "--init_channels=4",
                     "--epochs=1", "--batch_size=4", "--max_steps_per_epoch=3", "--mixed_precision",
                     "--noauxiliary", "--nocutout", f"--output_dir={out}", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert error_lines(result.stderr) == []
  model = keras.saving.load_model(out / "model.keras", compile=False)
  assert {layer.dtype_policy.name for layer in model._flatten_layers()} == {"float32"}
  assert json.loads((out / "run.json").read_text())["settings"]["mixed_precision"] is True

