"""exporters/latency_table.py: entry files, the sharing rules against converted networks, timing,
and measure_table's progress, resume and refusals (a fake measure where the numbers must be
exact)."""

import collections
import json
import os

import numpy as np
import pytest

from exporters import latency_table, tflite
from rc_darts_tf import costs, genotype as genotype_lib, latency, network, search_space
from rc_darts_tf.latency import LatencyTableError

PLAN = costs.network_plan(8, 5, 1, "cifar", 16, 10)


@pytest.mark.parametrize("name,connection", [("DARTS_V2", None), ("random", "conv_1x1"),
                                             ("random", "group_conv_1x1_g2"),
                                             ("random", "group_conv_1x1_g4")])
def test_sharing_rules_match_the_converted_files(name, connection):
  """network_terms' ReLU and pooling operators = the file's: RELU and pool operators of the fp32
  file; MAX_POOL_2D (ops.relu's int8 form and max_pool_3x3) and AVERAGE_POOL_2D of the int8
  file, where a sep_conv's second ReLU is an operator too (fused into the conv in fp32)."""
  g = (genotype_lib.resolve(name) if name != "random" else
       genotype_lib.random_genotype(3, 1, connection))
  for fmt in latency.FORMATS:
    data = latency_table.network_file(g, PLAN, fmt, pixels=False)
    ops = collections.Counter(tflite.operators(data))
    fuse = latency.fuses_relu(fmt)
    terms = latency.network_terms(PLAN, g.normal, g.reduce, g.connection, pixels=False,
                                  fuse_relu=fuse)
    relus = sum(n for e, n in terms if e.kind == "relu" and n > 0)
    max_pools = sum(n for e, n in terms if e.op == "max_pool_3x3")
    avg_pools = sum(n for e, n in terms if e.op == "avg_pool_3x3")
    if fuse:
      assert (ops["RELU"], ops["MAX_POOL_2D"], ops["AVERAGE_POOL_2D"]) == (
          relus, max_pools, avg_pools), fmt
    else:
      inner = sum(n for e, n in terms if e.kind == "cell" and e.op.startswith("sep_conv"))
      assert (ops["RELU"], ops["MAX_POOL_2D"], ops["AVERAGE_POOL_2D"]) == (
          0, relus + inner + max_pools, avg_pools), fmt


def test_entry_files_convert_and_time():
  entries = [latency.cell_entry("sep_conv_3x3", 8, 16, 1), latency.nodes_entry(8, 16),
             latency.stem_entry("cifar", 8, 16, True), latency.relu_entry(8, 16),
             latency.connection_entry("group_conv_1x1_g4", 24, 8, 16, 2),
             latency.classifier_entry(32, 4, 10)]
  for fmt in latency.FORMATS:
    times = latency_table.measure_entries(entries, fmt, runs=5, warmup=1, rounds=2)
    assert set(times) == {e.key for e in entries}
    assert all(np.isfinite(v) and v > 0 for v in times.values())
  # the stem of an int8 table takes uint8 pixels, as the exported file does
  data = latency_table.entry_file(latency.stem_entry("cifar", 8, 16, True), "tflite_int8")
  from exporters.measure.runtime import _interpreter
  assert _interpreter(data, 1).get_input_details()[0]["dtype"] == np.uint8


def _fake(calls):
  def measure(entries):
    calls.append([e.key for e in entries])
    return {e.key: (0.5 if e.key == latency_table.INVOKE_KEY else 1.0 + len(e.key) / 1000)
            for e in entries}
  return measure


def test_measure_table_writes_as_it_goes_resumes_and_refuses_another_header(tmp_path):
  path = str(tmp_path / "table.json")
  entries = latency.space_entries(PLAN, search_space.DARTS, True)
  header = {**latency_table.table_header(PLAN, "tflite_int8", 1, 10, 1, 2), "device": "test"}
  calls, lines = [], []

  class Stop(Exception):
    pass

  def interrupted(part):
    if len(calls) == 3:
      raise Stop()
    return _fake(calls)(part)

  with pytest.raises(Stop):
    latency_table.measure_table(entries, header, path, interrupted, lines.append, chunk=10)
  saved = latency.load(path)
  assert len(saved.entries) == 20 and saved.header["invoke"] == 0.5    # invoke + 2 chunks
  calls.clear()
  table = latency_table.measure_table(entries, header, path, _fake(calls), lines.append,
                                      chunk=10)
  assert sum(len(c) for c in calls) == len(entries) - 20      # only what was missing
  assert lines[2].startswith(f"{path}: 20 of {len(entries)} entries already measured")
  assert lines[-1].startswith(f"[{len(entries)}/{len(entries)}] measured up to")
  key = entries[0].key
  assert table.entries[key] == pytest.approx(0.5 + len(key) / 1000)    # minus the invoke cost
  before = open(path).read()
  with pytest.raises(LatencyTableError, match="threads 1, this run has 2"):
    latency_table.measure_table(entries, {**header, "threads": 2}, path, _fake([]))
  assert open(path).read() == before


def test_fit_networks_fits_the_sums():
  table = latency.LatencyTable({**latency_table.table_header(PLAN, "tflite_fp32", 1, 1, 1),
                                "device": "test"},
                               {e.key: 0.01 for e in latency.space_entries(
                                   PLAN, search_space.DARTS, True)})
  gs = [genotype_lib.random_genotype(s, 1, None) for s in range(4)]
  sums = [table.network_sum(PLAN, g.normal, g.reduce, g.connection) for g in gs]
  fit = latency_table.fit_networks(table, gs, lambda g: PLAN,
                                   lambda genotypes: [2 * s for s in sums])
  assert (fit.slope, fit.intercept, fit.networks) == (pytest.approx(2.0), 0.0, 4)
