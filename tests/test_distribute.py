"""tf.distribute (rc_darts_tf/distribute.py): make_strategy's errors; MirroredStrategy over
2 logical CPUs takes the same search steps as one device on the same global batch. (A
2-process MultiWorkerMirroredStrategy search: tests/cli/test_distribute.py.)"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rc_darts_tf import distribute as dist
from rc_darts_tf.errors import RcDartsError
from tests.helpers import REPO, child_env, make_image_tree

TIMEOUT = 420

# Run in a child process: logical devices must be configured before TensorFlow initialises them.
_MIRRORED_CHILD = textwrap.dedent("""
    import json, os, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    # graph optimisation of the replicated step is what costs time here; results are unaffected
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    import keras
    import numpy as np
    from rc_darts_tf import data, distribute as dist
    from rc_darts_tf.budget import Bounds
    from rc_darts_tf.search import callbacks as cb
    from rc_darts_tf.search.inputs import SearchInput
    from rc_darts_tf.search.loop import SearchLoop
    from rc_darts_tf.search.supernet import SearchNetwork

    tree, out = sys.argv[1], sys.argv[2]
    source = data.load_source("imagefolder:" + tree)
    inputs = SearchInput(source, batch_size=8, train_portion=0.5, seed=3)
    result = {}
    for name in ("default", "mirrored"):
      keras.utils.set_random_seed(3)
      strategy = dist.make_strategy(name)
      with strategy.scope():
        model = SearchNetwork(num_classes=source.num_classes, init_channels=4, layers=3,
                              levels=1, learn_connection=True, image_size=source.image_size,
                              bounds={"params": Bounds(None, 6000.0)}, projection_iters=20,
                              seed=3)
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                      keras.optimizers.Adam(0.03, beta_1=0.5, beta_2=0.999))
        model.build_optimizers()
        if strategy.num_replicas_in_sync > 1:
          model.use_synchronized_batch_norm()
      plan = model.budget_plan
      monitor = cb.SearchMonitor(os.path.join(out, name), plan, model.projection.bounds, {},
                                 every_n_steps=1)
      os.makedirs(os.path.join(out, name), exist_ok=True)
      projection = cb.ProjectionSchedule(interval=1, warmup=1)
      loop = SearchLoop(model, strategy, inputs, epochs=1, projection=projection,
                        monitor=monitor, out=None)
      w0 = [v.numpy().copy() for v in model.weight_variables]
      t0 = [model.theta_cells.numpy().copy(), model.theta_connection.numpy().copy()]
      loop.run()
      replicas = [
          [r.numpy().tolist() for r in strategy.experimental_local_results(v.value)]
          for v in (model.theta_cells, model.theta_connection)]
      result[name] = {
          "replicas": strategy.num_replicas_in_sync,
          "w_updates": [(v.numpy() - a).tolist() for v, a in zip(model.weight_variables, w0)],
          "theta_updates": [(model.theta_cells.numpy() - t0[0]).tolist(),
                            (model.theta_connection.numpy() - t0[1]).tolist()],
          "theta_replicas": replicas,
          "projections": projection.history,
          "traces": loop.tracing_count,
          "steps": loop.global_step}
    print("RESULT " + json.dumps(result))
""")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("dist_tree")
  # 3 x 11 train images -> 16 + 17 in the halves -> 2 steps of 8 per epoch
  return make_image_tree(str(root), classes=3, train_per_class=11, test_per_class=2, size=8)


def test_mirrored_steps_equal_one_device_on_the_same_global_batch(tree, tmp_path):
  result = subprocess.run([sys.executable, "-c", _MIRRORED_CHILD, tree, str(tmp_path)],
                          cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=TIMEOUT)
  assert result.returncode == 0, result.stderr[-3000:]
  line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
  found = json.loads(line[len("RESULT "):])
  one, two = found["default"], found["mirrored"]
  assert one["replicas"] == 1 and two["replicas"] == 2
  assert one["steps"] == two["steps"] == 2
  assert one["traces"] == two["traces"] == 1
  moved = 0
  for a, b in zip(one["w_updates"], two["w_updates"]):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)
    moved += int(np.abs(a).max() > 1e-4)
  # θ's update includes the projection, whose Newton step divides by ‖∇Φ‖²: the replicas' float32
  # reduction order shows there as ~1e-5 (measured: 2.4e-5 at most on updates of ~0.05-0.1); a
  # replica that skipped the all-reduce or the projection would differ by the update itself
  for a, b in zip(one["theta_updates"], two["theta_updates"]):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(b, a, atol=1e-4, rtol=0)
    assert np.abs(a).max() > 1e-3
  assert moved > 0.9 * len(one["w_updates"])       # the updates are real, not both zero
  # the projection ran (the bound is below Φ) once, in cross-replica context: same on replicas
  assert len(two["projections"]) == len(one["projections"]) == 2
  assert two["projections"][0]["iterations"] == one["projections"][0]["iterations"] > 0
  for replicas in two["theta_replicas"]:
    assert len(replicas) == 2 and replicas[0] == replicas[1]


def test_make_strategy_errors_are_one_line(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(RcDartsError, match="needs TF_CONFIG"):
    dist.make_strategy("multi_worker")
  with pytest.raises(RcDartsError, match="unknown"):
    dist.make_strategy("horovod")
  monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]},
                                              "task": {"type": "worker", "index": 3}}))
  with pytest.raises(RcDartsError, match="task worker:3 is not in the cluster"):
    dist.parse_tf_config()
  assert dist.make_strategy("default").num_replicas_in_sync == 1
  with pytest.raises(RcDartsError, match="multiple of the 2 replicas"):
    dist.check_global_batch(7, type("S", (), {"num_replicas_in_sync": 2})())

