"""Pictures (rc_darts_tf.visualize, rc-darts-plot): cells of DARTS_V2 and of a 3-level genotype with
a connection op, Φ and θ-softmax plots of generated search directories written in the search's
own formats, and the entry point's one-line errors."""

import json
import os
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

from rc_darts_tf import costs
from rc_darts_tf import genotype as genotype_lib
from rc_darts_tf import visualize
from tests.helpers import error_lines, run_entry

LEVEL_CELLS = [
    [("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("skip_connect", 0), ("sep_conv_3x3", 2),
     ("dil_conv_3x3", 1), ("sep_conv_3x3", 3), ("skip_connect", 0), ("sep_conv_3x3", 4)],
    [("max_pool_3x3", 0), ("dil_conv_5x5", 1), ("skip_connect", 1), ("avg_pool_3x3", 0),
     ("sep_conv_3x3", 2), ("skip_connect", 3), ("dil_conv_3x3", 0), ("skip_connect", 1)],
    [("avg_pool_3x3", 1), ("sep_conv_5x5", 0), ("sep_conv_3x3", 2), ("dil_conv_3x3", 1),
     ("skip_connect", 0), ("max_pool_3x3", 2), ("dil_conv_5x5", 4), ("sep_conv_3x3", 3)],
]
REDUCE = [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
          ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 1)]


def three_level_genotype(**meta):
  return genotype_lib.Genotype(normal=LEVEL_CELLS, reduce=REDUCE,
                               connection="group_conv_1x1_g2", meta=dict(meta)).validate()


def check_png(path, min_width=300, min_height=150):
  with Image.open(path) as image:
    image.verify()
  with Image.open(path) as image:
    assert image.format == "PNG"
    width, height = image.size
    assert min_width <= width <= 5000 and min_height <= height <= 5000, (path, image.size)
    pixels = np.asarray(image.convert("L"))
  assert pixels.std() > 5, f"{path} is blank"


def svg_text(path):
  """All text of an SVG file (it must parse as XML with an <svg> root)."""
  root = ET.parse(path).getroot()
  assert root.tag.endswith("svg")
  return " ".join(t for t in root.itertext())


def check_pictures(paths, names):
  """Every name has a valid PNG and SVG among `paths`; returns {name: svg text}."""
  by_name = {}
  for name in names:
    png = [p for p in paths if os.path.basename(p) == f"{name}.png"]
    svg = [p for p in paths if os.path.basename(p) == f"{name}.svg"]
    assert len(png) == 1 and len(svg) == 1, (name, paths)
    assert os.path.isfile(png[0]) and os.path.isfile(svg[0])
    check_png(png[0])
    by_name[name] = svg_text(svg[0])
  assert len(paths) == 2 * len(names), paths
  return by_name


def test_op_tables_follow_the_registry():
  from rc_darts_tf import ops
  assert visualize.CELL_PRIMITIVES == ops.PRIMITIVES
  assert visualize.CONNECTION_PRIMITIVES == ops.CONNECTION_PRIMITIVES
  for op in ops.PRIMITIVES + ops.CONNECTION_PRIMITIVES:
    assert op in visualize.OP_STYLES, op
  for op in ops.CONNECTION_PRIMITIVES + (None,):
    assert op in visualize.CONNECTION_TEXT, op
  # ops of one family share a colour, and different families differ
  assert visualize.op_color("sep_conv_3x3") == visualize.op_color("sep_conv_5x5")
  assert visualize.op_color("sep_conv_3x3") != visualize.op_color("dil_conv_3x3")
  assert visualize.op_color("max_pool_3x3") != visualize.op_color("skip_connect")


def test_darts_v2_cells(tmp_path):
  genotype = genotype_lib.resolve("DARTS_V2")
  out = tmp_path / "pics"
  paths = visualize.plot_genotype(genotype, str(out))
  texts = check_pictures(paths, ["cell_normal", "cell_reduce", "connection"])
  assert all(os.path.dirname(p) == str(out) for p in paths)
  assert sorted(os.listdir(tmp_path)) == ["pics"]           # no temp folder left behind
  normal, reduce = texts["cell_normal"], texts["cell_reduce"]
  assert normal.count("sep_conv_3x3") == 5 and normal.count("skip_connect") == 2
  assert normal.count("dil_conv_3x3") == 1 and "max_pool_3x3" not in normal
  assert reduce.count("max_pool_3x3") == 5 and reduce.count("skip_connect") == 3
  assert "normal cell" in normal and "reduction cell" in reduce
  assert "fixed 1×1" in texts["connection"]
  # drawing again replaces the pictures in place
  stamp = {p: os.stat(p).st_mtime_ns for p in paths}
  again = visualize.plot_genotype(genotype_lib.resolve("PDARTS"), str(out))
  assert sorted(again) == sorted(paths) and sorted(os.listdir(tmp_path)) == ["pics"]
  assert all(os.stat(p).st_mtime_ns >= stamp[p] for p in paths)
  assert "dil_conv_5x5" in svg_text(str(out / "cell_normal.svg"))


def test_three_level_genotype_with_a_connection_op(tmp_path):
  paths = visualize.write_genotype_pictures(three_level_genotype(), str(tmp_path))
  names = ["cell_normal_level0", "cell_normal_level1", "cell_normal_level2", "cell_reduce",
           "connection"]
  texts = check_pictures(paths, names)
  for level, cell in enumerate(LEVEL_CELLS):
    text = texts[f"cell_normal_level{level}"]
    assert f"level {level} (of 3)" in text
    for op in set(op for op, _ in cell):
      assert text.count(op) == sum(o == op for o, _ in cell), (level, op)
  assert texts["cell_reduce"].count("avg_pool_3x3") == 1
  assert "group_conv_1x1_g2" in texts["connection"] and "channel shuffle" in texts["connection"]


def test_cell_layout_puts_nodes_after_their_inputs():
  for cell in LEVEL_CELLS + [REDUCE]:
    pos, out, ranks = visualize.cells._cell_layout(cell, (2, 3, 4, 5))
    for k, (_, i) in enumerate(cell):
      assert pos[i][0] < pos[k // 2 + 2][0]
    assert all(x < out[0] for x, _ in pos.values())
    assert len(set(pos.values())) == 6                       # no two states on one spot


# --- a search output directory, written as rc-darts-search writes it -----------------------------


def write_search_dir(root, levels=1, epochs=3, bounded=True, connection=None, projections=True):
  """genotype.json (genotype.save), search_history.npz (SearchMonitor.save_histories) and
  projections.json (ProjectionSchedule records, json.dumps indent 2) as rc-darts-search writes them."""
  from rc_darts_tf.budget import Bounds
  from rc_darts_tf.search import callbacks
  os.makedirs(root, exist_ok=True)
  rng = np.random.default_rng(levels * 10 + epochs)
  bounds = ({"params": Bounds(1.8e5, 2.0e5), "macs": Bounds(None, 3.3e7)} if bounded else
            {"params": None, "macs": None})
  steps_per_epoch, every = 20, 5
  monitor = callbacks.SearchMonitor(str(root), None, bounds, {}, every_n_steps=every)
  phi0 = np.array([3.0e5, 4.5e7])
  for step in range(every, epochs * steps_per_epoch + 1, every):
    phi = phi0 * (1 - 0.5 * step / (epochs * steps_per_epoch))
    monitor.phi_history.append((step, *[float(v) for v in phi]))
  theta = np.zeros((levels + 1, 14, 8))
  for epoch in range(1, epochs + 1):
    theta += rng.normal(0, 0.2, theta.shape)
    probs = np.exp(theta) / np.exp(theta).sum(-1, keepdims=True)
    monitor.theta_history.append((epoch, probs.astype(np.float32)))
  monitor.save_histories(os.path.join(root, "search_history.npz"))
  records = []
  if bounded and projections:
    for step in range(steps_per_epoch, epochs * steps_per_epoch + 1, 10):
      before = phi0 * (1 - 0.5 * step / (epochs * steps_per_epoch))
      after = before * 0.93
      records.append({"step": step, "lambda": 10.0 * 0.95 ** len(records), "iterations": 500,
                      "feasible": False, "phi_params_before": float(before[0]),
                      "phi_macs_before": float(before[1]), "phi_params": float(after[0]),
                      "phi_macs": float(after[1])})
  with open(os.path.join(root, "projections.json"), "w") as f:
    f.write(json.dumps(records, indent=2))
  normal = [LEVEL_CELLS[g % 3] for g in range(levels)]
  meta = {"settings": {"constraints": "rc" if bounded else "none", "levels": levels},
          "budget": {r: str(b) for r, b in bounds.items() if b is not None},
          "phi": {"params": 1.9e5, "macs": 3.0e7},
          "exact_cost": {"params": 185000, "macs": 31000000},
          "within_budget": True if bounded else None, "warnings": [], "derivation": "eq1",
          "epoch": epochs, "projections": records}
  genotype = genotype_lib.Genotype(normal=normal, reduce=REDUCE, connection=connection,
                                   meta=meta)
  genotype_lib.save(genotype, os.path.join(root, "genotype.json"))
  if connection is not None:
    np.savez(os.path.join(root, "theta.npz"), theta_cells=theta,
             theta_connection=np.array([0.1, 0.2, 1.5, 0.3]))
  return str(root)


def test_plot_search_dir_with_bounds_and_projections(tmp_path):
  search_dir = write_search_dir(tmp_path / "run", levels=2, epochs=3,
                                connection="group_conv_1x1_g2")
  before = set(os.listdir(search_dir))
  paths = visualize.plot_search_dir(search_dir)
  names = ["cell_normal_level0", "cell_normal_level1", "cell_reduce", "connection", "phi",
           "theta_normal_level0", "theta_normal_level1", "theta_reduce"]
  texts = check_pictures(paths, names)
  assert {os.path.dirname(p) for p in paths} == {os.path.join(search_dir, "pictures")}
  assert set(os.listdir(search_dir)) == before | {"pictures"}    # nothing else, no temp folder
  phi = texts["phi"]
  assert "budget 180k – 200k" in phi and "budget ≤ 33M" in phi
  assert "projection" in phi and "derived network (exact cost)" in phi
  assert "softmax(θ_connection)" in texts["connection"]
  # the kept edges of each group are named in its θ picture
  for g, cell in enumerate(LEVEL_CELLS[:2]):
    text = texts[f"theta_normal_level{g}"]
    assert text.count("kept:") == 8 and f"level {g} (of 2)" in text
    for op in set(op for op, _ in cell):
      assert f"kept: {op}" in text
  assert texts["theta_reduce"].count("kept:") == 8


def test_plot_search_dir_without_bounds_and_one_epoch(tmp_path):
  search_dir = write_search_dir(tmp_path / "run", levels=1, epochs=1, bounded=False)
  out = tmp_path / "elsewhere"
  paths = visualize.plot_search_dir(search_dir, str(out))
  texts = check_pictures(paths, ["cell_normal", "cell_reduce", "connection", "phi",
                                 "theta_normal", "theta_reduce"])
  assert {os.path.dirname(p) for p in paths} == {str(out)}
  assert not os.path.exists(os.path.join(search_dir, "pictures"))
  assert "no budget (unconstrained)" in texts["phi"] and "projection" not in texts["phi"]
  assert "budget (allowed range)" not in texts["phi"]


def test_projections_come_from_the_genotype_when_the_file_is_missing(tmp_path):
  search_dir = write_search_dir(tmp_path / "run", levels=1, epochs=2)
  os.remove(os.path.join(search_dir, "projections.json"))
  record = visualize.read_search_dir(search_dir)
  assert len(record.projections) > 0
  assert record.projections == genotype_lib.load(os.path.join(search_dir,
                                                              "genotype.json")).meta["projections"]
  assert record.bounds["params"].low == 1.8e5 and record.bounds["macs"].low is None
  assert record.theta_softmax.shape == (2, 2, costs.NUM_EDGES, len(visualize.CELL_PRIMITIVES))


def test_phi_figure_handles_empty_histories():
  fig = visualize.phi_figure(np.zeros((0, 3)), {}, [{"step": 4, "phi_params_before": 2.0,
                                                     "phi_params": 1.0, "phi_macs_before": 5.0,
                                                     "phi_macs": 4.0}])
  assert len(fig.axes) == len(costs.RESOURCES)
  fig = visualize.theta_figure([1], np.full((1, 14, 8), 1 / 8), "flat")
  assert len(fig.axes) == 15                                 # 14 edges + the legend
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


# --- the entry point ----------------------------------------------------------------------------


def assert_one_line_error(result, *fragments):
  lines = error_lines(result.stderr)
  assert result.returncode == 2, (result.returncode, result.stderr)
  assert len(lines) == 1, lines
  # the program name: rc-darts-plot, as a console script and under python -m rc_darts_tf.cli.plot
  assert lines[0].split(": error: ")[0] == "rc-darts-plot", lines
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])


def test_entry_point_refuses_bad_input_without_writing(tmp_path):
  missing = tmp_path / "nope"
  assert_one_line_error(run_entry("rc_darts_tf.cli.plot", f"--search_dir={missing}"),
                        "does not exist")
  assert not missing.exists()

  empty = tmp_path / "empty"
  empty.mkdir()
  assert_one_line_error(run_entry("rc_darts_tf.cli.plot", f"--search_dir={empty}"),
                        "no genotype.json")
  assert os.listdir(empty) == []

  corrupt = write_search_dir(tmp_path / "corrupt", levels=1, epochs=1)
  with open(os.path.join(corrupt, "search_history.npz"), "r+b") as f:
    f.truncate(100)
  before = sorted(os.listdir(corrupt))
  assert_one_line_error(run_entry("rc_darts_tf.cli.plot", f"--search_dir={corrupt}"),
                        "search_history.npz", "corrupt")
  assert sorted(os.listdir(corrupt)) == before

  assert_one_line_error(run_entry("rc_darts_tf.cli.plot"), "exactly one of")
  assert_one_line_error(run_entry("rc_darts_tf.cli.plot", "--genotype=DARTS_V2"),
                        "--output_dir")


def test_entry_point_draws_a_named_genotype(tmp_path):
  out = tmp_path / "cells"
  result = run_entry("rc_darts_tf.cli.plot", "--genotype=DARTS_V2", f"--output_dir={out}")
  assert result.returncode == 0, result.stderr
  # (matplotlib may log a font-cache notice on a fresh machine; nothing may look like a failure)
  assert not any("Traceback" in line or "error" in line.lower()
                 for line in error_lines(result.stderr)), result.stderr
  assert "wrote 6 files" in result.stdout
  assert sorted(os.listdir(out)) == sorted(f"{n}.{e}" for n in ("cell_normal", "cell_reduce",
                                                                 "connection")
                                           for e in ("png", "svg"))
  bad = run_entry("rc_darts_tf.cli.plot", "--genotype=DARTS_V3", f"--output_dir={out}x")
  assert_one_line_error(bad, "DARTS_V3")
  assert not os.path.exists(f"{out}x")
