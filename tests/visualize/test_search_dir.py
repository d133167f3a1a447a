"""rc_darts_tf/visualize/search_dir.py: Φ and θ-softmax pictures of generated search
directories written in the search's own formats (tests/pictures.py)."""

import os

from rc_darts_tf import costs, visualize
from rc_darts_tf import genotype as genotype_lib
from tests.pictures import LEVEL_CELLS, check_pictures, write_search_dir


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

