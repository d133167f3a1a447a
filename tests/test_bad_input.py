"""Every bad input: exit code 2, one line on stderr naming the value, before any long work, and
nothing changed or added in an existing output directory. (Truncated and mismatched checkpoints
and other settings in a run directory: tests/test_search_resume.py.)"""

import hashlib
import json
import os

import pytest

from tests.helpers import error_lines, make_image_tree, run_entry

TIMEOUT = 180


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


@pytest.fixture
def existing(tmp_path):
  """An existing output directory with a file of the user's in it."""
  out = tmp_path / "out"
  out.mkdir()
  (out / "notes.txt").write_text("mine\n")
  return out


def _search(out, *args, env=None):
  return run_entry("rc_darts_tf.search_main", f"--output_dir={out}", "--init_channels=4",
                   "--layers=3", "--levels=1", "--batch_size=8", *args, env=env, timeout=TIMEOUT)


def _assert_refused(result, *fragments):
  assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
  lines = error_lines(result.stderr)
  assert len(lines) == 1, lines
  assert lines[0].startswith("search_main.py: error: ") or ": error: " in lines[0], lines
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


def _load_via_cli(path):
  """A genotype file loaded by an absl program with the project's error convention."""
  code = ("from rc_darts_tf import cli; from rc_darts_tf import genotype; "
          f"cli.run(lambda argv: print(genotype.load({str(path)!r})))")
  return _python(code)


def _python(code):
  import subprocess
  import sys
  from tests.helpers import REPO
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
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
  lines = error_lines(result.stderr)
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
  result = run_entry("rc_darts_tf.search_main", "--dataset=sample", "--layers=3", "--levels=2",
                     "--constraints=none", f"--output_dir={out}", timeout=120)
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "--levels=2" in lines[0], lines
  assert not out.exists()
