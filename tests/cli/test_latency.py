"""rc-darts-latency (rc_darts_tf/cli/latency.py): one-line refusals before any work, and a tiny
table measured, fitted and resumed as a user runs it."""

import json
import os

from rc_darts_tf import latency
from tests.helpers import error_lines, run_entry


def _refused(result, *fragments):
  lines = error_lines(result.stderr)
  assert result.returncode == 2, (result.returncode, result.stderr)
  assert len(lines) == 1, lines
  assert lines[0].startswith("rc-darts-latency: error: "), lines
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])


def test_refusals_name_the_bad_value(tmp_path):
  _refused(run_entry("rc_darts_tf.cli.latency"), "--output is required")
  _refused(run_entry("rc_darts_tf.cli.latency", "--init_channels=6", f"--output={tmp_path}/t"),
           "--init_channels=6", "multiple of 4")
  _refused(run_entry("rc_darts_tf.cli.latency", "--format=onnx", f"--output={tmp_path}/t"),
           "--format")
  _refused(run_entry("rc_darts_tf.cli.latency", f"--output={tmp_path}"), "is a directory")
  other = tmp_path / "other.json"
  other.write_text('{"a": 1}')
  _refused(run_entry("rc_darts_tf.cli.latency", f"--output={other}"), str(other),
           "format_version")
  assert other.read_text() == '{"a": 1}'
  assert sorted(os.listdir(tmp_path)) == ["other.json"]


def test_tiny_table_is_measured_fitted_and_resumed(tmp_path):
  path = str(tmp_path / "tables" / "tiny.json")
  args = ("--init_channels=4", "--layers=3", "--image_size=8", "--format=tflite_fp32",
          "--runs=5", "--warmup_runs=1", "--rounds=1", "--fit_networks=2", f"--output={path}")
  result = run_entry("rc_darts_tf.cli.latency", *args)
  assert result.returncode == 0, result.stderr
  assert error_lines(result.stderr) == []
  out = result.stdout
  assert "latency table for cifar stem, C = 4, 3 cells, 8x8, 10 classes" in out
  assert "fit: latency ≈ " in out and f"wrote {path}" in out
  table = latency.load(path)
  assert table.header["format"] == "tflite_fp32" and table.fit.networks == 2
  plan = latency.geometry_plan(table.header)
  from rc_darts_tf import search_space
  assert {e.key for e in latency.space_entries(plan, search_space.DARTS, True)} == set(
      table.entries)
  with open(path) as f:
    before = json.load(f)
  again = run_entry("rc_darts_tf.cli.latency", *args)
  assert again.returncode == 0, again.stderr
  assert f"{len(table.entries)} of {len(table.entries)} entries already measured" in again.stdout
  assert "fit:" not in again.stdout and "fit kept: " in again.stdout   # same number of networks
  with open(path) as f:
    assert json.load(f) == before


def test_a_table_for_another_device_written_timed_there_and_imported(tmp_path):
  """--write_models writes the files and manifest; scripts/time_tflite_models.py (here on this
  machine; and from benchmark_model's logs) times them; --import makes the table with its fit."""
  import subprocess
  import sys
  from tests.helpers import REPO, child_env
  models = tmp_path / "models"
  geometry = ("--init_channels=4", "--layers=3", "--image_size=8", "--format=tflite_fp32",
              "--fit_networks=2")
  result = run_entry("rc_darts_tf.cli.latency", *geometry, f"--write_models={models}")
  assert result.returncode == 0, result.stderr
  manifest = json.loads((models / "manifest.json").read_text())
  assert len(manifest["fit_networks"]) == 2 and "invoke" in manifest["files"]
  assert all((models / name).exists() for name in manifest["files"].values())
  script = os.path.join(REPO, "scripts", "time_tflite_models.py")
  timed = subprocess.run([sys.executable, script, str(models), f"--output={tmp_path / 'm.json'}",
                          "--runs=3", "--warmup=1", "--rounds=1"], capture_output=True,
                         text=True, env=child_env(), timeout=300)
  assert timed.returncode == 0, timed.stderr
  table_path = str(tmp_path / "phone.json")
  imported = run_entry("rc_darts_tf.cli.latency", f"--import={tmp_path / 'm.json'}",
                       f"--output={table_path}")
  assert imported.returncode == 0, imported.stderr
  table = latency.load(table_path)
  assert table.fit.networks == 2 and table.header["format"] == "tflite_fp32"
  assert set(table.entries) == set(manifest["files"]) - {"invoke"} - set(
      manifest["fit_networks"])
  again = run_entry("rc_darts_tf.cli.latency", f"--import={tmp_path / 'm.json'}",
                    f"--output={table_path}")
  _refused(again, "exists")
  # benchmark_model's logs: "Inference (avg): N" in µs per file
  for name in manifest["files"].values():
    (models / name.replace(".tflite", ".log")).write_text(
        "INFO: Inference timings in us: Init: 900, First inference: 80, Warmup (avg): 50.5, "
        "Inference (avg): 42.5\n")
  logs = subprocess.run([sys.executable, script, str(models), "--from_benchmark_model",
                         f"--output={tmp_path / 'b.json'}"], capture_output=True, text=True,
                        env=child_env(), timeout=300)
  assert logs.returncode == 0, logs.stderr
  measured = json.loads((tmp_path / "b.json").read_text())
  assert set(measured["measured_ms"].values()) == {0.0425}
