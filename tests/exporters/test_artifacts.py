"""exporters/artifacts.py: TFLite (fp32, fp16, int8) and ONNX files, measured on the files
themselves.

  builtin ops    every TFLite flavour lists builtin operators only (no Flex / custom), and the
                 flavours are real (fp16 weights behind DEQUANTIZE, int8 tensors in the int8 file)
  MACs           measured on each file (flatbuffer operators and tensor shapes; ONNX graph after
                 shape inference) == costs.genotype_cost exactly: DARTS_V2 at the acceptance size
                 (C = 36, 20 cells), a small network per connection op (conv_1x1,
                 group_conv_1x1_g2 / _g4 with shuffle, dil_conv_3x3), and a darts_irb network
  params         kernels in every file == costs.py params - BN gamma/beta - classifier bias
                 (BN folding, exact)
  onnx_tool      its per-node MACs over Conv / Gemm / MatMul nodes within 1% of ours
  parity         a small network trained for a few steps on generated class-separable images (so
                 logits are not degenerate and BN statistics are not the initial ones; the session
                 fixture `trained`, tests/conftest.py): fp32 TFLite and ONNX relative logit diff
                 <= 1e-4, fp16 <= 1e-2, int8 top-1 agreement >= 98%
(rc-darts-export on a trained-model directory: tests/cli/test_export.py.)
"""

import keras
import pytest

from exporters import artifacts, measure, parity, tflite
from rc_darts_tf import costs, network
from rc_darts_tf import genotype as genotype_lib
from tests.helpers import irb_genotype
from tests.trained_network import IMAGE_SIZE, NUM_CLASSES, _expected

CONNECTION_OPS = ("conv_1x1", "group_conv_1x1_g2", "group_conv_1x1_g4", "dil_conv_3x3")
BUILTIN_EXPECTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "RELU",
                    "CONCATENATION", "MAX_POOL_2D", "AVERAGE_POOL_2D", "STRIDED_SLICE", "PAD",
                    "MUL", "MEAN", "DEQUANTIZE", "QUANTIZE", "RESHAPE", "TRANSPOSE", "SPLIT",
                    "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "SUB", "DIV", "SLICE"}


def _cost(genotype, c, layers, image_size=32, num_classes=10):
  plan = network.plan_for(genotype, c, layers, "cifar", image_size, num_classes)
  return costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)


@pytest.fixture(scope="module")
def trained_files(trained, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("export_trained"))
  records = artifacts.export_all(trained["model"], artifacts.FORMATS, out, trained["images"],
                                 trained["expected"], runs=3, warmup=1)
  return {r["format"]: r for r in records}


def test_every_tflite_flavour_uses_builtin_operators_only(trained_files):
  for fmt in tflite.FLAVOURS:
    with open(trained_files[fmt]["path"], "rb") as f:
      names = tflite.operators(f.read())
    print(fmt, sorted(set(names)))
    assert names and not tflite.non_builtin(names), (fmt, names)
    assert set(names) <= BUILTIN_EXPECTED, (fmt, sorted(set(names) - BUILTIN_EXPECTED))
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= set(names), fmt
  with open(trained_files["tflite_fp16"]["path"], "rb") as f:
    assert "DEQUANTIZE" in tflite.operators(f.read())   # fp16 weights, de-quantised at load
  io = trained_files["tflite_int8"]["io"]
  assert io["inputs"][0]["dtype"] == "int8" and io["outputs"][0]["dtype"] == "int8", io
  assert trained_files["tflite_fp32"]["io"]["inputs"][0]["shape"] == [1, IMAGE_SIZE,
                                                                      IMAGE_SIZE, 3]


def _check_costs(record, expected):
  assert record["macs"] == expected.macs, (record["format"], record["macs"], expected.macs,
                                           record["macs_by_op"])
  assert record["macs_lowering_overhead"] == 0, record["format"]
  assert record["kernel_params"] == (expected.params - expected.bn_affine_params -
                                     expected.classifier_bias), record["format"]
  assert record["params"] == record["kernel_params"] + record["bias_params"]


def _check_onnx_tool(record):
  tool = record["onnx_tool"]
  assert tool["conv_gemm_matmul"] is not None, tool
  # onnx_tool's Conv/Gemm/MatMul MACs, less the bias additions it charges, within 1% of ours
  less_bias = tool["conv_gemm_matmul_less_bias"]
  assert abs(less_bias - record["macs"]) <= 0.01 * record["macs"], (tool, record["macs"])
  if not record["bias_params"]:                     # no bias input anywhere: the raw figure
    assert abs(tool["conv_gemm_matmul"] - record["macs"]) <= 0.01 * record["macs"], tool
  assert tool["total_all_ops"] > tool["conv_gemm_matmul"], tool   # pooling, element-wise ops


def test_trained_network_macs_and_params_on_every_file(trained, trained_files):
  expected = trained["expected"]
  assert expected.macs == _cost(trained["genotype"], 8, 3, IMAGE_SIZE, NUM_CLASSES).macs
  for fmt in artifacts.FORMATS:
    _check_costs(trained_files[fmt], expected)
    assert trained_files[fmt]["macs_match"]
  _check_onnx_tool(trained_files["onnx"])
  assert trained_files["onnx"]["opset"] >= 17
  # Trained BN statistics: the converters fold each BN into the conv before it, leaving a
  # non-zero bias of C per conv (tf2onnx drops all-zero biases, so these are the folded shifts)
  assert trained_files["onnx"]["bias_params"] > NUM_CLASSES, trained_files["onnx"]
  assert trained_files["tflite_fp32"]["bias_params"] > trained_files["onnx"]["bias_params"]


# Every op on every kind of edge: from the cell inputs (stride 2 in the reduce cell) and between
# intermediate nodes (already reduced in the reduce cell).
EVERY_EDGE_KIND = genotype_lib.Genotype(
    normal=[[("sep_conv_3x3", 0), ("dil_conv_5x5", 1), ("sep_conv_5x5", 2), ("max_pool_3x3", 1),
             ("dil_conv_3x3", 3), ("skip_connect", 0), ("avg_pool_3x3", 4), ("sep_conv_3x3", 2)]],
    reduce=[("dil_conv_3x3", 0), ("sep_conv_5x5", 1), ("dil_conv_5x5", 2), ("skip_connect", 1),
            ("sep_conv_3x3", 3), ("max_pool_3x3", 0), ("dil_conv_3x3", 4), ("avg_pool_3x3", 1)])


@pytest.mark.parametrize("connection", CONNECTION_OPS)
def test_connection_op_networks_macs_exact_on_every_file(connection):
  """C = 8, 3 cells (both reductions, so the connection op also runs at stride 2 and on the
  channel-doubling inputs), random weights; every connection op of the registry, with cells that
  put every cell op on every kind of edge."""
  genotype = genotype_lib.Genotype(normal=EVERY_EDGE_KIND.normal, reduce=EVERY_EDGE_KIND.reduce,
                                   connection=connection).validate()
  keras.utils.set_random_seed(3)
  model = network.build_network(genotype, 8, 3, "cifar", IMAGE_SIZE, 10)
  expected = _expected(model, genotype, 8, 3, IMAGE_SIZE)
  images = artifacts.generated_images(8, IMAGE_SIZE, 0)
  reference = artifacts.keras_logits(model, images)
  for fmt in artifacts.FORMATS:
    data = artifacts.convert(model, fmt, images, 17)
    record = artifacts.measure_file(fmt, data)
    record["format"] = fmt
    _check_costs(record, expected)
    if fmt == "onnx":
      _check_onnx_tool(record)
      logits = measure.onnx_predict(data, images)
    elif fmt == "tflite_int8":
      assert not tflite.non_builtin(tflite.operators(data))
      continue
    else:
      assert not tflite.non_builtin(tflite.operators(data))
      logits = measure.tflite_predict(data, images)
    assert parity.compare(fmt, reference, logits)["passed"], fmt


def test_darts_v2_acceptance_size_macs_exact_on_every_file():
  """DARTS_V2 as NetworkCIFAR(C = 36, 20 cells) at 32x32: 528,359,040 MACs in costs.py and in
  each of the four files."""
  genotype = genotype_lib.resolve("DARTS_V2")
  keras.utils.set_random_seed(0)
  model = network.build_network(genotype, 36, 20)
  expected = _expected(model, genotype, 36, 20)
  assert expected.macs == 528_359_040 and expected.params == 3_349_342
  calibration = artifacts.generated_images(4, 32, 0)
  for fmt in artifacts.FORMATS:
    record = artifacts.measure_file(fmt, artifacts.convert(model, fmt, calibration, 17))
    record["format"] = fmt
    _check_costs(record, expected)
    if fmt == "onnx":
      _check_onnx_tool(record)


def test_parity_of_every_file_with_the_trained_keras_model(trained_files):
  fp32, fp16, onnx = (trained_files[f]["parity"] for f in ("tflite_fp32", "tflite_fp16",
                                                           "onnx"))
  int8 = trained_files["tflite_int8"]["parity"]
  print({f: {k: r["parity"][k] for k in ("relative_diff", "top1_agreement", "logit_scale")}
         for f, r in trained_files.items()})
  assert fp32["logit_scale"] > 2.0, fp32          # trained: logits far from degenerate
  assert fp32["relative_diff"] <= 1e-4 and fp32["passed"], fp32
  assert onnx["relative_diff"] <= 1e-4 and onnx["passed"], onnx
  assert fp16["relative_diff"] <= 1e-2 and fp16["passed"], fp16
  assert int8["kind"] == "top1" and int8["top1_agreement"] >= 0.98 and int8["passed"], int8
  assert fp32["accuracy"] >= 0.9, fp32            # the few steps did learn the classes
  assert int8["images"] == 100


IRB_GENOTYPE = irb_genotype()   # every IRB op on every kind of edge


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

