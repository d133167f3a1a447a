"""rc_darts_tf/visualize/curves.py: the Φ figure with empty histories, the θ figure, and
the study figure of every run per arm."""

import os

import numpy as np

from rc_darts_tf import costs, visualize


def test_phi_figure_handles_empty_histories():
  fig = visualize.phi_figure(np.zeros((0, 3)), {}, [{"step": 4, "phi_params_before": 2.0,
                                                     "phi_params": 1.0, "phi_macs_before": 5.0,
                                                     "phi_macs": 4.0}])
  assert [ax.get_ylabel() for ax in fig.axes] == ["parameters", "multiply-adds (MACs)"]
  fig = visualize.theta_figure([1], np.full((1, 14, 8), 1 / 8), "flat")
  assert len(fig.axes) == 15                                 # 14 edges + the legend
  visualize.style._plt().close("all")


def test_phi_figure_shows_latency_when_it_is_priced_or_bounded():
  """One panel per resource of costs.RESOURCES that was priced (its Φ not all zeros) or bounded;
  histories written before latency was a resource (6 columns) show params and MACs."""
  from rc_darts_tf.budget import Bounds
  m = len(costs.RESOURCES)
  phi = np.zeros((3, 2 + 2 * m))
  phi[:, 0] = [1, 2, 3]
  phi[:, 1:1 + m] = [[1e5, 7e6, 0.9], [1.1e5, 7.1e6, 0.8], [1.2e5, 7.2e6, 0.7]]
  labels = lambda fig: [ax.get_ylabel() for ax in fig.axes]  # noqa: E731
  assert labels(visualize.phi_figure(phi, {"latency_ms": Bounds(None, 0.8)}))[-1] == "latency (ms)"
  assert len(visualize.phi_figure(phi, {}).axes) == 3
  unpriced = phi.copy()
  unpriced[:, [m, 2 * m]] = 0.0
  assert len(visualize.phi_figure(unpriced, {}).axes) == 2
  assert len(visualize.phi_figure(np.zeros((2, 6)), {}).axes) == 2
  visualize.style._plt().close("all")


def test_study_figure_plots_every_run_per_arm(tmp_path):
  from rc_darts_tf import budget
  rows = [{"arm": "rc", "params": 118_154, "macs": 6_427_136, "test_accuracy": 0.61},
          {"arm": "rc", "params": 121_000, "macs": 6_500_000, "test_accuracy": 0.63},
          {"arm": "darts", "params": 106_594, "macs": 4_780_800, "test_accuracy": 0.58},
          {"arm": "random", "params": 122_806, "macs": 5_607_552, "test_accuracy": 0.55}]
  fig = visualize.study_figure(rows, budget.parse_bounds("1.0e5:1.4e5"))
  ax = fig.axes[0]
  points = {c.get_label().split(" (")[0]: c.get_offsets() for c in ax.collections
            if c.get_offsets().size and " run" in c.get_label()}
  assert len(points) == 3
  rc = points[visualize.ARM_STYLE["rc"][2]]
  np.testing.assert_allclose(np.asarray(rc), [[118_154, 61.0], [121_000, 63.0]])
  labels = [t.get_text() for t in ax.get_legend().get_texts()]
  assert "RC-DARTS at the budget (2 runs)" in labels and "params budget" in labels
  paths = visualize.save_figure(fig, str(tmp_path / "study"))
  assert sorted(os.path.basename(p) for p in paths) == ["study.png", "study.svg"]
  assert "random genotypes" in open(tmp_path / "study.svg").read()
  fig = visualize.study_figure(rows, resource="macs")
  assert fig.axes[0].get_xlabel().startswith("multiply-accumulates")
  visualize.style._plt().close("all")

