"""rc_darts_tf/visualize/cells.py: pictures of DARTS_V2's cells and of a 3-level genotype
with a connection op; the cell layout."""

import os

from rc_darts_tf import visualize
from rc_darts_tf import genotype as genotype_lib
from tests.pictures import LEVEL_CELLS, REDUCE, check_pictures, svg_text


def three_level_genotype(**meta):
  return genotype_lib.Genotype(normal=LEVEL_CELLS, reduce=REDUCE,
                               connection="group_conv_1x1_g2", meta=dict(meta)).validate()


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

