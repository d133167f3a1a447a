"""rc-darts-train (retraining, checkpoints, resume, presets) and rc-darts-tune (budgeted tuning,
--fit_budget), run as a user runs them."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from absl import flags as absl_flags

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


def test_presets_fill_only_what_the_command_line_leaves_open():
  from flags.retrain import PRESETS, apply_preset, define_retrain_flags
  from flags.train import define_train_flags
  from flags.data import define_data_flags
  fv = absl_flags.FlagValues()
  define_data_flags(fv)
  define_train_flags(fv)
  define_retrain_flags(fv)
  fv(["prog", "--preset=imagenet", "--epochs=3"])
  changed = apply_preset(fv)
  assert "epochs" not in changed and fv.epochs == 3
  for key in ("layers", "init_channels", "batch_size", "learning_rate", "weight_decay",
              "label_smoothing", "lr_schedule", "lr_decay_rate", "auxiliary", "stem"):
    assert fv[key].value == PRESETS["imagenet"][key], key
  assert fv.layers == 14 and fv.learning_rate == 0.1 and fv.label_smoothing == 0.1

  fv = absl_flags.FlagValues()
  define_data_flags(fv)
  define_train_flags(fv)
  define_retrain_flags(fv)
  fv(["prog", "--layers=8"])
  apply_preset(fv)
  assert fv.layers == 8 and fv.epochs == 600 and fv.batch_size == 96 and fv.cutout
  assert fv.drop_path_prob == 0.3 and fv.auxiliary_weight == 0.4 and fv.grad_clip == 5.0


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


def test_tune_never_trains_an_over_budget_configuration(image_tree, tmp_path):
  out = str(tmp_path / "tune")
  budget = 30_000
  result = run_entry("rc_darts_tf.cli.tune", _dataset(image_tree), "--genotype=DARTS_V2",
                     f"--budget_params=:{budget}", "--channels=4:24:4", "--layer_choices=3,4",
                     "--epochs=3", "--batch_size=16", "--max_steps_per_epoch=2",
                     "--tuner=bayesian", "--max_trials=7", f"--output_dir={out}", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  trials = json.load(open(os.path.join(out, "trials.json")))
  genotype = genotype_lib.resolve("DARTS_V2")
  assert len(trials) >= 4
  trained = [t for t in trials if t["status"] == "trained"]
  rejected = [t for t in trials if t["status"] == "rejected"]
  assert trained and rejected and len(trained) + len(rejected) == len(trials)
  for t in trials:
    v = t["values"]
    plan = network.plan_for(genotype, v["init_channels"], v["layers"], "cifar", 32, 4)
    exact = costs.genotype_cost(plan, genotype.normal, genotype.reduce, None)
    assert t["cost"] == exact.as_dict()
    if t["status"] == "trained":
      assert exact.params <= budget and 0.0 <= t["val_accuracy"] <= 1.0
    else:
      assert exact.params > budget and t["seconds"] < 0.5 and "val_accuracy" not in t
  best = json.load(open(os.path.join(out, "best.json")))
  assert best["summary"]["rejected_over_budget"] == len(rejected)
  assert best["best"]["val_accuracy"] == max(t["val_accuracy"] for t in trained)
  assert f"{len(rejected)} rejected over budget" in result.stdout


@pytest.mark.parametrize("genotype_name, connection", [("DARTS_V2", None),
                                                       ("DARTS_V2", "group_conv_1x1_g4")])
def test_fit_budget_returns_the_widest_network_inside(tmp_path, genotype_name, connection):
  genotype = genotype_lib.resolve(genotype_name)
  genotype.connection = connection
  spec = tmp_path / "g.json"
  genotype_lib.save(genotype, str(spec))
  out = str(tmp_path / "fit")
  result = run_entry("rc_darts_tf.cli.tune", "--dataset=sample", f"--genotype={spec}",
                     "--budget_params=1.5e5:3.0e5", "--budget_macs=:6.0e7", "--layers=8",
                     "--fit_budget", f"--output_dir={out}", timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  fit = json.load(open(os.path.join(out, "fit_budget.json")))
  c, step = fit["init_channels"], fit["channel_step"]
  assert step == (4 if connection else 2) and c % step == 0

  def cost(width):
    plan = network.plan_for(genotype, width, 8, "cifar", 32, 10)
    return costs.genotype_cost(plan, genotype.normal, genotype.reduce, connection)

  inside = lambda k: 1.5e5 <= k.params <= 3.0e5 and k.macs <= 6.0e7  # noqa: E731
  assert inside(cost(c)) and not inside(cost(c + step))
  assert fit["cost"] == cost(c).as_dict()
  assert f"C={c}" in result.stdout


@pytest.mark.parametrize("args, needle", [
    ([], "budget"),
    (["--budget_params=5:1"], "--budget_params"),
    (["--budget_params=:10", "--fit_budget"], "no width"),
    (["--budget_params=:1e6", "--channels=8:4:2"], "--channels"),
])
def test_tune_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
  out = tmp_path / "tune"
  result = run_entry("rc_darts_tf.cli.tune", "--dataset=sample", *args, f"--output_dir={out}",
                     timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and needle in lines[0], lines
  assert not out.exists()
