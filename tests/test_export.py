"""Exporters: TFLite (fp32, fp16, int8) and ONNX files, measured on the files themselves.

  builtin ops    every TFLite flavour lists builtin operators only (no Flex / custom), and the
                 flavours are real (fp16 weights behind DEQUANTIZE, int8 tensors in the int8 file)
  MACs           measured on each file (flatbuffer operators and tensor shapes; ONNX graph after
                 shape inference) == costs.genotype_cost exactly: DARTS_V2 at the acceptance size
                 (C = 36, 20 cells), and a small network per connection op (conv_1x1,
                 group_conv_1x1_g2 / _g4 with shuffle, dil_conv_3x3)
  params         kernels in every file == costs.py params - BN gamma/beta - classifier bias
                 (BN folding, exact)
  onnx_tool      its per-node MACs over Conv / Gemm / MatMul nodes within 1% of ours
  parity         a small network trained for a few steps on generated class-separable images (so
                 logits are not degenerate and BN statistics are not the initial ones): fp32 TFLite
                 and ONNX relative logit diff <= 1e-4, fp16 <= 1e-2, int8 top-1 agreement >= 98%
  CLI            rc-darts-export on a trained-model directory with a dataset: every file, report.json
                 and the table; a second run is refused; bad inputs exit 2 with one line and leave
                 nothing behind
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from exporters import artifacts, measure, onnx_export, parity, tflite
from rc_darts_tf import costs, network
from rc_darts_tf import genotype as genotype_lib
from tests.helpers import REPO, error_lines, run_entry

CONNECTION_OPS = ("conv_1x1", "group_conv_1x1_g2", "group_conv_1x1_g4", "dil_conv_3x3")
BUILTIN_EXPECTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "RELU",
                    "CONCATENATION", "MAX_POOL_2D", "AVERAGE_POOL_2D", "STRIDED_SLICE", "PAD",
                    "MUL", "MEAN", "DEQUANTIZE", "QUANTIZE", "RESHAPE", "TRANSPOSE", "SPLIT",
                    "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "SUB", "DIV", "SLICE"}
NUM_CLASSES = 4
IMAGE_SIZE = 16


def _cost(genotype, c, layers, image_size=32, num_classes=10):
  plan = network.plan_for(genotype, c, layers, "cifar", image_size, num_classes)
  return costs.genotype_cost(plan, genotype.normal, genotype.reduce, genotype.connection)


def _expected(model, genotype, c, layers, image_size=32, num_classes=10):
  plan = network.plan_for(genotype, c, layers, "cifar", image_size, num_classes)
  return artifacts.expected_costs(model, plan, genotype)


def _class_images(count, seed):
  """Class-separable images: class k brightens one quadrant-channel pattern, plus noise."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, NUM_CLASSES, count)
  images = 0.7 * rng.standard_normal((count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
  half = IMAGE_SIZE // 2
  for i, k in enumerate(labels):
    r, c = divmod(int(k), 2)
    images[i, r * half:(r + 1) * half, c * half:(c + 1) * half, k % 3] += 2.0
  return images, labels.astype(np.int32)


@pytest.fixture(scope="module")
def trained():
  """DARTS_V2, C = 8, 3 cells, 16x16, 4 classes, trained a few epochs on generated images; all
  four files written and measured by artifacts.export_all."""
  keras.utils.set_random_seed(1)
  genotype = genotype_lib.resolve("DARTS_V2")
  model = network.build_network(genotype, 8, 3, "cifar", IMAGE_SIZE, NUM_CLASSES)
  x, y = _class_images(384, seed=1)
  model.compile(optimizer=keras.optimizers.Adam(3e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  model.fit(x, y, batch_size=32, epochs=4, verbose=0)
  px, py = _class_images(100, seed=2)
  images = artifacts.Images(px, x[:64], py, "generated class-separable images")
  expected = _expected(model, genotype, 8, 3, IMAGE_SIZE, NUM_CLASSES)
  return {"model": model, "genotype": genotype, "expected": expected, "images": images}


@pytest.fixture(scope="module")
def trained_files(trained, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("export_trained"))
  records = artifacts.export_all(trained["model"], artifacts.FORMATS, out, trained["images"],
                                 trained["expected"], runs=3, warmup=1)
  return {r["format"]: r for r in records}


# ---------------------------------------------------------------------------------------------
# builtin operators, flavours


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


def test_the_builtin_check_notices_a_custom_operator():
  assert tflite.non_builtin(["CONV_2D", "CUSTOM:FlexConv2D", "ADD"]) == ["CUSTOM:FlexConv2D"]
  assert tflite.non_builtin(["CONV_2D", "ADD"]) == []


# ---------------------------------------------------------------------------------------------
# MACs and params on the files


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


def test_measurement_refuses_dynamic_shapes():
  """Counting needs static shapes; a file with a dynamic batch is refused, not miscounted."""
  import tensorflow as tf
  x = keras.Input((8, 8, 3))
  model = keras.Model(x, keras.layers.Conv2D(4, 3, padding="same")(x))
  converter = tf.lite.TFLiteConverter.from_concrete_functions([
      tf.function(lambda t: model(t)).get_concrete_function(
          tf.TensorSpec((None, 8, 8, 3), tf.float32))])
  data = converter.convert()
  with pytest.raises(measure.MeasureError, match="dynamic"):
    measure.tflite_cost(data)


ORT_SESSION_SCRIPT = r'''
import sys
import onnx
from onnx import TensorProto, helper
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
data = helper.make_model(graph).SerializeToString()
if sys.argv[1] == "measure":
  from exporters import measure
  measure.onnx_session(data, threads=1)
else:                                       # an entry point: cli first, onnxruntime later
  from rc_darts_tf import cli  # noqa: F401
  import onnxruntime
  onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
print("session")
'''


@pytest.mark.parametrize("way", ["measure", "cli"])
def test_onnxruntime_is_quiet_where_home_is_read_only(way):
  """onnxruntime >= 1.29 warns "Failed to persist telemetry device ID" when it cannot write under
  the home directory (Bazel's sandbox, CI); the tools turn its telemetry off before it is imported
  (ORT_DISABLE_TELEMETRY), so nothing reaches stderr."""
  env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
  env.update(HOME="/proc/no-home", XDG_CACHE_HOME="/proc/no-home", PYTHONPATH=REPO)
  run = subprocess.run([sys.executable, "-c", ORT_SESSION_SCRIPT, way], capture_output=True,
                       text=True, timeout=120, env=env, cwd=REPO)
  assert run.returncode == 0 and run.stdout.strip() == "session", run.stderr[-2000:]
  assert error_lines(run.stderr) == []


# ---------------------------------------------------------------------------------------------
# parity


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


def test_parity_thresholds_fail_when_they_should():
  reference = np.array([[5.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
  assert parity.compare("tflite_fp32", reference, reference + 4e-4)["passed"]   # 4e-4 / 5
  assert not parity.compare("tflite_fp32", reference, reference + 6e-4)["passed"]
  assert not parity.compare("onnx", reference, reference + 6e-4)["passed"]
  assert parity.compare("tflite_fp16", reference, reference + 0.04)["passed"]
  swapped = reference.copy()
  swapped[1] = [0.0, 1.0, 2.0]
  record = parity.compare("tflite_int8", reference, swapped)
  assert record["top1_agreement"] == 0.5 and not record["passed"]
  small = np.array([[0.01, 0.02]])
  assert not parity.compare("tflite_fp32", small, small + 2e-4)["passed"]   # scale floor 1


def test_parity_counts_ties_among_the_disagreements():
  reference = np.array([[5.0, 1.0, 0.0], [0.0, 2.0, 1.9], [2.9, 0.0, 3.0], [0.0, 1.0, 4.0]])
  file = np.array([[5.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 0.0, 3.0], [1.0, 1.0, 4.0]])
  record = parity.compare("tflite_int8", reference, file)
  # image 1 ties and the lower index is the Keras class: agreement; image 2 ties: a miss
  assert record["top1_agreement"] == 0.75 and record["disagreements"] == 1
  assert record["top1_ties"] == 2 and record["disagreements_tied"] == 1
  assert parity.describe(record).endswith("FAIL, 1 of 1 misses tied")
  assert parity.compare("onnx", reference, reference)["top1_ties"] == 0


# ---------------------------------------------------------------------------------------------
# the entry point


def test_model_directory_without_statistics_or_class_names(trained, tmp_path):
  """A model_info.json without mean/std and class names (not written by rc-darts-train): read
  with preprocessing None; the dataset's statistics are taken (and said so), and without a
  dataset the export is refused; labels fall back to the dataset's, else class_<i>."""
  import types
  from rc_darts_tf import model_dir as model_dir_lib
  from rc_darts_tf.errors import RcDartsError
  network.inference_model(trained["model"]).save(str(tmp_path / "model.keras"))
  info = {"genotype": trained["genotype"].to_json_dict(), "init_channels": 8, "layers": 3,
          "stem": "cifar", "image_size": IMAGE_SIZE, "num_classes": NUM_CLASSES,
          "dataset": "generated"}
  (tmp_path / "model_info.json").write_text(json.dumps(info))
  old = model_dir_lib.read(str(tmp_path))
  assert old.preprocessing is None and old.class_names is None
  source = types.SimpleNamespace(name="tree", mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25),
                                 num_classes=NUM_CLASSES, class_names=list("abcd"))
  prep, said = model_dir_lib.preprocessing_for(old, source)
  assert prep.mean == (0.4, 0.5, 0.6) and prep.std == (0.2, 0.3, 0.25) and "tree" in said
  with pytest.raises(RcDartsError, match="no mean/std"):
    model_dir_lib.preprocessing_for(old, None)
  assert model_dir_lib.labels_for(old, source, NUM_CLASSES) == (list("abcd"), "dataset tree")
  assert model_dir_lib.labels_for(old, None, NUM_CLASSES)[0] == [f"class_{i}" for i in range(4)]
  net = model_dir_lib.load_network(old)
  assert tuple(net.outputs[0].shape[1:]) == (NUM_CLASSES,)


@pytest.fixture(scope="module")
def image_tree_16(tmp_path_factory):
  from tests.helpers import make_image_tree
  root = tmp_path_factory.mktemp("tree16")
  make_image_tree(str(root), classes=NUM_CLASSES, train_per_class=10, test_per_class=6,
                  size=IMAGE_SIZE)
  return str(root)


def test_cli_exports_a_trained_model_directory(app_export):
  """The entry point on a trained-model directory with a dataset (the app_export run)."""
  out, result, args = app_export["path"], app_export["result"], app_export["args"]
  report = json.loads((out / "report.json").read_text())
  assert [a["format"] for a in report["artifacts"]] == list(artifacts.FORMATS)
  assert sorted(os.listdir(out)) == sorted(list(artifacts.FILE_NAMES.values()) +
                                           ["report.json", "labels.txt"])   # no temp files left
  assert report["images"]["labelled"] and report["images"]["parity"] == 24
  assert "dataset imagefolder:" in report["images"]["source"]
  for a in report["artifacts"]:
    assert a["size_bytes"] == os.path.getsize(out / a["file"]) > 0
    assert a["macs"] == a["macs_costs"] == report["costs"]["macs"] and a["macs_match"]
    assert a["params_darts"] == report["costs"]["params"] == report["keras"]["params"]
    assert a["latency_ms"]["median"] > 0 and a["latency_ms"]["p90"] >= a["latency_ms"]["median"]
    assert a["latency_ms"]["runs"] == 3 and "accuracy" in a["parity"]
    assert a["format"] in result.stdout
  assert report["artifacts"][3]["onnx_tool"]["total_all_ops"] > report["costs"]["macs"]
  assert "params (DARTS)" in result.stdout and "MACs (costs.py)" in result.stdout
  # a second run into the same directory is refused, and changes nothing
  before = {n: os.path.getmtime(out / n) for n in os.listdir(out)}
  again = run_entry("rc_darts_tf.cli.export", *args, timeout=300)
  assert again.returncode == 2
  lines = error_lines(again.stderr)
  assert len(lines) == 1 and "--overwrite" in lines[0], lines
  assert {n: os.path.getmtime(out / n) for n in os.listdir(out)} == before


def _bad_input_cases(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("x")
  pairs = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4

  def genotype_string(normal):
    return (f"Genotype(normal={normal!r}, normal_concat=[2, 3, 4, 5], reduce={pairs!r}, "
            "reduce_concat=[2, 3, 4, 5])")

  unknown_op = genotype_string([("sep_conv_9x9", 0)] + pairs[1:])
  bad_index = genotype_string(pairs[:-1] + [("sep_conv_3x3", 9)])
  return {
      "missing_model": (["--model_dir=" + str(tmp_path / "nope")], "does not exist"),
      "unknown_op": ([f"--genotype={unknown_op}"], "sep_conv_9x9"),
      "bad_node_index": ([f"--genotype={bad_index}"], "9"),
      "bad_format": (["--genotype=DARTS_V2", "--formats=tflite_int4"], "tflite_int4"),
      "unwritable_output": (["--genotype=DARTS_V2", f"--output_dir={blocker}/sub"],
                            "not writable"),
  }


def test_bad_inputs_exit_2_with_one_line_and_leave_nothing(tmp_path):
  cases = _bad_input_cases(tmp_path)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  procs = {}
  for name, (args, _) in cases.items():
    out = tmp_path / f"out_{name}"
    extra = [] if any(a.startswith("--output_dir") for a in args) else [f"--output_dir={out}"]
    procs[name] = subprocess.Popen([sys.executable, "-m", "rc_darts_tf.cli.export", *args, *extra],
                                   cwd=REPO, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
  for name, proc in procs.items():
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, (name, stderr[-2000:])
    lines = error_lines(stderr)
    assert len(lines) == 1 and "error:" in lines[0], (name, lines)
    assert cases[name][1] in lines[0], (name, lines)
    assert stdout == "", (name, stdout)
    assert not (tmp_path / f"out_{name}").exists(), name
  assert sorted(os.listdir(tmp_path)) == ["a_file"]


# ---------------------------------------------------------------------------------------------
# files an app can use: raw pixels in, labels beside and inside, the model's own preprocessing

APP_MEAN = (0.45, 0.5, 0.55)
APP_STD = (0.2, 0.25, 0.3)
APP_LABELS = [f"class_{k}" for k in range(NUM_CLASSES)]   # make_image_tree's folder names


def _to_pixels(normalised):
  """Normalised images -> uint8 pixels under APP_MEAN / APP_STD (the inverse of the contract)."""
  pixels = (normalised * np.array(APP_STD) + np.array(APP_MEAN)) * 255.0
  return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def app_model_dir(trained, tmp_path_factory):
  """The trained network in rc-darts-train's layout with what rc-darts-train now records: class
  names and the training set's statistics (deliberately not those of the tree it is exported
  with)."""
  from rc_darts_tf.preprocessing import Preprocessing
  path = tmp_path_factory.mktemp("app_model")
  network.inference_model(trained["model"]).save(str(path / "model.keras"))
  prep = Preprocessing(IMAGE_SIZE, APP_MEAN, APP_STD)
  info = {"genotype": trained["genotype"].to_json_dict(), "init_channels": 8, "layers": 3,
          "stem": "cifar", "image_size": IMAGE_SIZE, "num_classes": NUM_CLASSES,
          "class_names": APP_LABELS, "dataset": "generated", "mean": list(APP_MEAN),
          "std": list(APP_STD), "preprocessing": prep.to_json_dict()}
  (path / "model_info.json").write_text(json.dumps(info))
  return str(path)


@pytest.fixture(scope="module")
def app_export(app_model_dir, image_tree_16, tmp_path_factory):
  out = tmp_path_factory.mktemp("app") / "export"
  args = (f"--model_dir={app_model_dir}", f"--dataset=imagefolder:{image_tree_16}",
          f"--output_dir={out}", "--latency_runs=3", "--warmup_runs=1", "--parity_images=100",
          "--calibration_images=40", "--threads=1")
  result = run_entry("rc_darts_tf.cli.export", *args, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return {"dir": str(out), "path": out, "result": result, "args": args,
          "report": json.loads((out / "report.json").read_text())}


APP_SCRIPT = r'''
import json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
import onnxruntime
out, images_path = sys.argv[1], sys.argv[2]
pixels = np.load(images_path)                                   # uint8 [N, S, S, 3]
labels = open(out + "/labels.txt", encoding="utf-8").read().splitlines()
result = {}
for name in ("model_fp32.tflite", "model_int8.tflite"):
  it = Interpreter(model_path=out + "/" + name)
  it.allocate_tensors()
  inp, o = it.get_input_details()[0], it.get_output_details()[0]
  got = []
  for image in pixels:
    it.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
    it.invoke()
    got.append(labels[int(np.argmax(it.get_tensor(o["index"])[0]))])
  result[name] = got
  result[name + ":input"] = [str(np.dtype(inp["dtype"])), [float(inp["quantization"][0]),
                                                           int(inp["quantization"][1])]]
session = onnxruntime.InferenceSession(out + "/model.onnx", providers=["CPUExecutionProvider"])
logits = session.run(None, {session.get_inputs()[0].name: pixels.astype(np.float32)})[0]
result["model.onnx"] = [labels[int(i)] for i in np.argmax(logits, -1)]
result["model.onnx:meta"] = session.get_modelmeta().custom_metadata_map
result["tensorflow_loaded"] = "tensorflow" in sys.modules
print(json.dumps(result))
'''


def test_app_reads_raw_pixels_and_labels_with_runtimes_only(app_export, app_model_dir, tmp_path):
  """Issue 14's app-style check: 20 generated images as uint8 pixels, fed to the fp32 and int8
  TFLite files (ai-edge-litert) and the ONNX file (onnxruntime) by a process that imports
  neither TensorFlow nor this project, labels from labels.txt == the Keras network's labels."""
  from rc_darts_tf import model_dir as model_dir_lib
  from rc_darts_tf.preprocessing import pixel_model
  normalised, _ = _class_images(20, seed=7)
  pixels = _to_pixels(normalised)
  np.save(tmp_path / "pixels.npy", pixels)
  run = subprocess.run([sys.executable, "-c", APP_SCRIPT, app_export["dir"],
                        str(tmp_path / "pixels.npy")], capture_output=True, text=True,
                       timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  got = json.loads(run.stdout.strip().splitlines()[-1])
  assert not got["tensorflow_loaded"]
  trained = model_dir_lib.read(app_model_dir)
  keras_model = pixel_model(model_dir_lib.load_network(trained), trained.preprocessing)
  expected = [APP_LABELS[i] for i in
              np.argmax(keras_model.predict(pixels.astype(np.float32), verbose=0), -1)]
  assert len(set(expected)) == NUM_CLASSES, expected      # the images span every class
  for name in ("model_fp32.tflite", "model_int8.tflite", "model.onnx"):
    assert got[name] == expected, (name, got[name], expected)
  assert got["model_fp32.tflite:input"] == ["float32", [0.0, 0]]
  assert got["model_int8.tflite:input"] == ["uint8", [1.0, 0]]   # raw pixels, no arithmetic
  assert got["model.onnx:meta"]["labels"].splitlines() == APP_LABELS
  assert json.loads(got["model.onnx:meta"]["preprocessing"])["mean"] == list(APP_MEAN)


def test_labels_and_preprocessing_beside_and_inside_every_file(app_export):
  from exporters import metadata
  out = app_export["dir"]
  assert open(os.path.join(out, "labels.txt")).read() == "".join(f"{n}\n" for n in APP_LABELS)
  report = app_export["report"]
  assert report["labels"]["names"] == APP_LABELS
  assert report["labels"]["source"] == "model_info.json"
  assert report["input"]["mean"] == list(APP_MEAN) and report["input"]["std"] == list(APP_STD)
  assert report["input"]["image_size"] == IMAGE_SIZE
  for a in report["artifacts"]:
    with open(a["path"], "rb") as f:
      entries = metadata.read(f.read(), a["format"])
    assert entries["labels"] == APP_LABELS, a["format"]
    assert entries["preprocessing"] == report["input"], a["format"]
  assert sorted(os.listdir(out)) == sorted(list(artifacts.FILE_NAMES.values()) +
                                           ["report.json", "labels.txt"])
  stdout = app_export["result"].stdout
  assert "raw RGB pixels in [0, 255]" in stdout and "the model's (model_info.json)" in stdout
  assert error_lines(app_export["result"].stderr) == []     # no converter or runtime chatter


def test_export_accuracy_equals_rc_darts_train_evaluate(app_export, app_model_dir,
                                                        image_tree_16):
  """The same accuracy on another dataset (the tree, whose own statistics differ from the
  model's) from rc-darts-export and from rc-darts-train --evaluate: both normalise with the
  model's statistics."""
  result = run_entry("rc_darts_tf.cli.train", f"--evaluate={app_model_dir}",
                     f"--dataset=imagefolder:{image_tree_16}", "--batch_size=16", timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  line = [l for l in result.stdout.splitlines() if l.startswith("top-1 accuracy")][0]
  evaluated = float(line.split("(")[1].split(")")[0])
  assert "test split (24 images)" in result.stdout
  parity_record = app_export["report"]["artifacts"][0]["parity"]
  assert app_export["report"]["images"]["parity"] == 24        # the whole test split
  assert parity_record["keras_accuracy"] == pytest.approx(evaluated, abs=1e-9)
  assert error_lines(result.stderr) == []


def test_example_script_classifies_a_jpeg(app_export, image_tree_16, tmp_path):
  from PIL import Image
  source = os.path.join(image_tree_16, "test", "class_2", "0000.png")
  Image.open(source).convert("RGB").resize((40, 40)).save(tmp_path / "photo.jpg")
  run = subprocess.run([sys.executable, os.path.join(REPO, "examples", "classify_jpeg.py"),
                        app_export["dir"], str(tmp_path / "photo.jpg"), "--top", "2"],
                       capture_output=True, text=True, timeout=120)
  assert run.returncode == 0, run.stderr[-2000:]
  rows = [line.split("\t") for line in run.stdout.strip().splitlines()]
  assert len(rows) == 2 and all(r[0] in APP_LABELS for r in rows)
  assert 0.0 <= float(rows[1][1]) <= float(rows[0][1]) <= 1.0


def test_export_refuses_a_dataset_with_other_classes(app_model_dir, tmp_path):
  from tests.helpers import make_image_tree
  tree = make_image_tree(str(tmp_path / "tree"), classes=NUM_CLASSES, train_per_class=2,
                         test_per_class=1, size=IMAGE_SIZE)
  os.rename(os.path.join(tree, "train", "class_1"), os.path.join(tree, "train", "bird"))
  os.rename(os.path.join(tree, "test", "class_1"), os.path.join(tree, "test", "bird"))
  out = tmp_path / "export"
  result = run_entry("rc_darts_tf.cli.export", f"--model_dir={app_model_dir}",
                     f"--dataset=imagefolder:{tree}", f"--output_dir={out}", timeout=300)
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "'bird'" in lines[0] and "'class_0'" in lines[0], lines
  assert not out.exists()


def test_int8_pixel_input_is_the_pixels_whatever_the_calibration_range():
  """Calibration images that never reach 0 or 255 (dark photos, say) still give a uint8 input
  with scale 1 and zero point 0: the app feeds its pixels unchanged."""
  from rc_darts_tf.preprocessing import Preprocessing, pixel_model
  x = keras.Input((8, 8, 3))
  net = keras.Model(x, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(
      keras.layers.Conv2D(4, 3, padding="same")(x))))
  model = pixel_model(net, Preprocessing(8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
  dark = np.random.default_rng(0).integers(20, 90, (16, 8, 8, 3)).astype(np.float32)
  data = tflite.convert(model, "tflite_int8", dark, pixel_input=True)
  io = measure.tflite_io(data)["inputs"][0]
  assert io["dtype"] == "uint8" and io["quantization"] == [1.0, 0], io
  assert dark.min() == 20                 # the caller's images are left as they were
