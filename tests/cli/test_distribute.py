"""rc-darts-search --strategy=multi_worker: a 2-process MultiWorkerMirroredStrategy search
on loopback finishes and both workers derive the same genotype. (MirroredStrategy and
make_strategy: tests/test_distribute.py.)"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO, child_env, make_image_tree

TIMEOUT = 420


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("dist_tree")
  # 3 x 11 train images -> 16 + 17 in the halves -> 2 steps of 8 per epoch
  return make_image_tree(str(root), classes=3, train_per_class=11, test_per_class=2, size=8)


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def test_multi_worker_search_on_loopback_derives_one_genotype(tree, tmp_path):
  ports = _free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  out = tmp_path / "run"
  args = [sys.executable, "-m", "rc_darts_tf.cli.search", "--strategy=multi_worker",
          f"--dataset=imagefolder:{tree}", f"--output_dir={out}", "--batch_size=8",
          "--epochs=1", "--init_channels=4", "--layers=3", "--levels=1",
          "--budget_params=:1e9", "--projection_interval=1", "--projection_iters=5",
          "--report_freq=1", "--checkpoint_steps=1"]
  procs = []
  for index in range(2):
    config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    procs.append(subprocess.Popen(args, cwd=REPO, env=child_env(TF_CONFIG=config),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outputs = []
  try:
    for proc in procs:
      outputs.append(proc.communicate(timeout=TIMEOUT))
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  for proc, (stdout, stderr) in zip(procs, outputs):
    assert proc.returncode == 0, stderr[-3000:]
  assert "strategy multi_worker: 2 replica(s), global batch 8 (4 per replica)" in outputs[0][0]
  chief = json.loads((out / "genotype.json").read_text())
  worker = json.loads((out / "workers" / "worker-1" / "genotype.json").read_text())
  for key in ("normal", "reduce", "connection"):
    assert chief[key] == worker[key], key
  theta_chief, theta_worker = np.load(out / "theta.npz"), np.load(
      out / "workers" / "worker-1" / "theta.npz")
  np.testing.assert_array_equal(theta_chief["theta_cells"], theta_worker["theta_cells"])
  assert chief["meta"]["strategy"] == {"name": "multi_worker", "replicas": 2}
  assert os.listdir(out / "checkpoints")          # the chief's checkpoints

