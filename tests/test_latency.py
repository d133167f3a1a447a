"""rc_darts_tf/latency.py: entries of a geometry, the network's terms (sharing counted), the
latency tables u of Φ, the overhead fit and the table file. TensorFlow-free; the converted
files that hold the sharing rules to the converter are in tests/exporters/test_latency_table.py."""

import json

import numpy as np
import pytest

from rc_darts_tf import costs, genotype as genotype_lib, latency, search_space
from rc_darts_tf.latency import LatencyTableError
from tests.helpers import fake_latency_table

PLAN = costs.network_plan(8, 5, 1, "cifar", 16, 10)


def _table(plan=PLAN, space=search_space.DARTS, fit=None):
  """helpers.fake_latency_table: every entry a distinct made-up ms (so a miscount shows)."""
  return fake_latency_table(plan, space, fit=fit)


def test_entry_keys_name_the_geometry():
  assert latency.cell_entry("sep_conv_3x3", 16, 32, 1).key == "cell/sep_conv_3x3/c16/s32/stride1"
  assert (latency.connection_entry("conv_1x1", 48, 16, 32, 2).key ==
          "connection/conv_1x1/c48-16/s32/stride2")
  assert latency.preprocess_entry(48, 16, 32, 2).op == "factorized_reduce"
  assert latency.nodes_entry(16, 8).c_out == 64
  assert latency.stem_entry("cifar", 16, 32, True).key == "stem/cifar/c16/s32/pixels"


def test_space_entries_cover_every_part_once():
  entries = latency.space_entries(PLAN, search_space.DARTS, True)
  keys = [e.key for e in entries]
  assert len(keys) == len(set(keys))
  # 5 cells: normal C=8 at 16, reduce C=16 from 16 (stride-2 edges) and at 8, normal C=16 at 8,
  # reduce C=32 from 8 and at 4, normal C=32 at 4: 5 cell-edge geometries x 7 ops
  cell_keys = [k for k in keys if k.startswith("cell/")]
  assert len(cell_keys) == 5 * 7
  assert not any("/none/" in k for k in keys)
  # every random genotype's terms are in the table (no LatencyTableError)
  table = _table()
  for seed in range(20):
    g = genotype_lib.random_genotype(seed, 1, [None, "conv_1x1", "group_conv_1x1_g4"][seed % 3])
    assert table.network_sum(PLAN, g.normal, g.reduce, g.connection) > 0


def test_terms_count_every_part_and_the_sharing():
  g = genotype_lib.resolve("DARTS_V2")
  plan = costs.network_plan(16, 8, 1, "cifar", 32, 10)
  alone = latency.network_terms(plan, g.normal, g.reduce, g.connection, shared=False)
  # stem, 8 x nodes, classifier, 8 x (2 preprocess + 8 edges)
  assert sum(n for _, n in alone) == 1 + 8 + 1 + 8 * 10
  terms = latency.network_terms(plan, g.normal, g.reduce, g.connection)
  relu_ops = sum(n for e, n in terms if e.kind == "relu" and n > 0)
  relu_first = -sum(n for e, n in terms if e.kind == "relu" and n < 0)
  # the counts the converter gives DARTS_V2 at this geometry (19 RELU operators in the fp32 file;
  # tests/exporters/test_latency_table.py converts it)
  assert (relu_ops, relu_first) == (19, 52)
  # DARTS_V2's reduce cell runs max_pool(s0) and max_pool(s1) with 5 max-pool edges: 2 operators
  pools = sum(n for e, n in terms if e.op == "max_pool_3x3")
  assert pools == 2 * 2      # 2 reduction cells


def test_phi_tables_price_the_linear_sum_of_a_genotype():
  """Φ_latency with one-hot θ of a genotype = fit(Σ of its parts alone + the sharing between
  cells): cost_arrays and network_terms agree, fit applied."""
  plan = costs.network_plan(8, 5, 2, "cifar", 16, 10)
  fit = latency.Fit(slope=0.8, intercept=0.05)
  table = _table(plan, fit=fit)
  space = search_space.DARTS
  for connection in (None, "group_conv_1x1_g2"):
    fixed, cells, conn = latency.cost_arrays(table, plan, space, connection is not None)
    g = genotype_lib.random_genotype(7, 2, connection)
    phi = fixed
    # one-hot θ of the genotype: the derived edges of every group, the op of each
    for group, pairs in enumerate(list(g.normal) + [g.reduce]):
      for k, (op, i) in enumerate(pairs):
        edge = costs.NODE_EDGE_RANGES[k // 2][0] + i
        phi += cells[group, edge, space.primitives.index(op)]
    if connection is not None:
      phi += conn[space.connection_primitives.index(connection)]
    linear = (table.terms_total(latency.network_terms(plan, g.normal, g.reduce, connection,
                                                      shared=False)) +
              table.terms_total(latency.shared_relu_correction(plan, table.fuse_relu)))
    assert phi == pytest.approx(fit.apply(linear), rel=1e-12)
    # the prediction counts the sharing inside cells too: never above Φ's linear sum here
    assert table.predict(plan, g.normal, g.reduce, connection) <= phi + 1e-12


def test_fit_overhead_is_the_median_ratio():
  sums = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
  fit = latency.fit_overhead(sums, 0.9 * sums)
  assert (fit.slope, fit.intercept, fit.networks) == (pytest.approx(0.9), 0.0, 5)
  assert fit.mape == pytest.approx(0.0, abs=1e-9)
  # one network timed during a busy spell moves the median ratio, not the slope of a line
  noisy = latency.fit_overhead(sums, 0.9 * sums * np.array([1, 1, 1, 1, 1.8]))
  assert noisy.slope == pytest.approx(0.9)
  assert noisy.max_ape == pytest.approx(100 * (1 - 1 / 1.8))
  with pytest.raises(ValueError, match="sum > 0"):
    latency.fit_overhead([0.0], [1.0])


def test_table_file_round_trip_and_refusals(tmp_path):
  table = _table(fit=latency.Fit(0.9, 0.01, 8, 3.0, 7.0))
  path = str(tmp_path / "t.json")
  latency.save(table, path)
  back = latency.load(path)
  assert back.entries == table.entries and back.fit == table.fit
  assert back.header["path"] == path
  latency.check_geometry(back, PLAN, "tflite_int8")
  with pytest.raises(LatencyTableError, match=r"init_channels 8 \(needs 16\)"):
    latency.check_geometry(back, costs.network_plan(16, 5, 1, "cifar", 16, 10))
  with pytest.raises(LatencyTableError, match="format 'tflite_int8'"):
    latency.check_geometry(back, PLAN, "tflite_fp32")
  with pytest.raises(LatencyTableError, match="no such file"):
    latency.load(str(tmp_path / "missing.json"))
  bad = tmp_path / "bad.json"
  bad.write_text("{not json")
  with pytest.raises(LatencyTableError, match="not a JSON table"):
    latency.load(str(bad))
  data = json.loads(open(path).read())
  data["entries"]["relu/c8/s16"] = -1
  bad.write_text(json.dumps(data))
  with pytest.raises(LatencyTableError, match=r"'relu/c8/s16' = -1 is not a latency"):
    latency.load(str(bad))
  del table.entries["relu/c8/s16"]
  g = genotype_lib.resolve("DARTS_V2")
  with pytest.raises(LatencyTableError, match="no entry 'relu/c8/s16'"):
    table.predict(PLAN, g.normal, g.reduce, g.connection)


def test_table_set_of_files_and_directories_and_its_refusals(tmp_path):
  """rc-darts-tune's tables: one per (C, cells), read from files and directories; two of one
  geometry, tables of different formats (or image sizes ...) and an empty spec are refused."""
  folder = tmp_path / "tables"
  folder.mkdir()
  plans = {(c, n): costs.network_plan(c, n, 1, "cifar", 16, 10) for c, n in
           [(8, 5), (12, 5), (8, 8)]}
  for (c, n), plan in plans.items():
    latency.save(_table(plan), str(folder / f"c{c}_l{n}.json"))
  (folder / "notes").mkdir()                       # sub-directories are not read
  single = tmp_path / "c16_l5.json"
  latency.save(_table(costs.network_plan(16, 5, 1, "cifar", 16, 10)), str(single))
  tables = latency.load_tables(f"{folder},{single}")
  assert sorted(tables.tables) == [(8, 5), (8, 8), (12, 5), (16, 5)]
  assert tables.widths(5) == [8, 12, 16] and tables.widths(8) == [8] and tables.widths(3) == []
  assert tables.get(12, 5).entries == _table(plans[(12, 5)]).entries
  assert tables.get(12, 8) is None
  assert tables.missing([(8, 5), (12, 8), (16, 5), (20, 5)]) == [(12, 8), (20, 5)]
  assert tables.common == {"stem": "cifar", "image_size": 16, "num_classes": 10, "pixels": True,
                           "format": "tflite_int8", "threads": 1}
  tables.check_network("cifar", 16, 10, "tflite_int8")
  with pytest.raises(LatencyTableError, match=r"image_size 16 \(needs 32\)"):
    tables.check_network("cifar", 32, 10)
  with pytest.raises(LatencyTableError, match="both are for C = 8, 5 cells"):
    latency.load_tables(f"{folder},{folder / 'c8_l5.json'}")
  fp32 = tmp_path / "fp32.json"
  latency.save(fake_latency_table(costs.network_plan(20, 5, 1, "cifar", 16, 10),
                                  fmt="tflite_fp32"), str(fp32))
  with pytest.raises(LatencyTableError, match="format 'tflite_int8' vs 'tflite_fp32'"):
    latency.load_tables(f"{folder},{fp32}")
  with pytest.raises(LatencyTableError, match="holds no"):
    latency.load_tables(str(folder / "notes"))
  with pytest.raises(LatencyTableError, match="names no table"):
    latency.load_tables(" , ")
  with pytest.raises(LatencyTableError, match="no such file"):
    latency.load_tables(str(tmp_path / "none.json"))
