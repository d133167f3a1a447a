"""The search space as data (rc_darts_tf/search_space.py): TensorFlow-free, the one list of op
names whose order is θ's columns, and the record every saved search carries (a file of another
op order is refused with one line)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rc_darts_tf import genotype as gt
from rc_darts_tf import search_space
from rc_darts_tf.errors import GenotypeError, SearchSpaceError
from tests.helpers import REPO

# DARTS's PRIMITIVES (quark0/darts cnn/genotypes.py) and the paper's connection candidates, in
# θ's column order: the spec.
DARTS_PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                    "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
CONNECTIONS = ("dil_conv_3x3", "conv_1x1", "group_conv_1x1_g2", "group_conv_1x1_g4")


def _reordered(record):
  ops = list(record["cell_ops"])
  ops[4], ops[5] = ops[5], ops[4]
  return {**record, "cell_ops": ops}


def test_importing_the_search_space_imports_neither_tensorflow_nor_numpy():
  code = ("import sys, rc_darts_tf.search_space, rc_darts_tf.genotype; "
          "print(sorted(m for m in sys.modules if m.split('.')[0] in "
          "('tensorflow', 'keras', 'numpy')))")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       check=True).stdout
  assert out.strip() == "[]", out


def test_default_space_is_darts_in_theta_order_and_everything_reads_it():
  from rc_darts_tf import costs, ops, visualize
  space = search_space.DEFAULT
  assert space is search_space.get("darts")
  assert space.primitives == DARTS_PRIMITIVES and space.connection_primitives == CONNECTIONS
  assert ops.PRIMITIVES == costs.PRIMITIVES == visualize.CELL_PRIMITIVES == DARTS_PRIMITIVES
  assert (ops.CONNECTION_PRIMITIVES == costs.CONNECTION_PRIMITIVES ==
          visualize.CONNECTION_PRIMITIVES == CONNECTIONS)
  assert gt.cell_ops() == DARTS_PRIMITIVES[1:] and gt.connection_ops() == CONNECTIONS
  for name in search_space.SPACES:
    for op in search_space.get(name).all_ops().values():
      assert op.name in ops.BUILDERS, op.name               # a Keras builder
      assert op.family in visualize.FAMILY_COLORS, op.family  # a colour
      assert visualize.OP_STYLES[op.name] == (op.family, op.linestyle)
  for op in space.connection_ops:
    assert visualize.CONNECTION_TEXT[op.name] == op.text


@pytest.mark.parametrize("connection, step", [(None, 2), ("dil_conv_3x3", 2), ("conv_1x1", 2),
                                              ("group_conv_1x1_g2", 2), ("group_conv_1x1_g4", 4)])
def test_channel_step_follows_the_connection_groups(connection, step):
  assert search_space.DEFAULT.channel_step(connection) == step


def test_cost_formulas_of_the_space_are_the_cost_tables():
  from rc_darts_tf import costs
  for op in search_space.DEFAULT.cell_ops:
    assert costs.op_cost(op.name, 16, 16, 7, 7, 2) == op.cost(16, 16, 7, 7, 2)
  # sep_conv_3x3 at C = 16, 8 x 8, stride 1: 2 x (dw 144 + pw 256 + BN 32) weights
  assert search_space.DEFAULT.op("sep_conv_3x3").cost(16, 16, 8, 8) == search_space.Cost(
      2 * (144 + 256 + 32), 2 * (144 + 256) * 64)


def test_record_round_trips_and_mismatches_are_refused_in_one_line():
  record = search_space.DEFAULT.record()
  assert json.loads(json.dumps(record)) == record
  assert search_space.check_record(record, "f") is search_space.DEFAULT
  assert search_space.check_record(None, "f") is search_space.DARTS   # written before records
  text = search_space.record_text(search_space.DEFAULT)
  assert "\n" not in text and search_space.check_record_text(text, "f") is search_space.DEFAULT
  cases = [
      (_reordered(record), ("f: search space 'darts' recorded with cell_ops",
                            "θ's columns would name other ops")),
      ({**record, "name": "nasnet"}, ("'nasnet'", "does not define", "known: darts")),
      ({**record, "connection_ops": CONNECTIONS[:3]}, ("connection_ops",)),
      ({"name": "darts"}, ("malformed search-space record",)),
      ([1, 2], ("malformed search-space record",)),
  ]
  for bad, fragments in cases:
    with pytest.raises(SearchSpaceError) as info:
      search_space.check_record(bad, "f")
    assert "\n" not in str(info.value)
    for fragment in fragments:
      assert fragment in str(info.value), (fragment, str(info.value))
  with pytest.raises(SearchSpaceError, match="is not JSON"):
    search_space.check_record_text("{", "f")
  with pytest.raises(SearchSpaceError, match="unknown search space 'irb'"):
    search_space.get("irb")


def test_space_definitions_are_checked():
  op = search_space.DARTS.cell_ops[1]
  with pytest.raises(ValueError, match="op 0 must be 'none'"):
    search_space.SearchSpace("x", (op,), ())
  with pytest.raises(ValueError, match="repeat"):
    search_space.SearchSpace("x", (search_space.DARTS.cell_ops[0], op, op), ())
  with pytest.raises(ValueError, match="unknown family"):
    search_space.Op("x", "transformer", search_space.zero_cost, "x")


def test_genotype_json_records_the_space_and_refuses_another_op_order(tmp_path):
  g = gt.resolve("DARTS_V2")
  path = tmp_path / "g.json"
  gt.save(g, str(path))
  d = json.loads(path.read_text())
  assert d["search_space"] == search_space.DEFAULT.record()
  assert gt.load(str(path)) == g and gt.load(str(path)).search_space == "darts"
  old = tmp_path / "old.json"          # written before spaces were recorded: the DARTS space
  old.write_text(json.dumps({k: v for k, v in d.items() if k != "search_space"}))
  assert gt.load(str(old)) == g
  bad = tmp_path / "bad.json"
  bad.write_text(json.dumps({**d, "search_space": _reordered(d["search_space"])}))
  with pytest.raises(GenotypeError) as info:
    gt.load(str(bad))
  message = str(info.value)
  assert "\n" not in message and str(bad) in message and "θ's columns would name other ops" in message
  unknown = tmp_path / "unknown.json"
  unknown.write_text(json.dumps({**d, "search_space": {**d["search_space"], "name": "zoo"}}))
  with pytest.raises(GenotypeError, match="'zoo', which this version does not define"):
    gt.load(str(unknown))


def test_theta_files_of_another_op_order_are_refused_by_the_pictures(tmp_path):
  from rc_darts_tf import visualize
  from rc_darts_tf.errors import RcDartsError
  phi = np.zeros((0, 6))
  probs = np.full((1, 2, 14, 8), 1 / 8, np.float32)
  good = tmp_path / "good.npz"
  np.savez(good, phi=phi, theta_epochs=np.array([1], np.int32), theta_softmax=probs,
           search_space=np.array(search_space.record_text(search_space.DEFAULT)))
  assert visualize.search_dir._history(str(good))[2].shape == (1, 2, 14, 8)
  assert visualize.search_dir._history(str(good))[3] is search_space.DEFAULT
  bad = tmp_path / "bad.npz"
  np.savez(bad, phi=phi, theta_epochs=np.array([1], np.int32), theta_softmax=probs,
           search_space=np.array(json.dumps(_reordered(search_space.DEFAULT.record()))))
  with pytest.raises(RcDartsError) as info:
    visualize.search_dir._history(str(bad))
  assert "\n" not in str(info.value) and "θ's columns would name other ops" in str(info.value)


IRB = search_space.get("darts_irb")
IRB_OPS = ("irb_3x3_e3", "irb_5x5_e3")


def test_the_space_is_darts_plus_two_inverted_residual_blocks():
  assert IRB.primitives == search_space.DARTS.primitives + IRB_OPS
  assert IRB.connection_primitives == search_space.DARTS.connection_primitives
  # C = 16 -> 16 at 8 x 8, stride 1: expand 16·48 + BN 96 + depthwise 48·k² + BN 96 + project
  # 48·16 + BN 32 weights; MACs (16·48 + 48·k² + 48·16)·64
  for name, k in (("irb_3x3_e3", 3), ("irb_5x5_e3", 5)):
    assert IRB.op(name).cost(16, 16, 8, 8) == search_space.Cost(
        768 + 96 + 48 * k * k + 96 + 768 + 32, (768 + 48 * k * k + 768) * 64)
  # at stride 2 the expansion runs at 8 x 8, the depthwise and projection at 4 x 4
  assert IRB.op("irb_3x3_e3").cost(16, 16, 8, 8, 2).macs == 768 * 64 + (432 + 768) * 16
