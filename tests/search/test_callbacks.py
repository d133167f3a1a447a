"""rc_darts_tf/search/callbacks.py: ProjectionSchedule projects after global steps warmup,
warmup + interval, … and closes the search with one final projection unless it just projected;
SearchMonitor keeps Φ every n steps and softmax(θ) per epoch, writes a genotype per epoch and
the histories file; both callbacks' states round-trip through JSON (what checkpoints keep)."""

import json

import numpy as np

from rc_darts_tf import costs, genotype as genotype_lib, search_space
from rc_darts_tf.search import callbacks as cb
from tests.search.conftest import EPOCHS


def test_projection_schedule_steps_and_closing_projection(tiny_search_run):
  projection = tiny_search_run["projection"]
  history = projection.history
  # warmup 1, interval 4 over 6 steps: steps 1 and 5, then the closing projection at step 6
  assert [(r["step"], r["final"]) for r in history] == [(1, False), (5, False), (6, True)]
  for record in history:
    assert record["feasible"] and record["eq1_feasible"]      # a bound no θ reaches
    assert record["iterations"] == 0
    for r in costs.RESOURCES:
      assert record[f"phi_{r}"] > 0 and record[f"eq1_{r}"] > 0
  # it closed at the last step already: finishing again adds nothing
  projection.finish()
  assert len(projection.history) == 3


def test_projection_schedule_state_round_trips_through_json(tiny_search_run):
  projection = tiny_search_run["projection"]
  again = cb.ProjectionSchedule(interval=4, warmup=1)
  again.set_state(json.loads(json.dumps(projection.get_state())))
  assert again.step == projection.step == 6
  assert again.history == projection.history
  fresh = cb.ProjectionSchedule(interval=4, warmup=1)
  fresh.set_state({})
  assert fresh.step == 0 and fresh.history == []


def test_monitor_histories_and_genotype_per_epoch(tiny_search_run):
  monitor, model, out = tiny_search_run["monitor"], tiny_search_run["model"], tiny_search_run["out"]
  # every 2 steps: (step, Φ [R], Eq. 1 cost [R], τ), R = params, MACs, latency (ms)
  m = len(costs.RESOURCES)
  assert [row[0] for row in monitor.phi_history] == [2, 4, 6]
  assert all(len(row) == 2 + 2 * m for row in monitor.phi_history)
  last = monitor.phi_history[-1]
  assert np.allclose(last[1:1 + m], model.phi().numpy(), rtol=1e-6)
  assert np.allclose(last[1 + m:1 + 2 * m], model.eq1_cost().numpy(), rtol=1e-6)
  assert last[1 + 2 * m] == float(model.temperature())
  # per epoch: softmax(θ / τ) [G, E, O], rows summing to 1
  assert [e for e, _ in monitor.theta_history] == [1, 2]
  for _, probs in monitor.theta_history:
    assert probs.shape == (2, costs.NUM_EDGES, len(search_space.DEFAULT.primitives))
    assert np.allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
  for epoch in range(1, EPOCHS + 1):
    genotype = genotype_lib.load(str(out / f"genotype_epoch_{epoch:03d}.json"))
    assert genotype.meta["epoch"] == epoch
    assert genotype.meta["derivation"] == "eq1" and genotype.meta["within_budget"]
    # the derived network's latency as the table prices it, Φ's latency at the end
    assert 0 < genotype.meta["exact_cost"]["latency_ms"] < 1e3
    assert set(genotype.meta["phi"]) == set(costs.RESOURCES)
  # the histories file the pictures read
  path = out / "search_history.npz"
  monitor.save_histories(str(path))
  with np.load(path) as z:
    assert z["phi"].shape == (3, 2 + 2 * m) and np.array_equal(z["phi"][:, 0], [2, 4, 6])
    assert list(z["theta_epochs"]) == [1, 2]
    assert z["theta_softmax"].shape == (2, 2, costs.NUM_EDGES, 8)
    assert json.loads(str(z["search_space"])) == search_space.DEFAULT.record()


def test_monitor_state_round_trips_through_json(tiny_search_run):
  monitor = tiny_search_run["monitor"]
  again = cb.SearchMonitor("unused", None, {}, {})
  again.set_state(json.loads(json.dumps(monitor.get_state())))
  assert again.step == monitor.step == 6
  assert again.phi_history == [tuple(r) for r in monitor.phi_history]
  assert [e for e, _ in again.theta_history] == [1, 2]
  for (_, a), (_, b) in zip(again.theta_history, monitor.theta_history):
    assert a.dtype == np.float32 and np.array_equal(a, b)
  # a checkpoint written before latency was a resource: its rows get zeros for latency
  old = cb.SearchMonitor("unused", None, {}, {})
  old.set_state({"step": 2, "phi_history": [[2, 10.0, 20.0, 11.0, 21.0, 0.5]]})
  assert old.phi_history == [(2, 10.0, 20.0, 0.0, 11.0, 21.0, 0.0, 0.5)]
