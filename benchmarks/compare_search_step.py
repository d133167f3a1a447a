"""Our search step beside the PyTorch DARTS reference, in one run, on this machine.

  python benchmarks/compare_search_step.py \
      --torch_python=$HOME/.venvs/torchref/bin/python --reference=../shared/bench/darts_torch_step.py

Runs, one after the other (never concurrently): the reference (NCHW, then --channels-last), our
step in DARTS mode (the reference's exact network: --levels=1 --nolearn_connection
--constraints=none, 1,930,618 weights) and in the full RC-DARTS configuration. Prints one JSON line
with every result and the ratios reference / ours for step time, time to first step and peak RSS.
Set up the reference's venv as ../shared/bench/README.md says.
"""

import json
import os
import subprocess
import sys

from absl import app
from absl import flags as absl_flags

HERE = os.path.dirname(os.path.abspath(__file__))
absl_flags.DEFINE_string("torch_python", os.path.expanduser("~/.venvs/torchref/bin/python"),
                         "Python of a venv with torch (the reference's).")
absl_flags.DEFINE_string("reference", os.path.join(HERE, "..", "..", "shared", "bench",
                                                   "darts_torch_step.py"),
                         "The reference script.")
absl_flags.DEFINE_integer("steps", 3, "Timed steps per implementation.")
absl_flags.DEFINE_integer("threads", 2, "Threads for the reference.")
absl_flags.DEFINE_bool("channels_last", True, "Also run the reference with --channels-last.")
FLAGS = absl_flags.FLAGS


def _last_json(output):
  for line in reversed(output.splitlines()):
    if line.startswith("{"):
      return json.loads(line)
  raise RuntimeError(f"no JSON line in output:\n{output[-2000:]}")


def _run(cmd):
  result = subprocess.run(cmd, capture_output=True, text=True)
  if result.returncode:
    raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
  return _last_json(result.stdout)


def main(argv):
  del argv
  for path, what in ((FLAGS.torch_python, "--torch_python"), (FLAGS.reference, "--reference")):
    if not os.path.exists(path):
      sys.stderr.write(f"compare_search_step: error: {what}={path} does not exist\n")
      return 2
  ref_cmd = [FLAGS.torch_python, FLAGS.reference, "--batch", "64", "--steps", str(FLAGS.steps),
             "--warmup", "1", "--threads", str(FLAGS.threads)]
  ours_cmd = [sys.executable, os.path.join(HERE, "search_step.py"), f"--steps={FLAGS.steps}",
              "--warmup=1"]
  results = {"reference": _run(ref_cmd)}
  if FLAGS.channels_last:
    results["reference_channels_last"] = _run(ref_cmd + ["--channels-last"])
  results["ours_darts"] = _run(ours_cmd + ["--mode=darts"])
  results["ours_rc"] = _run(ours_cmd + ["--mode=rc"])
  ours = results["ours_darts"]
  ratios = {}
  for name in ("reference", "reference_channels_last"):
    if name in results:
      ref = results[name]
      ratios[name] = {
          "step_speedup": round(ref["ms_per_step"] / ours["ms_per_step"], 2),
          "first_step_ratio": round(ref["first_step_s"] / ours["first_step_s"], 2),
          "peak_rss_ratio": round(ref["peak_rss_mb"] / ours["peak_rss_mb"], 2),
      }
  print(json.dumps({"benchmark": "compare_search_step", "results": results,
                    "reference_over_ours_darts_mode": ratios}))
  return 0


if __name__ == "__main__":
  app.run(main)
