"""rc-darts-pipeline end to end with tiny settings: search -> retrain -> export -> summary, killed
during retraining and resumed without redoing the search."""

import json
import os
import signal
import subprocess
import sys
import time

from rc_darts_tf.cli.pipeline import split_stage_args
from tests.helpers import REPO, error_lines, run_entry


def test_stage_flags_are_taken_out_of_argv():
  rest, staged = split_stage_args(["prog", "--search.epochs=2", "--train.auxiliary",
                                   "--export.formats=onnx", "--dataset=sample", "--other.x=1"])
  assert rest == ["prog", "--dataset=sample", "--other.x=1"]
  assert staged == {"latency": [], "search": ["--epochs=2"], "train": ["--auxiliary"],
                    "export": ["--formats=onnx"]}


def test_pipeline_runs_every_stage_and_resumes_after_a_kill_in_retraining(image_tree, tmp_path):
  out = str(tmp_path / "pipe")
  args = [f"--dataset=imagefolder:{image_tree}", "--layers=5", "--init_channels=8",
          "--batch_size=16", "--budget_params=2e4:5e4", "--budget_macs=4e6:1.2e7",
          "--budget_latency_ms=:1e3", "--latency.fit_networks=2", "--latency.runs=5",
          "--latency.rounds=1",
          "--search.layers=4", "--search.init_channels=4", "--search.epochs=2",
          "--search.levels=2", "--search.projection_interval=2", "--search.warmup_steps=2",
          "--train.epochs=12", "--train.nocutout", "--train.eval_every=12",
          "--export.latency_runs=2", "--export.warmup_runs=1", "--export.parity_images=20",
          "--export.calibration_images=16", f"--output_dir={out}"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  proc = subprocess.Popen([sys.executable, "-m", "rc_darts_tf.cli.pipeline", *args], cwd=REPO,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  marker = os.path.join(out, "train", "checkpoints", "checkpoint")
  deadline = time.time() + 400
  while not os.path.exists(marker) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)           # the pipeline; its stage dies with it
  first = proc.communicate()[0].decode()
  assert os.path.exists(marker), first[-3000:]
  genotype = os.path.join(out, "search", "genotype.json")
  assert os.path.exists(genotype) and not os.path.exists(os.path.join(out, "train",
                                                                      "model_info.json"))
  searched = os.path.getmtime(genotype)
  time.sleep(1.0)            # a stage still running would have written a later epoch by now
  done = json.load(open(os.path.join(out, "train", "history.json")))
  assert 1 <= len(done) < 12
  assert json.load(open(os.path.join(out, "train", "history.json"))) == done

  result = run_entry("rc_darts_tf.cli.pipeline", *args, timeout=900)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert "search: done earlier" in result.stdout
  assert "resuming from" in result.stdout
  assert os.path.getmtime(genotype) == searched
  history = json.load(open(os.path.join(out, "train", "history.json")))
  assert [r["epoch"] for r in history] == list(range(1, 13))

  for path in ("search/genotype.json", "search/pictures/phi.png", "search/pictures/cell_reduce.svg",
               "train/model.keras", "train/saved_model/saved_model.pb", "export/model_fp32.tflite",
               "export/model_fp16.tflite", "export/model_int8.tflite", "export/model.onnx",
               "export/report.json", "summary.json", "summary.md", "pipeline.log"):
    assert os.path.exists(os.path.join(out, path)), path
  summary = json.load(open(os.path.join(out, "summary.json")))
  info = json.load(open(os.path.join(out, "train", "model_info.json")))
  assert {k: v for k, v in summary["exact_cost"].items() if k != "latency_ms"} == info[
      "exact_cost"]
  assert 2e4 <= summary["exact_cost"]["params"] <= 5e4
  assert 4e6 <= summary["exact_cost"]["macs"] <= 1.2e7
  assert {a["format"] for a in summary["artifacts"]} == {"tflite_fp32", "tflite_fp16",
                                                          "tflite_int8", "onnx"}
  assert all(a["macs"] == info["exact_cost"]["macs"] for a in summary["artifacts"])
  assert "| tflite_int8 |" in result.stdout and "test accuracy" in result.stdout
  assert not [line for line in result.stdout.splitlines() if line and not line.strip()]
  # the latency bound: a table measured for the retrained network, the prediction and the
  # measured median of the int8 file
  table = os.path.join(out, "latency", "table.json")
  assert json.load(open(table))["header"]["complete"]
  lat = summary["latency"]
  assert lat["table"] == table and lat["bound"] == ":1000" and lat["file"] == "model_int8.tflite"
  assert lat["predicted_ms"] > 0 and lat["measured_ms"] > 0 and lat["measured_inside"] is True
  assert 0 < summary["exact_cost"]["latency_ms"] <= 1e3
  assert "Latency: bound :1000 ms" in open(os.path.join(out, "summary.md")).read()

  # Everything done: a third run redoes nothing.
  again = run_entry("rc_darts_tf.cli.pipeline", *args, timeout=300)
  assert again.returncode == 0, again.stderr[-2000:]
  assert again.stdout.count(": done earlier (") == 4 and "=== search: rc-darts" not in again.stdout


def test_pipeline_bad_input_is_one_line(tmp_path):
  out = tmp_path / "pipe"
  result = run_entry("rc_darts_tf.cli.pipeline", "--genotype=DARTS_V9", f"--output_dir={out}",
                     timeout=120)
  assert result.returncode == 2
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "DARTS_V9" in lines[0], lines
  assert not out.exists()


def test_summary_explains_a_failed_int8_agreement_only_when_it_fails():
  from rc_darts_tf.cli import pipeline as pipeline_main
  summary = {"budget": {"params": "1:2"}, "phi_at_end": {}, "exact_cost": {"params": 1, "macs": 2},
             "test_accuracy": 0.29, "best_test_accuracy": 0.29, "test_images": 100,
             "network": {"layers": 8, "init_channels": 16, "stem": "cifar", "image_size": 32,
                         "num_classes": 10, "dataset": "sample"},
             "artifacts": [{"format": "tflite_int8", "size_bytes": 1000, "params": 5, "macs": 2,
                            "latency_ms": {"median": 1.0, "p90": 1.1},
                            "parity": {"kind": "top1", "top1_agreement": 0.95, "passed": False}}],
             "stage_seconds": {"export": 3.0}, "total_seconds_this_run": 3.0, "files": {}}
  text = pipeline_main.summary_markdown(summary)
  assert "top-1 agreement 95.0% FAIL" in text and "int8 top-1 agreement below 98%" in text
  summary["artifacts"][0]["parity"].update(top1_agreement=0.99, passed=True)
  text = pipeline_main.summary_markdown(summary)
  assert "top-1 agreement 99.0% ok" in text and "below 98%" not in text
