"""The darts_irb search space (search_space.DARTS_IRB: DARTS's ops plus MobileNetV2 inverted
residual blocks irb_3x3_e3 and irb_5x5_e3), end to end at tiny shapes: the search network's θ
and Φ tables, a traced search step, derivation, genotype files and strings, the derived
network's cost against its weights, the exported files (builtin TFLite operators, MACs exact on
every file, onnx_tool), the CLI search and its pictures. The op-level cost checks (params =
trainable weights, MACs = onnx_tool, every stride and affine) are tests/test_costs_ops.py's, which
cover every op of every space."""

import json

import keras
import numpy as np
import pytest

from exporters import artifacts, measure, parity, tflite
from rc_darts_tf import costs, network, search_space
from rc_darts_tf import genotype as genotype_lib
from rc_darts_tf.budget import Bounds
from rc_darts_tf.search import derive
from tests.helpers import error_lines, run_entry, search_batch, tiny_search_network

IRB = search_space.get("darts_irb")
IRB_OPS = ("irb_3x3_e3", "irb_5x5_e3")

# every IRB op on every kind of edge: cell inputs and nodes, stride 1 and (reduce) stride 2
IRB_GENOTYPE = genotype_lib.Genotype(
    normal=[[("irb_3x3_e3", 0), ("irb_5x5_e3", 1), ("sep_conv_3x3", 2), ("irb_5x5_e3", 0),
             ("irb_3x3_e3", 3), ("skip_connect", 0), ("avg_pool_3x3", 4), ("irb_3x3_e3", 2)]],
    reduce=[("irb_5x5_e3", 0), ("irb_3x3_e3", 1), ("irb_5x5_e3", 2), ("max_pool_3x3", 1),
            ("irb_3x3_e3", 3), ("skip_connect", 0), ("dil_conv_3x3", 4), ("irb_5x5_e3", 1)],
    connection="group_conv_1x1_g2", search_space="darts_irb")


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


@pytest.fixture(scope="module")
def irb_network():
  return tiny_search_network(search_space=IRB)


def test_search_network_has_a_theta_column_per_op_and_steps(irb_network):
  net = irb_network
  assert net.theta_cells.shape == (2, costs.NUM_EDGES, len(IRB.primitives))
  assert net.cost_tables.cells.shape == (len(costs.RESOURCES), 2, costs.NUM_EDGES, 10)
  assert net.cost_tables.space is IRB
  cell = net.plan.cells[0]
  for o, name in enumerate(IRB.primitives):
    assert net.cost_tables.cells[0, 0, 0, o] == costs.edge_op_cost(cell, 0, name).params
  step = net.train_step        # eager: the traced step is tests/test_search.py's
  rng = np.random.default_rng(0)
  before = net.theta_cells.numpy().copy()
  for _ in range(2):
    logs = step(search_batch(rng))
  assert all(np.isfinite(float(v)) for v in logs.values())
  assert not np.array_equal(before, net.theta_cells.numpy())
  theta, conn = net.theta_cells.numpy(), net.theta_connection.numpy()
  tau = float(net.temperature())
  np.testing.assert_allclose(net.phi().numpy(), costs.expected_cost_numpy(
      net.cost_tables, theta, conn, tau), rtol=1e-5)


def test_derivation_picks_irb_ops_and_keeps_the_space():
  rng = np.random.default_rng(5)
  theta = rng.normal(0, 0.1, (2, costs.NUM_EDGES, len(IRB.primitives)))
  theta[..., IRB.primitives.index("irb_5x5_e3")] += 3.0
  genotype = derive.derive(theta, np.zeros(4), temperature=1.0, space=IRB)
  assert genotype.search_space == "darts_irb"
  assert {op for cell in genotype.normal + [genotype.reduce] for op, _ in cell} == {"irb_5x5_e3"}
  plan = costs.network_plan(8, 5, 1, "cifar", 16, 10)
  tables = costs.cost_tables(plan, True, IRB)
  eq1 = costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)
  np.testing.assert_allclose(costs.eq1_cost_numpy(tables, theta, np.zeros(4), 1.0),
                             [eq1.get(r) for r in costs.RESOURCES])
  # a budget below the all-IRB network: the exact-budget derivation trades IRBs away
  bound = {"params": Bounds(None, 0.8 * eq1.params), "macs": None}
  _, solved, changes, _ = derive.derive_in_budget(theta, np.zeros(4), tables, bound)
  assert solved.search_space == "darts_irb" and changes
  cost = costs.genotype_cost(plan, solved.normal, solved.reduce, solved.connection)
  assert cost.params <= 0.8 * eq1.params
  assert derive.decisiveness(genotype, costs.softmax(theta))["uniform"] == 1 / 10


def test_genotype_files_and_strings_keep_the_space(tmp_path):
  genotype = IRB_GENOTYPE.validate()
  path = tmp_path / "g.json"
  genotype_lib.save(genotype, str(path))
  assert json.loads(path.read_text())["search_space"] == IRB.record()
  assert genotype_lib.load(str(path)) == genotype
  assert genotype_lib.resolve(genotype.to_string()) == genotype   # space inferred from its ops
  with pytest.raises(genotype_lib.GenotypeError, match="unknown op 'irb_3x3_e3'"):
    genotype_lib.Genotype(normal=IRB_GENOTYPE.normal, reduce=IRB_GENOTYPE.reduce,
                          search_space="darts").validate()


def test_derived_network_weights_and_files_equal_costs():
  """C = 8, 3 cells (both reductions), 16 x 16: params = the network's trainable weights; MACs
  exact on every exported file, which uses builtin TFLite operators only; onnx_tool agrees; fp32
  files give the Keras logits."""
  keras.utils.set_random_seed(4)
  model = network.build_network(IRB_GENOTYPE, 8, 3, "cifar", 16, 10)
  plan = network.plan_for(IRB_GENOTYPE, 8, 3, "cifar", 16, 10)
  cost = costs.genotype_cost(plan, IRB_GENOTYPE.normal, IRB_GENOTYPE.reduce,
                             IRB_GENOTYPE.connection)
  assert network.count_params(model) == cost.params
  expected = artifacts.expected_costs(model, plan, IRB_GENOTYPE)
  assert expected.macs == cost.macs
  images = artifacts.generated_images(8, 16, 0)
  reference = artifacts.keras_logits(model, images)
  for fmt in artifacts.FORMATS:
    data = artifacts.convert(model, fmt, images, 17)
    record = artifacts.measure_file(fmt, data)
    assert record["macs"] == expected.macs, (fmt, record["macs_by_op"])
    assert record["kernel_params"] == (expected.params - expected.bn_affine_params -
                                       expected.classifier_bias), fmt
    if fmt == "onnx":
      less_bias = record["onnx_tool"]["conv_gemm_matmul_less_bias"]
      assert abs(less_bias - record["macs"]) <= 0.01 * record["macs"], record["onnx_tool"]
      logits = measure.onnx_predict(data, images)
    else:
      assert not tflite.non_builtin(tflite.operators(data)), fmt
      if fmt == "tflite_int8":
        continue
      logits = measure.tflite_predict(data, images)
    assert parity.compare(fmt, reference, logits)["passed"], fmt


def test_search_cli_with_the_irb_space_and_its_pictures(tmp_path, tiny_tree_16):
  out = tmp_path / "run"
  result = run_entry(
      "rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree_16}", f"--output_dir={out}",
      "--search_space=darts_irb", "--batch_size=4", "--epochs=1", "--init_channels=4",
      "--layers=3", "--levels=1", "--budget_params=:1e9", "--projection_iters=5",
      "--report_freq=1", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert error_lines(result.stderr) == []
  genotype = genotype_lib.load(str(out / "genotype.json"))
  assert genotype.search_space == "darts_irb"
  assert genotype.meta["settings"]["search_space"] == "darts_irb"
  with np.load(out / "theta.npz") as z:
    assert z["theta_cells"].shape == (2, costs.NUM_EDGES, 10)
    assert json.loads(str(z["search_space"])) == IRB.record()
  plot = run_entry("rc_darts_tf.cli.plot", f"--search_dir={out}", timeout=300)
  assert plot.returncode == 0, plot.stderr[-3000:]
  assert (out / "pictures" / "theta_normal.png").exists() or any(
      p.name.startswith("theta_") for p in (out / "pictures").iterdir())
  # the same directory with the DARTS space is another search: refused with one line
  again = run_entry(
      "rc_darts_tf.cli.search", f"--dataset=imagefolder:{tiny_tree_16}", f"--output_dir={out}",
      "--batch_size=4", "--epochs=1", "--init_channels=4", "--layers=3", "--levels=1",
      "--budget_params=:1e9", "--projection_iters=5", "--report_freq=1", timeout=120)
  assert again.returncode == 2
  lines = error_lines(again.stderr)
  assert len(lines) == 1 and "--search_space=darts_irb -> darts" in lines[0], lines
