"""Time the TFLite files of `rc-darts-latency --write_models=DIR` on the device that will run the
network (a phone, a board), and write the measurements for `rc-darts-latency --import`.

Needs only Python 3, NumPy and a TFLite interpreter: `tflite-runtime`, `ai-edge-litert` or
TensorFlow (whichever imports first); none of this project.

  python time_tflite_models.py DIR --output=measured.json [--threads=1 --runs=100 --rounds=5]

or, where the Python interpreter cannot run (Android), time every file with TFLite's own
`benchmark_model` and give its logs instead (one DIR/<name>.log per DIR/<name>.tflite):

  for f in DIR/*.tflite; do benchmark_model --graph=$f --num_threads=1 > ${f%.tflite}.log 2>&1
  done
  python time_tflite_models.py DIR --from_benchmark_model --output=measured.json

The output holds, per file of DIR/manifest.json, its latency in ms: here the smallest of
--rounds block medians of --runs invokes (every file timed in turn each round, as
rc-darts-latency does), with benchmark_model the "Inference (avg)" it reports.
"""

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time


def interpreter_class():
  """The first TFLite interpreter that imports: tflite-runtime, ai-edge-litert, TensorFlow."""
  try:
    from tflite_runtime.interpreter import Interpreter
    return Interpreter, "tflite-runtime"
  except ImportError:
    pass
  try:
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter, "ai-edge-litert"
  except ImportError:
    pass
  try:
    import tensorflow as tf
    return tf.lite.Interpreter, f"tensorflow {tf.__version__}"
  except ImportError:
    sys.exit("time_tflite_models.py: error: no TFLite interpreter: pip install tflite-runtime "
             "(or ai-edge-litert)")


def time_files(paths, threads, runs, warmup, rounds):
  """{name: ms}: every file warmed up, then `rounds` rounds of a block of `runs` invokes per
  file, the smallest block median."""
  import numpy as np
  interpreter_cls, _ = interpreter_class()
  loaded = {}
  for name, path in paths.items():
    it = interpreter_cls(model_path=path, num_threads=threads)
    it.allocate_tensors()
    for detail in it.get_input_details():
      it.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    for _ in range(warmup):
      it.invoke()
    loaded[name] = it
  best = {name: float("inf") for name in paths}
  for r in range(rounds):
    for name, it in loaded.items():
      times = []
      for _ in range(runs):
        start = time.perf_counter()
        it.invoke()
        times.append((time.perf_counter() - start) * 1e3)
      best[name] = min(best[name], statistics.median(times))
    print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
  return best


AVG = re.compile(r"Inference \(avg\):\s*([0-9.eE+-]+)")


def from_benchmark_model(directory, names):
  """{name: ms} from DIR/<name>.log of benchmark_model ("Inference (avg): N" in µs)."""
  found = {}
  for name in names:
    log = os.path.join(directory, os.path.splitext(name)[0] + ".log")
    try:
      with open(log, errors="replace") as f:
        matches = AVG.findall(f.read())
    except OSError:
      sys.exit(f"time_tflite_models.py: error: {log} is missing (run benchmark_model on "
               f"{name} first)")
    if not matches:
      sys.exit(f"time_tflite_models.py: error: {log} has no 'Inference (avg): N' line")
    found[name] = float(matches[-1]) / 1000.0
  return found


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("directory")
  p.add_argument("--output", required=True)
  p.add_argument("--threads", type=int, default=1)
  p.add_argument("--runs", type=int, default=100)
  p.add_argument("--warmup", type=int, default=10)
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--from_benchmark_model", action="store_true")
  p.add_argument("--device", default="", help="what the device is (default: platform's words)")
  args = p.parse_args()
  manifest_path = os.path.join(args.directory, "manifest.json")
  try:
    with open(manifest_path) as f:
      manifest = json.load(f)
    files = manifest["files"]
  except (OSError, ValueError, KeyError) as error:
    sys.exit(f"time_tflite_models.py: error: {manifest_path}: not a manifest of "
             f"rc-darts-latency --write_models ({error})")
  names = sorted(set(files.values()))
  started = time.time()
  if args.from_benchmark_model:
    measured, runtime, threads = from_benchmark_model(args.directory, names), "benchmark_model", None
  else:
    paths = {name: os.path.join(args.directory, name) for name in names}
    measured = time_files(paths, args.threads, args.runs, args.warmup, args.rounds)
    runtime, threads = interpreter_class()[1] + " interpreter", args.threads
  result = {"manifest": manifest, "measured_ms": measured,
            "device": args.device or f"{platform.machine()} {platform.platform()}",
            "runtime": runtime, "threads": threads, "runs": args.runs, "warmup": args.warmup,
            "rounds": args.rounds, "seconds": round(time.time() - started, 1)}
  with open(args.output, "w") as f:
    json.dump(result, f, indent=1)
  print(f"timed {len(measured)} files in {result['seconds']} s; wrote {args.output}")


if __name__ == "__main__":
  main()
