"""The Python API (rc_darts_tf/api.py): the README's notebook example runs as written
(examples/api_notebook.py, the same code) and hands back a searched, trained and exported
network whose numbers agree; its settings default to the command line's; bad input is one
RcDartsError before any work."""

import json
import os
import re
import subprocess
import sys

import pytest

from rc_darts_tf.errors import BudgetError, RcDartsError
from tests.helpers import REPO, error_lines

EXAMPLE = os.path.join(REPO, "examples", "api_notebook.py")


def _readme_example():
  with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
    text = f.read()
  section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
  return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_shows_the_example_that_runs():
  with open(EXAMPLE, encoding="utf-8") as f:
    code = f.read()
  body = code.split('"""', 2)[2].strip()          # the example without its docstring
  assert _readme_example().strip() == body


def test_notebook_example_searches_trains_and_exports(tmp_path):
  # MPLCONFIGDIR: under Bazel's sandbox HOME is read-only and matplotlib would warn about it
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
             MPLCONFIGDIR=str(tmp_path / "matplotlib"))
  result = subprocess.run([sys.executable, EXAMPLE, str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert error_lines(result.stderr) == []        # nothing on stderr but TensorFlow's start-up
  genotype = json.loads((tmp_path / "search" / "genotype.json").read_text())
  meta = genotype["meta"]
  assert 1e4 <= meta["exact_cost"]["params"] <= 3e4           # inside the budget it was given
  # Φ at the end prices the derived network (τ annealed to 0.03)
  assert abs(meta["phi"]["params"] - meta["exact_cost"]["params"]) <= 0.01 * meta[
      "exact_cost"]["params"]
  from rc_darts_tf import model_dir
  trained = model_dir.read(str(tmp_path / "train"))
  assert trained.class_names is not None and len(trained.class_names) == 10
  assert trained.info["exact_cost"] == meta["exact_cost"]
  report = json.loads((tmp_path / "export" / "report.json").read_text())
  assert [a["format"] for a in report["artifacts"]] == ["tflite_fp32", "tflite_int8", "onnx"]
  for artifact in report["artifacts"]:
    assert artifact["macs"] == meta["exact_cost"]["macs"], artifact["format"]
  assert (tmp_path / "export" / "labels.txt").read_text().split() == trained.class_names
  assert "exact cost" in result.stdout


def test_search_config_defaults_are_the_command_line_defaults():
  code = ("import dataclasses, json; from rc_darts_tf.cli import search; "
          "from rc_darts_tf.search.run import SearchConfig; "
          "print(json.dumps({f.name: [f.default, search.FLAGS[f.name].default] "
          "for f in dataclasses.fields(SearchConfig)}))")
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  pairs = json.loads(result.stdout.strip().splitlines()[-1])
  assert len(pairs) >= 30
  assert {name: p for name, p in pairs.items() if p[0] != p[1]} == {}


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"budget_params": "2e4:6e4", "epoch": 1}, RcDartsError, "unknown setting(s) epoch"),
    ({}, BudgetError, "search needs a budget"),
    ({"budget_params": "6e4:2e4"}, BudgetError, "6e4:2e4"),
    ({"budget_params": "2e4:6e4", "partial_channels": 3}, RcDartsError,
     "partial_channels=3: must divide init_channels=16"),
    ({"budget_params": "2e4:6e4", "constraints": "hard"}, RcDartsError, "constraints='hard'"),
])
def test_search_refuses_bad_input_before_any_work(kwargs, error, fragment):
  from rc_darts_tf import api
  with pytest.raises(error) as raised:
    api.search("no-such-dataset", **kwargs)       # refused before the dataset is looked at
  assert fragment in str(raised.value) and "\n" not in str(raised.value)

