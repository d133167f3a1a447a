"""A tiny search run shared by tests/search/test_loop.py and test_callbacks.py (traced once per
session): SearchLoop over the generated 16x16 tree (3 classes x 8 training images -> halves of
12 -> 3 steps of 4 per epoch), 2 epochs, ProjectionSchedule(interval=4, warmup=1) and a
SearchMonitor every 2 steps; latency priced by a made-up table (helpers.fake_latency_table) and
bounded, like params, far above what any θ reaches."""

import io

import pytest

from tests.helpers import fake_latency_table, tiny_search_network

EPOCHS, STEPS_PER_EPOCH = 2, 3


@pytest.fixture(scope="session")
def tiny_search_run(tiny_tree_16, tmp_path_factory):
  import keras

  from rc_darts_tf import data
  from rc_darts_tf import distribute as dist
  from rc_darts_tf.budget import Bounds
  from rc_darts_tf.search import callbacks as cb
  from rc_darts_tf.search.inputs import SearchInput
  from rc_darts_tf.search.loop import SearchLoop
  out = tmp_path_factory.mktemp("tiny_search")
  source = data.load_source("imagefolder:" + tiny_tree_16)
  inputs = SearchInput(source, batch_size=4, train_portion=0.5, seed=3)
  keras.utils.set_random_seed(3)
  from rc_darts_tf import costs
  bounds = {"params": Bounds(None, 1e9), "latency_ms": Bounds(None, 1e3)}
  table = fake_latency_table(costs.network_plan(4, 3, 1, "cifar", 16, 3))
  model = tiny_search_network(init_channels=4, bounds=bounds, projection_iters=20,
                              latency_table=table)
  projection = cb.ProjectionSchedule(interval=4, warmup=1)
  monitor = cb.SearchMonitor(str(out), model.budget_plan, model.projection.bounds, {},
                             every_n_steps=2)
  printed = io.StringIO()
  loop = SearchLoop(model, dist.make_strategy("default"), inputs, epochs=EPOCHS,
                    projection=projection, monitor=monitor, report_freq=2, out=printed)
  steps_seen = []
  loop.run(on_step=lambda step, logs: steps_seen.append((step, sorted(logs))))
  return {"loop": loop, "model": model, "projection": projection, "monitor": monitor,
          "inputs": inputs, "printed": printed.getvalue(), "steps_seen": steps_seen,
          "out": out}
