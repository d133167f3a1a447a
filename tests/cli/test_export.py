"""rc-darts-export (rc_darts_tf/cli/export.py) on a trained-model directory with a dataset:
every file, report.json and the table; a second run is refused; bad inputs exit 2 with one line
and leave nothing behind. Files an app can use: raw pixels in, labels beside and inside, the
model's own preprocessing, read by runtimes only, and the same accuracy as rc-darts-train
--evaluate. (The files themselves, measured: tests/exporters/.)"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from exporters import artifacts
from rc_darts_tf import network
from tests.helpers import REPO, error_lines, run_entry
from tests.trained_network import IMAGE_SIZE, NUM_CLASSES, _class_images


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

  from rc_darts_tf import costs, latency
  from tests.helpers import fake_latency_table
  other_geometry = tmp_path / "table_c8.json"
  latency.save(fake_latency_table(costs.network_plan(8, 5, 1, "cifar", 32, 10)),
               str(other_geometry))
  unknown_op = genotype_string([("sep_conv_9x9", 0)] + pairs[1:])
  bad_index = genotype_string(pairs[:-1] + [("sep_conv_3x3", 9)])
  return {
      "missing_model": (["--model_dir=" + str(tmp_path / "nope")], "does not exist"),
      "unknown_op": ([f"--genotype={unknown_op}"], "sep_conv_9x9"),
      "bad_node_index": ([f"--genotype={bad_index}"], "9"),
      "bad_format": (["--genotype=DARTS_V2", "--formats=tflite_int4"], "tflite_int4"),
      "unwritable_output": (["--genotype=DARTS_V2", f"--output_dir={blocker}/sub"],
                            "not writable"),
      "latency_table_geometry": (["--genotype=DARTS_V2", f"--latency_table={other_geometry}"],
                                 "init_channels 8 (needs 36)"),
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
  assert sorted(os.listdir(tmp_path)) == ["a_file", "table_c8.json"]


def test_export_reports_the_latency_table_prediction_beside_the_measured(tmp_path):
  """--latency_table: the file of the table's format gets the table's prediction (here a made-up
  table of the network's geometry), the measured median and the error in report.json and on
  stdout."""
  from rc_darts_tf import costs, genotype as genotype_lib, latency
  from tests.helpers import fake_latency_table
  plan = costs.network_plan(8, 5, 1, "cifar", 16, 10)
  table = fake_latency_table(plan, fmt="tflite_fp32", fit=latency.Fit(0.9, 0.0, 8))
  path = str(tmp_path / "table.json")
  latency.save(table, path)
  out = tmp_path / "export"
  result = run_entry("rc_darts_tf.cli.export", "--genotype=DARTS_V2", "--init_channels=8",
                     "--layers=5", "--image_size=16", "--num_classes=10",
                     "--formats=tflite_fp32", f"--latency_table={path}", "--latency_runs=3",
                     "--warmup_runs=1", "--parity_images=4", f"--output_dir={out}", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  (record,) = json.loads((out / "report.json").read_text())["artifacts"]
  predicted = record["latency_predicted"]
  g = genotype_lib.resolve("DARTS_V2")
  assert predicted["predicted_ms"] == pytest.approx(
      table.predict(plan, g.normal, g.reduce, g.connection), abs=1e-4)
  lat = record["latency_ms"]     # 3 runs in 3 blocks of one: the quietest block is the fastest run
  assert lat["rounds"] == 3 and predicted["measured_ms"] == lat["best_block_median"] == lat["min"]
  assert predicted["measured"] == "median of the quietest of 3 blocks of the 3 timed runs"
  assert predicted["error_percent"] == pytest.approx(
      (predicted["predicted_ms"] - predicted["measured_ms"]) / predicted["measured_ms"] * 100,
      abs=0.1)
  assert f"model_fp32.tflite: predicted {predicted['predicted_ms']:.3f} ms by {path}" in (
      result.stdout)


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

