"""Every bad input: exit code 2, one line on stderr naming the value (the only line: TensorFlow's
start-up lines are not filtered here), before any long work, and nothing changed or added in an
existing output directory. Checks that need no TensorFlow run before it is imported: with a
stand-in `tensorflow` that stops the program when imported, they still refuse with one line.
(Truncated and mismatched checkpoints and other settings in a run directory:
tests/cli/test_search_resume.py.)"""

import hashlib
import json
import os
import time

import pytest

from rc_darts_tf import genotype as genotype_lib
from tests.helpers import REPO, make_image_tree, run_entry

TIMEOUT = 180
# A refusal that needs no TensorFlow takes about a second (0.2-0.6 s measured on 2 busy cores);
# the bound leaves room for a loaded machine. The stand-in TensorFlow proves the order.
QUICK_SECONDS = 5.0


def _snapshot(root):
  found = {}
  for folder, dirs, files in os.walk(root):
    for name in files + dirs:
      path = os.path.join(folder, name)
      digest = "dir"
      if os.path.isfile(path):
        with open(path, "rb") as f:
          digest = hashlib.sha1(f.read()).hexdigest()
      found[os.path.relpath(path, root)] = digest
  return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("bad_input_tree")
  return make_image_tree(str(root), classes=3, train_per_class=8, test_per_class=2, size=8)


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
  """PYTHONPATH for a child whose `import tensorflow` prints one line and exits with 97."""
  root = tmp_path_factory.mktemp("no_tensorflow")
  (root / "tensorflow").mkdir()
  (root / "tensorflow" / "__init__.py").write_text(
      "import sys\nsys.stderr.write('TensorFlow was imported\\n')\nsys.exit(97)\n")
  return {"PYTHONPATH": f"{root}{os.pathsep}{REPO}"}


def _truncate(path, keep=1 / 3):
  data = path.read_bytes()
  path.write_bytes(data[:int(len(data) * keep)])


@pytest.fixture(scope="module")
def broken_tree(tmp_path_factory):
  """2 classes of 12 JPEGs; train/class_1/0005.jpg cut to a third of its bytes."""
  root = tmp_path_factory.mktemp("broken_tree")
  make_image_tree(str(root), classes=2, train_per_class=12, test_per_class=2, size=16, fmt="jpg")
  _truncate(root / "train" / "class_1" / "0005.jpg")
  return str(root)


@pytest.fixture
def existing(tmp_path):
  """An existing output directory with a file of the user's in it."""
  out = tmp_path / "out"
  out.mkdir()
  (out / "notes.txt").write_text("mine\n")
  return out


def _search(out, *args, env=None):
  return run_entry("rc_darts_tf.cli.search", f"--output_dir={out}", "--init_channels=4",
                   "--layers=3", "--levels=1", "--batch_size=8", *args, env=env, timeout=TIMEOUT)


def _assert_refused(result, *fragments):
  assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
  lines = result.stderr.splitlines()
  assert len(lines) == 1, lines      # the only line: no TensorFlow start-up lines
  assert ": error: " in lines[0], lines
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])
  return lines[0]


SEARCH_CASES = {
    "low_above_high": (["--budget_params=2e5:1e5"], ["--budget_params=2e5:1e5",
                                                     "above upper bound"]),
    "negative_budget": (["--budget_macs=-1:5"], ["--budget_macs=-1:5", ">= 0"]),
    "non_numeric_budget": (["--budget_params=abc"], ["--budget_params=abc", "not a number"]),
    "unachievable_budget": (["--budget_params=10:20"], ["--budget_params=10:20 cannot be met",
                                                        "lie in ["]),
    "unknown_dataset": (["--dataset=mnist_fashionable"], ["--dataset=mnist_fashionable"]),
    "missing_imagefolder": (["--dataset=imagefolder:/nonexistent/images",
                             "--budget_params=:1e9"], ["/nonexistent/images"]),
    "missing_tfds_data_dir": (["--dataset=cifar10", "--data_dir=/nonexistent/tfds",
                               "--nodownload", "--budget_params=:1e9"], ["cifar10"]),
    "tpu_without_tpu": (["--strategy=tpu", "--budget_params=:1e9"], ["--strategy=tpu",
                                                                    "no TPU"]),
    "multi_worker_without_tf_config": (["--strategy=multi_worker", "--budget_params=:1e9"],
                                       ["--strategy=multi_worker needs TF_CONFIG"]),
    "batch_larger_than_data": (["--budget_params=:1e9", "--batch_size=64"],
                               ["less than one batch of 64"]),
}


@pytest.mark.parametrize("case", sorted(SEARCH_CASES))
def test_search_bad_input_exit_2_one_line_nothing_written(case, tree, existing):
  args, fragments = SEARCH_CASES[case]
  if not any(a.startswith("--dataset=") for a in args):
    args = [f"--dataset=imagefolder:{tree}"] + args
  env = {"TF_CONFIG": ""} if "multi_worker" in case else None
  before = _snapshot(existing)
  _assert_refused(_search(existing, *args, env=env), *fragments)
  assert _snapshot(existing) == before


def test_malformed_tf_config_is_one_line(tree, existing):
  before = _snapshot(existing)
  result = _search(existing, f"--dataset=imagefolder:{tree}", "--budget_params=:1e9",
                   "--strategy=multi_worker", env={"TF_CONFIG": "{\"cluster\": "})
  _assert_refused(result, "TF_CONFIG=", "not valid JSON")
  assert _snapshot(existing) == before


def test_output_dir_that_cannot_be_written(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  result = _search(blocker / "sub", "--dataset=sample", "--constraints=none")
  _assert_refused(result, str(blocker / "sub"), "not writable")
  assert blocker.read_text() == "x"


# -- genotypes: the files --genotype reads (retraining, export), through the CLI convention -----

def _genotype_json():
  from rc_darts_tf import genotype
  return genotype.resolve("DARTS_V2").to_json_dict()


def _load_via_cli(path, env=None):
  """A genotype file loaded by an absl program with the project's error convention."""
  code = ("from rc_darts_tf import cli; from rc_darts_tf import genotype; "
          f"cli.run(lambda argv: print(genotype.load({str(path)!r})))")
  return _python(code, env)


def _python(code, extra_env=None):
  import subprocess
  import sys
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  env.update(extra_env or {})
  return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=60)


def _write(path, value):
  path.write_text(value if isinstance(value, str) else json.dumps(value))
  return path


def _unknown_op():
  d = _genotype_json()
  d["normal"][0][3][0] = "sep_conv_9x9"
  return d


def _node_out_of_range():
  d = _genotype_json()
  d["reduce"][5][1] = 7
  return d


GENOTYPE_CASES = {
    "malformed": (lambda: "{\"normal\": [[\"sep_conv_3x3\", 0]] ,, }", ["not valid JSON"]),
    "truncated": (lambda: json.dumps(_genotype_json())[:150], ["not valid JSON", "truncated"]),
    "unknown_op": (_unknown_op, ["sep_conv_9x9"]),
    "node_out_of_range": (_node_out_of_range, ["7"]),
}


@pytest.mark.parametrize("case", sorted(GENOTYPE_CASES))
def test_bad_genotype_file_exit_2_one_line(case, tmp_path):
  make, fragments = GENOTYPE_CASES[case]
  path = _write(tmp_path / "genotype.json", make())
  result = _load_via_cli(path)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.splitlines()
  assert len(lines) == 1, lines
  assert str(path) in lines[0]
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])


def test_a_good_genotype_file_loads(tmp_path):
  """The control for the cases above: the unmodified file is accepted."""
  path = _write(tmp_path / "genotype.json", _genotype_json())
  result = _load_via_cli(path)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "sep_conv_3x3" in result.stdout


def test_more_levels_than_normal_cells_is_one_line(tmp_path):
  out = tmp_path / "run"
  result = run_entry("rc_darts_tf.cli.search", "--dataset=sample", "--layers=3", "--levels=2",
                     "--constraints=none", f"--output_dir={out}", timeout=120)
  assert result.returncode == 2
  lines = result.stderr.splitlines()
  assert len(lines) == 1 and "--levels=2" in lines[0], lines
  assert not out.exists()


# -- refused before TensorFlow is imported, in about a second ---------------------------------

def _quick(result, started, *fragments):
  elapsed = time.monotonic() - started
  line = _assert_refused(result, *fragments)
  assert elapsed < QUICK_SECONDS, (elapsed, line)
  return line


def test_budget_outside_the_achievable_range_is_refused_before_tensorflow(tree, existing,
                                                                          no_tensorflow):
  before = _snapshot(existing)
  started = time.monotonic()
  result = _search(existing, f"--dataset=imagefolder:{tree}", "--budget_params=10:20",
                   env=no_tensorflow)
  _quick(result, started, "--budget_params=10:20 cannot be met", "lie in [")
  assert _snapshot(existing) == before


def test_latency_budgets_are_refused_before_tensorflow(tree, existing, tmp_path, no_tensorflow):
  """A latency bound without a table, a table that is missing or of another geometry, and a
  bound no genotype meets: one line each, before TensorFlow, nothing written."""
  from rc_darts_tf import costs, latency
  from tests.helpers import fake_latency_table
  plan = costs.network_plan(4, 3, 1, "cifar", 8, 3)        # _search's budget network
  good, other = tmp_path / "good.json", tmp_path / "other.json"
  latency.save(fake_latency_table(plan), str(good))
  latency.save(fake_latency_table(costs.network_plan(8, 3, 1, "cifar", 8, 3)), str(other))
  before = _snapshot(existing)
  data = f"--dataset=imagefolder:{tree}"
  for args, fragments in [
      (["--budget_latency_ms=:1"], ["--budget_latency_ms=:1 needs --latency_table",
                                    "rc-darts-latency --init_channels=4 --layers=3"]),
      (["--budget_latency_ms=:1", f"--latency_table={tmp_path / 'none.json'}"],
       ["none.json: no such file"]),
      (["--budget_latency_ms=:1", f"--latency_table={other}"],
       ["measured for another geometry", "init_channels 8 (needs 4)"]),
      (["--budget_latency_ms=:0.0001", f"--latency_table={good}"],
       ["--budget_latency_ms=:0.0001 cannot be met", "latency_ms lie in ["])]:
    started = time.monotonic()
    _quick(_search(existing, data, *args, env=no_tensorflow), started, *fragments)
  assert _snapshot(existing) == before


def test_missing_data_folder_is_refused_before_tensorflow(tmp_path, no_tensorflow):
  missing = tmp_path / "no_such_images"
  out = f"--output_dir={tmp_path / 'out'}"
  for module, *args in [("rc_darts_tf.cli.search", "--budget_params=:1e9", out),
                        ("rc_darts_tf.cli.train", "--genotype=DARTS_V2", out),
                        ("rc_darts_tf.cli.data",)]:
    started = time.monotonic()
    result = run_entry(module, f"--dataset=imagefolder:{missing}", *args, env=no_tensorflow,
                       timeout=TIMEOUT)
    _quick(result, started, str(missing), "does not exist")
  assert not (tmp_path / "out").exists()


def test_malformed_genotype_file_is_refused_before_tensorflow(tmp_path, no_tensorflow):
  path = _write(tmp_path / "genotype.json", "{\"normal\": [[\"sep_conv_3x3\", 0]] ,, }")
  started = time.monotonic()
  result = run_entry("rc_darts_tf.cli.train", f"--genotype={path}", "--dataset=sample",
                     f"--output_dir={tmp_path / 'out'}", env=no_tensorflow, timeout=TIMEOUT)
  _quick(result, started, str(path), "not valid JSON")
  started = time.monotonic()
  result = _load_via_cli(_write(tmp_path / "op.json", _unknown_op()), env=no_tensorflow)
  _quick(result, started, "sep_conv_9x9")
  assert not (tmp_path / "out").exists()


def test_output_dir_of_another_run_is_refused_before_tensorflow(tree, tmp_path, no_tensorflow):
  """--output_dir holding another run, or a search with other settings: refused from the run
  record alone (run_record.py; here an earlier version's search_run.json), before any image is read or TensorFlow imported."""
  other = tmp_path / "other"
  other.mkdir()
  (other / "genotype.json").write_text("{\"keep\": true}")
  started = time.monotonic()
  result = _search(other, f"--dataset=imagefolder:{tree}", "--constraints=none",
                   env=no_tensorflow)
  _quick(result, started, str(other), "already holds a run")
  assert (other / "genotype.json").read_text() == "{\"keep\": true}"
  resumable = tmp_path / "resumable"
  resumable.mkdir()
  record = {"format_version": 1, "settings": {"epochs": 3}}
  (resumable / "search_run.json").write_text(json.dumps(record))
  started = time.monotonic()
  result = _search(resumable, f"--dataset=imagefolder:{tree}", "--constraints=none",
                   env=no_tensorflow)
  _quick(result, started, "holds a search with other settings")
  assert json.loads((resumable / "search_run.json").read_text()) == record


# -- image trees from the wild ------------------------------------------------------------------

def test_undecodable_image_is_refused_by_every_tool_naming_the_file(broken_tree, tmp_path,
                                                                    no_tensorflow):
  """A truncated JPEG: one line naming it, exit 2, before TensorFlow and before any training."""
  bad = os.path.join("train", "class_1", "0005.jpg")
  runs = [("rc_darts_tf.cli.data", "--batch_size=8"),
          ("rc_darts_tf.cli.train", "--genotype=DARTS_V2", "--batch_size=8",
           f"--output_dir={tmp_path / 'train'}"),
          ("rc_darts_tf.cli.search", "--budget_params=:1e9", "--batch_size=8",
           f"--output_dir={tmp_path / 'search'}")]
  for module, *args in runs:
    result = run_entry(module, f"--dataset=imagefolder:{broken_tree}", *args, env=no_tensorflow,
                       timeout=TIMEOUT)
    _assert_refused(result, bad, "cannot be decoded", broken_tree)
  assert not (tmp_path / "train").exists() and not (tmp_path / "search").exists()


def test_inferred_input_size_above_the_limit_is_refused_like_the_flag(tmp_path, no_tensorflow):
  """A tree of 1100x20 images without --image_size: refused like --image_size=1100 is."""
  root = make_image_tree(str(tmp_path / "wide"), classes=2, train_per_class=2, test_per_class=1,
                         size=1)
  from PIL import Image
  for folder, _, files in os.walk(root):
    for name in files:
      Image.new("RGB", (1100, 20)).save(os.path.join(folder, name))
  out = tmp_path / "out"
  result = _search(out, f"--dataset=imagefolder:{root}", "--budget_params=:1e9",
                   env=no_tensorflow)
  line = _assert_refused(result, "1100x20", "1024", "--image_size")
  assert "above the limit" in line
  by_hand = _search(out, f"--dataset=imagefolder:{root}", "--budget_params=:1e9",
                    "--image_size=1100", env=no_tensorflow)
  _assert_refused(by_hand, "--image_size=1100", "1024")
  assert not out.exists()


def test_class_without_training_images_is_refused(tmp_path, no_tensorflow):
  root = make_image_tree(str(tmp_path / "t"), classes=2, train_per_class=8, test_per_class=2,
                         size=8)
  os.makedirs(os.path.join(root, "train", "empty_class"))
  result = run_entry("rc_darts_tf.cli.data", f"--dataset=imagefolder:{root}",
                     env=no_tensorflow, timeout=TIMEOUT)
  _assert_refused(result, os.path.join("train", "empty_class"), "no readable image")


def test_bad_model_directory_is_refused_before_tensorflow(tmp_path, no_tensorflow):
  """rc-darts-train --evaluate and rc-darts-export --model_dir read model_info.json without
  TensorFlow: a missing directory, a missing model.keras, or malformed statistics are one line."""
  missing = tmp_path / "no_model"
  for module, flag, extra in [("rc_darts_tf.cli.train", "--evaluate", ()),
                              ("rc_darts_tf.cli.export", "--model_dir",
                               (f"--output_dir={tmp_path / 'out'}",))]:
    started = time.monotonic()
    result = run_entry(module, f"{flag}={missing}", "--dataset=sample", *extra,
                       env=no_tensorflow, timeout=TIMEOUT)
    _quick(result, started, f"{flag}={missing}", "does not exist")
  model = tmp_path / "model"
  model.mkdir()
  (model / "model.keras").write_text("not a model")
  (model / "model_info.json").write_text(json.dumps({
      "genotype": genotype_lib.resolve("DARTS_V2").to_json_dict(),
      "init_channels": 8, "layers": 3, "stem": "cifar", "image_size": 16, "num_classes": 10,
      "mean": [0.5, 0.5], "std": [0.2, 0.2, 0.2]}))
  started = time.monotonic()
  result = run_entry("rc_darts_tf.cli.train", f"--evaluate={model}", "--dataset=sample",
                     env=no_tensorflow, timeout=TIMEOUT)
  _quick(result, started, "model_info.json is unreadable", "mean should have 3 values")
  info = json.loads((model / "model_info.json").read_text())
  info["mean"] = [0.5, 0.5, 0.5]
  (model / "model_info.json").write_text(json.dumps(info))
  started = time.monotonic()                       # the export checks the dataset before TF too
  result = run_entry("rc_darts_tf.cli.export", f"--model_dir={model}",
                     f"--dataset=imagefolder:{missing}", f"--output_dir={tmp_path / 'out'}",
                     env=no_tensorflow, timeout=TIMEOUT)
  _quick(result, started, str(missing), "does not exist")
  assert not (tmp_path / "out").exists()


def test_training_refuses_a_strategy_it_cannot_run_before_tensorflow(tmp_path, no_tensorflow):
  """Keras's fit under MultiWorkerMirroredStrategy fails (Keras 3.15): rc-darts-train refuses
  --strategy=multi_worker and tpu with one line, before TensorFlow and before writing."""
  for strategy in ("multi_worker", "tpu"):
    out = tmp_path / strategy
    result = run_entry("rc_darts_tf.cli.train", "--dataset=sample", "--genotype=DARTS_V2",
                       f"--strategy={strategy}", f"--output_dir={out}", env=no_tensorflow,
                       timeout=TIMEOUT)
    _assert_refused(result, f"--strategy={strategy}", "training supports default and mirrored")
    assert not out.exists()


def test_tune_latency_budgets_are_refused_before_tensorflow(tmp_path, no_tensorflow):
  """rc-darts-tune: a latency bound without tables, tables of another image size, and a tuning
  space with a configuration that has no table: one line each, before TensorFlow, nothing
  written."""
  from rc_darts_tf import costs, latency
  from tests.helpers import fake_latency_table
  tables = tmp_path / "tables"
  tables.mkdir()
  for c in (8, 12):
    latency.save(fake_latency_table(costs.network_plan(c, 5, 1, "cifar", 32, 10)),
                 str(tables / f"c{c}.json"))
  small = tmp_path / "small.json"
  latency.save(fake_latency_table(costs.network_plan(8, 5, 1, "cifar", 16, 10)), str(small))
  out = tmp_path / "tune"
  common = ["--dataset=sample", "--budget_latency_ms=:1", f"--output_dir={out}",
            "--layer_choices=5"]
  for args, fragments in [
      ([], ["--budget_latency_ms=:1 needs --latency_table", "rc-darts-latency --init_channels=8 "
                                                           "--layers=5 --image_size=32"]),
      ([f"--latency_table={small}", "--channels=8:8:4"], [r"image_size 16 (needs 32)"]),
      ([f"--latency_table={tables}", "--channels=8:16:4"],
       ["no table for 1 of the 3 configurations tuned (C=16 with 5 cells)",
        "rc-darts-latency --init_channels=16 --layers=5"]),
      ([f"--latency_table={tables}", "--fit_budget", "--layers=8"],
       ["no table of --layers=8 cells", "C=8 with 5 cells, C=12 with 5 cells"])]:
    started = time.monotonic()
    result = run_entry("rc_darts_tf.cli.tune", *common, *args, env=no_tensorflow,
                       timeout=TIMEOUT)
    _quick(result, started, *fragments)
  assert not out.exists()


def test_export_latency_table_is_refused_before_tensorflow(tmp_path, no_tensorflow):
  """rc-darts-export --latency_table: a missing table, one of another geometry and one of a
  format --formats does not write: one line each, before TensorFlow, nothing written."""
  from rc_darts_tf import costs, latency
  from tests.helpers import fake_latency_table
  good, other = tmp_path / "good.json", tmp_path / "other.json"
  latency.save(fake_latency_table(costs.network_plan(8, 5, 1, "cifar", 16, 10),
                                  fmt="tflite_fp32"), str(good))
  latency.save(fake_latency_table(costs.network_plan(16, 5, 1, "cifar", 16, 10),
                                  fmt="tflite_fp32"), str(other))
  out = tmp_path / "export"
  common = ["--genotype=DARTS_V2", "--init_channels=8", "--layers=5", "--image_size=16",
            "--num_classes=10", f"--output_dir={out}"]
  for args, fragments in [
      ([f"--latency_table={tmp_path / 'none.json'}"], ["none.json: no such file"]),
      ([f"--latency_table={other}"], ["init_channels 16 (needs 8)"]),
      ([f"--latency_table={good}", "--formats=onnx"], ["which --formats does not write"])]:
    started = time.monotonic()
    result = run_entry("rc_darts_tf.cli.export", *common, *args, env=no_tensorflow,
                       timeout=TIMEOUT)
    _quick(result, started, *fragments)
  assert not out.exists()
