"""rc-darts-search's checkpoints: SIGKILL mid-epoch and resume == an uninterrupted run;
settings guard; non-finite stop; truncated and mismatched checkpoints; every saved file records
its search space."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers import REPO, error_lines, make_image_tree, reordered_space, run_entry

TIMEOUT = 300


def _args(tree, out, *extra):
  return [f"--dataset=imagefolder:{tree}", f"--output_dir={out}", "--batch_size=8", "--epochs=2",
          "--init_channels=4", "--layers=3", "--levels=1", "--budget_params=:1e9",
          "--projection_interval=2", "--projection_iters=5", "--report_freq=1",
          "--checkpoint_steps=1", "--deterministic", *extra]


def _popen(args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  return subprocess.Popen([sys.executable, "-u", "-m", "rc_darts_tf.cli.search", *args],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def _snapshot(root):
  """{relative path: sha1} of every file under root."""
  found = {}
  for folder, _, files in os.walk(root):
    for name in files:
      path = os.path.join(folder, name)
      with open(path, "rb") as f:
        found[os.path.relpath(path, root)] = hashlib.sha1(f.read()).hexdigest()
  return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("resume_tree")
  # 3 classes x 16 train images -> 24 + 24 in the halves -> 3 steps of 8 per epoch
  return make_image_tree(str(root), classes=3, train_per_class=16, test_per_class=2, size=8)


@pytest.fixture(scope="module")
def runs(tree, tmp_path_factory):
  """An uninterrupted run, and a run killed with SIGKILL in the middle of epoch 2 then
  restarted with the same flags (the two started side by side)."""
  base = tmp_path_factory.mktemp("runs")
  whole, killed = base / "whole", base / "killed"
  uninterrupted = _popen(_args(tree, whole))
  victim = _popen(_args(tree, killed))
  seen, deadline = [], time.monotonic() + TIMEOUT
  try:
    for line in victim.stdout:        # step 5's line comes after step 4's checkpoint
      seen.append(line)
      if "step 2/3 (global 5)" in line:
        break
      assert time.monotonic() < deadline, "".join(seen)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
  finally:
    if victim.poll() is None:
      victim.kill()
  assert victim.returncode == -signal.SIGKILL, "".join(seen) + victim.stderr.read()
  assert not (killed / "genotype.json").exists()
  resumed = run_entry("rc_darts_tf.cli.search", *_args(tree, killed), timeout=TIMEOUT)
  stdout, stderr = uninterrupted.communicate(timeout=TIMEOUT)
  assert uninterrupted.returncode == 0, stderr[-3000:]
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  return whole, killed, resumed


def test_killed_and_resumed_search_equals_an_uninterrupted_one(runs):
  whole, killed, resumed = runs
  assert "resuming from" in resumed.stdout
  # it continued inside epoch 2 (after global step 4 or 5 of 6), not from scratch
  line = next(x for x in resumed.stdout.splitlines() if "resuming from" in x)
  step = int(line.split("step ")[1].split(",")[0])
  assert 4 <= step <= 5, line
  assert "epoch 1/2 step" not in resumed.stdout
  a = json.loads((whole / "genotype.json").read_text())
  b = json.loads((killed / "genotype.json").read_text())
  for key in ("normal", "reduce", "connection"):
    assert a[key] == b[key], key
  theta_a, theta_b = np.load(whole / "theta.npz"), np.load(killed / "theta.npz")
  for key in ("theta_cells", "theta_connection"):
    np.testing.assert_allclose(theta_a[key], theta_b[key], atol=1e-6, rtol=0)
  assert (json.loads((whole / "projections.json").read_text()) ==
          json.loads((killed / "projections.json").read_text()))
  hist_a, hist_b = np.load(whole / "search_history.npz"), np.load(killed / "search_history.npz")
  np.testing.assert_allclose(hist_a["phi"], hist_b["phi"], rtol=1e-6)
  np.testing.assert_array_equal(hist_a["theta_epochs"], hist_b["theta_epochs"])
  for epoch in (1, 2):
    name = f"genotype_epoch_{epoch:03d}.json"
    ga, gb = json.loads((whole / name).read_text()), json.loads((killed / name).read_text())
    assert ga["normal"] == gb["normal"] and ga["reduce"] == gb["reduce"], name
  assert not [f for f in os.listdir(killed) if ".tmp" in f]   # atomic writes left no temp file


def test_other_settings_are_refused_and_change_nothing(runs, tree):
  whole, _, _ = runs
  before = _snapshot(whole)
  result = run_entry("rc_darts_tf.cli.search", *_args(tree, whole, "--epochs=3"),
                     timeout=TIMEOUT)
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "holds a search with other settings" in lines[0], lines
  assert "--epochs=3 (the earlier run: 2)" in lines[0]
  assert _snapshot(whole) == before


def test_truncated_checkpoint_is_refused_and_changes_nothing(runs, tree, tmp_path):
  whole, _, _ = runs
  copy = tmp_path / "copy"
  shutil.copytree(whole, copy)
  data = [f for f in os.listdir(copy / "checkpoints") if ".data-" in f]
  newest = sorted(data, key=lambda f: int(f.split("-")[1].split(".")[0]))[-1]
  path = copy / "checkpoints" / newest
  path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 3])
  before = _snapshot(copy)
  result = run_entry("rc_darts_tf.cli.search", *_args(tree, copy), timeout=TIMEOUT)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "is truncated" in lines[0], lines
  assert _snapshot(copy) == before


def test_mismatched_checkpoint_is_refused_and_changes_nothing(runs, tree, tmp_path):
  """Checkpoints of another network (C=8) under a run record of this one (C=4)."""
  import keras
  from rc_darts_tf.search.checkpoint import SearchCheckpoint
  from rc_darts_tf.search.supernet import SearchNetwork
  whole, _, _ = runs
  copy = tmp_path / "copy"
  shutil.copytree(whole, copy)
  shutil.rmtree(copy / "checkpoints")
  other = SearchNetwork(num_classes=3, init_channels=8, layers=3, levels=1, image_size=8)
  other.compile(keras.optimizers.SGD(0.1, momentum=0.9), keras.optimizers.Adam(1e-3))
  other.build_optimizers()
  SearchCheckpoint(str(copy / "checkpoints"), other).save(2, 0, {})
  before = _snapshot(copy)
  result = run_entry("rc_darts_tf.cli.search", *_args(tree, copy), timeout=TIMEOUT)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "does not match this run" in lines[0], lines
  assert _snapshot(copy) == before


def test_every_saved_file_of_a_search_records_its_space(runs):
  from rc_darts_tf import search_space
  whole, _, _ = runs
  record = search_space.DEFAULT.record()
  assert json.loads((whole / "genotype.json").read_text())["search_space"] == record
  assert json.loads((whole / "run.json").read_text())["search_space"] == record
  for name in ("theta.npz", "search_history.npz"):
    with np.load(whole / name) as z:
      assert json.loads(str(z["search_space"])) == record, name


def test_a_run_record_of_another_op_order_is_refused_and_changes_nothing(runs, tree, tmp_path):
  whole, _, _ = runs
  copy = tmp_path / "copy"
  shutil.copytree(whole, copy)
  record = json.loads((copy / "run.json").read_text())
  (copy / "run.json").write_text(json.dumps({**record,
                                             "search_space": reordered_space()}))
  before = _snapshot(copy)
  result = run_entry("rc_darts_tf.cli.search", *_args(tree, copy), timeout=TIMEOUT)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "run.json" in lines[0], lines
  assert "θ's columns would name other ops" in lines[0], lines
  assert _snapshot(copy) == before


def test_non_finite_loss_stops_at_once_and_keeps_the_last_good_checkpoint(tree, tmp_path):
  out = tmp_path / "nan"
  result = run_entry("rc_darts_tf.cli.search",
                     *_args(tree, out, "--learning_rate=1e30", "--grad_clip=0",
                            "--weight_decay=0"), timeout=TIMEOUT)
  assert result.returncode == 1, result.stderr[-2000:]
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "non-finite loss or θ at step" in lines[0], lines
  bad_step = int(lines[0].split("at step ")[1].split(" ")[0])
  assert 1 <= bad_step <= 3
  assert not (out / "genotype.json").exists()
  folder = out / "checkpoints"
  saved = sorted(int(f.split("-")[1].split(".")[0]) for f in
                 (os.listdir(folder) if folder.exists() else []) if f.endswith(".index"))
  assert all(s < bad_step for s in saved)
  if saved:
    assert f"search-{saved[-1]}" in lines[0]

